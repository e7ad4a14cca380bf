"""Several qbedi processes on one database (scale-out on PostgreSQL; SQLite too): a Web Connector
conversation whose calls land on different processes, and a newer login on one process replacing a
session another holds. Real processes, real HTTP, the QuickBooks emulator."""
from __future__ import annotations

import itertools

import requests

from fakes.qbwc_simulator import QBWCSimulator
from tests.support.builders import PASSWORD, make_quickbooks, wait_for, write_config, x12_file
from tests.support.processes import serving

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Freight and Delivery", "Equipment Repairs")
INVOICES = ("acme_INV-10045.edi", "acme_INV-10046.edi")


def queued(db_url: str) -> int:
    """Documents queued for QuickBooks (a file moved to processed/ may not be translated yet)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT count(*) FROM edi_document WHERE status = 'queued'")).scalar()
    finally:
        engine.dispose()


class RoundRobin(requests.Session):
    """A load balancer without affinity: each SOAP call goes to the next process."""

    def __init__(self, urls):
        super().__init__()
        self.urls = itertools.cycle(urls)
        self.seen: list[str] = []

    def post(self, url, *args, **kw):
        target = next(self.urls)
        self.seen.append(target)
        return super().post(target, *args, **kw)


def test_a_conversation_whose_calls_reach_different_processes_posts_everything_once(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    for name in INVOICES:
        (tmp_path / "inbox" / name).write_bytes(x12_file(name))
    qb = make_quickbooks(accounts=ACCOUNTS)
    with serving("run", cfg) as a, serving("serve", cfg) as b:
        assert wait_for(lambda: queued(db_url) == 2, 30)
        lb = RoundRobin([a.url + "/qbwc", b.url + "/qbwc"])
        sim = QBWCSimulator(a.url + "/qbwc", "clerk", PASSWORD, qb, http=lb)
        runs = [sim.run() for _ in range(4)]
        for run in runs:
            assert not any("unknown ticket" in e.lower() or "expired" in e.lower() for e in run.errors), run.errors
        assert sorted(b.ref_number for b in qb.bills) == ["INV-10045", "INV-10046"]  # each once
        assert len(set(lb.seen)) == 2
        status = requests.get(a.url + "/health", timeout=5)
        assert status.status_code == 200
        outs = []
        for proc in (a, b):
            code, out = proc.stop()
            assert code == 0 and "Traceback" not in out, out
            outs.append(out)
    assert "qbwc.session_adopted" in "".join(outs)  # a ticket issued by one process, taken up by the other


def test_a_newer_login_on_another_process_replaces_the_session_there_too(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    qb = make_quickbooks(accounts=ACCOUNTS)
    with serving("run", cfg) as a, serving("serve", cfg) as b:
        assert wait_for(lambda: queued(db_url) == 1, 30)
        old = QBWCSimulator(a.url + "/qbwc", "clerk", PASSWORD, qb)
        old_ticket = old.call("authenticate", strUserName="clerk", strPassword=PASSWORD)[0]
        new = QBWCSimulator(b.url + "/qbwc", "clerk", PASSWORD, qb)
        run = new.run()  # a new login (the old Web Connector died) on the other process: posts the invoice
        assert run.errors == [] and [b.ref_number for b in qb.bills] == ["INV-10045"]
        # the old conversation is over everywhere: process A no longer serves its ticket
        answer = old.call("sendRequestXML", ticket=old_ticket, strHCPResponse="", strCompanyFileName="",
                          qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0)
        assert answer == ""
        assert "replaced" in old.call("getLastError", ticket=old_ticket).lower()
        for proc in (a, b):
            assert proc.stop()[0] == 0


def test_quickbooks_with_another_company_file_open_gets_nothing_and_the_web_connector_says_why(tmp_path, db_url):
    """Through the real SOAP service: the simulator's QuickBooks has another company file open."""
    from fakes.quickbooks import QuickBooksEmulator

    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    other = QuickBooksEmulator(company_file=r"C:\QB\Sandbox Copy.qbw")
    with serving("run", cfg) as a:
        assert wait_for(lambda: queued(db_url) == 1, 30)
        run = QBWCSimulator(a.url + "/qbwc", "clerk", PASSWORD, other).run()
        assert other.bills == [] and run.requests == [] and run.noops == 0  # nothing sent, no waiting
        assert any("Sandbox Copy.qbw" in e and "nothing was sent" in e for e in run.errors), run.errors
        assert run.close_result.startswith("Refused: nothing sent"), run.close_result  # (was "OK: 0 posted")
        status = requests.get(a.url + "/health", timeout=5)
        assert status.status_code == 200
        assert a.stop()[0] == 0


def test_three_polls_at_once_on_one_inbox_make_every_document_once(tmp_path, db_url):
    """Seen before the fix: two `qbedi poll --once` at once translated some files twice (extra documents
    held as duplicates, extra 997s). Real processes, one database."""
    import subprocess

    from sqlalchemy import create_engine, text

    from tests.support.processes import QBEDI

    cfg = write_config(tmp_path, db_url)
    base = x12_file("acme_INV-10045.edi")
    for n in range(40):
        (tmp_path / "inbox" / f"f{n}.edi").write_bytes(
            base.replace(b"INV-10045", f"INV-{n}".encode()).replace(b"000000101", f"{n + 200:09d}".encode()))
    assert subprocess.run([QBEDI, "migrate", "--config", str(cfg)], capture_output=True).returncode == 0
    polls = [subprocess.Popen([QBEDI, "poll", "--once", "--config", str(cfg)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in polls]
    assert [p.returncode for p in polls] == [0, 0, 0] and not any("Traceback" in o for o in outs), outs
    engine = create_engine(db_url)
    with engine.connect() as c:
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("received_file", "edi_document", "qb_request", "outbound_ack")}
        held = c.execute(text("SELECT count(*) FROM edi_document WHERE status <> 'queued'")).scalar()
    engine.dispose()
    assert counts == {"received_file": 40, "edi_document": 40, "qb_request": 40, "outbound_ack": 40} and held == 0
