"""Approval (auto_post: false), pause / resume, sync requests and the sync history, through the core
services against the QuickBooks emulator (no HTTP: tests/support/delivery.py drives a session)."""
from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from connector import control
from connector.delivery import DeliveryService
from connector.lifecycle import IllegalTransition
from connector.services import IngestService
from connector.settings import load_settings
from connector.sources import build_source
from connector.status import Activity, DocStatus, RqState, Scope, SyncKind
from connector.store import CompanyState, Document, QueuedRequest, Store, SyncRequest, audit_trail
from tests.support.builders import SUPPLIERS, make_quickbooks, write_config, x12_file
from tests.support.delivery import Session, drain

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery", "Discounts Received")
VENDORS = ("Acme Industrial Supply", "Globex Corporation")


@pytest.fixture
def make_world(tmp_path, db_url):
    made = []

    def make(*, suppliers=None, **extra):
        settings = load_settings(write_config(tmp_path, db_url, suppliers=suppliers, **extra))
        store = Store(settings.database_url)
        store.migrate()
        made.append(store)
        return settings, store, IngestService(store, settings), DeliveryService(store, settings)

    yield make
    for store in made:
        store.dispose()


def _ingest(ingest, *names):
    for name in names:
        ingest.ingest(x12_file(name), source="inbox", remote_id=name, name=name)


def _docs(store) -> dict[str, Document]:
    with store.session() as s:
        return {d.document_number: d for d in s.scalars(select(Document))}


def _qb():
    return make_quickbooks(vendors=VENDORS, accounts=ACCOUNTS)


def test_auto_post_false_keeps_every_document_from_quickbooks_until_a_person_approves_it(make_world):
    settings, store, ingest, delivery = make_world(auto_post=False)
    _ingest(ingest, "acme_INV-10045.edi", "acme_INV-10046.edi")
    docs = _docs(store)
    assert {d.status for d in docs.values()} == {DocStatus.AWAITING_APPROVAL}
    with store.session() as s:
        assert {r.state for r in s.scalars(select(QueuedRequest))} == {RqState.AWAITING}
    qb = _qb()
    assert not delivery.has_work(Session())  # the Web Connector is told "none"
    drain(delivery, qb, Session())  # (were it run anyway: it reads the name lists, posts nothing)
    assert qb.bills == []

    ingest.approve(docs["INV-10045"].id, by="pat")
    assert drain(delivery, qb, Session())[-1] == 100
    docs = _docs(store)
    assert docs["INV-10045"].status == DocStatus.POSTED and docs["INV-10046"].status == DocStatus.AWAITING_APPROVAL
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]
    with store.session() as s:
        trail = [(e.kind, e.detail.get("by")) for e in audit_trail(s, docs["INV-10045"].id)]
    assert ("awaiting_approval", None) in trail and ("approved", "pat") in trail
    assert [k for k, _ in trail].index("approved") < [k for k, _ in trail].index("posted")


def test_a_rejected_document_never_reaches_quickbooks_and_keeps_who_and_why(make_world):
    settings, store, ingest, delivery = make_world(auto_post=False)
    _ingest(ingest, "acme_INV-10045.edi")
    doc = _docs(store)["INV-10045"]
    with pytest.raises(ValueError, match="say why"):
        ingest.reject(doc.id, "  ", by="pat")
    ingest.reject(doc.id, "not ordered by us", by="pat")
    qb = _qb()
    drain(delivery, qb, Session())
    doc = _docs(store)["INV-10045"]
    assert (doc.status, doc.reason_code, doc.reason) == (DocStatus.REJECTED, "rejected_by_reviewer", "not ordered by us")
    assert qb.bills == []
    with store.session() as s:
        assert {r.state for r in s.scalars(select(QueuedRequest))} == {RqState.CANCELLED}
        ev = [e for e in audit_trail(s, doc.id) if e.kind == "rejected_by_reviewer"]
    assert ev and ev[0].detail["by"] == "pat" and ev[0].detail["reason"] == "not ordered by us"
    with pytest.raises(ValueError, match="only documents awaiting approval"):
        ingest.approve(doc.id, by="pat")  # rejected stays rejected
    with pytest.raises(LookupError):
        ingest.approve(999999, by="pat")


def test_a_supplier_auto_post_overrides_the_global_one(make_world):
    suppliers = {k: dict(v) for k, v in SUPPLIERS.items()}
    suppliers["ACMESUPPLY"]["auto_post"] = False  # global true, acme false
    settings, store, ingest, delivery = make_world(suppliers=suppliers)
    _ingest(ingest, "acme_INV-10045.edi", "globex_G-2026-0311.edi")
    docs = _docs(store)
    assert docs["INV-10045"].status == DocStatus.AWAITING_APPROVAL
    assert docs["G-2026-0311"].status == DocStatus.QUEUED


