"""Edge cases found in review: each once lost, doubled or stalled a document. These need a Web Connector
session; those that translation alone decides: tests/unit/test_edge_cases.py; the ingest service and the
config: tests/integration/test_edge_cases.py."""
import pytest
from sqlalchemy import select

from connector.store import Document, QueuedRequest, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from qbwc_server.server import start_in_thread
from tests.support.builders import ITEM_SUPPLIERS, PASSWORD, runtime_for, x12_file, make_quickbooks, ship_notice, x12

SUP = ITEM_SUPPLIERS


@pytest.fixture
def qb(xsd_checks):
    return make_quickbooks(accounts=("Job Materials", "Janitorial Supplies", "Freight and Delivery"),
                           items=[("Hex Bolt 3/8", "12.50"), ("Shop Towels", "37.25")])


def make_rt(tmp_path, db_url, suppliers=None, **wc):
    return runtime_for(tmp_path, db_url, suppliers or SUP, **wc)


def ingest(rt, data, name):
    return rt.ingest.ingest(data, source="inbox", remote_id=name, name=name)


def session(rt, qb, **run):
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        return QBWCSimulator(server.url, "clerk", PASSWORD, qb).run(**run)


def docs(rt):
    with rt.store.session() as s:
        return {d.document_number: (d.status, d.reason_code, [e.kind for e in audit_trail(s, d.id)])
                for d in s.scalars(select(Document))}


def po850(lines, ctrl):
    body = ["BEG*00*SA*PO-7781**20261115", "N1*SE*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY"]
    body += [f"PO1*{i}*{q}*EA*{p}**VN*{part}" for i, (part, q, p) in enumerate(lines, 1)] + [f"CTT*{len(lines)}"]
    return x12("PO", "850", body, ctrl=ctrl)


def test_receipt_arriving_before_its_po_is_not_stuck_even_one_request_per_batch(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url, max_requests_per_batch=1)
    ingest(rt, ship_notice("PO-7781", [("AC-100", 4, "EA")], ctrl=11), "asn")
    ingest(rt, po850([("AC-100", 10, "12.50")], 12), "po")
    session(rt, qb)
    assert {k: v[0] for k, v in docs(rt).items()} == {"ASN-5001": "posted", "PO-7781": "posted"}


def test_failing_verification_is_held_not_asked_forever(tmp_path, db_url, qb):
    # (no purchase order read before the bill: the crash comes right after the BillAdd)
    rt = make_rt(tmp_path, db_url, {"ACMESUPPLY": {**SUP["ACMESUPPLY"], "link_to_po": False}})
    ingest(rt, x12_file("acme_INV-10045.edi"), "a")
    session(rt, qb, crash_after_request=1)
    qb.inject(status_code=3250, rq_type="BillQuery", times=99)
    run = session(rt, qb)
    assert run.ended == "closed" and len(run.requests) <= 4
    st, code, _ = docs(rt)["INV-10045"]
    assert (st, code) == ("held", "unverifiable") and len(qb.bills) == 1


def test_two_receipts_for_one_po_in_one_session_never_over_receive(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    ingest(rt, ship_notice("PO-7781", [("AC-100", 6, "EA")], number="ASN-1", ctrl=21), "1")
    ingest(rt, ship_notice("PO-7781", [("AC-100", 6, "EA")], number="ASN-2", ctrl=22), "2")
    session(rt, qb)
    d = docs(rt)
    assert (d["ASN-1"][0], d["ASN-2"][:2]) == ("posted", ("held", "over_receipt"))
    assert qb.purchase_orders[0].lines[0].received_quantity == 6


def test_record_in_use_waits_before_retrying(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    ingest(rt, x12_file("acme_INV-10045.edi"), "a")
    qb.inject(status_code=3175, rq_type="BillAdd", times=1)
    session(rt, qb)
    with rt.store.session() as s:
        rq = s.scalars(select(QueuedRequest)).one()
        assert rq.state == "queued" and rq.attempts == 1 and rq.meta["not_before"]
        rq.meta = {**rq.meta, "not_before": "2000-01-01T00:00:00"}  # time passes
    session(rt, qb)
    assert docs(rt)["INV-10045"][0] == "posted" and len(qb.bills) == 1


def test_change_with_a_reused_po_number_goes_to_the_po_we_added(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    old = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 1, "12.50")])  # 2024's
    ingest(rt, po850([("AC-100", 10, "12.50")], 31), "po")
    session(rt, qb)
    cancel = x12("PO", "850", ["BEG*01*SA*PO-7781**20261116", "N1*SE*ACME*92*ACMESUPPLY", "CTT*0"], ctrl=32)
    ingest(rt, cancel, "cancel")
    session(rt, qb)
    closed = {p.txn_id: p.is_manually_closed for p in qb.purchase_orders}
    assert closed[old] is False and sum(closed.values()) == 1
