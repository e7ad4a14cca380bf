"""`qbedi run`: scheduled polling + SOAP service together (the backoff on a failing source:
tests/integration/test_poller.py)."""
import threading

from sqlalchemy import select

from qbedi.daemon import run_daemon
from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.store import Document
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from tests.support.builders import wait_for, PASSWORD, x12_file, write_config


def test_run_polls_the_inbox_and_serves_the_web_connector(tmp_path, db_url, xsd_checks):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    stop = threading.Event()
    ready = {}
    t = threading.Thread(target=run_daemon, kwargs=dict(runtime=rt, port=0, stop_event=stop,
                                                        ready=lambda h: ready.setdefault("url", h.url)), daemon=True)
    t.start()
    try:
        assert wait_for(lambda: "url" in ready)

        def queued():
            with rt.store.session() as s:
                return s.scalar(select(Document).where(Document.status == "queued")) is not None

        assert wait_for(queued), "the scheduled poll should have fetched the inbox file"
        qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
        qb.add_vendor("Acme Industrial Supply")
        for a in ("Job Materials", "Janitorial Supplies", "Freight and Delivery"):
            qb.add_account(a, "Expense")
        qb.add_class("Warehouse")
        QBWCSimulator(ready["url"], "clerk", PASSWORD, qb).run()
        assert [b.ref_number for b in qb.bills] == ["INV-10045"]
        assert (tmp_path / "inbox" / "processed" / "a.edi").exists()
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive(), "the daemon must stop cleanly"
    rt.close()
