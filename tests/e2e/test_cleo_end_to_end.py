"""Cleo emulator -> `qbedi run` (daemon) -> QBWC simulator -> QuickBooks emulator, and the faults in between."""
import threading
import time
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import func, select

from qbedi.cli import main
from qbedi.daemon import Poller, run_daemon
from qbedi.runtime import build_runtime
from connector.settings import ConfigError, load_settings
from connector.store import Document, ReceivedFile, SourceState
from fakes.cleo import CleoEmulator
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from tests.support.builders import wait_for, PASSWORD, x12_file, ship_notice, x12
from tests.support.cleo import cleo_workspace

PO_850 = x12("PO", "850", ["BEG*00*SA*PO-7781**20261115", "N1*SE*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                           "PO1*1*10*EA*12.50**VN*AC-100", "PID*F****HEX BOLT 3/8 BOX OF 100",
                           "PO1*2*6*CA*37.25**VN*AC-220", "CTT*2"], ctrl=201)


@pytest.fixture
def cleo():
    emu = CleoEmulator(users={"qbedi-api": "cleo-pass-123"}).start()
    yield emu
    emu.stop()


@pytest.fixture
def qb(xsd_checks):
    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    qb.add_vendor("Acme Industrial Supply")
    for a in ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery"):
        qb.add_account(a, "Expense")
    qb.add_class("Warehouse")
    qb.add_item("Hex Bolt 3/8", "ItemInventory", cost="12.50")
    qb.add_item("Shop Towels", "ItemInventory", cost="37.25")
    return qb


def test_qbedi_run_takes_cleo_files_into_quickbooks_exactly_once(tmp_path, db_url, cleo, qb, monkeypatch):
    cleo.add_file("ACME", "po.x12", PO_850)
    cleo.add_file("ACME", "asn.x12", ship_notice("PO-7781", [("AC-100", 10, "EA"), ("AC-220", 4, "CA")]))
    inv_id = cleo.add_file("ACME", "inv.x12", x12_file("acme_INV-10045.edi"))
    cleo.list_twice(inv_id)  # Cleo lists the same file twice
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch)))
    stop, ready = threading.Event(), {}
    t = threading.Thread(target=run_daemon, kwargs=dict(runtime=rt, port=0, stop_event=stop,
                                                        ready=lambda h: ready.setdefault("url", h.url)), daemon=True)
    t.start()
    try:
        assert wait_for(lambda: "url" in ready)

        def all_in():
            with rt.store.session() as s:
                return s.scalar(select(func.count()).select_from(Document)) == 3

        assert wait_for(all_in), "the daemon should have fetched the three Cleo files"
        QBWCSimulator(ready["url"], "clerk", PASSWORD, qb).run()
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive()

    assert [p.ref_number for p in qb.purchase_orders] == ["PO-7781"]
    assert [r.ref_number for r in qb.item_receipts] == ["ASN-5001"]
    assert [b.ref_number for b in qb.bills] == ["INV-10045"]
    [po] = qb.purchase_orders
    assert [(ln.item, ln.received_quantity) for ln in po.lines] == [("Hex Bolt 3/8", 10), ("Shop Towels", 4)]
    assert qb.bills[0].amount_due == Decimal("289.00")
    assert cleo.files("ACME") == [] and len(cleo.consumed) == 3  # every file consumed in Cleo, once
    with rt.store.session() as s:
        statuses = {d.transaction_set: d.status for d in s.scalars(select(Document))}
        assert s.scalar(select(func.count()).select_from(ReceivedFile)) == 3
    assert statuses == {"850": "posted", "856": "posted", "810": "posted"}
    rt.close()


def test_cleo_outage_backs_off_then_recovers_without_loss(tmp_path, db_url, cleo, monkeypatch):
    cleo.add_file("ACME", "inv.x12", x12_file("acme_INV-10045.edi"))
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch)))
    cleo.fail_next(500, times=10)
    poller = Poller(rt, rt.sources[0], base_interval=60)
    poller()
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 1 and st.next_poll_at is not None
        assert s.scalar(select(func.count()).select_from(ReceivedFile)) == 0
    cleo.clear_faults()
    report = poller(force=True)
    assert len(report.fetched) == 1 and not report.errors
    with rt.store.session() as s:
        assert s.get(SourceState, "cleo").consecutive_failures == 0
    assert cleo.files("ACME") == []
    rt.close()


