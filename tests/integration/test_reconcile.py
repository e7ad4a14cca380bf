"""Periodic reconciliation: posted bills looked up in QuickBooks in spare room of Web Connector sessions;
a deleted or changed one is flagged for a person, and a deleted one is posted again on a person's word."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.delivery import DeliveryService
from connector.delivery import _building as building
from connector.store import CompanyState, Document, audit_trail
from tests.support.builders import write_config
from tests.support.delivery import Session, drain, invoices_queued, their_quickbooks



@pytest.fixture
def world(tmp_path, db_url):
    settings, store, ingest = invoices_queued(write_config(tmp_path, db_url))
    qb = their_quickbooks()
    delivery = DeliveryService(store, settings)
    drain(delivery, qb, Session())
    yield store, ingest, delivery, qb
    store.dispose()


def _docs(store) -> dict[str, Document]:
    with store.session() as s:
        return {d.document_number: d for d in s.scalars(select(Document))}


def _new_pass(store):
    """The last pass ended more than a day ago."""
    with store.session() as s:
        cs = s.get(CompanyState, "clerk")
        cs.info = {**cs.info, "reconcile": {"after": 0, "finished_at": "2000-01-01T00:00:00"}}


def test_a_bill_deleted_or_changed_in_quickbooks_is_flagged_and_a_deleted_one_posted_again(world, capsys):
    store, ingest, delivery, qb = world
    docs = _docs(store)
    assert {d.status for d in docs.values()} == {"posted"}
    drain(delivery, qb, Session())  # the first pass: all three found as posted
    assert all(d.reason_code is None for d in _docs(store).values())
    assert not delivery.has_work(Session())  # a pass was just made: nothing to do for a day

    qb.delete_transaction(docs["INV-10045"].qb_txn_id)  # someone deletes a bill in QuickBooks ...
    qb.change_expense_amount(docs["G-2026-0311"].qb_txn_id, 0, "1.00")  # ... and changes another
    _new_pass(store)
    assert delivery.has_work(Session())  # a pass is due: worth a session
    requests = []
    original = qb.process

    def process(xml):
        requests.append(xml)
        return original(xml)

    qb.process = process
    drain(delivery, qb, Session())
    assert any("<BillQueryRq" in r and "<TxnID>" in r for r in requests)
    docs = _docs(store)
    gone, changed, fine = docs["INV-10045"], docs["G-2026-0311"], docs["INV-10046"]
    assert (gone.status, gone.reason_code) == ("posted", "qb_deleted") and "qbedi resync" in gone.reason
    assert changed.reason_code == "qb_changed" and "posted" in changed.reason and fine.reason_code is None
    with store.session() as s:
        assert "reconcile_deleted" in [e.kind for e in audit_trail(s, gone.id)]

    with pytest.raises(ValueError, match="only posted documents whose transaction QuickBooks no longer has"):
        ingest.resync(changed.id, by="pat")  # changed, not gone: a person checks it in QuickBooks
    ingest.resync(gone.id, by="pat")
    drain(delivery, qb, Session())
    again = _docs(store)["INV-10045"]
    assert again.status == "posted" and again.qb_txn_id != gone.qb_txn_id and again.reason_code is None
    assert sorted(b.ref_number for b in qb.bills) == ["G-2026-0311", "INV-10045", "INV-10046"]  # once each
    with store.session() as s:
        kinds = [(e.kind, e.detail.get("by")) for e in audit_trail(s, gone.id)]
    assert ("resync", "pat") in kinds and kinds[-1][0] == "posted"


def test_a_pass_is_bounded_per_batch_and_walks_on(world, monkeypatch):
    store, ingest, delivery, qb = world
    monkeypatch.setattr(building, "RECONCILE_PER_BATCH", 1)
    _new_pass(store)
    session = Session()
    xml = delivery.next_request(session)
    assert xml.count("<BillQueryRq") == 1  # one look-up this batch
    delivery.handle_response(session, qb.process(xml))
    xml = delivery.next_request(session)
    assert xml.count("<BillQueryRq") == 1  # the next one


def test_the_web_page_lists_a_deleted_bill_and_posts_it_again(world, tmp_path):
    import re

    from connector.passwords import hash_password
    from connector.settings import Settings
    from web import create_app

    store, ingest, delivery, qb = world
    gone = _docs(store)["INV-10046"]
    drain(delivery, qb, Session())
    qb.delete_transaction(gone.qb_txn_id)
    _new_pass(store)
    drain(delivery, qb, Session())
    settings = Settings.model_validate({"web": {"users": [{"username": "carol", "role": "clerk",
                                                            "password_hash": hash_password("pw", n=2**4)}]},
                                        "web_connector": {"users": [{"username": "clerk", "password_hash":
                                                                     hash_password("x", n=2**4)}]}})
    app = create_app(settings=settings, store=store, ingest=ingest, key=b"k" * 32)
    c = app.test_client()

    def csrf(path):
        return re.search(r'name="csrf" value="([^"]+)"', c.get(path).get_data(as_text=True)).group(1)

    c.post("/login", data={"username": "carol", "password": "pw", "csrf": csrf("/login")})
    page = c.get("/quickbooks").get_data(as_text=True)
    assert "INV-10046" in page and "no longer has this bill" in page and "Post it again" in page
    c.post(f"/documents/{gone.id}/resync", data={"csrf": csrf("/quickbooks"), "next": "/quickbooks"})
    assert _docs(store)["INV-10046"].status == "queued"


def test_a_session_looks_up_a_bounded_number_and_the_next_session_goes_on(world, monkeypatch):
    store, ingest, delivery, qb = world
    monkeypatch.setattr(building, "RECONCILE_PER_SESSION", 2)
    _new_pass(store)
    seen = []
    original = qb.process

    def process(xml):
        seen.append(xml.count("<BillQueryRq"))
        return original(xml)

    qb.process = process
    drain(delivery, qb, Session())
    assert sum(seen) == 2  # this session's share of the pass
    seen.clear()
    drain(delivery, qb, Session())
    assert sum(seen) == 1  # the next session finishes it (three bills in all)
    assert not delivery.has_work(Session())
