"""The AP web page (issue 13) through Flask's test client on a real database: sign-in, sessions, CSRF, roles,
the login throttle, every page on data, and the actions (the same in a real browser: e2e/test_browser.py)."""
from __future__ import annotations

import os
import json
import re
import stat

import pytest
import yaml
from sqlalchemy import func, select
from werkzeug.test import Client

from connector import control
from connector.settings import load_settings
from connector.status import DocStatus, RqState
from connector.store import Document, audit_trail
from tests.support.builders import PASSWORD, PASSWORD_HASH, SUPPLIERS, write_config, x12_file

USERS = [{"username": "carol", "password_hash": PASSWORD_HASH, "role": "clerk"},
         {"username": "adam", "password_hash": PASSWORD_HASH, "role": "admin"}]
# Acme without a default account: line 1 (AC-100) matches no rule and is held as unmapped_line
UNMAPPED = {**SUPPLIERS, "ACMESUPPLY": {k: v for k, v in SUPPLIERS["ACMESUPPLY"].items() if k != "default_account"}}


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now

    def advance(self, seconds: float):
        self.now += seconds


def _workspace(tmp_path, db_url, *, suppliers=None, **extra):
    """A config with web users and its suppliers in suppliers.yaml (so a test can change the mapping on disk)."""
    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(suppliers or SUPPLIERS), encoding="utf-8")
    web = {"users": USERS, "session_minutes": 30, **extra.pop("web", {})}
    return write_config(tmp_path, db_url, suppliers={}, web=web, suppliers_file="suppliers.yaml", **extra)


@pytest.fixture
def site(tmp_path, db_url):
    """(runtime, flask app, clock) on a fresh workspace; ``site.make(**config)`` builds another."""
    from qbedi.runtime import build_runtime
    from web import create_app

    made = []

    def make(**kw):
        rt = build_runtime(load_settings(_workspace(tmp_path, db_url, **kw)), with_sources=False)
        clock = Clock()
        app = create_app(settings=rt.settings, store=rt.store, ingest=rt.ingest, clock=clock)
        app.testing = True
        made.append(rt)
        return rt, app, clock

    yield make
    for rt in made:
        rt.close()


def ingest(rt, *names):
    for n in names:
        rt.ingest.ingest(x12_file(n), source="inbox", remote_id=n, name=n)


def doc_id(rt, number):
    with rt.store.session() as s:
        return s.scalar(select(Document.id).where(Document.document_number == number))


def doc(rt, number):
    with rt.store.session() as s:
        return s.scalar(select(Document).where(Document.document_number == number))


