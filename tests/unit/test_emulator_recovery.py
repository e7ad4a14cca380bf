"""Emulator: newMessageSetID/oldMessageSetID error recovery, threads, XSD of responses."""
from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal as D

import pytest

from fakes.quickbooks import QuickBooksEmulator
from fakes.quickbooks.company import FIXED_START, SimClock
from qbxml_templates import (
    BillSpec, ExpenseLine, bill_add, message_set, message_set_status, parse_response,
)
from tests.support.xsd import validate


# Intuit's XSD for the product and the emulator when it is there; a test that validates against it
# (tests.support.xsd.validate) is skipped when it is not
pytestmark = pytest.mark.usefixtures("xsd_checks")


@pytest.fixture
def qb():
    q = QuickBooksEmulator(clock=SimClock(FIXED_START))
    q.add_vendor("Acme Supply Co")
    q.add_account("Freight")
    return q


def bill_rq(ref="INV-1", rid="1"):
    return bill_add(BillSpec(vendor="Acme Supply Co", txn_date=date(2024, 5, 1), ref_number=ref,
                             expense_lines=[ExpenseLine("Freight", D("10"))]), rid)


def test_new_message_set_id_echoed_and_stored(qb):
    resp = qb.process(message_set([bill_rq()], new_message_set_id="batch-1"))
    assert validate(resp) == []
    assert message_set_status(resp).new_message_set_id == "batch-1"
    (r,) = parse_response(resp)
    assert r.status_code == 0
    # lost response: ask for the stored one (ErrRecovery2.xml style, old == new)
    rec = qb.process(message_set([], old_message_set_id="batch-1",
                                 new_message_set_id="batch-1"))
    assert validate(rec) == []
    st = message_set_status(rec)
    assert st.message_set_status_code == 0 and st.new_message_set_id == "batch-1"
    (again,) = parse_response(rec)
    assert again.ret_text("TxnID") == r.ret_text("TxnID")
    assert len(qb.bills) == 1
    # old only: returns it and clears (ErrRecovery3.xml "delete session status")
    rec2 = qb.process(message_set([], old_message_set_id="batch-1"))
    assert parse_response(rec2)[0].ret_text("TxnID") == r.ret_text("TxnID")
    gone = qb.process(message_set([], old_message_set_id="batch-1"))
    assert message_set_status(gone).message_set_status_code == 9002


def test_resend_same_new_id_is_not_reposted(qb):
    doc = message_set([bill_rq()], new_message_set_id="batch-2")
    first = qb.process(doc)
    second = qb.process(doc)
    assert first == second
    assert len(qb.bills) == 1


def test_same_new_id_different_content_9001(qb):
    qb.process(message_set([bill_rq("A")], new_message_set_id="batch-3"))
    resp = qb.process(message_set([bill_rq("B")], new_message_set_id="batch-3"))
    assert validate(resp) == []
    assert message_set_status(resp).message_set_status_code == 9001
    assert parse_response(resp) == []
    assert len(qb.bills) == 1


def test_old_id_mismatch_600(qb):
    qb.process(message_set([bill_rq()], new_message_set_id="batch-4"))
    resp = qb.process(message_set([], old_message_set_id="other"))
    assert validate(resp) == []
    assert message_set_status(resp).message_set_status_code == 600
    # with a new ID the set is processed as a new one
    resp = qb.process(message_set([bill_rq("C")], old_message_set_id="other",
                                  new_message_set_id="batch-5"))
    assert parse_response(resp)[0].status_code == 0 and len(qb.bills) == 2


def test_nothing_stored_9002(qb):
    resp = qb.process(message_set([], old_message_set_id="never"))
    assert message_set_status(resp).message_set_status_code == 9002


def test_message_set_id_too_long_9004(qb):
    doc = message_set([bill_rq()], new_message_set_id="x" * 24).replace("x" * 24, "y" * 25)
    resp = qb.process(doc)
    assert validate(resp) == []
    assert message_set_status(resp).message_set_status_code == 9004
    assert qb.bills == []


def test_stored_per_application(qb):
    qb.process(message_set([bill_rq()], new_message_set_id="b"), app_name="one")
    resp = qb.process(message_set([], old_message_set_id="b"), app_name="two")
    assert message_set_status(resp).message_set_status_code == 9002


def test_thread_safety(qb):
    errors = []

    def worker(n):
        try:
            for i in range(10):
                resp = qb.process(message_set([bill_rq(f"T{n}-{i}", f"{n}-{i}")]))
                assert parse_response(resp)[0].status_code == 0
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    bills = qb.bills
    assert len(bills) == 40
    assert len({b.txn_id for b in bills}) == 40
    assert sorted(b.txn_number for b in bills) == list(range(1, 41))


def test_every_status_response_validates(qb):
    """Error-only responses (3140, 3231, 3250, injected) validate against the XSD too."""
    from lxml import etree
    qb.inject(3175, "BillAdd", 1)
    resp = qb.process(message_set([
        bill_rq("X", "1"),
        bill_add(BillSpec(vendor="Nobody", txn_date=None, ref_number="x"), "2"),
        etree.Element("InvoiceQueryRq", requestID="3"),
        bill_rq("Y", "4"),
    ], on_error="stopOnError"))
    assert validate(resp) == []
    assert [i.status_code for i in parse_response(resp)] == [3175, 3231, 3231, 3231]
