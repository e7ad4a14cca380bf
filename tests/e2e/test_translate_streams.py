"""`qbedi translate` streams a big file: its sets are read, translated and written one at a time, so the memory
it takes does not grow with the number of sets (a 100 MB file: bench/translate.py). Measured with tracemalloc,
which counts allocations, not time. Files up to TRANSLATE_IN_MEMORY are parsed in one pass instead (faster):
both ways give the same output."""
from __future__ import annotations

import contextlib
import json
import tracemalloc

import pytest

from qbedi import cli
from qbedi.cli import main


@pytest.fixture
def streamed(monkeypatch):
    """Every file is streamed, whatever its size (the tests' files are small)."""
    monkeypatch.setattr(cli, "TRANSLATE_IN_MEMORY", 0)


def many_invoices(path, sets: int) -> None:
    body = []
    for n in range(1, sets + 1):
        body += [f"ST*810*{n:04d}", f"BIG*20261118*INV-{n}", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                 *[f"IT1*{i}*2*EA*12.50**VN*AC-{i}" for i in range(1, 6)], "TDS*12500", f"SE*10*{n:04d}"]
    path.write_text("~\n".join(["ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*NORTHWIND      *261121*1000*U"
                                "*00401*000000301*0*P*>", "GS*IN*ACMESUPPLY*NORTHWIND*20261121*1000*301*X*004010",
                                *body, f"GE*{sets}*301", "IEA*1*000000301"]) + "~\n")


def peak_translating(path) -> tuple[float, dict]:
    """Peak traced memory of ``qbedi translate --json path``, its output going to a file (not kept in memory)."""
    out = path.with_suffix(".json")
    with open(out, "w") as fh, contextlib.redirect_stdout(fh):
        tracemalloc.start()
        try:
            main(["translate", "--json", str(path)])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return peak, json.loads(out.read_text())


def test_translate_takes_the_memory_of_one_set_not_of_the_whole_file(tmp_path, streamed):
    small, big = tmp_path / "small.edi", tmp_path / "big.edi"
    many_invoices(small, 50)
    many_invoices(big, 1000)
    peak_translating(small)  # imports and first-use caches are not counted below
    small_peak, small_out = peak_translating(small)
    big_peak, big_out = peak_translating(big)
    assert len(small_out["documents"]) == 50 and len(big_out["documents"]) == 1000
    assert {d["total"] for d in big_out["documents"]} == {"125.00"} and big_out["errors"] == []
    per_set = (big_peak - small_peak) / 950
    assert per_set < 1_000, f"{per_set:.0f} bytes more per set: the sets are kept, not streamed"


@pytest.mark.parametrize("size_limit", [0, 8 << 20], ids=["streamed", "in-memory"])
def test_a_group_whose_count_is_wrong_rejects_its_sets_as_ingest_does(tmp_path, monkeypatch, size_limit):
    monkeypatch.setattr(cli, "TRANSLATE_IN_MEMORY", size_limit)
    path = tmp_path / "bad-count.edi"
    many_invoices(path, 3)
    path.write_text(path.read_text().replace("GE*3*301", "GE*5*301"))
    _, out = peak_translating(path)
    assert len(out["documents"]) == 3
    assert all(d["status"] == "rejected" for d in out["documents"]), [d["status"] for d in out["documents"]]


def test_streamed_and_in_memory_give_the_same_output(tmp_path, monkeypatch):
    from tests.support import corpus_files, own_x12_files

    files = [str(p) for p in corpus_files() + own_x12_files()]
    outs = []
    for size_limit in (0, 8 << 20):
        monkeypatch.setattr(cli, "TRANSLATE_IN_MEMORY", size_limit)
        path = tmp_path / f"out-{size_limit}.json"
        with open(path, "w") as fh, contextlib.redirect_stdout(fh):
            main(["translate", "--json", *files])
        outs.append(json.loads(path.read_text()))
    assert outs[0] == outs[1] and len(outs[0]["documents"]) > 40
