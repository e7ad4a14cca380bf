"""A full run at DEBUG level: no password, token or key in any log line, --json output or the database."""
import json
import logging
import threading

from sqlalchemy import text

from qbedi.cli import main
from qbedi.daemon import run_daemon
from connector.logs import configure_logging
from qbedi.runtime import build_runtime
from connector.settings import load_settings
from fakes.cleo import CleoEmulator
from fakes.qbwc_simulator import QBWCSimulator
from tests.support.builders import PASSWORD, x12_file, make_quickbooks, wait_for
from tests.support.cleo import cleo_workspace  # the same workspace as the Cleo end-to-end tests


def test_full_run_never_writes_a_secret(tmp_path, db_url, xsd_checks, monkeypatch, capsys):
    cleo = CleoEmulator(users={"qbedi-api": "cleo-pass-123"}).start()
    log_file = tmp_path / "qbedi.log"
    try:
        cleo.add_file("ACME", "inv.x12", x12_file("acme_INV-10045.edi"))
        cleo.add_file("ACME", "bad.x12", b"ISA*garbage")
        path = cleo_workspace(tmp_path, db_url, cleo, monkeypatch)
        configure_logging("DEBUG", "json", str(log_file))
        rt = build_runtime(load_settings(path))
        qb = make_quickbooks(accounts=("Job Materials", "Freight and Delivery"),
                             items=[("Hex Bolt 3/8", "12.50"), ("Shop Towels", "37.25")])
        stop, ready = threading.Event(), {}
        t = threading.Thread(target=run_daemon, kwargs=dict(runtime=rt, port=0, stop_event=stop,
                                                            ready=lambda h: ready.setdefault("url", h.url)),
                             daemon=True)
        t.start()
        assert wait_for(lambda: "url" in ready) and wait_for(lambda: len(cleo.consumed) == 2)
        QBWCSimulator(ready["url"], "clerk", "wrong password", qb).run()  # a failed login is logged too
        QBWCSimulator(ready["url"], "clerk", PASSWORD, qb).run()
        stop.set()
        t.join(timeout=30)
        assert [b.ref_number for b in qb.bills] == ["INV-10045"]
        assert main(["status", "--json", "--config", str(path)]) == 0
        assert main(["test-connection", "--json", "--config", str(path)]) == 0
        out = capsys.readouterr().out
        with rt.store.session() as s:
            dump = json.dumps([list(map(str, r)) for tbl in ("audit_event", "company_state", "source_state")
                               for r in s.execute(text(f"SELECT * FROM {tbl}"))])
        rt.close()
    finally:
        cleo.stop()
        logging.getLogger().handlers.clear()
    lines = log_file.read_text().splitlines()
    assert len(lines) > 20 and any('"qbwc.session_open"' in ln for ln in lines)  # the log really was written
    secrets = ["cleo-pass-123", PASSWORD, "wrong password", (tmp_path / "qbedi.key").read_text().strip(),
               *cleo._tokens]
    assert cleo._tokens, "the run should have used at least one Cleo token"
    for secret in secrets:
        assert not [ln for ln in lines if secret in ln], f"secret leaked into the log: {secret[:4]}..."
        assert secret not in out and secret not in dump
