"""`qbedi demo`, the README's first command, as a test."""
import io
import json

from qbedi.demo import run_demo


def test_demo_posts_bills_holds_one_and_ignores_the_redelivery(xsd_checks):  # the emulator checks requests
    out = io.StringIO()
    assert run_demo(as_json=True, out=out) == 0
    result = json.loads(out.getvalue())
    posted = [d for d in result["documents"] if d["status"] == "posted"]
    held = [d for d in result["documents"] if d["status"] == "held"]
    assert len(posted) >= 2 and all(d["quickbooks"]["txn_id"] == d["qb_txn_id"] for d in posted)
    assert {d["document_number"]: d["quickbooks"]["amount"] for d in posted} == {
        "INV-10045": "289.00", "INV-10046": "599.97", "G-2026-0311": "202.00"}
    assert [(d["document_number"], d["reason_code"]) for d in held] == [("88812", "unknown_supplier")]
    assert result["redelivered_file"]["duplicate"] is True and result["redelivered_file"]["new_documents"] == 0
    assert result["quickbooks_bills"] == 3


def test_demo_text_output_names_files_bills_and_reasons(capsys):
    assert run_demo() == 0
    text = capsys.readouterr().out
    assert "acme_INV-10045.edi" in text and "posted: Bill" in text
    assert "HELD (unknown_supplier)" in text


def test_demo_through_the_cleo_emulator(monkeypatch, capsys):
    monkeypatch.delenv("QBEDI_SECRET_KEY", raising=False)
    assert run_demo(source="cleo") == 0
    text = capsys.readouterr().out
    assert "wait in the Cleo emulator" in text and text.count("posted: Bill") == 3
