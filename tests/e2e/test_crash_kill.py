"""Crash injection in CI: a real `qbedi run` is killed with SIGKILL at random moments, while it ingests
files and while a Web Connector session is half way through, and started again. QuickBooks (the emulator,
living in the test process, as the real one lives on another machine) must end up with every invoice
exactly once, at the invoiced amount; qbedi must have every file and every document.

The seed is printed; QBEDI_CRASH_SEED=N repeats a run, QBEDI_CRASH_ROUNDS=N runs more kills."""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from decimal import Decimal

import requests
import yaml
from sqlalchemy import func, select

from connector.settings import load_settings
from connector.status import DocStatus
from connector.store import Document, ReceivedFile, Store, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from tests.support.builders import PASSWORD, long_invoice, make_quickbooks, wait_for, write_config, x12_file
from tests.support.processes import serving

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery")
FILES, PER_FILE = 12, 4  # 48 invoices, 4 to a file


def _invoice_file(n: int) -> bytes:
    """PER_FILE invoices in one interchange: INV-<n>-<k>, each with its own control numbers."""
    base = x12_file("acme_INV-10045.edi").decode()
    head, rest = base.split("ST*810*0001~", 1)
    body, _tail = rest.split("SE*16*0001~", 1)
    isa, gs = head.split("~")[0], head.split("~")[1]
    isa = isa.replace("000000101", f"{n:09d}")
    gs = gs.replace("*101*", f"*{n}*")
    sets = [f"ST*810*{k:04d}~" + body.replace("INV-10045", f"INV-{n}-{k}") + f"SE*16*{k:04d}~"
            for k in range(1, PER_FILE + 1)]
    return (f"{isa}~{gs}~" + "".join(sets) + f"GE*{PER_FILE}*{n}~IEA*1*{n:09d}~").encode()


BIG_LINES = 300  # one invoice too big for a round trip at the starting cost estimate: posted in parts


class SlowQuickBooks:
    """The emulator, taking a little time per message set (so a kill lands mid-session)."""

    def __init__(self, qb, seconds: float):
        self._qb, self._seconds = qb, seconds

    def process(self, xml):
        time.sleep(self._seconds)
        return self._qb.process(xml)

    def __getattr__(self, name):
        return getattr(self._qb, name)


def _queued(cfg) -> int:
    store = Store(load_settings(cfg).database_url)
    try:
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(Document).where(Document.status == DocStatus.QUEUED))
    finally:
        store.dispose()


def _session(url: str, qb) -> None:
    """One Web Connector run; a server killed under it ends it like a network failure ends QBWC's."""
    try:
        QBWCSimulator(url + "/qbwc", "clerk", PASSWORD, qb, timeout=10).run()
    except requests.RequestException:
        pass


def test_sigkill_during_ingest_and_sessions_loses_and_doubles_nothing(tmp_path, db_url):
    seed = int(os.environ.get("QBEDI_CRASH_SEED") or random.randrange(1 << 30))
    rounds = int(os.environ.get("QBEDI_CRASH_ROUNDS") or 6)
    print(f"crash seed {seed}, {rounds} kills")
    rng = random.Random(seed)
    cfg = write_config(tmp_path, db_url)
    data = yaml.safe_load(cfg.read_text())
    data["web_connector"]["max_requests_per_batch"] = 3  # many small batches: more moments to die in
    data["sources"][0]["poll"] = {"every": "1s"}
    cfg.write_text(yaml.safe_dump(data))
    inbox = tmp_path / "inbox"
    qb = make_quickbooks(vendors=("Acme Industrial Supply",), accounts=ACCOUNTS)
    slow = SlowQuickBooks(qb, 0.1)

    pending = list(range(1, FILES + 1))
    posted_before_kill = []
    big, big_total = long_invoice(BIG_LINES, number="INV-BIG", ctrl=900)
    (inbox / "big.edi").write_bytes(big)
    for r in range(rounds):
        for n in pending[:3]:  # new files arrive while qbedi is down, and are ingested as it starts
            (inbox / f"f{n}.edi").write_bytes(_invoice_file(n))
        pending = pending[3:]
        with serving("run", cfg) as run:
            if r % 2 == 0:  # killed while it ingests the files that arrived
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # killed in the middle of a Web Connector session
                wait_for(lambda: _queued(cfg) > 0, 20)
                session = threading.Thread(target=_session, args=(run.url, slow), daemon=True)
                session.start()
                time.sleep(rng.uniform(0.1, 1.2))
            run.proc.send_signal(signal.SIGKILL)
            run.proc.wait(timeout=30)
            if r % 2:
                session.join(timeout=30)
        posted_before_kill.append(len(qb.bills))
    for n in pending:  # what did not arrive during the kills arrives before the last start
        (inbox / f"f{n}.edi").write_bytes(_invoice_file(n))

    with serving("run", cfg) as run:  # the last start: everything is finished, nothing is killed
        assert wait_for(lambda: not any(inbox.glob("*.edi")), 60), "every file is taken from the inbox"
        for _ in range(20):
            _session(run.url, qb)
            store = Store(load_settings(cfg).database_url)
            try:
                with store.session() as s:
                    open_docs = s.scalar(select(func.count()).select_from(Document).where(
                        Document.status != DocStatus.POSTED))
                    total_docs = s.scalar(select(func.count()).select_from(Document))
            finally:
                store.dispose()
            if total_docs == FILES * PER_FILE + 1 and open_docs == 0:
                break
        code, out = run.stop()
    assert code == 0, out

    store = Store(load_settings(cfg).database_url)
    try:
        with store.session() as s:
            files = s.scalar(select(func.count()).select_from(ReceivedFile))
            docs = {d.document_number: d for d in s.scalars(select(Document))}
            big_trail = [e.kind for e in audit_trail(s, docs["INV-BIG"].id)] if "INV-BIG" in docs else []
    finally:
        store.dispose()
    print("bills in QuickBooks after each kill:", posted_before_kill)
    assert posted_before_kill[-1] > 0, "the kills came while there was work in flight"
    assert files == FILES + 1, f"seed {seed}: every file stored once"
    wanted = {f"INV-{n}-{k}" for n in range(1, FILES + 1) for k in range(1, PER_FILE + 1)} | {"INV-BIG"}
    assert set(docs) == wanted and len(docs) == len(wanted), f"seed {seed}: every invoice once in qbedi"
    assert "posted_part" in big_trail and big_trail.count("posted") == 1, \
        f"seed {seed}: {big_trail} {docs['INV-BIG'].reason_code}: {docs['INV-BIG'].reason}"
    not_posted = {n: (d.status, d.reason) for n, d in docs.items() if d.status != DocStatus.POSTED}
    assert not not_posted, f"seed {seed}: {not_posted}"
    bills = [b.ref_number for b in qb.bills]
    assert sorted(bills) == sorted(wanted), f"seed {seed}: every invoice exactly once in QuickBooks"
    for b in qb.bills:
        want = (big_total, BIG_LINES) if b.ref_number == "INV-BIG" else (Decimal("289.00"), 3)
        assert (Decimal(str(b.amount_due)), len(b.lines)) == want and docs[b.ref_number].total == want[0]
        assert b.txn_id == docs[b.ref_number].qb_txn_id
