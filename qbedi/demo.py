"""``qbedi demo``: the whole flow on the embedded defaults, nothing to install.

A temporary workspace gets sample 810 invoices in its inbox and a config;
the real SOAP service starts on a free 127.0.0.1 port; the QBWC simulator
(real SOAP envelopes over HTTP) drives it against the QuickBooks Desktop
emulator. Then the same file arrives again, to show it is not posted twice.
"""
from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

import yaml

from connector.credentials import CredentialStore, generate_key_file
from connector.logs import configure_logging
from connector.passwords import hash_password
from connector.services import document_rows
from connector.settings import load_settings
from fakes.cleo import CleoEmulator
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from qbwc_server.server import start_in_thread

from .runtime import build_runtime

DEMO_USER = "demo"
DEMO_COMPANY = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Northwind Distributing.qbw"
DEMO_SUPPLIERS = {
    "ACMESUPPLY": {
        "vendor": "Acme Industrial Supply", "default_account": "Job Materials", "class": "Warehouse",
        "terms_days": 30, "charge_accounts": {"D240": "Freight and Delivery"},
        "line_rules": [{"vendor_part": "AC-220", "account": "Janitorial Supplies"},
                       {"description": "pallet jack", "account": "Equipment Repairs"}],
    },
    "GLOBEX-77": {
        "vendor": "Globex Corporation", "default_account": "Job Materials", "match": ["GLOBEXEDI"],
        "terms_days": 45, "charge_accounts": {"C310": "Discounts Received"},
    },
}
DEMO_ACCOUNTS = ["Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery",
                 "Discounts Received"]


def demo_files() -> list[tuple[str, bytes]]:
    folder = resources.files("qbedi").joinpath("data/demo")
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir() if p.name.endswith(".edi"))


def seed_quickbooks(qb) -> None:
    for name in ("Acme Industrial Supply", "Globex Corporation"):
        qb.add_vendor(name)
    for name in DEMO_ACCOUNTS:
        qb.add_account(name, "Expense")
    qb.add_class("Warehouse")


def write_demo_config(ws: Path, password: str, *, source: str = "folder", cleo: dict | None = None) -> Path:
    src: dict = {"name": "inbox", "type": "folder", "path": str(ws / "inbox"), "outbox": str(ws / "outbox"),
                 "settle_seconds": 0, "poll": {"every": "1m"}}  # the demo writes each file whole before it polls
    if source == "cleo":
        src = {"name": "cleo", "type": "cleo", **(cleo or {})}
    config = {
        "database": {"url": f"sqlite:///{ws / 'qbedi.db'}"},
        "sources": [src],
        "web_connector": {"users": [{"username": DEMO_USER, "password_hash": hash_password(password),
                                     "company_file": DEMO_COMPANY}]},
        "suppliers": DEMO_SUPPLIERS,
        "logging": {"level": "INFO", "format": "json", "file": str(ws / "qbedi.log")},
    }
    path = ws / "qbedi.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_demo(*, keep: bool = False, as_json: bool = False, source: str = "folder", out=None) -> int:
    out = out or sys.stdout
    say = (lambda *a: None) if as_json else (lambda *a: print(*a, file=out))
    ws = Path(tempfile.mkdtemp(prefix="qbedi-demo-"))
    cleo = None
    try:
        files, pw = demo_files(), secrets.token_urlsafe(16)
        cleo = _start_cleo(ws, files) if source == "cleo" else None
        cfg_path = _prepare_workspace(ws, files, pw, cleo)
        settings = load_settings(cfg_path)
        lg = settings.logging
        configure_logging(lg.level, lg.format, str(settings.resolve(lg.file)) if lg.file else None,
                          max_mb=lg.max_mb, keep=lg.keep)
        rt = build_runtime(settings)
        say(f"qbedi demo: workspace {ws}")
        say(f"1. {len(files)} supplier invoices (X12 810) wait in the {'Cleo emulator' if cleo else 'inbox folder'}")

        polls = [rt.ingest.poll(s) for s in rt.sources]
        for r in polls:
            for e in r.errors:
                say(f"   source error: {e}")
        docs = document_rows(rt.store)
        say(f"2. fetched, stored and translated: {sum(1 for d in docs if d['status'] == 'queued')} queued for "
            f"QuickBooks, {sum(1 for d in docs if d['status'] == 'held')} held for AP review")

        qb = QuickBooksEmulator(company_file=DEMO_COMPANY)
        seed_quickbooks(qb)
        with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
            say(f"3. Web Connector service listening on {server.url}; the QBWC simulator calls it ...")
            run = QBWCSimulator(server.url, DEMO_USER, pw, qb, noop_wait=0.01).run()
            say(f"   {len(run.calls)} SOAP calls: " + " -> ".join(dict.fromkeys(run.methods())))

            # the same file arrives again: recognised by its sha256, nothing new is queued
            again_name, again_data = files[0]
            again = rt.ingest.ingest(again_data, source="redelivery", remote_id=again_name, name=again_name)
            run2 = QBWCSimulator(server.url, DEMO_USER, pw, qb, noop_wait=0.01).run()

        docs = document_rows(rt.store)
        by_ref = {b.ref_number: b for b in qb.bills}
        result = {"workspace": str(ws), "documents": [], "quickbooks_bills": len(qb.bills),
                  "redelivered_file": {"file": again_name, "duplicate": again.duplicate,
                                       "new_documents": len(again.documents)},
                  "second_session_calls": len(run2.calls)}
        say("4. results:")
        result["documents"].extend(_result(d, by_ref.get(d["document_number"]), say) for d in docs)
        say(f"5. {again_name} delivered again: {'recognised as already received' if again.duplicate else 'NEW?'}, "
            f"{len(again.documents)} new documents; QuickBooks holds {len(qb.bills)} bills "
            f"({len({b.ref_number for b in qb.bills})} distinct invoice numbers)")
        say(f"   audit trail of a document: qbedi show 1 --config {cfg_path}"
            if keep else "   (run with --keep to look around: qbedi documents / show / status --config <workspace>/qbedi.yaml)")
        if as_json:
            json.dump(result, out, indent=2, default=str)
            out.write("\n")
        rt.close()
        posted = sum(1 for d in docs if d["status"] == "posted")
        return 0 if posted >= 2 and len(qb.bills) == posted else 1
    finally:
        if cleo is not None:
            cleo.stop()
        if not keep:
            configure_logging("WARNING", "auto")  # its log file goes with the workspace
            shutil.rmtree(ws, ignore_errors=True)


