"""``edi.survey``: one cheap pass over a file's envelopes tells which sets a GE/IEA fault found after
them rejects, so a big file can be stored in chunks (connector/services.py) and no set of a broken group
or interchange is queued. (Its use by the ingest service: tests/integration/test_ingest_chunks.py.)"""
from __future__ import annotations

import io

import edi
from tests.support.builders import x12


def _invoice(n: int, ctrl: int) -> bytes:
    return x12("IN", "810", [f"BIG*20240301*INV-{n}", "IT1*1*1*EA*10**VP*P-1", "TDS*1000"], ctrl=ctrl)


def _file() -> bytes:
    good = _invoice(1, 301)
    bad_group = _invoice(2, 302).replace(b"GE*1*302~", b"GE*2*302~")  # GE01 counts two sets: one came
    bad_interchange = _invoice(3, 303).replace(b"IEA*1*000000303~", b"IEA*1*000000999~")
    return good + bad_group + bad_interchange + _invoice(4, 304)


def test_the_survey_finds_the_late_faults_a_whole_file_parse_applies():
    data = _file()
    whole = edi.parse_bytes(data)
    sv = edi.survey(data)
    assert sv.sets == len(whole.sets) == 4
    assert [[i.message for i in sv.faults(n)] for n in range(4)] == [
        [], ["GE01 says 2 transaction sets, counted 1"], ["IEA02 '000000999' does not match ISA13 '000000303'"], []]
    assert [i.message for i in sv.result.errors] == [i.message for i in whole.errors]
    streamed = [sv.apply(n, ps) for n, ps in enumerate(edi.EdiReader(io.BytesIO(data)))]
    for mine, theirs in zip(streamed, whole.sets):
        assert [i.message for i in mine.rejected] == [i.message for i in theirs.rejected]
        assert (mine.document is None) == (theirs.document is None)
    assert [ps.document is not None for ps in streamed] == [True, False, False, True]


def test_the_survey_parses_no_document_and_counts_like_the_reader():
    data = _file()
    reader = edi.EdiReader(io.BytesIO(data), documents=False)
    sets = list(reader)
    assert all(ps.document is None for ps in sets) and [ps.segment_count for ps in sets] == [5, 5, 5, 5]
    full = edi.EdiReader(io.BytesIO(data))
    list(full)
    assert reader.segment_count == full.segment_count == 4 * 9 and reader.late_faults == full.late_faults
