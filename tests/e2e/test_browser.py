"""The AP web page in a real browser (headless Chromium, Playwright) against `qbedi serve` as a process, with the
QBWC simulator as the Web Connector: what a clerk and an admin do, end to end (issue 13). The same rules through
Flask's test client, with an injectable clock (session expiry, the login throttle): integration/test_web.py.

``QBEDI_SCREENSHOTS=1`` saves the README's pictures in docs/screenshots."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select

from connector import control
from connector.settings import load_settings
from connector.store import Document
from fakes.qbwc_simulator import QBWCSimulator
from tests.support.browser import Person, chromium, screenshot_dir
from tests.support.builders import PASSWORD, PASSWORD_HASH, SUPPLIERS, make_quickbooks, write_config, x12_file
from tests.support.processes import serving

CLERK, ADMIN = "carol", "adam"
COMPANY = "northwind"  # the Web Connector user (its company file)
WEB_USERS = [{"username": CLERK, "password_hash": PASSWORD_HASH, "role": "clerk"},
             {"username": ADMIN, "password_hash": PASSWORD_HASH, "role": "admin"}]
WC_USERS = [{"username": COMPANY, "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\Northwind.qbw"}]
# Acme without a default account: line 1 (AC-100) matches no rule, the invoice is held as unmapped_line
UNMAPPED = {**SUPPLIERS, "ACMESUPPLY": {k: v for k, v in SUPPLIERS["ACMESUPPLY"].items() if k != "default_account"}}
ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery", "Discounts Received")


def workspace(tmp_path, db_url, suppliers, **extra) -> Path:
    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(suppliers), encoding="utf-8")
    return write_config(tmp_path, db_url, suppliers={}, users=WC_USERS, suppliers_file="suppliers.yaml",
                        web={"users": WEB_USERS}, **extra)


def ingest(cfg: Path, *names: str) -> None:
    """Files received as a poll would (in this process, on the served database)."""
    from qbedi.runtime import build_runtime

    rt = build_runtime(load_settings(cfg), with_sources=False)
    try:
        for n in names:
            rt.ingest.ingest(x12_file(n), source="inbox", remote_id=n, name=n)
    finally:
        rt.close()


def quickbooks():
    return make_quickbooks(vendors=("Acme Industrial Supply", "Globex Corporation"), accounts=ACCOUNTS)


def doc_id(cfg: Path, number: str) -> int:
    from connector.store import Store

    store = Store(load_settings(cfg).database_url)
    try:
        with store.session() as s:
            return s.scalar(select(Document.id).where(Document.document_number == number))
    finally:
        store.dispose()


def test_clerk_and_admin_take_a_held_invoice_to_quickbooks(tmp_path, db_url):
    cfg = workspace(tmp_path, db_url, UNMAPPED, auto_post=False)
    ingest(cfg, "acme_INV-10045.edi", "initech_88812.edi")
    qb, shots = quickbooks(), screenshot_dir(tmp_path)
    with serving("serve", cfg) as served, chromium() as browser:
        wc_url = served.url + "/qbwc"
        clerk = Person(browser, served.url, shots)
        clerk.sign_in(CLERK, PASSWORD)
        page = clerk.page
        assert "Dashboard" in page.inner_text("h1")

        # the clerk finds the invoice held for an unmapped line: the failing line is marked, what to do in words
        page.click("nav >> text=Held & failed")
        page.select_option("select[name=reason]", "unmapped_line")
        page.click("button:has-text('Filter')")
        card = page.locator("article.doc", has_text="INV-10045")
        assert card.count() == 1
        assert "unmapped_line" in card.inner_text() and "adds a line rule" in card.inner_text()
        failing = card.locator("tr.failing")
        assert failing.count() == 1 and "AC-100" in failing.inner_text() and "not mapped" in failing.inner_text()
        clerk.shot("held")

        # a clerk cannot pause a company: the button is disabled, and the server refuses the post in words
        page.goto("/sync")
        pause = page.locator(f"#company-{COMPANY} button:has-text('Pause')")
        assert pause.is_disabled()
        pause.evaluate("b => { b.disabled = false; b.form.querySelectorAll('[disabled]')"
                       ".forEach(x => x.disabled = false); }")
        with page.expect_response(lambda r: r.url.endswith("/sync/pause")) as refused:
            pause.click()
        assert refused.value.status == 403
        assert "Only an admin can do this" in page.inner_text("h1") and "is for admins" in page.inner_text("main")
        clerk.shot("refused")

        # the admin fixes the mapping (the suppliers file the running qbedi reads) and releases the invoice
        (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(SUPPLIERS), encoding="utf-8")
        admin = Person(browser, served.url, shots)
        admin.sign_in(ADMIN, PASSWORD)
        acme = doc_id(cfg, "INV-10045")
        admin.page.goto(f"/documents/{acme}")
        admin.page.click("button:has-text('Release')")
        assert "waits for approval" in admin.flash()
        assert "awaiting approval" in admin.page.inner_text("h1")

        # ... and approves it from the approval queue
        admin.page.click("nav >> text=Approval")
        admin.page.check(f"#tick-{acme}")
        admin.shot("approval")
        admin.page.click("button:has-text('Approve ticked')")
        assert "1 document(s) approved" in admin.flash()
        assert "Nothing waits for approval." in admin.page.inner_text("main")

        # the next Web Connector session posts it; the document page shows its TxnID
        run = QBWCSimulator(wc_url, COMPANY, PASSWORD, qb).run()
        assert run.ended == "closed", run
        bills = {b.ref_number: b for b in qb.bills}
        assert set(bills) == {"INV-10045"}
        admin.page.goto(f"/documents/{acme}")
        main = admin.page.inner_text("main")
        assert "posted" in admin.page.inner_text("h1")
        assert bills["INV-10045"].txn_id in main and "In QuickBooks: Bill" in main
        trail = admin.page.inner_text("table.trail")
        for step in ("received", "held", "released", "awaiting approval", "approved", "sent", "posted"):
            assert step in trail, step
        assert f"{ADMIN} (web)" in trail
        assert "BillAdd" in main and "BIG*20261118*INV-10045**PO-7781" in main
        raw = admin.page.locator("ol.x12 li")  # its interchange and group, then its own segments, numbered as in the file
        assert raw.first.inner_text().startswith("ISA*") and raw.first.get_attribute("value") == "1"
        assert raw.nth(2).inner_text().startswith("ST*810*") and raw.nth(2).get_attribute("value") == "3"
        assert raw.last.inner_text().startswith("IEA*") and raw.nth(-3).inner_text().startswith("SE*")
        assert "then its own segments, numbered as they are in the file" in " ".join(main.split())
        admin.shot("document", full_page=True)

        # a cross-site form posted at the page with the admin's cookies changes nothing
        admin.page.set_content(f'<form method="post" action="{served.url}/sync/pause"><input name="scope" '
                               f'value="company"><input name="name" value="{COMPANY}"><button>go</button></form>')
        with admin.page.expect_navigation():
            admin.page.click("button")
        assert "cannot be accepted" in admin.page.inner_text("h1")
        store = _store(cfg)
        try:
            assert control.pauses(store) == {}
        finally:
            store.dispose()

        clerk.page.goto("/")
        assert "1 posted, 0 held, 0 failed" in clerk.page.inner_text("main")  # the session's outcome
        clerk.shot("dashboard")
        clerk.page.goto("/support")
        assert "how the sync is doing" in clerk.page.inner_text("h1")
        clerk.shot("support")


def test_a_paused_company_gets_nothing_until_it_is_resumed(tmp_path, db_url):
    cfg = workspace(tmp_path, db_url, SUPPLIERS)
    ingest(cfg, "acme_INV-10045.edi", "acme_INV-10046.edi")
    qb, shots = quickbooks(), screenshot_dir(tmp_path)
    with serving("serve", cfg) as served, chromium() as browser:
        wc_url = served.url + "/qbwc"
        admin = Person(browser, served.url, shots)
        admin.sign_in(ADMIN, PASSWORD)
        admin.page.goto("/sync")
        row = admin.page.locator(f"#company-{COMPANY}")
        row.locator("input[name=reason]").fill("closing the month")
        row.locator("button:has-text('Pause')").click()
        assert f"Company {COMPANY} is paused" in admin.flash()
        assert "paused" in admin.page.locator(f"#company-{COMPANY}").inner_text()
        admin.shot("sync")

        run = QBWCSimulator(wc_url, COMPANY, PASSWORD, qb).run()
        assert qb.bills == [] and run.requests == []  # told "nothing to do": nothing sent, everything kept
        admin.page.goto("/")
        assert "the company is paused" in admin.page.inner_text("main")

        admin.page.goto("/sync")
        admin.page.locator(f"#company-{COMPANY} button:has-text('Resume')").click()
        assert "carries on where it stopped" in admin.flash()
        QBWCSimulator(wc_url, COMPANY, PASSWORD, qb).run()
        assert sorted(b.ref_number for b in qb.bills) == ["INV-10045", "INV-10046"]
        admin.page.goto("/documents?status=posted")
        assert admin.page.locator("tbody tr").count() == 2
        admin.page.goto("/sync")
        history = admin.page.inner_text("table.history")
        assert "paused" in history and "resumed" in history and "session ok" in history


def test_admin_maps_an_unknown_supplier_and_a_clerk_accepts_a_price_variance(tmp_path, db_url):
    """Issue 14 in the browser: the Vendors page maps the supplier an invoice was held for (suppliers.yaml
    written, the invoice released and queued); an invoice charging more than its purchase order is held as
    price_variance with both prices, and a clerk posts it with a reason."""
    items = {**SUPPLIERS["ACMESUPPLY"], "line_rules": [{"vendor_part": "AC-100", "item": "Hex Bolt 3/8"},
                                                       {"vendor_part": "AC-220", "item": "Shop Towels", "unit": "CA"}]}
    cfg = workspace(tmp_path, db_url, {"ACMESUPPLY": items})
    ingest(cfg, "initech_88812.edi", "acme_PO-7781.edi")
    pricier = (x12_file("acme_INV-10045.edi").replace(b"IT1*2*4*CA*37.25", b"IT1*2*4*CA*39.00")
               .replace(b"TDS*28900", b"TDS*29600").replace(b"000000101", b"000000301"))
    from qbedi.runtime import build_runtime

    rt = build_runtime(load_settings(cfg), with_sources=False)
    try:
        rt.ingest.ingest(pricier, source="inbox", remote_id="pricier.edi", name="pricier.edi")
    finally:
        rt.close()
    shots = screenshot_dir(tmp_path)
    with serving("serve", cfg) as served, chromium() as browser:
        admin = Person(browser, served.url, shots)
        admin.sign_in(ADMIN, PASSWORD)
        admin.page.goto("/vendors")
        row = admin.page.locator("tr", has_text="INITECHEDI")
        assert "not mapped" in row.inner_text()
        row.locator("input[name=vendor]").fill("Initech")
        row.locator("input[name=default_account]").fill("Repairs")
        row.locator("button:has-text('Map')").click()
        assert "INITECHEDI is mapped to 'Initech'" in admin.flash()
        assert "INITECHEDI" in (tmp_path / "suppliers.yaml").read_text()
        rows = admin.page.locator("tr", has_text="INITECHEDI")
        assert rows.count() == 1 and "not mapped" not in rows.inner_text()  # mapped now: one row, no double
        assert "held from before it was mapped: release them on the held list" in rows.inner_text()
        admin.shot("vendors")
        rows.locator("a:has-text('on the held list')").click()  # the list of what was held for it, then one press
        assert admin.page.url.endswith("/held?supplier=INITECHEDI") and "Release all 1" in admin.page.inner_text("main")
        with admin.page.expect_navigation():  # (the button says it is at work until the page answers)
            said = admin.page.eval_on_selector("form.bulk", "f => { f.requestSubmit(); "
                                                            "return f.querySelector('button').textContent; }")
        assert said == "Releasing… (up to 20 seconds)"
        assert "Translated again 1 of 1 document(s) with the mapping as it is now: 1 queued for QuickBooks." in \
            admin.flash()
        assert "supplier=INITECHEDI" in admin.page.url and admin.page.locator("form.bulk").count() == 0

        clerk = Person(browser, served.url, shots)
        clerk.sign_in(CLERK, PASSWORD)
        variance = doc_id(cfg, "INV-10045")
        clerk.page.goto(f"/documents/{variance}")
        body = clerk.page.inner_text("main")
        assert "price_variance" in body and "39.00" in body and "37.25" in body
        clerk.page.fill("input[aria-label='why the variance is accepted']", "price rise agreed by phone")
        clerk.page.click("button:has-text('Accept the variance')")
        assert "queued for QuickBooks" in clerk.flash()
        assert "variance accepted" in clerk.page.inner_text("main").replace("_", " ")


def _store(cfg: Path):
    from connector.store import Store

    return Store(load_settings(cfg).database_url)


def test_every_page_works_on_the_demo_database(tmp_path):
    """`qbedi demo --keep` leaves a workspace: every page (and every document's page) shows on its database."""
    qbedi = str(Path(sys.executable).with_name("qbedi"))
    out = subprocess.run([qbedi, "demo", "--keep", "--json"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ws = Path(json.loads(out.stdout)["workspace"])
    try:
        cfg = ws / "qbedi.yaml"
        data = yaml.safe_load(cfg.read_text())
        data["web"] = {"users": WEB_USERS}
        cfg.write_text(yaml.safe_dump(data))
        from qbedi.runtime import build_runtime
        from web import create_app

        rt = build_runtime(load_settings(cfg), with_sources=False)
        try:
            app = create_app(settings=rt.settings, store=rt.store, ingest=rt.ingest)
            c = app.test_client()
            html = c.get("/login").get_data(as_text=True)
            csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
            assert c.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf": csrf}).status_code == 302
            with rt.store.session() as s:
                ids = list(s.scalars(select(Document.id)))
            assert len(ids) >= 4
            paths = ["/", "/held", "/held?status=failed", "/held?reason=unknown_supplier", "/approval", "/documents",
                     "/documents?status=posted", "/files", "/files?verdict=parsed", "/sync", "/support",
                     *(f"/documents/{i}" for i in ids)]
            for path in paths:
                r = c.get(path)
                assert r.status_code == 200, path
                assert "Something went wrong" not in r.get_data(as_text=True), path
            assert "88812" in c.get("/held").get_data(as_text=True)
            assert "posted" in c.get(f"/documents/{ids[0]}").get_data(as_text=True)
        finally:
            rt.close()
    finally:
        shutil.rmtree(ws, ignore_errors=True)



def test_a_clerk_of_one_company_works_on_its_documents_alone(tmp_path, db_url):
    """Two companies on one qbedi: nora works for north only (web.users[].companies). In the browser she sees and
    releases north's held invoice, never south's nor an unmapped sender's, not even by typing its address."""
    two = [{"username": "north", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\North.qbw"},
           {"username": "south", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\South.qbw"}]
    sups = {"ACMESUPPLY": {**UNMAPPED["ACMESUPPLY"], "company": "north"},
            "GLOBEX-77": {**{k: v for k, v in SUPPLIERS["GLOBEX-77"].items() if k != "default_account"},
                          "company": "south"}}  # (held too: its lines match no rule)
    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(sups), encoding="utf-8")
    cfg = write_config(tmp_path, db_url, suppliers={}, users=two, suppliers_file="suppliers.yaml", web={"users": [
        {"username": "nora", "password_hash": PASSWORD_HASH, "role": "clerk", "companies": ["north"]}, *WEB_USERS]})
    ingest(cfg, "acme_INV-10045.edi", "globex_G-2026-0311.edi", "initech_88812.edi")
    acme, globex, initech = (doc_id(cfg, n) for n in ("INV-10045", "G-2026-0311", "88812"))
    with serving("serve", cfg) as served, chromium() as browser:
        nora = Person(browser, served.url, screenshot_dir(tmp_path))
        nora.sign_in("nora", PASSWORD)
        nav = nora.page.inner_text("nav")
        assert "Held" in nav and "Received files" not in nav and "Sync control" not in nav
        assert "You work for north" in nora.page.inner_text("main")
        nora.page.goto("/held")
        held = nora.page.inner_text("main")
        assert "INV-10045" in held and "G-2026-0311" not in held and "88812" not in held
        for other in (globex, initech):
            nora.page.goto(f"/documents/{other}")
            assert "Not found" in nora.page.inner_text("main")
        nora.page.goto("/files")
        assert "every company" in nora.page.inner_text("main")
        nora.page.goto("/held")
        with nora.page.expect_navigation():
            nora.page.click("form.bulk button")
        assert "of 1 document(s)" in nora.flash()  # north's one alone (still held: its line is not mapped)
    from connector.store import Store

    from connector.store import audit_trail

    store = Store(load_settings(cfg).database_url)
    with store.session() as s:  # the other company's and the unmapped sender's: not released, not touched
        kinds = {n: [e.kind for e in audit_trail(s, i)] for n, i in (("G-2026-0311", globex), ("88812", initech))}
        mine = [e.kind for e in audit_trail(s, acme)]
    store.dispose()
    assert kinds == {"G-2026-0311": ["translated", "held"], "88812": ["translated", "held"]}, kinds
    assert mine.count("held") == 2 and "released" in mine, mine  # hers was tried again