def test_a_copy_of_a_document_awaiting_approval_is_held_as_a_duplicate(make_world):
    settings, store, ingest, delivery = make_world(auto_post=False)
    _ingest(ingest, "acme_INV-10045.edi")
    ingest.ingest(x12_file("acme_INV-10045.edi").replace(b"000000101", b"000000177"), source="inbox",
                  remote_id="copy", name="copy.edi")
    with store.session() as s:
        statuses = sorted((d.status, d.reason_code or "") for d in s.scalars(select(Document)))
    assert statuses == [(DocStatus.AWAITING_APPROVAL, ""), (DocStatus.HELD, "duplicate_document")]


def test_the_lifecycle_refuses_approval_outside_awaiting(make_world):
    settings, store, ingest, delivery = make_world()
    _ingest(ingest, "acme_INV-10045.edi")
    doc = _docs(store)["INV-10045"]
    assert doc.status == DocStatus.QUEUED
    with pytest.raises(ValueError):
        ingest.approve(doc.id, by="pat")
    from connector import lifecycle

    with store.session() as s, pytest.raises(IllegalTransition):
        d = s.get(Document, doc.id)
        lifecycle._doc_to(d, DocStatus.AWAITING_APPROVAL)  # queued -> awaiting is not a transition


def test_a_paused_company_gets_nothing_and_gets_it_all_after_resume(make_world):
    settings, store, ingest, delivery = make_world()
    _ingest(ingest, "acme_INV-10045.edi", "acme_INV-10046.edi")
    assert control.pause(store, Scope.COMPANY, "clerk", by="admin", reason="year-end close")
    assert not control.pause(store, Scope.COMPANY, "clerk", by="admin")  # already paused: the first stays
    qb = _qb()
    assert not delivery.has_work(Session())
    assert drain(delivery, qb, Session()) == [] and qb.bills == []
    assert {d.status for d in _docs(store).values()} == {DocStatus.QUEUED}  # every record kept
    called = control.history(store, scope=Scope.COMPANY, name="clerk", kinds=[Activity.SESSION_OK])
    assert any("company is paused" in e["message"] for e in called)  # the admin sees the Web Connector calls
    paused = control.pauses(store)[(Scope.COMPANY, "clerk")]
    assert (paused.by, paused.reason) == ("admin", "year-end close")

    assert control.resume(store, Scope.COMPANY, "clerk", by="admin")
    assert not control.resume(store, Scope.COMPANY, "clerk", by="admin")
    assert delivery.has_work(Session())
    drain(delivery, qb, Session())
    assert sorted(b.ref_number for b in qb.bills) == ["INV-10045", "INV-10046"]
    kinds = [e["kind"] for e in control.history(store, scope=Scope.COMPANY, name="clerk")]
    assert kinds[:3] == [Activity.SESSION_OK, Activity.RESUMED, Activity.SESSION_OK]
    assert Activity.PAUSED in kinds


def test_pausing_during_a_session_stops_the_next_batch(make_world):
    settings, store, ingest, delivery = make_world()
    _ingest(ingest, "acme_INV-10045.edi")
    session = Session()
    control.pause(store, Scope.COMPANY, "clerk", by="admin")
    assert delivery.next_request(session) is None


def test_a_paused_source_is_not_fetched_and_resumes_where_it_stopped(make_world, tmp_path):
    settings, store, ingest, delivery = make_world()
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    source = build_source(settings, settings.sources[0])
    control.pause(store, Scope.SOURCE, "inbox", by="admin")
    report = ingest.poll(source)
    assert report.paused and report.fetched == [] and (tmp_path / "inbox" / "a.edi").exists()
    control.resume(store, Scope.SOURCE, "inbox", by="admin")
    report = ingest.poll(source)
    assert not report.paused and len(report.fetched) == 1
    hist = control.history(store, scope=Scope.SOURCE, name="inbox")
    assert hist[0]["kind"] == Activity.POLL_OK and hist[0]["fetched"] == 1
    with pytest.raises(ValueError, match="source or a company"):
        control.pause(store, "galaxy", "x", by="admin")


def test_a_failing_poll_and_a_refused_login_are_in_the_history(make_world, tmp_path):
    settings, store, ingest, delivery = make_world()
    source = build_source(settings, settings.sources[0])
    (tmp_path / "inbox").rmdir()  # the folder is gone: the listing fails
    assert ingest.poll(source).errors
    delivery.login_refused("clerk", "password", "10.0.0.9")
    fails = control.history(store, kinds=[Activity.POLL_FAILED, Activity.SESSION_ERROR])
    assert {(e["scope"], e["kind"]) for e in fails} == {(Scope.SOURCE, Activity.POLL_FAILED),
                                                         (Scope.COMPANY, Activity.SESSION_ERROR)}
    assert "refused" in next(e["message"] for e in fails if e["scope"] == Scope.COMPANY)