def token(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, f"no CSRF field on {path}"
    return m.group(1)


def login(client, user, password=PASSWORD, **kw):
    return client.post("/login", data={"username": user, "password": password, "csrf": token(client)}, **kw)


def post(client, path, data=None, *, page="/"):
    return client.post(path, data={**(data or {}), "csrf": token(client, page)})


def client_from(app, address):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def text(resp):
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------- sign-in, sessions, CSRF, roles

def test_sign_in_and_out(site):
    rt, app, _ = site()
    c = app.test_client()
    r = c.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    r = login(c, "carol", "not the password")
    assert r.status_code == 401 and "The user name or the password is wrong." in text(r)
    assert login(c, "nobody").status_code == 401  # an unknown name: the same answer
    r = login(c, "carol")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    page = text(c.get("/"))
    assert "Dashboard" in page and "carol (clerk)" in page
    cookie = c.get_cookie("qbedi_session")
    assert cookie.http_only and cookie.same_site == "Lax"
    r = post(c, "/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert c.get("/").status_code == 302
    assert "You are signed out." in text(c.get("/login"))


def test_a_post_without_the_csrf_token_changes_nothing(site):
    rt, app, _ = site()
    c = app.test_client()
    login(c, "adam")
    for data in ({"scope": "company", "name": "clerk"}, {"scope": "company", "name": "clerk", "csrf": "forged"}):
        r = c.post("/sync/pause", data=data)
        assert r.status_code == 400
        assert "missing its security token" in text(r) and "Nothing was changed" in text(r)
    assert control.pauses(rt.store) == {}
    # the sign-in form too: a login posted from another site is refused
    r = app.test_client().post("/login", data={"username": "adam", "password": PASSWORD})
    assert r.status_code == 400


def test_a_session_ends_after_the_idle_minutes(site):
    rt, app, clock = site()
    c = app.test_client()
    login(c, "carol")
    clock.advance(29 * 60)
    assert c.get("/held").status_code == 200  # a request restarts the idle clock
    clock.advance(29 * 60)
    assert c.get("/held").status_code == 200
    clock.advance(30 * 60 + 1)
    r = c.get("/held")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert "signed out after 30 minutes without activity" in text(c.get(r.headers["Location"]))
    assert c.get("/held").status_code == 302  # the old cookie is worth nothing now


def test_a_clerk_is_refused_admin_actions_with_words(site):
    rt, app, _ = site()
    clerk, admin = app.test_client(), app.test_client()
    login(clerk, "carol")
    login(admin, "adam")
    for path, data in (("/sync/pause", {"scope": "company", "name": "clerk"}), ("/sync/poll", {}),
                       ("/sync/refresh", {}), ("/sync/resume", {"scope": "company", "name": "clerk"})):
        r = post(clerk, path, data)
        assert r.status_code == 403, path
        assert "is for admins" in text(r) and "carol, a clerk" in text(r) and "Nothing was changed" in text(r)
    assert control.pauses(rt.store) == {} and control.open_sync_requests(rt.store) == []
    sync = text(clerk.get("/sync"))
    assert "only an admin can pause" in sync and "disabled" in sync
    assert post(admin, "/sync/pause", {"scope": "company", "name": "clerk", "reason": "month end"}).status_code == 302
    assert control.pauses(rt.store)[("company", "clerk")].by == "adam (web)"


def test_failed_sign_ins_slow_down_the_guesser_never_the_real_user(site):
    rt, app, clock = site()
    guesser = client_from(app, "203.0.113.9")
    for _ in range(3):
        assert login(guesser, "carol", "guess").status_code == 401
    r = login(guesser, "carol")  # even the right password waits now, from the guesser's address
    assert r.status_code == 429 and "Wait 2 seconds" in text(r)
    elsewhere = client_from(app, "198.51.100.7")
    assert login(elsewhere, "carol").status_code == 302  # the real user, from her own address
    clock.advance(3)
    assert login(guesser, "carol", "guess").status_code == 401  # tried again: the delay doubles
    assert "Wait 4 seconds" in text(login(guesser, "carol"))
    # a flood of unknown names from one address delays that address's unknown names, nobody's account
    office = client_from(app, "192.0.2.50")
    for i in range(20):
        login(office, f"intruder{i}", "x")
    assert login(office, "intruder99", "x").status_code == 429
    assert login(office, "adam").status_code == 302  # a real user at that address who never failed: let in


# ---------------------------------------------------------------- pages

def test_every_page_renders_with_data(site):
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi", "initech_88812.edi")
    rt.ingest.ingest(b"%PDF-1.4 not an invoice", source="inbox", remote_id="scan.pdf", name="scan.pdf")
    c = app.test_client()
    login(c, "carol")
    acme, globex, initech = (doc_id(rt, n) for n in ("INV-10045", "G-2026-0311", "88812"))

    dash = text(c.get("/"))
    assert "unmapped line" in dash and "unknown supplier" in dash and "QuickBooks companies" in dash
    assert "no Web Connector has connected for company" in dash  # what waits, and why
    assert "queued: 1" in dash  # the company's requests by state, in words

    held = text(c.get("/held"))
    assert "INV-10045" in held and "88812" in held and "G-2026-0311" not in held
    assert held.count('class="failing"') == 1 and "not mapped" in held  # line 1 (AC-100) marked
    assert "adds a line rule" in held  # what to do, in words
    assert "88812" not in text(c.get("/held?reason=unmapped_line"))
    assert "INV-10045" not in text(c.get("/held?supplier=-"))
    assert "INV-10045" in text(c.get("/held?supplier=ACMESUPPLY&company=clerk&since=2020-01-01"))
    assert "No document matches" in text(c.get("/held?until=2001-01-01"))
    assert "is not a date" in text(c.get("/held?since=yesterday"))

    page = text(c.get(f"/documents/{acme}"))
    assert "BIG*20261118*INV-10045**PO-7781" in page and "IEA*1*000000101" in page  # one segment a line
    assert page.count("<li value=") >= 20 and "unmapped_line" in page and "file received" not in page
    assert "received" in page and "translated" in page and "held" in page
    assert "Nothing was sent to QuickBooks" in page
    page = text(c.get(f"/documents/{globex}"))
    assert "BillAdd" in page and "&lt;BillAddRq&gt;" in page and "queued" in page  # the qbXML, escaped
    assert "no Web Connector has connected" in page
    page = text(c.get(f"/documents/{initech}"))
    assert "unknown_supplier" in page and "QuickBooks sets it from the vendor's terms" in page  # no ITD, no terms
    assert c.get("/documents/999999").status_code == 404

    docs = text(c.get("/documents?status=queued"))
    assert "G-2026-0311" in docs and ">INV-10045<" not in docs
    assert "INV-10045" in text(c.get("/documents?number=INV-10045"))
    files = text(c.get("/files"))
    assert "scan.pdf" in files and "it looks like a PDF" in files and "acme_INV-10045.edi" in files
    assert "acme_INV-10045.edi" not in text(c.get("/files?verdict=not_x12"))
    assert "Nothing waits for approval." in text(c.get("/approval"))
    sync = text(c.get("/sync"))
    assert "Sources of files" in sync and "inbox" in sync and "No request waits" in sync
    assert "how the sync is doing" in text(c.get("/support"))
    qbcheck = text(c.get("/quickbooks"))
    assert "QuickBooks check" in qbcheck and "needs a look" in qbcheck and "Web Connector has not connected yet" in qbcheck
    assert "G-2026-0311" in qbcheck and "lists not read yet" in qbcheck  # the dry run: the queued bill
    assert "Read QuickBooks' lists again" not in qbcheck  # carol is a clerk: no admin button


def test_empty_store_says_so_in_words(site):
    rt, app, _ = site()
    c = app.test_client()
    login(c, "carol")
    assert "Nothing waits for you" in text(c.get("/"))
    assert "Nothing is held or failed" in text(c.get("/held"))
    assert "No file received yet." in text(c.get("/files"))
    assert "No document received yet." in text(c.get("/documents"))


def test_support_page_needs_no_sign_in_and_hides_messages_from_strangers(site):
    rt, app, _ = site()
    control.record_event(rt.store, "company", "clerk", "session_error", "QuickBooks could not be reached: secret path")
    anon = text(app.test_client().get("/support"))
    assert "A Web Connector session failed" in anon and "secret path" not in anon
    assert "Company clerk: the last Web Connector session had a problem" in anon
    c = app.test_client()
    login(c, "carol")
    assert "secret path" in text(c.get("/support"))


def test_everything_from_the_store_is_escaped(site):
    rt, app, _ = site()
    rt.ingest.ingest(b"<script>alert(1)</script>", source="inbox", remote_id="x", name="<img src=x onerror=alert(1)>")
    c = app.test_client()
    login(c, "carol")
    page = text(c.get("/files"))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# ---------------------------------------------------------------- actions

def test_approve_reject_one_or_many(site):
    rt, app, _ = site(auto_post=False)
    ingest(rt, "acme_INV-10045.edi", "acme_INV-10046.edi", "globex_G-2026-0311.edi")
    assert {doc(rt, n).status for n in ("INV-10045", "INV-10046", "G-2026-0311")} == {DocStatus.AWAITING_APPROVAL}
    c = app.test_client()
    login(c, "carol")
    page = text(c.get("/approval"))
    assert "INV-10045" in page and "INV-10046" in page and 'name="doc"' in page
    a, b, g = doc_id(rt, "INV-10045"), doc_id(rt, "INV-10046"), doc_id(rt, "G-2026-0311")

    r = post(c, "/approval", {"doc": [a, b], "action": "approve"}, page="/approval")
    assert r.status_code == 302
    assert "2 document(s) approved" in text(c.get("/approval"))
    with rt.store.session() as s:
        for i in (a, b):
            d = s.get(Document, i)
            assert d.status == DocStatus.QUEUED and [rq.state for rq in d.requests] == [RqState.QUEUED]
            approved = [e for e in audit_trail(s, i) if e.kind == "approved"]
            assert approved and approved[0].detail["by"] == "carol (web)"

    post(c, "/approval", {"doc": [g], "action": "reject"}, page="/approval")  # no reason: nothing happens
    assert "Say why" in text(c.get("/approval")) and doc(rt, "G-2026-0311").status == DocStatus.AWAITING_APPROVAL
    post(c, f"/documents/{g}/reject", {"reason": "price not agreed"}, page=f"/documents/{g}")
    d = doc(rt, "G-2026-0311")
    assert d.status == DocStatus.REJECTED and d.reason == "price not agreed"
    page = text(c.get(f"/documents/{g}"))
    assert "rejected by reviewer" in page and "carol (web)" in page
    post(c, f"/documents/{a}/approve", page=f"/documents/{a}")  # approved twice: says why not
    assert "only documents awaiting approval are approved" in text(c.get(f"/documents/{a}"))


def test_release_reads_the_mapping_on_disk_and_dismiss_closes(site, tmp_path):
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi", "initech_88812.edi")
    acme, initech = doc_id(rt, "INV-10045"), doc_id(rt, "88812")
    c = app.test_client()
    login(c, "carol")
    post(c, f"/documents/{acme}/release", page=f"/documents/{acme}")
    assert "still held" in text(c.get(f"/documents/{acme}")) and doc(rt, "INV-10045").status == DocStatus.HELD

    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(SUPPLIERS), encoding="utf-8")  # the admin's fix
    post(c, f"/documents/{acme}/release", page=f"/documents/{acme}")
    assert "queued for QuickBooks" in text(c.get(f"/documents/{acme}"))
    assert doc(rt, "INV-10045").status == DocStatus.QUEUED

    post(c, f"/documents/{initech}/dismiss", {"reason": ""}, page=f"/documents/{initech}")
    assert doc(rt, "88812").status == DocStatus.HELD  # a reason is needed
    post(c, f"/documents/{initech}/dismiss", {"reason": "entered by hand as bill 1041"}, page=f"/documents/{initech}")
    d = doc(rt, "88812")
    assert d.status == DocStatus.DISMISSED
    assert "entered by hand as bill 1041" in text(c.get(f"/documents/{initech}"))

    (tmp_path / "suppliers.yaml").write_text("ACMESUPPLY: [not, a, mapping]\n", encoding="utf-8")
    ingest(rt, "acme_INV-10046.edi")
    other = doc_id(rt, "INV-10046")
    post(c, f"/documents/{other}/release", page=f"/documents/{other}")
    assert "configuration does not read" in text(c.get(f"/documents/{other}"))


def test_release_all_on_the_held_page_releases_what_its_filters_show(site, tmp_path):
    """After the admin's fix, a clerk releases every document the held list shows in one press (a big file's
    invoices), narrowed by its filters; a rejected list offers no such button, and a bad filter releases nothing."""
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi", "initech_88812.edi")
    c = app.test_client()
    login(c, "carol")
    assert "Release all 2" in text(c.get("/held"))
    assert "Release all 1" in text(c.get("/held?reason=unmapped_line"))

    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(SUPPLIERS), encoding="utf-8")  # the admin's fix
    r = post(c, "/held/release", {"reason": "unmapped_line", "status": ""}, page="/held?reason=unmapped_line")
    assert r.status_code == 302 and r.headers["Location"].endswith("/held?reason=unmapped_line")
    page = text(c.get(r.headers["Location"]))
    assert "Translated again 1 of 1 document(s) with the mapping as it is now: 1 queued for QuickBooks." in page
    assert 'action="/held/release"' not in page  # (nothing left under this filter)
    assert [doc(rt, n).status for n in ("INV-10045", "88812")] == [DocStatus.QUEUED, DocStatus.HELD]
    with rt.store.session() as s:
        assert [e.detail.get("by") for e in audit_trail(s, doc_id(rt, "INV-10045")) if e.kind == "released"] == \
            ["carol (web)"]
        assert "released" not in [e.kind for e in audit_trail(s, doc_id(rt, "88812"))]  # (filtered out)

    r = post(c, "/held/release", {"since": "last week"}, page="/held")
    assert "Nothing was released: &#39;last week&#39; is not a date (YYYY-MM-DD)." in text(c.get(r.headers["Location"]))
    assert doc(rt, "88812").status == DocStatus.HELD
    assert 'action="/held/release"' not in text(c.get("/held?status=rejected"))
    assert 'action="/held/release"' not in text(c.get("/held?since=last+week"))  # (unfiltered: its filters unread)
    assert 'action="/held/release"' in text(c.get("/held"))


