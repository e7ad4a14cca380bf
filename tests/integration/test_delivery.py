"""The delivery service on its own: the durable queue against the QuickBooks emulator, with no
HTTP and no SOAP. A session is a plain object; QuickBooks' transport is ``emulator.process``.
(Its typed values and pure math: tests/unit/test_delivery_math.py.)"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from connector import control, lifecycle
from connector.delivery import DeliveryService, Load
from connector.status import Activity, DocStatus, RqState
from connector.store import AuditEvent, Document, QueuedRequest, Store, audit_trail
from tests.support.builders import PASSWORD_HASH, SUPPLIERS, make_quickbooks, write_config
from tests.support.delivery import ACCOUNTS, Session, drain, invoices_queued, their_quickbooks



@pytest.fixture
def world(tmp_path, db_url):
    settings, store, _ = invoices_queued(write_config(tmp_path, db_url))
    yield store, DeliveryService(store, settings), their_quickbooks()
    store.dispose()


def documents(store) -> dict[str, Document]:
    with store.session() as s:
        return {d.document_number: d for d in s.scalars(select(Document))}


def test_queued_invoices_become_bills_exactly_once(world):
    store, service, qb = world
    assert service.has_work(Session())
    percents = drain(service, qb, Session())
    assert percents[-1] == 100
    docs = documents(store)
    assert {n: d.status for n, d in docs.items()} == {"INV-10045": DocStatus.POSTED, "INV-10046": DocStatus.POSTED,
                                                      "G-2026-0311": DocStatus.POSTED}
    bills = {b.ref_number: b for b in qb.bills}
    assert len(qb.bills) == 3
    for number, doc in docs.items():
        assert bills[number].txn_id == doc.qb_txn_id and bills[number].amount_due == doc.total == doc.qb_amount
    with store.session() as s:
        kinds = [e.kind for e in audit_trail(s, docs["INV-10045"].id)]
    assert kinds == ["translated", "queued", "sent", "posted"]
    assert not service.has_work(Session()) and drain(service, qb, Session(ticket="T-2")) == []
    assert len(qb.bills) == 3


def test_a_lost_answer_is_looked_up_not_sent_again(world):
    store, service, qb = world
    first = Session()
    qb.process(service.next_request(first))  # QuickBooks records the bills; the answer never reaches us
    service.close(first)
    with store.session() as s:
        assert set(s.scalars(select(QueuedRequest.state))) == {RqState.UNKNOWN}
    drain(service, qb, Session(ticket="T-2"))
    assert len(qb.bills) == 3  # not one more
    docs = documents(store)
    assert {d.status for d in docs.values()} == {DocStatus.POSTED}
    with store.session() as s:
        kinds = [e.kind for e in audit_trail(s, docs["INV-10046"].id)]
    assert kinds == ["translated", "queued", "sent", "answer_lost", "verified_present", "posted"]


def test_another_companys_session_sees_none_of_this_work(world):
    store, service, qb = world
    other = Session(username="someone-else", ticket="T-9")
    assert not service.has_work(other)
    drain(service, qb, other)  # it reads its own QuickBooks' name lists, and that is all
    assert qb.bills == [] and {d.status for d in documents(store).values()} == {DocStatus.QUEUED}


def test_record_in_use_is_retried_later_and_then_posted(world):
    store, service, qb = world
    qb.inject(3175, "BillAdd", times=1)
    session = Session()
    service.handle_response(session, qb.process(service.next_request(session)))
    with store.session() as s:
        retried = s.scalars(select(QueuedRequest).where(QueuedRequest.state == RqState.QUEUED)).one()
        assert retried.meta["not_before"] > datetime.now().isoformat()[:10]
        assert [e.kind for e in audit_trail(s, retried.document_id)][-1] == "retry"
        s.execute(QueuedRequest.__table__.update().values(meta={}))  # the wait is over
    drain(service, qb, session)
    assert len(qb.bills) == 3 and {d.status for d in documents(store).values()} == {DocStatus.POSTED}


def test_an_answer_for_a_request_that_was_not_sent_changes_nothing(world):
    store, service, qb = world
    session = Session()
    xml = service.next_request(session)
    answer = qb.process(xml).replace('requestID="1"', 'requestID="999"')
    service.handle_response(session, answer)
    with store.session() as s:
        states = dict(s.execute(select(QueuedRequest.id, QueuedRequest.state)).all())
    assert states[1] == RqState.UNKNOWN and states[2] == states[3] == RqState.DONE


# ---------------------------------------------------------------- the lifecycle refuses what is not legal

def test_a_posted_document_cannot_be_held_dismissed_or_released(world):
    store, service, qb = world
    drain(service, qb, Session())
    with store.session() as s:
        doc = s.scalars(select(Document)).first()
        rq = doc.requests[0]
        with pytest.raises(lifecycle.IllegalTransition):
            lifecycle.hold_request(s, rq, "qb_error", "too late")
        with pytest.raises(ValueError, match="only held, failed or rejected"):
            lifecycle.dismiss(s, doc, "entered by hand")
        with pytest.raises(ValueError, match="only held or failed"):
            lifecycle.release(s, doc)
        s.rollback()


# ---------------------------------------------------------------- one company's Web Connector, another's work

@pytest.fixture
def two_companies(tmp_path, db_url):
    suppliers = {sid: {**sup, "company": "clerk" if sid == "ACMESUPPLY" else "rival"} for sid, sup in SUPPLIERS.items()}
    users = [{"username": u, "password_hash": PASSWORD_HASH} for u in ("clerk", "rival")]
    settings, store, _ = invoices_queued(write_config(tmp_path, db_url, suppliers=suppliers, users=users))
    yield store, DeliveryService(store, settings)
    store.dispose()


def test_an_answer_may_touch_only_what_its_own_batch_sent(two_companies):
    store, service = two_companies
    qb_rival = make_quickbooks(vendors=("Globex Corporation",), accounts=ACCOUNTS)
    rival, clerk = Session(username="rival", ticket="R-1"), Session(username="clerk", ticket="C-1")
    rival_xml = service.next_request(rival)  # the rival's bill is in flight (sent, answer pending)
    assert service.next_request(clerk) is not None
    with store.session() as s:
        (theirs,) = s.scalars(select(QueuedRequest).where(QueuedRequest.company == "rival"))
    forged = qb_rival.process(rival_xml)  # a real BillAddRs for the rival's request id...
    forged = forged.replace("</QBXMLMsgsRs>", f'<BillQueryRs requestID="v{theirs.id}" statusCode="1" '
                                              'statusSeverity="Info" statusMessage="none"/></QBXMLMsgsRs>')
    service.handle_response(clerk, forged)  # ...answered by the other company's Web Connector
    with store.session() as s:
        theirs = s.get(QueuedRequest, theirs.id)
        assert theirs.state == RqState.SENT and theirs.result_txn_id is None  # untouched
        assert theirs.document.status == DocStatus.SENT and theirs.document.qb_txn_id is None
        refused = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "answer_refused"))]
        mine = list(s.scalars(select(QueuedRequest).where(QueuedRequest.company == "clerk")))
    assert {d["request_id"] for d in refused} == {str(theirs.id), f"v{theirs.id}"}
    assert {d["company"] for d in refused} == {"clerk"}
    (said,) = control.history(store, kinds=[Activity.SESSION_ERROR])  # what an admin sees: the dashboard, status
    assert said["name"] == "clerk" and said["message"].startswith("2 answer(s) for requests this session did not ")
    assert {rq.state for rq in mine} == {RqState.UNKNOWN}  # its own batch got no answer: verified next time


@pytest.mark.parametrize("odd", ["\u00b2", "v\u0662\u0661", "9" * 5000, "01"])
def test_a_request_id_we_never_send_is_refused_not_an_internal_error(two_companies, odd):
    """An answer whose requestID only looks like a number (a superscript, other scripts' digits, 5,000 digits, a
    leading zero) is one this service never sent: refused and audited like any other, the rest of the batch's
    answers applied (it once raised ValueError out of int(), and the whole response was lost)."""
    store, service = two_companies
    qb_rival = make_quickbooks(vendors=("Globex Corporation",), accounts=ACCOUNTS)
    rival = Session(username="rival", ticket="R-1")
    answer = qb_rival.process(service.next_request(rival))
    odd_answer = answer.replace("</QBXMLMsgsRs>", f'<BillQueryRs requestID="{odd}" statusCode="1" '
                                                  'statusSeverity="Info" statusMessage="none"/></QBXMLMsgsRs>')
    assert service.handle_response(rival, odd_answer) == 100
    with store.session() as s:
        (theirs,) = s.scalars(select(QueuedRequest).where(QueuedRequest.company == "rival"))
        assert theirs.state == RqState.DONE and theirs.result_txn_id
        refused = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "answer_refused"))]
    assert [d["request_id"] for d in refused] == [odd[:60]]


def test_companies_learning_the_first_cost_at_the_same_moment_both_succeed(tmp_path, db_url):
    """Two answers at once both find no cost row for BillAdd: neither is rolled back (issue 11, defect 6)."""
    import threading

    from connector.delivery import CostBook
    from connector.store import CostSample

    store = Store(db_url)
    store.migrate()
    inside, release, errors = threading.Event(), threading.Event(), []

    def learn(hold_open: bool):
        try:
            with store.session() as s:
                CostBook(s).learn({"BillAdd": Load(requests=10, lines=40)}, elapsed=9.0, predicted=25.0)
                s.flush()
                if hold_open:  # the first transaction has inserted the row and not committed yet
                    inside.set()
                    release.wait(10)
        except Exception as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    first = threading.Thread(target=learn, args=(True,))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=learn, args=(False,))
    second.start()
    second.join(0.5)  # it waits for the first (row lock / write lock) ...
    release.set()
    first.join(10)
    second.join(30)
    assert errors == []
    with store.session() as s:
        assert s.get(CostSample, "BillAdd").samples == 2
    store.dispose()


def test_a_flood_of_refused_logins_is_recorded_once_a_minute(world):
    """One write a minute per user and address; the count takes every refusal (those between two writes
    are added by the next one)."""
    store, service, qb = world
    for _ in range(50):
        service.login_refused("clerk", "bad", "198.51.100.7")
    service.login_refused("clerk", "locked", "203.0.113.1")  # another address: its own record
    from connector import control
    from connector.store import CompanyState

    with store.session() as s:
        info = s.get(CompanyState, "clerk").info
    assert info["refused_logins"] == 2 and info["last_refused_login"]["remote"] == "203.0.113.1"
    assert len(control.history(store, name="clerk")) == 2
    later = service.clock() + 61
    service.clock = lambda: later  # a minute later: the 49 not yet counted, and this one
    service.login_refused("clerk", "bad", "198.51.100.7")
    with store.session() as s:
        assert s.get(CompanyState, "clerk").info["refused_logins"] == 52


def test_a_batch_that_overran_its_prediction_shrinks_the_next_ones_until_quickbooks_keeps_time(tmp_path, db_url):
    """QuickBooks' times the model does not fit (noise, a cost growing faster than the batch): the overrun
    seen is divided out of the next batches' budget, and decays as batches keep to their prediction."""
    from connector.delivery import CostBook

    store = Store(db_url)
    store.migrate()
    try:
        with store.session() as s:
            assert CostBook(s).overrun() == 1.0
            CostBook(s).learn({"BillAdd": Load(requests=20, lines=200)}, elapsed=60.0, predicted=40.0)
        with store.session() as s:
            assert CostBook(s).overrun() == pytest.approx(1.5)
            for _ in range(70):  # batches that take what was predicted
                CostBook(s).learn({"BillAdd": Load(requests=20, lines=200)}, elapsed=30.0, predicted=30.0)
        with store.session() as s:
            assert 1.2 < CostBook(s).overrun() < 1.3  # the excess about halved
            CostBook(s).learn({"BillAdd": Load(requests=1, lines=1)}, elapsed=100.0, predicted=1.0)
        with store.session() as s:
            assert CostBook(s).overrun() == 4.0  # one stuck batch does not starve the next ones
    finally:
        store.dispose()