def test_sync_requests_are_taken_once_and_refresh_marks_the_lists_stale(make_world):
    settings, store, ingest, delivery = make_world()
    qb = _qb()
    _ingest(ingest, "acme_INV-10045.edi")
    drain(delivery, qb, Session())  # reads the name lists
    first = control.request_sync(store, SyncKind.POLL, "inbox", by="admin")
    second = control.request_sync(store, SyncKind.POLL, None, by="admin")
    assert [r["id"] for r in control.open_sync_requests(store)] == [first, second]
    assert [(r.id, r.target) for r in control.take_sync_requests(store, SyncKind.POLL)] == [(first, "inbox"),
                                                                                            (second, None)]
    assert control.take_sync_requests(store, SyncKind.POLL) == [] and control.open_sync_requests(store) == []

    control.request_sync(store, SyncKind.REFRESH_LISTS, "clerk", by="admin")
    with store.session() as s:
        refs = s.get(CompanyState, "clerk").info["refs"]
        done = s.scalars(select(SyncRequest).where(SyncRequest.kind == SyncKind.REFRESH_LISTS)).one()
    assert refs and all(state["stale"] for state in refs.values())
    assert done.done_at is not None and "next Web Connector session" in done.result
    xml = delivery.next_request(Session())
    assert xml is not None and "VendorQueryRq" in xml  # the lists are read again


def test_release_translates_with_the_mapping_an_admin_just_fixed(make_world, tmp_path):
    suppliers = {k: {**v, "line_rules": []} for k, v in SUPPLIERS.items()}
    for v in suppliers.values():
        v.pop("default_account", None)
    settings, store, ingest, delivery = make_world(suppliers=suppliers)
    _ingest(ingest, "acme_INV-10045.edi")
    doc = _docs(store)["INV-10045"]
    assert (doc.status, doc.reason_code) == (DocStatus.HELD, "unmapped_line")

    cfg = tmp_path / "qbedi.yaml"
    data = yaml.safe_load(cfg.read_text())
    broken = cfg.read_text() + "\n  : : not yaml ["
    cfg.write_text(broken)  # a half-saved file: the last good settings stay in use, the error is kept
    assert ingest.release(doc.id, by="pat").status == DocStatus.HELD
    assert ingest._live.last_error
    data["suppliers"] = SUPPLIERS
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    assert ingest.release(doc.id, by="pat").status == DocStatus.QUEUED
    assert ingest._live.last_error is None


def test_a_session_on_another_company_file_posts_nothing_and_says_why(make_world):
    settings, store, ingest, delivery = make_world()
    _ingest(ingest, "acme_INV-10045.edi")
    qb = _qb()
    wrong = Session(company_info={"company_file_name": r"C:\QB\Sandbox Copy.qbw"})
    assert delivery.next_request(wrong) is None and wrong.state.get("done")
    assert r"'C:\QB\Sandbox Copy.qbw' open" in wrong.last_error and "Northwind.qbw" in wrong.last_error  # (as typed)
    assert qb.bills == []
    from connector.delivery import why_waiting

    with store.session() as s:
        doc = s.scalars(select(Document)).one()
        assert "nothing is posted" in why_waiting(s, doc)
    assert control.history(store, kinds=[Activity.SESSION_ERROR])[0]["message"] == wrong.last_error
    delivery.close(wrong)  # closeConnection: refused, not "OK: 0 posted"; the history has no session that went well
    assert wrong.state["summary"].startswith("Refused: ") and "company file" in wrong.state["summary"]
    assert control.history(store, kinds=[Activity.SESSION_OK]) == []
    assert control.history(store, limit=1)[0]["kind"] == Activity.SESSION_ERROR

    right = Session(company_info={"company_file_name": r"c:/qb/NORTHWIND.QBW"})  # same file, other spelling
    drain(delivery, qb, right)
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]
    with store.session() as s:
        assert "file_mismatch" not in s.get(CompanyState, "clerk").info


def test_a_reason_too_long_to_read_is_refused(make_world):
    settings, store, ingest, delivery = make_world(auto_post=False)
    _ingest(ingest, "acme_INV-10045.edi")
    doc = _docs(store)["INV-10045"]
    with pytest.raises(ValueError, match="under 2000 characters"):
        ingest.reject(doc.id, "x" * 100_000, by="pat")
    assert _docs(store)["INV-10045"].status == DocStatus.AWAITING_APPROVAL
