"""Inbox -> queue -> live SOAP service <- QBWC simulator -> QuickBooks emulator.

Everything real except QuickBooks and the Web Connector themselves: the HTTP
server, the SOAP envelopes, the database, the qbXML (checked against Intuit's
XSD inside the emulator).
"""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.store import Document, QueuedRequest, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from qbwc_server.server import start_in_thread
from tests.support.builders import PASSWORD, x12_file, write_config

DEMO = ["acme_INV-10045.edi", "acme_INV-10046.edi", "globex_G-2026-0311.edi", "initech_88812.edi"]


@pytest.fixture
def qb(xsd_checks):
    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    for v in ("Acme Industrial Supply", "Globex Corporation"):
        qb.add_vendor(v)
    for a in ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery",
              "Discounts Received"):
        qb.add_account(a, "Expense")
    qb.add_class("Warehouse")
    return qb


@pytest.fixture
def rt(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    yield rt
    rt.close()


def ingest(rt, *names):
    for n in names:
        rt.ingest.ingest(x12_file(n), source="inbox", remote_id=n, name=n)


def docs(rt):
    with rt.store.session() as s:
        return {d.document_number: d for d in s.scalars(select(Document).options(selectinload(Document.requests)))}


def test_invoices_become_bills_through_the_web_connector(rt, qb):
    ingest(rt, *DEMO)
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        run = QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    methods = run.methods()
    assert methods[:3] == ["serverVersion", "clientVersion", "authenticate"]
    assert "sendRequestXML" in methods and "receiveResponseXML" in methods and methods[-1] == "closeConnection"

    bills = {b.ref_number: b for b in qb.bills}
    assert set(bills) == {"INV-10045", "INV-10046", "G-2026-0311"}
    acme = bills["INV-10045"]
    assert acme.vendor == "Acme Industrial Supply"
    assert acme.amount_due == Decimal("289.00")
    assert acme.txn_date == date(2026, 11, 18) and acme.due_date == date(2026, 12, 18)
    assert [(ln.account, ln.amount, ln.class_name) for ln in acme.expense_lines] == [
        ("Job Materials", Decimal("125.00"), "Warehouse"), ("Janitorial Supplies", Decimal("149.00"), "Warehouse"),
        ("Freight and Delivery", Decimal("15.00"), "Warehouse")]
    assert "ISA 000000101" in acme.memo
    assert bills["INV-10046"].due_date == date(2026, 12, 19)
    assert bills["G-2026-0311"].amount_due == Decimal("202.00")

    d = docs(rt)
    for ref, bill in bills.items():
        assert d[ref].status == "posted" and d[ref].qb_txn_id == bill.txn_id
        assert d[ref].qb_txn_type == "Bill" and d[ref].qb_amount == bill.amount_due
        assert bill.external_guid.upper() == d[ref].requests[0].external_guid.upper()
    assert d["88812"].status == "held" and d["88812"].reason_code == "unknown_supplier"
    with rt.store.session() as s:
        trail = [e.kind for e in audit_trail(s, d["INV-10045"].id)]
        posted = [e for e in audit_trail(s, d["INV-10045"].id) if e.kind == "posted"][0]
    assert trail == ["translated", "queued", "sent", "posted"]
    assert posted.detail["txn_id"] == acme.txn_id and posted.detail["amount"] == "289.00"


def test_same_file_twice_gives_one_bill(rt, qb):
    ingest(rt, "acme_INV-10045.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
        ingest(rt, "acme_INV-10045.edi")  # same bytes again, after posting
        run2 = QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]
    auth = [c for c in run2.calls if c.method == "authenticate"][0]
    assert auth.result[1] == "none"  # nothing to do: QBWC is told so at once


def test_missing_vendor_in_quickbooks_holds_with_quickbooks_message(rt, xsd_checks):
    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    qb.add_vendor("Acme Industrial Supply")
    for a in ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery"):
        qb.add_account(a, "Expense")
    qb.add_class("Warehouse")  # Globex is not a vendor in this company file
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    d = docs(rt)
    assert d["INV-10045"].status == "posted"
    assert d["G-2026-0311"].status == "held" and d["G-2026-0311"].reason_code == "qb_invalid_reference"
    assert "Globex Corporation" in d["G-2026-0311"].reason
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]