def test_the_next_batch_is_filled_to_the_budget_divided_by_the_overrun(world):
    from connector.delivery import CostBook
    from connector.delivery._building import BUDGET_FILL, BatchBuilder, Limits
    from connector.delivery._batch import Progress
    from connector.delivery._lists import NameLists

    store, service, qb = world
    with store.session() as s:
        CostBook(s).learn({"BillAdd": Load(requests=20, lines=200)}, elapsed=60.0, predicted=40.0)
    with store.session() as s:
        builder = BatchBuilder(s, company="clerk", ticket="T-1", qbxml_version="13.0", progress=Progress(),
                               limits=Limits(budget=45.0, max_requests=50, validate=False, auto_create_vendors=False),
                               costs=CostBook(s), lists=NameLists(s, "clerk", 600))
        assert builder.budget == pytest.approx(45.0 * BUDGET_FILL / 1.5)


def test_a_long_queue_is_counted_once_a_session_then_only_near_its_end(tmp_path, db_url, monkeypatch):
    """The percent done each answer returns: counted exactly (at most COUNT_CAP per state) near the end,
    estimated from the session's own progress while the end is far, so a call does not count 1,000
    index entries on every answer of a long drain; it still reaches 100 exactly when the queue is empty."""
    from dataclasses import replace

    from sqlalchemy import event, text

    from connector.delivery import _service

    monkeypatch.setattr(_service, "COUNT_CAP", 5)
    settings, store, _ = invoices_queued(write_config(tmp_path, db_url))
    try:
        with store.engine.begin() as conn:  # 40 more copies of the last queued BillAdd (no document of their own)
            for g in range(40):
                conn.execute(text(
                    "INSERT INTO qb_request (company, request_type, qbxml, ref_number, vendor, external_guid, "
                    "line_count, state, attempts, meta, created_at, updated_at) SELECT company, request_type, qbxml, "
                    "ref_number || :g, vendor, external_guid, line_count, state, 0, meta, created_at, updated_at "
                    "FROM qb_request WHERE id = (SELECT max(id) FROM qb_request WHERE state = 'queued' "
                    "AND document_id IS NOT NULL)"), {"g": f"-{g}"})
        service = DeliveryService(store, settings)
        service.limits = replace(service.limits, max_requests=3)
        counts: list[int] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda conn, cur, statement, *a: counts.append(1) if "count(" in statement.lower() else None)
        qb, session, percents, counted = their_quickbooks(), Session(), [], []
        while (xml := service.next_request(session)) is not None:
            before = len(counts)
            percents.append(service.handle_response(session, qb.process(xml)))
            counted.append(len(counts) > before)
        assert percents[-1] == 100 and percents == sorted(percents)
        with store.engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM qb_request WHERE state IN ('queued', 'sent', 'unknown')")).scalar() == 0
        # counted at the first answer (in full, once), not while over 2 x 5 were left, then every answer
        assert counted[0] and not any(counted[1:8]) and all(counted[-3:]), counted
    finally:
        store.dispose()


@pytest.mark.parametrize("hresult, message, shown", [
    ("0x80040400", "QuickBooks found an error when parsing the provided XML text stream.",
     "(0x80040400: QuickBooks found an error when parsing the provided XML text stream.)"),
    ("", "Out of sequence", "(Out of sequence)"), ("", "", "(no reason given)")])
def test_a_failed_batch_says_what_the_web_connector_reported(two_companies, hresult, message, shown):
    """The Web Connector's hresult and message, as it gave them: no empty code before a colon."""
    store, service = two_companies
    clerk = Session(username="clerk", ticket="C-1")
    assert service.next_request(clerk) is not None
    service.handle_failure(clerk, hresult, message)
    assert f"QuickBooks could not process the last batch {shown}. Nothing is lost" in clerk.last_error