def test_release_all_out_of_time_offers_to_carry_on_after_the_last_one_tried(site, tmp_path, monkeypatch):
    """A press that runs out of time says so (not as an error) and the list offers to carry on after the last
    document tried: documents still held at the front (a sender nobody mapped) no longer use up every press."""
    import web._app
    from tests.support.builders import interchange

    monkeypatch.setattr(web._app, "RELEASE_SECONDS", 0.0)  # (a chunk a press)
    rt, app, _ = site(suppliers=UNMAPPED)
    nobody = interchange([f"N-{n}" for n in range(55)], ctrl=601).replace(b"ACMESUPPLY", b"NOBODYCORP")
    rt.ingest.ingest(nobody, source="inbox", remote_id="n.edi", name="n.edi")
    rt.ingest.ingest(interchange([f"A-{n}" for n in range(5)]), source="inbox", remote_id="a.edi", name="a.edi")
    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(SUPPLIERS), encoding="utf-8")  # Acme fixed; not them
    c = app.test_client()
    login(c, "carol")
    r = post(c, "/held/release", page="/held")
    page = text(c.get(r.headers["Location"]))
    assert '<p class="flash info" role="status">Translated again 50 of 60 document(s)' in page
    assert "Time ran out with 10 not tried yet: carry on to release them." in page
    assert "Carry on: 10 not tried yet" in page and doc(rt, "A-0").status == DocStatus.HELD
    r = c.post("/held/release", data={"after": re.search(r'name="after" value="(\d+)"', page).group(1),
                                      "csrf": token(c, r.headers["Location"])})
    page = text(c.get(r.headers["Location"]))
    assert "Translated again 10 of 10 document(s) with the mapping as it is now: 5 queued for QuickBooks, 5 still " \
           "held (why: unknown supplier: 5)." in page
    assert [doc(rt, f"A-{n}").status for n in range(5)] == [DocStatus.QUEUED] * 5
    assert "Carry on" not in page and "Release all 55" in page  # (from the oldest again)


def test_a_page_past_the_last_one_does_not_say_the_list_is_empty(site):
    """A bookmark, or a list that shrank while a clerk released its documents: page 999 says how many there are
    and links to the first page (it said "Nothing is held or failed: every document went through")."""
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi", "initech_88812.edi")
    c = app.test_client()
    login(c, "carol")
    for path in ("/held", "/documents", "/files"):
        page = text(c.get(f"{path}?page=999"))
        assert "Nothing on this page: 2 in all." in page and f'href="{path}">Back to the first page' in page, path
        assert "went through" not in page and "received yet" not in page and "Showing" not in page, path


def test_a_false_duplicate_is_posted_with_a_reason(site):
    rt, app, _ = site()
    ingest(rt, "acme_INV-10045.edi")
    same_number = x12_file("acme_INV-10045.edi").replace(b"TDS*28900", b"TDS*28901").replace(b"*1500*", b"*1501*")
    rt.ingest.ingest(same_number, source="inbox", remote_id="again.edi", name="again.edi")
    with rt.store.session() as s:
        dup = s.scalar(select(Document).where(Document.reason_code == "duplicate_document"))
    assert dup is not None
    c = app.test_client()
    login(c, "carol")
    assert "Not a duplicate" in text(c.get("/held"))
    with rt.store.session() as s:
        first = s.scalar(select(func.min(Document.id)).where(Document.document_number == "INV-10045"))
    with rt.store.session() as s:  # the first one went to QuickBooks since (the message says "queued": then)
        s.get(Document, first).status, s.get(Document, first).qb_txn_id = DocStatus.POSTED, "1E-4242"
        s.get(Document, first).qb_txn_type = "Bill"
    assert "is already queued (document #" in dup.reason
    page = text(c.get(f"/documents/{dup.id}"))
    assert f'The earlier document now: <a href="/documents/{first}">#{first} INV-10045</a>' in page
    assert "is posted, in QuickBooks as Bill 1E-4242." in page
    post(c, f"/documents/{dup.id}/release", {"not_duplicate": "1", "reason": ""}, page=f"/documents/{dup.id}")
    assert "say why it is not a duplicate" in text(c.get(f"/documents/{dup.id}"))
    post(c, f"/documents/{dup.id}/release", {"not_duplicate": "1", "reason": "a second invoice, same number"},
         page=f"/documents/{dup.id}")
    with rt.store.session() as s:
        assert s.get(Document, dup.id).status == DocStatus.QUEUED
        over = [e for e in audit_trail(s, dup.id) if e.kind == "duplicate_overridden"]
        assert over[0].detail["by"] == "carol (web)"


def test_admin_pauses_resumes_and_asks_for_a_sync(site):
    rt, app, _ = site()
    c = app.test_client()
    login(c, "adam")
    post(c, "/sync/pause", {"scope": "company", "name": "clerk", "reason": "closing the books"}, page="/sync")
    post(c, "/sync/pause", {"scope": "source", "name": "inbox"}, page="/sync")
    p = control.pauses(rt.store)
    assert set(p) == {("company", "clerk"), ("source", "inbox")} and p[("company", "clerk")].reason == "closing the books"
    page = text(c.get("/sync"))
    assert page.count(">Resume</button>") == 2 and "closing the books" in page
    assert "paused" in text(c.get("/"))
    post(c, "/sync/pause", {"scope": "company", "name": "nobody"}, page="/sync")
    assert "There is no company &#39;nobody&#39;" in text(c.get("/sync"))
    post(c, "/sync/resume", {"scope": "company", "name": "clerk"}, page="/sync")
    assert set(control.pauses(rt.store)) == {("source", "inbox")}
    post(c, "/sync/poll", {"source": "inbox"}, page="/sync")
    post(c, "/sync/refresh", {"company": "clerk"}, page="/sync")
    assert [(r["kind"], r["target"], r["by"]) for r in control.open_sync_requests(rt.store)] == [
        ("poll", "inbox", "adam (web)")]
    kinds = [e["kind"] for e in control.history(rt.store)]
    assert kinds.count("sync_requested") == 2 and "paused" in kinds and "resumed" in kinds
    assert "refresh QuickBooks lists for clerk" in text(c.get("/sync"))


