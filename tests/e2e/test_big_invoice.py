"""A 600-line invoice, too big for one Web Connector round trip, through the real SOAP service and the QBWC
simulator (real envelopes over HTTP on 127.0.0.1) into the QuickBooks emulator: it is posted in parts, a
BillAdd with the first lines, then BillMods adding the rest to the same bill, each message set within the
45 s budget. The emulator's simulated time is the delivery service's clock (as in bench/qbwc.py), so the
service learns QuickBooks' cost as it would live. (The parts' rules one by one, without HTTP:
tests/integration/test_bill_parts.py.)"""
from __future__ import annotations


import pytest
from sqlalchemy import select

from connector.delivery import DeliveryService
from connector.status import DocStatus
from connector.store import Document, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from qbwc_server.server import start_in_thread
from tests.support.builders import PASSWORD, long_invoice, long_invoice_amounts, make_quickbooks, runtime_for

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery")
BUDGET = 45.0
LINES = 600
MAX_SESSIONS = 10


@pytest.fixture
def world(tmp_path, db_url, xsd_checks):
    """(runtime, emulator, invoice total, SOAP URL): one 600-line invoice queued, the
    emulator's cost such that the whole bill would take 90.5 s, the service served on a real socket."""
    rt = runtime_for(tmp_path, db_url, batch_budget_seconds=BUDGET)
    data, total = long_invoice(LINES)
    out = rt.ingest.ingest(data, source="inbox", remote_id="big.edi", name="big.edi")
    assert [d.status for d in out.documents] == [DocStatus.QUEUED]
    qb = make_quickbooks(vendors=("Acme Industrial Supply",), accounts=ACCOUNTS)
    for kind in ("BillAdd", "BillMod"):
        qb.processing_time(kind, 0.15, 0.5)
    qb.kept_line_share = 0.1
    # QuickBooks' simulated time is the delivery service's clock: it learns the cost from what it sees
    rt._delivery = DeliveryService(rt.store, rt.settings, clock=lambda: qb.elapsed_seconds)
    server = start_in_thread(rt.wsgi_app(), "127.0.0.1", 0)
    try:
        yield rt, qb, total, server.url
    finally:
        server.stop()
        rt.close()


def the_document(rt) -> Document:
    with rt.store.session() as s:
        return s.scalars(select(Document)).one()


def trail(rt, doc_id: int) -> list[tuple[str, dict]]:
    with rt.store.session() as s:
        return [(e.kind, e.detail) for e in audit_trail(s, doc_id)]


def run_until_done(rt, url: str, quickbooks, *, sessions: int = MAX_SESSIONS) -> list:
    """Scheduled Web Connector updates, one after another, until the document is no longer waiting."""
    runs = []
    for _ in range(sessions):
        run = QBWCSimulator(url, "clerk", PASSWORD, quickbooks).run()
        runs.append(run)
        assert run.ended in ("closed", "auth:none"), (run.ended, run.errors)
        if the_document(rt).status in (DocStatus.POSTED, DocStatus.HELD, DocStatus.FAILED) or not run.requests:
            break
    return runs


def sent(qb, kind: str) -> int:
    """How many ``kind`` requests QuickBooks was handed."""
    return sum(rq.count(f"<{kind}Rq") for rq in qb.request_log)


def assert_posted_whole(rt, qb, total) -> None:
    [bill] = qb.bills
    assert bill.vendor == "Acme Industrial Supply" and bill.ref_number == "INV-BIG-1"
    assert len(bill.lines) == LINES and bill.amount_due == total
    assert [ln.amount for ln in bill.lines] == long_invoice_amounts(LINES)  # the invoice's lines, in order, each once
    assert max(qb.set_seconds) <= BUDGET, qb.set_seconds  # every message set QuickBooks ran fit the budget
    assert sent(qb, "BillAdd") == 1 and sent(qb, "BillMod") >= 1
    doc = the_document(rt)
    assert doc.status == DocStatus.POSTED and doc.qb_txn_id == bill.txn_id and doc.qb_amount == total


def test_a_600_line_invoice_goes_through_the_web_connector_in_parts_within_the_budget(world):
    rt, qb, total, url = world
    assert 0.5 + LINES * 0.15 > 2 * BUDGET  # the whole bill in one BillAdd: 90.5 s, more than two round trips
    runs = run_until_done(rt, url, qb)
    assert the_document(rt).status == DocStatus.POSTED, [r.errors for r in runs]
    assert all(r.ended == "closed" for r in runs) and all(p >= 0 for r in runs for p in r.percents)
    assert_posted_whole(rt, qb, total)
    [bill] = qb.bills
    # what went over the wire: one BillAdd, then BillMods naming that bill
    sent = [rq for r in runs for rq in r.requests]
    assert sum("<BillAddRq" in rq for rq in sent) == 1 and sum("<BillModRq" in rq for rq in sent) >= 1
    assert all(f"<TxnID>{bill.txn_id}</TxnID>" in rq for rq in sent if "<BillModRq" in rq)
    assert len(qb.set_seconds) >= 3  # 90.5 s of work cannot fit in fewer than three 45 s round trips
    events = trail(rt, the_document(rt).id)
    kinds = [k for k, _ in events]
    parts = [d for k, d in events if k == "posted_part"]
    posted = [d for k, d in events if k == "posted"]
    assert kinds[:3] == ["translated", "queued", "sent"] and kinds[-1] == "posted"
    assert parts and len(posted) == 1 and posted[0]["txn_id"] == bill.txn_id
    assert posted[0]["parts"] == len(parts) + 1
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert all(p["txn_id"] == bill.txn_id for p in parts) and parts[-1]["lines"] < LINES


def test_a_connection_lost_after_quickbooks_ran_a_part_is_finished_by_the_next_session_without_doubling(world):
    rt, qb, total, url = world
    # round 1: the BillAdd with the first lines; round 2: the first BillMod part, which QuickBooks runs, and
    # then the Web Connector dies before receiveResponseXML (no closeConnection either)
    crashed = QBWCSimulator(url, "clerk", PASSWORD, qb).run(crash_after_request=2)
    assert crashed.ended == "crashed" and len(crashed.requests) == 2
    assert "<BillAddRq" in crashed.requests[0] and "<BillModRq" in crashed.requests[1]
    [bill] = qb.bills
    in_quickbooks = len(bill.lines)  # the lost part's lines are in QuickBooks; qbedi never heard so
    assert 0 < in_quickbooks < LINES
    runs = run_until_done(rt, url, qb)
    assert the_document(rt).status == DocStatus.POSTED, [r.errors for r in runs]
    assert_posted_whole(rt, qb, total)  # still one bill of exactly 600 lines: no part added twice
    assert qb.bills[0].txn_id == bill.txn_id
    events = trail(rt, the_document(rt).id)
    kinds = [k for k, _ in events]
    parts = [d for k, d in events if k == "posted_part"]
    assert "answer_lost" in kinds and kinds.count("posted") == 1 and kinds[-1] == "posted"
    assert parts[1]["verified"] and parts[1]["lines"] == in_quickbooks  # the lost part, found in QuickBooks
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