def test_truncated_download_is_not_stored_nor_consumed(tmp_path, db_url, cleo, monkeypatch):
    fid = cleo.add_file("ACME", "inv.x12", x12_file("acme_INV-10045.edi"))
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch)))
    cleo.truncate_next_download(keep_bytes=100, file_id=fid)
    report = rt.ingest.poll(rt.sources[0])
    assert report.errors and not report.fetched
    assert [f["id"] for f in cleo.files("ACME")] == [fid]  # still at Cleo
    report = rt.ingest.poll(rt.sources[0])  # next poll gets it whole
    assert len(report.fetched) == 1 and cleo.files("ACME") == []
    rt.close()


def test_missing_credentials_are_a_source_error_not_a_crash(tmp_path, db_url, cleo, monkeypatch):
    path = cleo_workspace(tmp_path, db_url, cleo, monkeypatch)
    (tmp_path / "credentials.enc").unlink()
    rt = build_runtime(load_settings(path))
    report = rt.ingest.poll(rt.sources[0])
    assert report.errors and "qbedi credentials set" in report.errors[0]
    rt.close()


def test_bad_cleo_key_in_config_names_the_line(tmp_path, db_url, cleo, monkeypatch):
    path = cleo_workspace(tmp_path, db_url, cleo, monkeypatch)
    cfg = yaml.safe_load(path.read_text())
    cfg["sources"][0]["acknowledge"] = "shred"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert exc.value.key == "sources.0.acknowledge" and exc.value.line


def test_test_connection_reads_only(tmp_path, db_url, cleo, monkeypatch, capsys):
    cleo.add_file("ACME", "inv.x12", x12_file("acme_INV-10045.edi"))
    path = cleo_workspace(tmp_path, db_url, cleo, monkeypatch)
    before = cleo.snapshot()
    assert main(["test-connection", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "source cleo: OK" in out and "cleo-pass-123" not in out
    assert cleo.snapshot() == before


def _stored(rt):
    with rt.store.session() as s:
        return sorted(s.scalars(select(Document.document_number)))


def test_token_expiring_mid_run_loses_and_doubles_nothing(tmp_path, db_url, cleo, monkeypatch):
    cleo.add_file("ACME", "a.x12", x12_file("acme_INV-10045.edi"))
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch)))
    rt.ingest.poll(rt.sources[0])
    cleo.expire_token_now()  # every token issued so far is now refused (401)
    cleo.add_file("ACME", "b.x12", x12_file("acme_INV-10046.edi"))
    report = rt.ingest.poll(rt.sources[0])
    assert not report.errors and len(report.fetched) == 1
    assert _stored(rt) == ["INV-10045", "INV-10046"] and cleo.files("ACME") == []
    assert cleo.token_requests == 2  # renewed once, not per call
    rt.close()


def test_rate_limited_poll_honours_retry_after(tmp_path, db_url, cleo, monkeypatch):
    cleo.add_file("ACME", "a.x12", x12_file("acme_INV-10045.edi"))
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch)))
    cleo.fail_next(429, times=1, path_contains="incoming", retry_after=1)
    t0 = time.monotonic()
    report = rt.ingest.poll(rt.sources[0])
    assert time.monotonic() - t0 >= 0.9  # waited as told
    assert not report.errors and _stored(rt) == ["INV-10045"] and len(cleo.consumed) == 1
    rt.close()


def test_slow_cleo_times_out_then_recovers(tmp_path, db_url, cleo, monkeypatch):
    cleo.add_file("ACME", "a.x12", x12_file("acme_INV-10045.edi"))
    rt = build_runtime(load_settings(cleo_workspace(tmp_path, db_url, cleo, monkeypatch, read_timeout=0.5,
                                                    retries=0)))
    cleo.set_delay(2.0, path_contains="incoming")
    report = rt.ingest.poll(rt.sources[0])
    assert report.errors and _stored(rt) == [] and len(cleo.files("ACME")) == 1
    cleo.set_delay(0)
    report = rt.ingest.poll(rt.sources[0])
    assert not report.errors and _stored(rt) == ["INV-10045"] and cleo.files("ACME") == []
    rt.close()