def test_the_sync_page_shows_notifications_and_an_admin_sends_a_test_message(site, monkeypatch):
    from tests.support.hooks import webhook_server

    monkeypatch.setenv("QBEDI_HOOK_SECRET", "not the real one")
    rt, app, _ = site()
    c = app.test_client()
    login(c, "adam")
    assert "No notification channel is configured" in text(c.get("/sync"))
    with webhook_server() as hook:
        rt, app, _ = site(notifications={"webhook": {"url": hook.url, "secret_env": "QBEDI_HOOK_SECRET"},
                                         "digest_at": "06:30"})
        clerk, admin = app.test_client(), app.test_client()
        login(clerk, "carol")
        page = text(clerk.get("/sync"))
        assert "webhook" in page and "/hooks/qbedi" in page and "06:30" in page and "signed" in page
        assert "Nothing has been told yet." in page
        post(clerk, "/sync/notify-test", page="/sync")
        assert hook.calls == [] and "only an admin" in text(clerk.get("/sync")).lower()  # a clerk cannot
        login(admin, "adam")
        post(admin, "/sync/notify-test", page="/sync")
        assert len(hook.calls) == 1 and json.loads(hook.calls[0][1])["kind"] == "test"
        assert "webhook: test message delivered" in text(admin.get("/sync"))
        hook.status = 500  # the receiver fails: the admin reads why
        post(admin, "/sync/notify-test", page="/sync")
        assert "webhook: NOT delivered" in text(admin.get("/sync"))


# ---------------------------------------------------------------- mounted beside the SOAP endpoint

def test_the_web_page_is_served_beside_the_web_connector(tmp_path, db_url):
    from qbedi.runtime import build_runtime

    rt = build_runtime(load_settings(_workspace(tmp_path, db_url)), with_sources=False)
    try:
        app = rt.wsgi_app()
        c = Client(app)
        assert c.get("/health").get_data(as_text=True) == "ok\n"
        assert "definitions" in c.get("/qbwc", query_string="wsdl").get_data(as_text=True)
        r = c.get("/")
        assert r.status_code == 302 and r.headers["Location"].startswith("/login")
        assert "how the sync is doing" in c.get("/support").get_data(as_text=True)  # the .qwc's AppSupport URL
        assert app.handler is not None and app.sessions is not None  # the SOAP app's, as before
        key = tmp_path / "web.key"
        assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
        os.chmod(key, 0o644)  # a key others may read is refused: the Web Connector is still served
        app = rt.wsgi_app()
        assert Client(app).get("/health").status_code == 200
        assert "Contact your qbedi administrator" in Client(app).get("/support").get_data(as_text=True)
    finally:
        rt.close()


def test_the_web_page_can_be_switched_off(tmp_path, db_url):
    from qbedi.runtime import build_runtime

    rt = build_runtime(load_settings(_workspace(tmp_path, db_url, web={"enabled": False})), with_sources=False)
    try:
        c = Client(rt.wsgi_app())
        assert c.get("/").status_code == 200 and "Contact your qbedi administrator" in c.get("/").get_data(True)
        assert not (tmp_path / "web.key").exists()
    finally:
        rt.close()


def test_every_page_view_renews_the_cookie_so_a_working_clerk_is_not_signed_out(site):
    """Seen: the signed cookie expired session_minutes after sign-in however busy the clerk was (it was
    only signed again when the session changed), and the browser dropped it without a word."""
    rt, app, clock = site()
    c = app.test_client()
    login(c, "carol")
    for path in ("/held", "/documents", "/"):
        cookie = c.get(path).headers.get("Set-Cookie", "")
        assert cookie.startswith("qbedi_session=") and "Expires=" in cookie and "HttpOnly" in cookie, (path, cookie)


def test_after_sign_in_only_paths_on_this_site_are_followed(site):
    rt, app, clock = site()
    for evil in ("/\t/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example", "/\n/x"):
        c = app.test_client()
        r = c.post("/login", data={"username": "carol", "password": PASSWORD, "csrf": token(c), "next": evil})
        assert r.status_code == 302 and r.headers["Location"] == "/", (evil, r.headers["Location"])
    c = app.test_client()
    r = c.post("/login", data={"username": "carol", "password": PASSWORD, "csrf": token(c), "next": "/held?page=2"})
    assert r.headers["Location"] == "/held?page=2"


def test_numbers_too_big_for_the_database_are_not_found_not_a_crash(site):
    rt, app, clock = site()
    c = app.test_client()
    login(c, "carol")
    assert c.get("/documents/99999999999999999999").status_code == 404
    assert c.get("/documents/2147483648").status_code == 404
    for path in ("/held", "/documents", "/files", "/approval"):
        assert c.get(path + "?page=99999999999999999999").status_code == 200, path
    r = post(c, "/approval", {"doc": "99999999999999999999", "action": "approve"}, page="/approval")
    assert r.status_code in (302, 303)


def test_cookies_are_secure_when_a_trusted_proxy_says_the_page_is_https(tmp_path, db_url):
    """Behind the shipped nginx (X-Forwarded-Proto: https from a trusted proxy) the session cookie is
    Secure; a stranger's header is not believed."""
    import yaml

    from qbedi.runtime import build_runtime
    from werkzeug.test import Client

    cfg = _workspace(tmp_path, db_url)
    data = yaml.safe_load(cfg.read_text())
    data["web_connector"]["trusted_proxies"] = ["127.0.0.1"]
    cfg.write_text(yaml.safe_dump(data))
    rt = build_runtime(load_settings(cfg), with_sources=False)
    try:
        app = rt.wsgi_app()
        for remote, secure in (("127.0.0.1", True), ("10.9.9.9", False)):
            c = Client(app)
            r = c.get("/login", headers={"X-Forwarded-Proto": "https"}, environ_base={"REMOTE_ADDR": remote})
            cookie = r.headers.get("Set-Cookie", "")
            assert cookie.startswith("qbedi_session=") and ("; Secure" in cookie) is secure, (remote, cookie)
    finally:
        rt.close()


def test_vendors_page_maps_an_unknown_supplier_and_the_suppliers_download(site, tmp_path):
    rt, app, _ = site()
    ingest(rt, "initech_88812.edi", "acme_INV-10045.edi")
    clerk, admin = app.test_client(), app.test_client()
    login(clerk, "carol")
    login(admin, "adam")
    page = text(clerk.get("/vendors"))
    assert "INITECHEDI" in page and "not mapped" in page and "An admin maps it" in page
    assert post(clerk, "/vendors/map", {"supplier": "INITECHEDI", "vendor": "Initech"}, page="/vendors").status_code == 403
    r = post(admin, "/vendors/map", {"supplier": "INITECHEDI", "vendor": "Initech", "default_account": "Repairs"},
             page="/vendors")
    assert r.status_code == 302
    assert "INITECHEDI" in (tmp_path / "suppliers.yaml").read_text()
    assert "mapped to &#39;Initech&#39;" in text(admin.get("/vendors")) or "Initech" in text(admin.get("/vendors"))
    out = post(admin, f"/documents/{doc_id(rt, '88812')}/release", page=f"/documents/{doc_id(rt, '88812')}")
    assert out.status_code == 302 and doc(rt, "88812").status == "queued"  # released with the new mapping
    csv_text = text(clerk.get("/suppliers.csv"))
    assert csv_text.startswith("supplier_id,alias,vendor") and "INITECHEDI,,Initech" in csv_text