def _prepare_workspace(ws: Path, files, password: str, cleo: "_CleoDemo | None") -> Path:
    """The inbox (holding the sample files unless they wait in the Cleo emulator) and the config."""
    (ws / "inbox").mkdir()
    if cleo is not None:
        return write_demo_config(ws, password, source="cleo", cleo=cleo.config)
    for name, data in files:
        (ws / "inbox" / name).write_bytes(data)
    return write_demo_config(ws, password)


def _result(d: dict, bill, say) -> dict:
    """One document's line of the results, with the QuickBooks bill it became (if any)."""
    entry = {**d, "quickbooks": None}
    if d["qb_txn_id"] and bill is not None:
        entry["quickbooks"] = {"txn_id": bill.txn_id, "vendor": bill.vendor, "amount": str(bill.amount_due),
                               "due_date": bill.due_date.isoformat() if bill.due_date else None,
                               "ref_number": bill.ref_number}
        say(f"   {d['file']:<26} invoice {d['document_number']:<12} {d['total']:>9}  -> posted: Bill "
            f"{bill.txn_id} for {bill.vendor}, {bill.amount_due} due {entry['quickbooks']['due_date']}")
    elif d["status"] == "posted":
        say(f"   {d['file']:<26} invoice {d['document_number']:<12} {d['total']:>9}  -> posted: "
            f"{d['qb_txn_type']} {d['qb_txn_id']}")
    else:
        say(f"   {d['file']:<26} invoice {d['document_number']:<12} {d['total'] or '':>9}  -> "
            f"{d['status'].upper()} ({d['reason_code']}): {d['reason']}")
    return entry


class _CleoDemo:
    """The Cleo emulator on 127.0.0.1 holding the sample files, and credentials for it in the workspace."""

    def __init__(self, ws: Path, files):
        password = secrets.token_urlsafe(16)
        self.emulator = CleoEmulator(users={"qbedi-demo": password}).start()
        for name, data in files:
            self.emulator.add_file("DEMO-SUPPLIERS", name, data)
        key = generate_key_file(ws / "qbedi.key")
        CredentialStore(ws / "credentials.enc", key).set("cleo", "qbedi-demo", password)
        self.config = self.emulator.client_settings(connections=["DEMO-SUPPLIERS"], acknowledge="delete")

    def stop(self):
        self.emulator.stop()


def _start_cleo(ws: Path, files) -> _CleoDemo:
    return _CleoDemo(ws, files)
