"""What a big file costs the EDI reader (issue 12: a 100 MB file has ~80,000 sets in one group): its 997
records are kept small and read back exactly as the records they stand for, control numbers are checked
in bits, and the 997 is written without an object per segment."""
from __future__ import annotations

import io
import tracemalloc

import edi
from edi.ack import build_997
from edi.model import SetRecord, SetRecords
from tests.support.builders import interchange


def test_records_read_back_in_order_whatever_their_kind():
    recs = SetRecords()
    given = [SetRecord("810", "0001", "A", [], []), SetRecord("810", "0002", "R", ["4"], []),
             SetRecord("850", "ABC", "A", [], []), SetRecord("856", "000000000000000099", "A", [], []),
             SetRecord("810", "0005", "E", [], [{"segment": "IT1", "position": 3, "code": "8"}])]
    for r in given:
        recs.append(r)
    assert len(recs) == 5 and list(recs) == given and recs[-1] == given[-1] and recs[1]["codes"] == ["4"]
    assert recs == [r.as_dict() for r in given] and recs[3]["control"] == "000000000000000099"


def test_a_group_of_many_accepted_sets_costs_a_few_bytes_each():
    n = 5_000
    data = interchange([f"INV-{i}" for i in range(n)])
    tracemalloc.start()
    try:
        reader = edi.EdiReader(io.BytesIO(data))
        for _ in reader:
            pass
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sets = reader.result.groups[0]["sets"]
    assert len(sets) == n and sets[0] == {"transaction_set": "810", "control": "0001", "status": "A", "codes": [],
                                          "errors": []}
    assert sets[n - 1]["control"] == f"{n:04d}"
    assert kept / n < 64, f"{kept / n:.0f} bytes a set"  # (a dict per set, as before: ~500)


def test_a_control_number_used_twice_in_a_group_is_warned_of_whatever_its_form():
    def warned(controls: list[str]) -> list[int]:
        data = interchange([f"INV-{i}" for i in range(len(controls))])
        for n, c in enumerate(controls, 1):
            data = data.replace(b"ST*810*%04d~" % n, b"ST*810*" + c.encode() + b"~", 1)
            data = data.replace(b"*%04d~" % n, b"*" + c.encode() + b"~", 1)  # (its SE02)
        result = edi.parse_bytes(data)
        assert not any(ps.rejected for ps in result.sets)
        return [i for i, ps in enumerate(result.sets) if any(w.code == "duplicate_control" for w in ps.warnings)]

    assert warned(["0001", "0002", "0001"]) == [2]
    assert warned(["0001", "001", "1"]) == []  # different control numbers as sent
    assert warned(["99999999999", "5", "99999999999"]) == [2]  # beyond the bits: a set
    assert warned(["A1", "a1", "A1"]) == [2]


def test_the_997_of_a_big_group_costs_about_its_length():
    reader = edi.EdiReader(io.BytesIO(interchange([f"INV-{i}" for i in range(5_000)])))
    for _ in reader:
        pass
    tracemalloc.start()
    try:
        text = build_997(reader.result, control_number=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text.count("AK2*810*") == 5_000 and "AK9*A*5000*5000*5000" in text
    assert peak < 5 * len(text), f"{peak / len(text):.1f} times the text"  # (io.StringIO, which keeps every piece until read: ~7.5 times)