def test_a_name_guessed_from_many_addresses_is_slowed_except_where_its_owner_signs_in(site):
    """Seen: 78 guesses at one name from 26 addresses (3 each) were never slowed, and an IPv6 host, which
    owns a whole /64, could guess from as many addresses as it liked."""
    rt, app, clock = site()
    home = client_from(app, "198.51.100.7")
    assert login(home, "adam").status_code == 302  # adam signs in from his office as usual
    for n in range(5):  # 2 guesses from each of 5 addresses: none reaches the per-address delay
        guesser = client_from(app, f"203.0.113.{n + 1}")
        for _ in range(2):
            assert login(guesser, "adam", "guess").status_code == 401
    fresh = client_from(app, "203.0.113.200")
    assert login(fresh, "adam", "guess").status_code == 429  # the name is slowed where it never signed in
    assert login(client_from(app, "198.51.100.7"), "adam").status_code == 302  # not at adam's own address
    assert login(client_from(app, "203.0.113.201"), "carol").status_code == 302  # nor for anybody else

    v6 = [client_from(app, f"2001:db8:1:2::{n:x}") for n in range(1, 5)]
    for c in v6[:3]:
        assert login(c, "carol", "guess").status_code == 401  # three tries from one /64 ...
    assert login(v6[3], "carol", "guess").status_code == 429  # ... count as one caller's


def test_support_does_not_say_all_is_well_while_documents_wait_for_a_person(site):
    """Seen: /support said "Everything is working" with 106 documents held."""
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi")  # held: unmapped line
    page = text(app.test_client().get("/support"))
    assert "Everything is working" not in page and "1 document(s) held or refused" in page


def test_a_refusal_on_the_page_does_not_speak_cli(site):
    rt, app, _ = site(suppliers=UNMAPPED)
    ingest(rt, "acme_INV-10045.edi")
    c = app.test_client()
    login(c, "carol")
    d = doc_id(rt, "INV-10045")
    r = post(c, f"/documents/{d}/dismiss", {"reason": "  "}, page=f"/documents/{d}")
    page = text(c.get(r.headers["Location"]))
    assert "say why the document is dismissed" in page and "--reason" not in page


# ---------------------------------------------------------------- clerks of some companies only

