"""A bill too big for one Web Connector round trip is posted in parts: a BillAdd with its first lines,
then BillMods adding the rest (each naming the lines the bill has, or QuickBooks would delete them),
each part within the time budget, exactly once across lost answers, crashes and edits in QuickBooks.
The delivery service runs against the QuickBooks emulator, whose simulated time is its clock."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from connector.delivery import DeliveryService
from connector.services import IngestService
from connector.settings import load_settings
from connector.status import DocStatus, Hold, RqState
from connector.store import Document, QueuedRequest, Store, audit_trail
from tests.support.builders import long_invoice, long_invoice_amounts, make_quickbooks, write_config
from tests.support.delivery import Session, drain

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery")
BUDGET = 45.0


@pytest.fixture
def world(tmp_path, db_url):
    def make(lines: int, *, per_line: float = 0.15, kept_share: float = 0.1, budget: float = BUDGET):
        settings = load_settings(write_config(tmp_path, db_url))
        settings.web_connector.batch_budget_seconds = budget
        store = Store(settings.database_url)
        store.migrate()
        data, total = long_invoice(lines)
        IngestService(store, settings).ingest(data, source="inbox", remote_id="big.edi", name="big.edi")
        qb = make_quickbooks(vendors=("Acme Industrial Supply",), accounts=ACCOUNTS)
        for kind in ("BillAdd", "BillMod"):
            qb.processing_time(kind, per_line, 0.5)
        qb.kept_line_share = kept_share
        made.append(store)
        # QuickBooks' simulated time is the service's clock: it learns the cost as it would live
        return store, DeliveryService(store, settings, clock=lambda: qb.elapsed_seconds), qb, total
    made: list = []
    yield make
    for store in made:
        store.dispose()


def the_document(store) -> Document:
    with store.session() as s:
        return s.scalars(select(Document)).one()


def trail(store, doc_id: int) -> list:
    with store.session() as s:
        return [(e.kind, e.detail) for e in audit_trail(s, doc_id)]


def test_a_600_line_invoice_is_posted_in_parts_that_each_fit_the_budget(world):
    store, service, qb, total = world(600)
    assert 0.5 + 600 * 0.15 > BUDGET  # one BillAdd of it would take 90.5 s of QuickBooks time
    percents = drain(service, qb, Session(), rounds=100)
    assert percents[-1] == 100
    assert max(qb.set_seconds) <= BUDGET and len(qb.set_seconds) >= 3
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total
    doc = the_document(store)
    assert doc.status == DocStatus.POSTED and doc.qb_txn_id == bill.txn_id and doc.qb_amount == total
    kinds = [k for k, _ in trail(store, doc.id)]
    parts = [d for k, d in trail(store, doc.id) if k == "posted_part"]
    posted = [d for k, d in trail(store, doc.id) if k == "posted"]
    assert kinds[:3] == ["translated", "queued", "sent"] and kinds[-1] == "posted"
    assert len(posted) == 1 and posted[0]["parts"] == len(parts) + 1 and posted[0]["txn_id"] == bill.txn_id
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert all(p["txn_id"] == bill.txn_id for p in parts)
    assert [p["lines"] for p in parts] == sorted(p["lines"] for p in parts) and parts[-1]["lines"] < 600
    # the lines are the invoice's, in its order, each once
    assert [ln.amount for ln in bill.lines] == long_invoice_amounts(600)


def test_an_invoice_predicted_to_fit_goes_whole_as_before(world):
    store, service, qb, total = world(150, per_line=0.01)  # 1.5 + 150 * 0.25 = 39 s predicted
    drain(service, qb, Session(), rounds=20)
    [bill] = qb.bills
    assert len(bill.lines) == 150
    kinds = [k for k, _ in trail(store, the_document(store).id)]
    assert "posted_part" not in kinds and [r for r in qb.request_log if "BillModRq" in r] == []


def _first_parts(service, qb, session, parts: int) -> None:
    for _ in range(parts):
        service.handle_response(session, qb.process(service.next_request(session)))


def test_part_way_the_document_says_how_far_its_bill_is(world):
    from connector import views

    store, service, qb, total = world(600)
    _first_parts(service, qb, Session(), 2)
    detail = views.document_detail(store, the_document(store).id)
    assert "lines are in QuickBooks as bill TxnID " + qb.bills[0].txn_id in detail["waiting"]
    [rq] = detail["requests"]
    assert "goes in parts" in rq["parts"] and "of its 600 lines are in QuickBooks as bill TxnID" in rq["parts"]


def test_a_lost_answer_of_a_later_part_is_looked_up_and_never_adds_lines_twice(world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    qb.process(service.next_request(session))  # the second part runs in QuickBooks; its answer is lost
    service.close(session)
    with store.session() as s:
        assert s.scalars(select(QueuedRequest.state)).one() == RqState.UNKNOWN
    drain(service, qb, Session(ticket="T-2"), rounds=100)
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total
    doc = the_document(store)
    assert doc.status == DocStatus.POSTED
    kinds = [k for k, _ in trail(store, doc.id)]
    assert "answer_lost" in kinds and [d for k, d in trail(store, doc.id) if k == "posted_part"][1]["verified"]


def test_a_lost_part_that_never_ran_goes_again(world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    service.next_request(session)  # the second part leaves, QuickBooks never gets it
    service.close(session)
    drain(service, qb, Session(ticket="T-2"), rounds=100)
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total
    kinds = [k for k, _ in trail(store, the_document(store).id)]
    assert "verified_absent" in kinds


def test_a_lost_first_part_is_found_by_its_external_guid(world):
    store, service, qb, total = world(600)
    session = Session()
    qb.process(service.next_request(session))  # the BillAdd runs; its answer is lost
    service.close(session)
    drain(service, qb, Session(ticket="T-2"), rounds=100)
    assert len(qb.bills) == 1 and len(qb.bills[0].lines) == 600 and qb.bills[0].amount_due == total


def test_someone_editing_the_bill_between_parts_is_read_again_and_the_parts_go_on(world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    qb.concurrent_edit(qb.bills[0].txn_id)  # e.g. a memo changed: a new EditSequence
    drain(service, qb, session, rounds=100)
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total
    kinds = [k for k, _ in trail(store, the_document(store).id)]
    assert "stale_edit_sequence" in kinds and the_document(store).status == DocStatus.POSTED


def test_a_bill_whose_lines_were_changed_in_quickbooks_is_held_for_a_person(world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    with qb._lock:  # someone deletes a line in QuickBooks' own window
        bill = qb.txns[qb.bills[0].txn_id]
        bill.expense_lines.pop()
        bill.touch(qb.clock.now())
    drain(service, qb, session, rounds=100)
    doc = the_document(store)
    assert doc.status == DocStatus.HELD and doc.reason_code == Hold.PARTIAL_BILL
    assert "expected" in doc.reason or "changed there" in doc.reason
    assert len(qb.bills) == 1  # never a second bill


def test_a_bill_deleted_part_way_is_held_and_release_posts_it_whole_again(world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    qb.delete_transaction(qb.bills[0].txn_id)
    drain(service, qb, session, rounds=100)
    doc = the_document(store)
    assert doc.status == DocStatus.HELD and doc.reason_code == Hold.BILL_DELETED
    assert qb.bills == []


def test_even_one_more_line_too_big_for_a_round_trip_is_held_with_what_to_do(world):
    # kept lines cost as much as new ones here: the bill outgrows the budget before it is whole
    store, service, qb, total = world(600, kept_share=1.0)
    drain(service, qb, Session(), rounds=200)
    doc = the_document(store)
    assert max(qb.set_seconds) <= BUDGET
    assert doc.status == DocStatus.HELD and doc.reason_code == Hold.TOO_BIG
    assert "batch_budget_seconds" in doc.reason and "of its 600 lines are in QuickBooks" in doc.reason
    assert len(qb.bills) == 1 and 0 < len(qb.bills[0].lines) < 600


def _second_part_refused(store, service, qb, session) -> Document:
    """The first part goes in; QuickBooks refuses the second (an account it does not know): held, partial."""
    _first_parts(service, qb, session, 1)
    qb.inject(3140, "BillMod", times=1, message='There is an invalid reference to QuickBooks Account "Job Materials"')
    service.handle_response(session, qb.process(service.next_request(session)))
    doc = the_document(store)
    assert doc.status == DocStatus.HELD and doc.reason_code == Hold.PARTIAL_BILL
    return doc


def test_a_part_quickbooks_refuses_holds_the_document_and_release_goes_on_with_the_same_bill(tmp_path, world):
    store, service, qb, total = world(600)
    session = Session()
    doc = _second_part_refused(store, service, qb, session)
    assert "of its 600 lines are in QuickBooks as bill TxnID" in doc.reason and "release" in doc.reason
    settings = load_settings(tmp_path / "qbedi.yaml")
    IngestService(store, settings).release(doc.id, by="ap-clerk")  # (the admin fixed it in QuickBooks)
    drain(service, qb, session, rounds=100)
    [bill] = qb.bills  # the same bill, finished; never a second one
    assert len(bill.lines) == 600 and bill.amount_due == total
    doc = the_document(store)
    assert doc.status == DocStatus.POSTED and doc.qb_txn_id == bill.txn_id
    assert [ln.memo for ln in bill.lines] == [f"AC-{100 + n}" for n in range(1, 601)]


def test_once_kept_lines_are_measured_a_bill_that_cannot_be_finished_is_held_before_any_of_it_is_sent(tmp_path,
                                                                                                      world):
    store, service, qb, total = world(600, kept_share=1.0)
    drain(service, qb, Session(), rounds=200)  # the first one teaches qbedi what a kept line costs
    assert the_document(store).reason_code == Hold.TOO_BIG and len(qb.bills) == 1
    data, _ = long_invoice(700, number="INV-BIG-2", ctrl=502)
    IngestService(store, load_settings(tmp_path / "qbedi.yaml")).ingest(data, source="inbox", remote_id="b2.edi",
                                                                        name="b2.edi")
    sent_before = len(qb.request_log)
    drain(service, qb, Session(ticket="T-2"), rounds=50)
    with store.session() as s:
        second = s.scalars(select(Document).where(Document.document_number == "INV-BIG-2")).one()
        assert second.status == DocStatus.HELD and second.reason_code == Hold.TOO_BIG
        assert "nothing of it was sent" in second.reason
    assert len(qb.bills) == 1 and all("INV-BIG-2" not in r for r in qb.request_log[sent_before:])


def test_a_crash_between_a_part_leaving_and_its_answer_is_settled_by_the_next_process(tmp_path, world):
    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 2)
    qb.process(service.next_request(session))  # the third part runs in QuickBooks; then the process dies
    settings = load_settings(tmp_path / "qbedi.yaml")
    again = DeliveryService(store, settings, clock=lambda: qb.elapsed_seconds)  # a new process: nothing of the old one's memory
    drain(again, qb, Session(ticket="T-9"), rounds=100)
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total
    kinds = [k for k, _ in trail(store, the_document(store).id)]
    assert kinds.count("answer_lost") == 1 and kinds[-1] == "posted"


def test_a_lost_answer_before_any_change_was_measured_does_not_strand_the_bill(world):
    # QuickBooks is quick (the starting estimate is far too high) and the first BillMod's answer is lost, so
    # nothing has measured what a kept line costs: the next part is a one-line probe, not a too_big hold
    store, service, qb, total = world(300, per_line=0.02)
    session = Session()
    _first_parts(service, qb, session, 1)
    qb.process(service.next_request(session))  # the first BillMod runs; its answer is lost
    service.close(session)
    second = Session(ticket="T-2")
    _first_parts(service, qb, second, 1)  # the lost part is looked up: it is in
    qb.process(service.next_request(second))  # the next BillMod runs; its answer is lost too
    service.close(second)
    drain(service, qb, Session(ticket="T-3"), rounds=100)
    doc = the_document(store)
    assert doc.status == DocStatus.POSTED, doc.reason
    [bill] = qb.bills
    assert len(bill.lines) == 300 and bill.amount_due == total and max(qb.set_seconds) <= BUDGET


def test_deleting_a_partial_bill_in_quickbooks_and_releasing_posts_the_invoice_whole_again(tmp_path, world):
    store, service, qb, total = world(600)
    session = Session()
    doc = _second_part_refused(store, service, qb, session)
    assert "delete the bill in QuickBooks and release" in doc.reason
    qb.delete_transaction(qb.bills[0].txn_id)  # the clerk deletes the partial bill, as the reason offers
    IngestService(store, load_settings(tmp_path / "qbedi.yaml")).release(doc.id, by="ap-clerk")  # one release
    drain(service, qb, session, rounds=100)
    doc = the_document(store)
    assert doc.status == DocStatus.POSTED, doc.reason
    [bill] = qb.bills
    assert len(bill.lines) == 600 and bill.amount_due == total and bill.txn_id == doc.qb_txn_id
    assert "bill_gone" in [k for k, _ in trail(store, doc.id)]


def test_a_bill_part_way_in_is_never_sent_whole_if_it_can_no_longer_go_in_parts(world):
    import qbxml_templates as qx
    from lxml import etree

    store, service, qb, total = world(600)
    session = Session()
    _first_parts(service, qb, session, 1)
    with store.session() as s:  # e.g. released and translated again into something parts cannot carry
        rq = s.scalars(select(QueuedRequest)).one()
        rq.qbxml = etree.tostring(qx.bill_add_part(etree.fromstring(rq.qbxml), 1), encoding="unicode")
    drain(service, qb, session, rounds=20)
    doc = the_document(store)
    assert doc.status == DocStatus.HELD and doc.reason_code == Hold.PARTIAL_BILL
    assert len(qb.bills) == 1  # never a second bill