def test_lost_answer_is_verified_not_reposted(rt, qb):
    """QBWC crashes after QuickBooks posted the batch: the next session finds the bills, adds nothing."""
    ingest(rt, "acme_INV-10045.edi", "acme_INV-10046.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run(crash_after_request=1)
        assert len(qb.bills) == 2  # QuickBooks did post them; we never heard back
        with rt.store.session() as s:
            assert {r.state for r in s.scalars(select(QueuedRequest))} == {"sent"}
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert sorted(b.ref_number for b in qb.bills) == ["INV-10045", "INV-10046"]
    d = docs(rt)
    assert d["INV-10045"].status == d["INV-10046"].status == "posted"
    with rt.store.session() as s:
        kinds = [e.kind for e in audit_trail(s, d["INV-10045"].id)]
    assert "answer_lost" in kinds and "verified_present" in kinds and kinds[-1] == "posted"


def test_lost_before_quickbooks_ran_it_is_sent_again(rt, qb):
    """The answer to sendRequestXML never reached QuickBooks (QBWC asks again): verified absent, added once."""
    ingest(rt, "acme_INV-10045.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run(send_twice_at=1)
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]
    d = docs(rt)["INV-10045"]
    assert d.status == "posted"
    with rt.store.session() as s:
        kinds = [e.kind for e in audit_trail(s, d.id)]
    assert kinds.count("sent") == 2 and "verified_absent" in kinds


def test_quickbooks_not_running_leaves_work_queued(rt, qb):
    ingest(rt, "acme_INV-10045.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        run = QBWCSimulator(server.url, "clerk", PASSWORD, qb).run(
            connection_error=("0x80040408", "Could not start QuickBooks."))
        assert run.methods()[-2:] == ["connectionError", "closeConnection"]
        assert qb.bills == [] and docs(rt)["INV-10045"].status == "queued"
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]


def test_wrong_password_is_nvu_and_nothing_moves(rt, qb):
    ingest(rt, "acme_INV-10045.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        run = QBWCSimulator(server.url, "clerk", "wrong", qb).run()
    auth = [c for c in run.calls if c.method == "authenticate"][0]
    assert auth.result[1] == "nvu"
    assert "sendRequestXML" not in run.methods()
    assert qb.bills == [] and docs(rt)["INV-10045"].status == "queued"


def test_old_web_connector_is_told_to_upgrade(tmp_path, db_url, qb):
    import yaml

    path = write_config(tmp_path, db_url)
    cfg = yaml.safe_load(path.read_text())
    cfg["web_connector"]["min_client_version"] = "2.3.0.200"
    path.write_text(yaml.safe_dump(cfg))
    rt = build_runtime(load_settings(path))
    ingest(rt, "acme_INV-10045.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        old = QBWCSimulator(server.url, "clerk", PASSWORD, qb, client_version="2.1.0.30").run()
        new = QBWCSimulator(server.url, "clerk", PASSWORD, qb, client_version="2.3.0.215").run()
    assert old.errors == ["O:2.3.0.200"] and "authenticate" not in old.methods()
    assert "authenticate" in new.methods() and [b.ref_number for b in qb.bills] == ["INV-10045"]
    rt.close()


def test_runtime_schema_check_flag_posts_valid_requests(tmp_path, db_url, qb, xsd_dir, monkeypatch):
    import yaml

    path = write_config(tmp_path, db_url)
    cfg = yaml.safe_load(path.read_text())
    cfg["web_connector"]["validate_qbxml"] = True
    path.write_text(yaml.safe_dump(cfg))
    rt = build_runtime(load_settings(path))
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert sorted(b.ref_number for b in qb.bills) == ["G-2026-0311", "INV-10045"]
    rt.close()