TWO_COMPANIES = [{"username": "north", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\North.qbw"},
                 {"username": "south", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\South.qbw"}]
SCOPED_USERS = [{"username": "carol", "password_hash": PASSWORD_HASH, "role": "clerk", "companies": ["North"]},
                {"username": "sam", "password_hash": PASSWORD_HASH, "role": "clerk", "companies": ["south"]},
                {"username": "adam", "password_hash": PASSWORD_HASH, "role": "admin"}]


def test_a_clerk_of_one_company_sees_and_acts_on_its_documents_only(site):
    """web.users[].companies: carol works for north, sam for south. Neither sees, opens, releases, dismisses or
    approves the other's documents (another company's is "no such document", as one that does not exist), nor a
    sender not mapped yet (no company's), nor the pages that show every company's files, sources and suppliers."""
    sups = {"ACMESUPPLY": {**UNMAPPED["ACMESUPPLY"], "company": "north"},
            "GLOBEX-77": {**SUPPLIERS["GLOBEX-77"], "company": "south", "auto_post": False}}
    rt, app, _ = site(suppliers=sups, users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi", "initech_88812.edi")
    acme, globex, initech = (doc_id(rt, n) for n in ("INV-10045", "G-2026-0311", "88812"))
    assert doc(rt, "G-2026-0311").status == DocStatus.AWAITING_APPROVAL and doc(rt, "88812").status == DocStatus.HELD

    carol = app.test_client()
    login(carol, "carol")
    dash = text(carol.get("/"))
    assert "You work for north" in dash and "Sources of files" not in dash and "Received files" not in dash
    assert ">south<" not in dash.replace("<strong>", ">").replace("</strong>", "<")  # (not in the companies table)
    held = text(carol.get("/held"))
    assert "INV-10045" in held and "88812" not in held and "G-2026-0311" not in held
    assert ">G-2026-0311<" not in text(carol.get("/documents?number=G-2026-0311"))
    docs = text(carol.get("/documents"))
    assert ">INV-10045<" in docs and "G-2026-0311" not in docs and "88812" not in docs
    assert "Nothing waits for approval." in text(carol.get("/approval"))
    assert carol.get(f"/documents/{acme}").status_code == 200
    assert carol.get(f"/documents/{globex}").status_code == 404 and carol.get(f"/documents/{initech}").status_code == 404
    for page in ("/files", "/sync", "/vendors", "/quickbooks", "/suppliers.csv"):
        resp = carol.get(page)
        assert resp.status_code == 403 and "works for north only" in text(resp), page
        assert "every company" in text(resp)
    for action, data in (("dismiss", {"reason": "not ours"}), ("reject", {"reason": "not ours"}), ("approve", {}),
                         ("release", {})):
        assert "there is no such document" in text(carol.post(
            f"/documents/{globex}/{action}", data={**data, "csrf": token(carol, "/held")}, follow_redirects=True))
    assert "there is no such document" in text(carol.post(f"/documents/{initech}/dismiss", data={
        "reason": "x", "csrf": token(carol, "/held")}, follow_redirects=True))
    assert doc(rt, "88812").status == DocStatus.HELD and doc(rt, "G-2026-0311").status == DocStatus.AWAITING_APPROVAL
    resp = carol.post("/approval", data={"doc": str(globex), "action": "approve", "csrf": token(carol, "/approval")},
                      follow_redirects=True)
    assert f"#{globex}: there is no such document" in text(resp)
    before = len(audit_trail_of(rt, initech))
    resp = carol.post("/held/release", data={"csrf": token(carol, "/held")}, follow_redirects=True)
    assert "of 1 document(s)" in text(resp)  # INV-10045 alone: still held (its line is not mapped)
    assert doc(rt, "G-2026-0311").status == DocStatus.AWAITING_APPROVAL and doc(rt, "88812").status == DocStatus.HELD
    assert len(audit_trail_of(rt, initech)) == before  # not touched

    from connector.status import Activity, Scope

    control.record_event(rt.store, Scope.COMPANY, "south", Activity.SESSION_ERROR, "South's books are locked")
    control.record_event(rt.store, Scope.COMPANY, "north", Activity.SESSION_ERROR, "North's books are locked")
    support = text(carol.get("/support"))  # (her companies' states and times, as strangers see them: no messages)
    assert "Company north" in support and "south" not in support.lower()
    assert "North's books are locked" not in support and "is for people who work for every company" in support
    assert "1 document(s) held or refused" in support  # (hers: INV-10045; not the unmapped sender's 88812)
    dash = text(carol.get("/"))  # (her dashboard's history: north's alone, with its message: she works for north)
    assert "South&#39;s books are locked" not in dash and "North&#39;s books are locked" in dash

    sam = app.test_client()
    login(sam, "sam")
    assert "G-2026-0311" in text(sam.get("/approval")) and sam.get(f"/documents/{acme}").status_code == 404
    assert "1 document(s) approved" in text(sam.post("/approval", data={
        "doc": str(globex), "action": "approve", "csrf": token(sam, "/approval")}, follow_redirects=True))

    adam = app.test_client()
    login(adam, "adam")
    held = text(adam.get("/held"))
    assert "INV-10045" in held and "88812" in held  # everyone's, and the unmapped sender's
    assert adam.get(f"/documents/{initech}").status_code == 200 and adam.get("/files").status_code == 200
    assert "South&#39;s books are locked" in text(adam.get("/support"))


def test_with_several_companies_strangers_see_a_company_on_the_support_page_only_through_its_link(site, tmp_path):
    """The AppSupport page needs no sign-in. With several companies it named them all, their states and times,
    to anybody who reached it: now only the company whose support link (in its .qwc file, from `qbedi qwc`)
    was followed, and with a wrong key or none, no company at all."""
    import contextlib
    import io
    from urllib.parse import urlsplit

    from lxml import etree

    from connector.status import Activity, Scope
    from qbedi.cli import main as qbedi

    rt, app, _ = site(suppliers={"ACMESUPPLY": {**UNMAPPED["ACMESUPPLY"], "company": "north"},
                                 "GLOBEX-77": {**SUPPLIERS["GLOBEX-77"], "company": "south"}},
                      users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "acme_INV-10045.edi")
    control.record_event(rt.store, Scope.COMPANY, "south", Activity.SESSION_ERROR, "South's books are locked")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert qbedi(["qwc", "--config", str(rt.settings.source_file), "--user", "north",
                      "--url", "https://qb.example.com/qbwc"]) == 0
    link = etree.fromstring(out.getvalue().encode()).findtext("AppSupport")
    assert link.startswith("https://qb.example.com/support?company=north&key=")
    anybody = app.test_client()

    plain = text(anybody.get("/support"))
    assert "names none of them" in plain and "north" not in plain.lower() and "south" not in plain.lower()
    assert "Everything is working" not in plain and "document(s) held" not in plain and "No error recorded" in plain
    assert "Something needs attention" not in plain and "Open this page from your company" in plain
    north = text(anybody.get(urlsplit(link)._replace(scheme="", netloc="").geturl()))
    assert "Company north: no Web Connector has connected yet" in north and "south" not in north.lower()
    assert "1 document(s) held or refused" in north  # INV-10045 (unmapped line), north's
    assert "Every source of EDI files is working." in north and "Source inbox" not in north  # (no names)
    for wrong in (link.replace("company=north", "company=south"), link[:-1] + ("0" if link[-1] != "0" else "1"),
                  link.split("&key=")[0], "/support?company=NORTH&key="):
        page = text(anybody.get(urlsplit(wrong)._replace(scheme="", netloc="").geturl()))
        assert "names none of them" in page and "north" not in page.lower().replace("company=north", ""), wrong
        assert "books are locked" not in page and "south" not in page.lower().replace("company=south", ""), wrong
    adam = app.test_client()
    login(adam, "adam")
    everything = text(adam.get("/support"))
    assert "Company north" in everything and "Company south" in everything and "South&#39;s books are locked" in everything


def test_web_users_changed_in_the_config_count_at_the_next_request_without_a_restart(site):
    """The page took its users from the config read at start: a clerk removed from qbedi.yaml kept signing in
    and working until a restart, a new one could not sign in, a clerk moved to another company kept the old
    one. Now every request reads them as they are on disk."""
    rt, app, _ = site(suppliers={"ACMESUPPLY": {**UNMAPPED["ACMESUPPLY"], "company": "north"},
                                 "GLOBEX-77": {**SUPPLIERS["GLOBEX-77"], "company": "south"}},
                      users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi")
    from pathlib import Path

    config = Path(rt.settings.source_file)

    def users_on_disk(users):
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
        raw["web"]["users"] = users
        config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    carol, sam = app.test_client(), app.test_client()
    login(carol, "carol")
    login(sam, "sam")
    assert "INV-10045" in text(carol.get("/held"))
    users_on_disk([{**SCOPED_USERS[0], "companies": ["south"]}, SCOPED_USERS[2],
                   {"username": "dora", "password_hash": PASSWORD_HASH, "role": "admin"}])
    moved = text(carol.get("/documents"))  # carol now works for south
    assert ">G-2026-0311<" in moved and ">INV-10045<" not in moved
    gone = sam.get("/held")  # sam was removed: signed out, and cannot sign in again
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert login(sam, "sam").status_code == 401
    dora = app.test_client()
    assert login(dora, "dora").status_code == 302 and dora.get("/sync").status_code == 200  # new, no restart
    from connector.passwords import hash_password

    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["web"]["users"][2]["password_hash"] = hash_password("dora's new one", n=2**4)  # a password reset
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    out = dora.get("/sync", follow_redirects=True)  # her session ends with the old password
    assert "/login" in out.request.path and "given a new password" in text(out)
    assert login(app.test_client(), "dora", "dora's new one").status_code == 302
    config.write_text("web: [not: a, config", encoding="utf-8")  # a config that no longer reads: the last good one
    assert ">G-2026-0311<" in text(carol.get("/documents"))  # (not the one read at start: carol works for south)
    assert login(app.test_client(), "sam").status_code == 401  # (removed in the last good one: still out)


def test_a_clerk_finds_a_document_by_part_of_its_number_its_supplier_its_total_or_its_date(site):
    """Seen: "10045", "inv-10045", "Globex", "289.00" each gave "No document matches." (the page took the
    supplier's number alone, whole and in its case)."""
    rt, app, _ = site()
    ingest(rt, "acme_INV-10045.edi", "globex_G-2026-0311.edi", "initech_88812.edi")
    c = app.test_client()
    login(c, "carol")

    def found(what):
        page = text(c.get("/documents", query_string={"find": what}))
        return {n for n in ("INV-10045", "G-2026-0311", "88812") if f">{n}<" in page}

    assert found("10045") == found("inv-10045") == {"INV-10045"}
    assert found("globex") == found("Globex-77") == {"G-2026-0311"}  # its QuickBooks vendor, its id
    assert found("initech") == {"88812"}  # no supplier mapped yet: its sender's id
    assert found("289.00") == found("289") == found("$289.00") == {"INV-10045"}
    assert found("202.00") == {"G-2026-0311"}
    assert found("2026-11-17") == found("11/17/2026") == {"G-2026-0311"}  # the document's own date
    assert found("2026") == {"G-2026-0311"}  # (part of a number)
    assert found("nothing-like-it") == set()
    assert "No document matches “nothing-like-it”." in text(c.get("/documents?find=nothing-like-it"))
    assert found("%") == found("_") == set()  # (the LIKE wildcards are searched for as they are)
    assert found("INV") == {"INV-10045"} and text(c.get("/documents?find=INV&status=held")).count(">INV-") == 0


def test_a_line_without_a_vendor_part_shows_its_upc_and_buyer_part(site):
    rt, app, _ = site(suppliers=UNMAPPED)
    data = (x12_file("acme_INV-10045.edi").replace(b"IT1*1*10*EA*12.50**VN*AC-100", b"IT1*1*10*EA*12.50**UA*002840022222")
            .replace(b"IT1*2*4*CA*37.25**VN*AC-220", b"IT1*2*4*CA*37.25**VN*AC-220*BP*NW-77"))
    rt.ingest.ingest(data, source="inbox", remote_id="upc.edi", name="upc.edi")
    c = app.test_client()
    login(c, "carol")
    page = text(c.get(f"/documents/{doc_id(rt, 'INV-10045')}"))
    assert '<span class="muted">UPC 002840022222</span>' in page and '<span class="muted">buyer part NW-77</span>' in page
    assert "line 1 (UPC 002840022222, HEX BOLT 3/8 BOX OF 100) matches no line rule" in page


def test_a_ship_notice_held_for_an_over_shipment_has_receive_what_is_open_on_its_page(site):
    from connector import lifecycle

    rt, app, _ = site()
    ingest(rt, "acme_ASN-5001.edi")
    asn = doc_id(rt, "ASN-5001")
    with rt.store.session() as s:  # (as QuickBooks' open quantities had it at the Web Connector's session)
        lifecycle.hold(s, s.get(Document, asn), [{"code": "over_receipt",
                                                   "message": "10 x AC-100 shipped but purchase order PO-7781 has only 5 open"}])
    c = app.test_client()
    login(c, "carol")
    page = text(c.get(f"/documents/{asn}"))
    assert "Receive what is open</button>" in page and "press Receive what is open" in page
    said = text(c.post(f"/documents/{asn}/release", data={"receive_open": "1", "reason": "",
                                                          "csrf": token(c, f"/documents/{asn}")}, follow_redirects=True))
    assert "say why only what is open is received" in said
    c.post(f"/documents/{asn}/release", data={"receive_open": "1", "reason": "5 go back",
                                              "csrf": token(c, f"/documents/{asn}")})
    assert [e.detail["reason"] for e in audit_trail_of(rt, asn) if e.kind == "receive_open_chosen"] == ["5 go back"]


def test_the_files_page_names_a_big_files_first_documents_and_links_to_the_rest(site):
    from tests.support.builders import interchange

    rt, app, _ = site()
    rt.ingest.ingest(interchange([f"INV-{n}" for n in range(1, 31)]), source="inbox", remote_id="m", name="many.edi")
    c = app.test_client()
    login(c, "carol")
    page = text(c.get("/files"))
    assert page.count("810 INV-") == 20 and "810 INV-20</a>" in page and "810 INV-21</a>" not in page
    [link] = re.findall(r'<a href="(/documents\?file=\d+)">and 10 more</a>', page)
    listed = text(c.get(link))
    assert listed.count('<a href="/documents/') == 2 * 30 and "of file #" in listed


def test_a_clerk_whose_page_is_out_of_date_reads_who_acted_on_the_document_first(site):
    """Seen: dave accepted #12 while carol, on a page opened earlier, dismissed it; she read "it is queued; only
    held, failed or rejected documents can be dismissed", with no word that dave had just acted."""
    rt, app, _ = site()
    ingest(rt, "initech_88812.edi")
    held = doc_id(rt, "88812")
    carol, adam = app.test_client(), app.test_client()
    login(carol, "carol")
    login(adam, "adam")
    form = token(carol, f"/documents/{held}")  # carol has the page open
    post(adam, f"/documents/{held}/dismiss", {"reason": "entered by hand"}, page=f"/documents/{held}")
    said = text(carol.post(f"/documents/{held}/dismiss", data={"reason": "not ours", "csrf": form},
                           follow_redirects=True))
    assert re.search(rf"Document #{held}: it is dismissed \(dismissed by adam \(web\) at \d{{4}}-\d\d-\d\d \d\d:\d\d "
                     r"UTC\); only held, failed or rejected documents can be dismissed", said), said
    ingest(rt, "acme_INV-10045.edi")  # a release, then a stale dismiss: the release said, not "queued" bare
    acme = doc_id(rt, "INV-10045")
    with rt.store.session() as s:
        from connector import lifecycle

        lifecycle.hold(s, s.get(Document, acme), [{"code": "unmapped_line", "message": "line 1"}])
    form = token(carol, f"/documents/{acme}")
    post(adam, f"/documents/{acme}/release", page=f"/documents/{acme}")
    said = text(carol.post(f"/documents/{acme}/dismiss", data={"reason": "not ours", "csrf": form},
                           follow_redirects=True))
    assert f"Document #{acme}: it is queued (released by adam (web) at " in said, said


def test_the_dashboards_recent_activity_is_not_filled_with_polls_that_found_nothing(site):
    """Seen: "poll ok ... 0 listed, 0 fetched" every poll pushed everything else off the dashboard's list."""
    from connector.status import Activity, Scope

    rt, app, _ = site()
    control.record_event(rt.store, Scope.COMPANY, "clerk", Activity.SESSION_ERROR, "QuickBooks was not open")
    for _ in range(30):
        control.record_event(rt.store, Scope.SOURCE, "inbox", Activity.POLL_OK, control.IDLE_POLL)
    control.record_event(rt.store, Scope.SOURCE, "inbox", Activity.POLL_OK, "1 listed, 1 fetched")
    c = app.test_client()
    login(c, "adam")
    dash = text(c.get("/"))
    recent = dash.split("Recent activity", 1)[1]
    assert "1 listed, 1 fetched" in recent and "QuickBooks was not open" in recent and "0 listed" not in recent
    assert "0 listed, 0 fetched" in text(c.get("/sync"))  # (the whole history keeps them)


def test_a_purchase_orders_section_lists_only_documents_the_clerk_may_see(site, tmp_path):
    """A supplier moved from north to south: its PO (north's) page, read by a clerk of north, does not list or
    count south's invoice for that PO."""
    import time

    from tests.support.builders import ITEM_SUPPLIERS

    sups = {"ACMESUPPLY": {**ITEM_SUPPLIERS["ACMESUPPLY"], "company": "north"}, "GLOBEX-77": SUPPLIERS["GLOBEX-77"]}
    rt, app, _ = site(suppliers=sups, users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "acme_PO-7781.edi")
    time.sleep(1.1)  # (the mapping is looked at at most once a second)
    _move(tmp_path, ACMESUPPLY="south")
    rt.ingest.live.current(now_please=True)
    ingest(rt, "acme_INV-10045.edi")
    assert doc(rt, "INV-10045").company == "south" and doc(rt, "PO-7781").company == "north"
    carol, adam = app.test_client(), app.test_client()
    login(carol, "carol")
    login(adam, "adam")
    po = doc_id(rt, "PO-7781")
    assert "#%d INV-10045</a>" % doc_id(rt, "INV-10045") in text(adam.get(f"/documents/{po}"))
    page = text(carol.get(f"/documents/{po}"))
    assert "<h2>Purchase order PO-7781</h2>" in page and "INV-10045</a>" not in page and "no invoice yet" in page


def audit_trail_of(rt, document_id):
    with rt.store.session() as s:
        return audit_trail(s, document_id)


def test_only_clerks_work_for_some_companies_and_only_for_configured_ones(tmp_path, db_url):
    from connector.settings import ConfigError

    for users, words in (([{**SCOPED_USERS[2], "companies": ["north"]}], "an admin works for every company"),
                         ([{**SCOPED_USERS[0], "companies": ["west"]}], "'west' is not one of the Web Connector users"),
                         ([{**SCOPED_USERS[0], "companies": []}], "an empty list gives this clerk no company")):
        with pytest.raises(ConfigError, match=words):
            load_settings(_workspace(tmp_path, db_url, users=TWO_COMPANIES, web={"users": users}))


def _move(tmp_path, **companies):
    """The admin moves suppliers to other companies (suppliers.yaml on disk: the page reads it as it is)."""
    path = tmp_path / "suppliers.yaml"
    sups = yaml.safe_load(path.read_text())
    for sid, company in companies.items():
        sups[sid]["company"] = company
    path.write_text(yaml.safe_dump(sups), encoding="utf-8")


def test_when_a_supplier_moves_to_another_company_its_held_documents_go_with_it(site, tmp_path):
    """A document queued for north and refused by QuickBooks, whose supplier the admin then moved to south: a
    release would send it to south, so it is south's to release (a helper found carol, north only, releasing it
    into south's queue, and later sam unable to see it). What went to north's QuickBooks stays north's."""
    from sqlalchemy import update

    from connector.store import QueuedRequest

    sups = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "company": "north"}}
    rt, app, _ = site(suppliers=sups, users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "acme_INV-10046.edi", "acme_INV-10045.edi")
    failed, posted = doc_id(rt, "INV-10046"), doc_id(rt, "INV-10045")
    with rt.store.session() as s:  # (as if QuickBooks refused one and posted the other)
        s.execute(update(Document).where(Document.id == failed).values(
            status=DocStatus.FAILED, reason_code="qb_error", reason="QuickBooks: the account is locked"))
        s.execute(update(Document).where(Document.id == posted).values(status=DocStatus.POSTED, qb_txn_id="N-1"))
        s.execute(update(QueuedRequest).where(QueuedRequest.document_id == failed).values(state=RqState.FAILED))
    _move(tmp_path, ACMESUPPLY="south")
    carol, sam = app.test_client(), app.test_client()
    login(carol, "carol")
    login(sam, "sam")
    assert "INV-10046" not in text(carol.get("/held")) and carol.get(f"/documents/{posted}").status_code == 200
    assert "there is no such document" in text(carol.post(f"/documents/{failed}/release", data={
        "csrf": token(carol, "/held")}, follow_redirects=True))
    held = text(sam.get("/held"))
    assert "INV-10046" in held and sam.get(f"/documents/{posted}").status_code == 404
    assert "queued for QuickBooks" in text(sam.post(f"/documents/{failed}/release", data={
        "csrf": token(sam, "/held")}, follow_redirects=True))
    with rt.store.session() as s:
        assert [(q.company, q.state) for q in s.scalars(select(QueuedRequest).where(
            QueuedRequest.document_id == failed).order_by(QueuedRequest.id))] == [("north", "failed"), ("south", "queued")]


def test_a_release_for_some_companies_never_queues_for_another(site, tmp_path):
    """The service's own guard (the mapping may change between the page and the press): a release on behalf of a
    clerk of north that the mapping on disk sends to south is refused, and nothing changes."""
    rt, app, _ = site(suppliers={"ACMESUPPLY": {**UNMAPPED["ACMESUPPLY"], "company": "north"}}, users=TWO_COMPANIES,
                      web={"users": SCOPED_USERS})
    ingest(rt, "acme_INV-10045.edi")
    held = doc_id(rt, "INV-10045")
    path = tmp_path / "suppliers.yaml"
    path.write_text(yaml.safe_dump({"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "company": "south"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="to company south, not one of yours"):
        rt.ingest.release(held, by="carol (web)", companies=("north",))
    assert doc(rt, "INV-10045").status == DocStatus.HELD and len(audit_trail_of(rt, held)) == 2
    assert rt.ingest.release(held, by="sam (web)", companies=("south",)).status == DocStatus.QUEUED


def test_a_clerks_hold_message_does_not_describe_another_companys_document(site, tmp_path):
    """A copy of an invoice posted in south's books, received after its supplier moved to north: held as a
    duplicate, saying which company has it, not that document's number, QuickBooks id, date or total."""
    from sqlalchemy import update

    sups = {"GLOBEX-77": {**SUPPLIERS["GLOBEX-77"], "company": "south"}}
    rt, app, _ = site(suppliers=sups, users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "globex_G-2026-0311.edi")
    with rt.store.session() as s:
        s.execute(update(Document).values(status=DocStatus.POSTED, qb_txn_type="Bill", qb_txn_id="SOUTH-TXN-4242"))
    _move(tmp_path, **{"GLOBEX-77": "north"})
    from qbedi.runtime import build_runtime

    later = build_runtime(load_settings(tmp_path / "qbedi.yaml"), with_sources=False)
    again = x12_file("globex_G-2026-0311.edi").replace(b"000005501", b"000005502")
    later.ingest.ingest(again, source="inbox", remote_id="again", name="again.edi")
    later.close()
    carol = app.test_client()
    login(carol, "carol")
    held = text(carol.get("/held"))
    assert "is already posted for company south" in held and "SOUTH-TXN-4242" not in held
    assert "document #1" not in held


def test_a_sender_a_clerks_supplier_answers_to_is_hers_before_it_is_released(site, tmp_path):
    """Held from a sender no supplier answered to; the admin maps a north supplier that answers to it (match):
    carol now finds it on her list, with its company, and releases it."""
    sups = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "company": "north"}}
    rt, app, _ = site(suppliers=sups, users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "initech_88812.edi")
    carol = app.test_client()
    login(carol, "carol")
    assert "88812" not in text(carol.get("/held"))
    path = tmp_path / "suppliers.yaml"
    path.write_text(yaml.safe_dump({**sups, "INITECH": {"vendor": "Initech", "default_account": "Repairs",
                                                        "company": "north", "match": ["INITECHEDI"]}}))
    held = text(carol.get("/held"))
    assert "88812" in held and "north" in held
    said = text(carol.post(f"/documents/{doc_id(rt, '88812')}/release", data={"csrf": token(carol, "/held")},
                           follow_redirects=True))
    assert "queued for QuickBooks" in said


def test_with_several_companies_the_vendors_page_maps_a_supplier_for_one_of_them(site, tmp_path):
    """A helper mapped a south supplier on the Vendors page and its documents went to north (the first company):
    with several companies, the page asks which one."""
    from connector.store import CompanyState

    rt, app, _ = site(users=TWO_COMPANIES, web={"users": SCOPED_USERS})
    ingest(rt, "initech_88812.edi")
    with rt.store.session() as s:  # the vendor lists the Web Connector read: Initech is south's vendor
        for company, names in (("north", ["acme industrial supply"]), ("south", ["globex corp", "initech parts, inc."])):
            s.merge(CompanyState(company=company, info={"refs": {"Vendor": {
                "names": names, "refreshed_at": "2026-11-30T10:00:00"}}}))
    adam = app.test_client()
    login(adam, "adam")
    page = text(adam.get("/vendors"))  # (suggested from the first company's list alone, north's, it was not)
    assert 'aria-label="company for INITECHEDI"' in page and "initech parts, inc. in south" in page
    assert '<option value="south" selected>south</option>' in page  # the suggestion's company, chosen
    import contextlib
    import io

    from qbedi.cli import main as qbedi

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert qbedi(["vendors", "reconcile", "--config", str(rt.settings.source_file)]) == 0
    assert "maybe 'initech parts, inc.' in south: " in out.getvalue()
    assert "(qbedi vendors map INITECHEDI 'initech parts, inc.' --company south)" in out.getvalue()
    said = text(adam.post("/vendors/map", data={"supplier": "INITECHEDI", "vendor": "Initech", "default_account": "Repairs",
                                                 "company": "south", "csrf": token(adam, "/vendors")},
                          follow_redirects=True))
    assert "mapped to &#39;Initech&#39; for company south" in said
    assert yaml.safe_load((tmp_path / "suppliers.yaml").read_text())["INITECHEDI"]["company"] == "south"
    post(adam, f"/documents/{doc_id(rt, '88812')}/release", page="/held")
    assert (doc(rt, "88812").status, doc(rt, "88812").company) == (DocStatus.QUEUED, "south")
