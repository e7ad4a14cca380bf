"""`qbedi run`: scheduled polling + SOAP service together; backoff on a failing source."""
import threading

from sqlalchemy import select

from qbedi.daemon import Poller, run_daemon
from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.sources import SourceError
from connector.store import Document, SourceState
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from tests.helpers import wait_for, PASSWORD, demo_bytes, write_config




def test_run_polls_the_inbox_and_serves_the_web_connector(tmp_path, db_url, xsd_dir, monkeypatch):
    monkeypatch.setenv("QBEDI_QBXML_XSD_DIR", str(xsd_dir))
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    (tmp_path / "inbox" / "a.edi").write_bytes(demo_bytes("acme_INV-10045.edi"))
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


def test_failing_source_backs_off_and_reports(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    calls = []

    class Down:
        name = "cleo"

        def list_new(self):
            calls.append(1)
            raise SourceError("Cleo rejected the credentials (HTTP 401): check `qbedi credentials set cleo`")

    poller = Poller(rt, Down(), base_interval=60)
    poller()
    poller()  # inside the backoff window: not even tried
    assert len(calls) == 1
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 1 and "credentials" in st.last_error and st.next_poll_at is not None
    poller(force=True)  # `qbedi poll --once` ignores the window
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 2
        first_delay = st.next_poll_at
    assert len(calls) == 2 and first_delay is not None
    rt.close()
