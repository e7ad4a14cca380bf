"""Envelope faults, tokenizer edge cases and value conversion."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import edi
from edi.model import Issue
from edi.values import SegmentView, Values

D = Decimal


@pytest.fixture()
def good(samples_dir: Path) -> bytes:
    return (samples_dir / "810_5010_x12types_1.edi").read_bytes()


def messages(issues):
    return [i.message for i in issues]


def test_good_file_is_clean(good):
    r = edi.parse_bytes(good)
    (ps,) = r.sets
    assert not ps.rejected and not r.errors and not r.warnings
    assert ps.segment_count == 20
    g = r.groups[0]
    assert (g["functional_id"], g["group_control"], g["version"], g["gs_sender"], g["gs_receiver"]) == (
        "IN", "1", "005010", "5141231234", "504564567")
    assert g["declared_sets"] == 1 and g["errors"] == []
    assert g["sets"] == [{"transaction_set": "810", "control": "0001", "status": "A", "codes": [], "errors": []}]


def test_bad_se_count(good):
    r = edi.parse_bytes(good.replace(b"SE*20*0001", b"SE*21*0001"))
    (ps,) = r.sets
    assert ps.document is None
    assert [(i.code, i.message) for i in ps.rejected] == [("envelope_error", "SE01 says 21 segments, counted 20")]
    assert r.groups[0]["sets"][0]["codes"] == ["4"]


def test_se02_mismatch(good):
    (ps,) = edi.parse_bytes(good.replace(b"SE*20*0001", b"SE*20*0002")).sets
    assert messages(ps.rejected) == ["SE02 '0002' does not match ST02 '0001'"]


def test_iea_control_mismatch(good):
    r = edi.parse_bytes(good.replace(b"IEA*1*000000001", b"IEA*1*000000002"))
    (ps,) = r.sets
    assert ps.document is None
    assert messages(ps.rejected) == ["IEA02 '000000002' does not match ISA13 '000000001'"]
    assert messages(r.errors) == ["IEA02 '000000002' does not match ISA13 '000000001'"]


def test_iea_group_count(good):
    r = edi.parse_bytes(good.replace(b"IEA*1*", b"IEA*3*"))
    assert messages(r.sets[0].rejected) == ["IEA01 says 3 functional groups, counted 1"]


def test_ge_count_and_control(good):
    r = edi.parse_bytes(good.replace(b"GE*1*1~", b"GE*2*7~"))
    (ps,) = r.sets
    assert messages(ps.rejected) == ["GE01 says 2 transaction sets, counted 1", "GE02 '7' does not match GS06 '1'"]
    assert r.groups[0]["errors"] == ["5", "4"]


def test_truncated_file_rejects_the_open_set(good):
    cut = good[: good.index(b"IT1**3*EA")]
    r = edi.parse_bytes(cut)
    (ps,) = r.sets
    assert ps.document is None
    assert messages(ps.rejected)[0] == "SE missing: set 0001 ends at end of file (file truncated?)"
    assert "GE missing for group 1 (reached end of file)" in messages(r.errors)
    assert "IEA missing for interchange 000000001 (reached end of file)" in messages(r.errors)
    assert r.groups[0]["sets"][0]["codes"] == ["2"] and r.groups[0]["errors"] == ["3"]


def test_missing_iea_only(good):
    r = edi.parse_bytes(good[: good.index(b"IEA")])
    assert messages(r.sets[0].rejected) == ["IEA missing for interchange 000000001 (reached end of file)"]


def test_missing_se_before_next_st(good):
    two = good.replace(b"SE*20*0001~", b"ST*810*0002~BIG*20181122*X2~IT1**1*EA*1~TDS*100~SE*5*0002~").replace(
        b"GE*1*1", b"GE*2*1")
    r = edi.parse_bytes(two)
    first, second = r.sets
    assert messages(first.rejected) == ["SE missing: set 0001 ends at next envelope segment (file truncated?)"]
    assert not second.rejected and second.document.number == "X2"


def test_streaming_late_rejection_reaches_yielded_sets(good):
    bad = good.replace(b"GE*1*1~", b"GE*1*9~")
    res = edi.ParseResult()
    seen = []
    for ps in edi.iter_sets(io.BytesIO(bad), result=res):
        seen.append((ps, ps.document is not None))
    (ps, had_document), = seen
    assert had_document  # yielded at SE time with its document...
    assert ps.document is None and messages(ps.rejected) == ["GE02 '9' does not match GS06 '1'"]  # ...revoked at GE
    assert messages(res.errors) == ["GE02 '9' does not match GS06 '1'"]


def test_ta1_between_isa_and_gs_is_accepted(good):
    isa_end = good.index(b"GS*")
    data = good[:isa_end] + b"TA1*000000001*181122*1220*A*000~\n" + good[isa_end:]
    r = edi.parse_bytes(data)
    assert not r.sets[0].rejected and r.sets[0].document.number == "I-0042537"
    assert not r.warnings


def test_two_interchanges_with_different_delimiters(samples_dir, good):
    other = (samples_dir / "850_4010_bots_16.edi").read_bytes()  # ~ element, | component, LF terminator
    r = edi.parse_bytes(good + other + good.replace(b"~", b"\x15"))
    assert [ps.envelope.transaction_set for ps in r.sets] == ["810", "850", "810"]
    assert [ps.document.number for ps in r.sets] == ["I-0042537", "333333333333", "I-0042537"]
    assert not r.errors and all(not ps.rejected for ps in r.sets)


def test_each_set_knows_where_its_st_is_in_the_file(samples_dir, good):
    other = (samples_dir / "850_4010_bots_16.edi").read_bytes()
    r = edi.parse_bytes(good + other + good.replace(b"~", b"\x15"))
    first, second, third = r.sets
    # ISA, GS, then the first ST; the next interchange starts after its SE, GE and IEA
    assert first.first_segment == 3
    assert second.first_segment == 3 + first.segment_count + 2 + 2
    assert third.first_segment == second.first_segment + second.segment_count + 2 + 2
    from edi.tokenizer import Tokenizer

    tags = {seg.index: seg.elements[0] for seg in Tokenizer(io.BytesIO(good + other))}
    assert tags[first.first_segment] == tags[second.first_segment] == "ST"


def test_a_reader_can_parse_one_set_only(samples_dir, good):
    other = (samples_dir / "850_4010_bots_16.edi").read_bytes()
    sets = list(edi.EdiReader(io.BytesIO(good + other + good), parse_only=1))
    assert [ps.document is not None for ps in sets] == [False, True, False]
    assert sets[1].document.number == "333333333333" and not any(ps.rejected for ps in sets)
    assert [ps.first_segment for ps in sets] == [ps.first_segment for ps in edi.parse_bytes(good + other + good).sets]


def test_gs_functional_id_mismatch_is_warning(good):
    (ps,) = edi.parse_bytes(good.replace(b"GS*IN*", b"GS*SH*")).sets
    assert not ps.rejected and ps.document is not None
    assert [w.code for w in ps.warnings] == ["functional_id_mismatch"]


def test_st_without_gs_is_rejected(good):
    data = good.replace(b"GS*IN*5141231234*504564567*20181122*122047*1*X*005010~\n", b"").replace(b"GE*1*1~\n", b"")
    r = edi.parse_bytes(data)
    assert messages(r.sets[0].rejected) == [
        "ST outside a functional group (no GS after ISA)", "IEA01 says 1 functional groups, counted 0"]
    assert messages(r.errors) == ["IEA01 says 1 functional groups, counted 0"]
    assert r.sets[0].document is None


def test_not_x12_at_all():
    r = edi.parse_bytes(b"%PDF-1.4 this is not EDI")
    assert r.sets == [] and [e.code for e in r.errors] == ["malformed"]
    assert edi.parse_bytes(b"").errors[0].code == "malformed"


def test_garbage_before_isa_is_skipped(good):
    r = edi.parse_bytes(b"From: cleo\r\n\r\n" + good)
    assert r.sets[0].document.number == "I-0042537"
    assert [w.code for w in r.warnings] == ["garbage"]


def test_latin1_and_utf8_text_never_crash(good):
    utf8 = edi.parse_bytes(good.replace(b"N1*RI**92", "N1*RI*Caf\u00e9 M\u00fcller*92".encode("utf-8")))
    assert utf8.sets[0].document.party("RI").name == "Caf\u00e9 M\u00fcller"
    latin = edi.parse_bytes(good.replace(b"N1*RI**92", "N1*RI*Caf\u00e9*92".encode("latin-1")))
    assert latin.sets[0].document.party("RI").name == "Caf\u00e9"


def test_segments_kept_on_request(good):
    r = edi.parse_bytes(good, keep_segments=True)
    raw = r.sets[0].raw_segments
    assert raw[0] == ["ST", "810", "0001"] and raw[-1] == ["SE", "20", "0001"] and len(raw) == 20
    assert edi.parse_bytes(good).sets[0].raw_segments is None


def test_element_and_component_separators_from_isa(good):
    swapped = good.replace(b"*", b"|").replace(b">~", b"^~")
    (ps,) = edi.parse_bytes(swapped).sets
    assert ps.document.total == D("57.70") and len(ps.document.lines) == 5


def test_multibyte_terminator(good):
    data = good.replace(b"~", "\u2026".encode("utf-8"))
    (ps,) = edi.parse_bytes(data).sets
    assert not ps.rejected and ps.document.total == D("57.70")


# ------------------------------------------------------------------ values


def seg(*elements: str) -> SegmentView:
    return SegmentView(list(elements), 7)


def test_n2_implied_decimals():
    issues: list[Issue] = []
    v = Values(issues)
    assert v.n2(seg("TDS", "5770"), 1) == D("57.70")
    assert v.n2(seg("TDS", "-250"), 1) == D("-2.50")
    assert v.n2(seg("TDS", "7"), 1) == D("0.07")
    assert v.n2(seg("TDS", ""), 1) is None and issues == []
    assert v.n2(seg("TDS", "57.70"), 1) == D("57.70")
    assert [(i.code, i.severity, i.element) for i in issues] == [("invalid_value", "warning", 1)]
    assert v.n2(seg("TDS", "12A"), 1) is None
    assert issues[-1].severity == "error" and issues[-1].segment == "TDS" and issues[-1].position == 7


def test_r_and_dates():
    issues: list[Issue] = []
    v = Values(issues)
    assert v.r(seg("IT1", "", ".5"), 2) == D("0.5")
    assert v.r(seg("IT1", "", "-12.340"), 2) == D("-12.340")
    assert v.r(seg("IT1", "", "NaN"), 2) is None
    assert v.dt(seg("DTM", "011", "20240229"), 2) == date(2024, 2, 29)
    assert v.dt(seg("DTM", "011", "240301"), 2) == date(2024, 3, 1)
    assert v.dt(seg("DTM", "011", "991231"), 2) == date(1999, 12, 31)
    assert v.dt(seg("DTM", "011", "20230229"), 2) is None
    assert [(i.segment, i.element, i.x12_code) for i in issues] == [("IT1", 2, "6"), ("DTM", 2, "8")]


def test_invalid_values_become_issues_on_the_document(good):
    data = good.replace(b"BIG*20181122", b"BIG*20181342").replace(b"IT1**2*EA*5.45", b"IT1**2*EA*5,45", 1)
    (ps,) = edi.parse_bytes(data).sets
    inv = ps.document
    assert inv.date is None
    bad = [(i.code, i.segment, i.position, i.element) for i in inv.issues if i.code == "invalid_value"]
    assert bad == [("invalid_value", "BIG", 2, 1), ("invalid_value", "IT1", 7, 4)]


def test_credit_memo_and_sac_percent():
    data = (
        "ISA*00*          *00*          *ZZ*S              *ZZ*R              *260101*1200*U*00401*000000001*0*P*>~"
        "GS*IN*S*R*20260101*1200*1*X*004010~ST*810*0001~BIG*20260101*CM-1**PO9***CR~"
        "IT1*1*2*EA*10.005~IT1*2*1*EA*0.10~TDS*2110~SAC*A*C310****3*10~SAC*C*D240***300~SE*8*0001~GE*1*1~IEA*1*000000001~"
    ).encode()
    (ps,) = edi.parse_bytes(data).sets
    inv = ps.document
    assert inv.credit is True and inv.transaction_type == "CR" and inv.po_number == "PO9"
    assert [ln.amount for ln in inv.lines] == [D("20.01"), D("0.10")]  # 20.010 -> 20.01 (half up)
    assert [(c.code, c.amount, c.percent) for c in inv.charges] == [("C310", D("-2.01"), D("10")), ("D240", D("3.00"), None)]
    assert inv.total == D("21.10") and not [i for i in inv.issues if i.code == "total_mismatch"]


def test_missing_segments_are_reported(good):
    data = good.replace(b"BIG*20181122*I-0042537~\n", b"").replace(b"TDS*5770~\n", b"").replace(b"SE*20", b"SE*18")
    inv = edi.parse_bytes(data).sets[0].document
    assert sorted(i.segment for i in inv.issues if i.code == "missing_segment") == ["BIG", "TDS"]
    r = edi.parse_bytes(data)
    assert r.groups[0]["sets"][0]["status"] == "R"


@pytest.mark.parametrize("encoding,bom", [("utf-16", b""), ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b"\xff\xfe")])
def test_utf16_files_are_transcoded(good, encoding, bom):
    data = bom + good.decode("latin-1").encode(encoding)
    for chunk in (1, 3, 64 * 1024):
        res = edi.ParseResult()
        (ps,) = list(edi.iter_sets(io.BytesIO(data), result=res, chunk_size=chunk))
        assert not ps.rejected and ps.document.total == D("57.70")
        assert [w.code for w in res.warnings] == ["utf16"]


def test_duplicate_st02_in_a_group_is_a_warning(samples_dir):
    r = edi.parse_bytes((samples_dir / "850_4010_edinet_2.edi").read_bytes())
    first, second = r.sets
    assert [w.code for w in first.warnings] == []
    assert [w.message for w in second.warnings] == ["ST02 0001 is used twice in group 1"]
    assert second.document is not None and not second.rejected


def test_empty_mandatory_header_elements(good):
    inv = edi.parse_bytes(good.replace(b"BIG*20181122*I-0042537", b"BIG**")).sets[0].document
    assert [(i.element, i.x12_code) for i in inv.issues if i.segment == "BIG"] == [(2, "1"), (1, "1")]
    r = edi.parse_bytes(good.replace(b"BIG*20181122*I-0042537", b"BIG**"))
    assert r.groups[0]["sets"][0]["status"] == "E"


def test_text_argument_is_accepted(good):
    assert edi.parse_bytes(good.decode("latin-1")).sets[0].document.number == "I-0042537"
    assert edi.detect_transaction_sets(good.decode("latin-1")) == ["810"]
