"""The delivery service keeps PostgreSQL's statistics current as it drains the queue (connector.upkeep):
off the Web Connector's calls, one refresh at a time, VACUUM (ANALYZE) of what its answers made stale.
SQLite keeps none: nothing runs there."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from connector import upkeep
from connector.delivery import DeliveryService
from connector.store import Store
from tests.support.builders import write_config
from tests.support.delivery import Session, drain, invoices_queued, their_quickbooks


def test_a_drain_refreshes_the_statistics_off_the_call_path(tmp_path, db_url):
    settings, store, _ = invoices_queued(write_config(tmp_path, db_url))
    try:
        service = DeliveryService(store, settings)
        service.upkeep.every = 2  # look after every answer (the default waits for 500 changed rows)
        calls, answered = [], threading.Event()
        real = store.refresh_statistics

        def refresh(*tables, **kw):  # (runs in the upkeep's thread: it waits until the answer has returned)
            assert answered.wait(10)
            calls.append((threading.current_thread().name, tables, kw))
            return real(*tables, **kw)

        store.refresh_statistics = refresh
        session = Session()
        xml = service.next_request(session)
        service.handle_response(session, their_quickbooks().process(xml))
        answered.set()  # the call came back while its refresh was still waiting to start
        thread = service.upkeep._thread
        if not store.keeps_statistics:
            assert thread is None and calls == []
            return
        thread.join(10)
        assert calls == [("qbedi-upkeep", upkeep.TABLES,
                          {"share": upkeep.SHARE, "least": upkeep.LEAST, "vacuum": True})]
    finally:
        store.dispose()


def test_only_one_refresh_runs_at_a_time_and_a_failure_costs_no_delivery(tmp_path, db_url):
    settings, store, _ = invoices_queued(write_config(tmp_path, db_url))
    try:
        if not store.keeps_statistics:
            pytest.skip("PostgreSQL only: SQLite keeps no statistics")
        release, runs = threading.Event(), []

        def refresh(*tables, **kw):
            runs.append(tables)
            assert release.wait(10)
            raise RuntimeError("the database went away")

        store.refresh_statistics = refresh
        service = DeliveryService(store, settings)
        service.upkeep.every = 1
        first = service.upkeep.changed(5)
        assert first is not None and service.upkeep.changed(5) is None  # the first still runs
        release.set()
        first.join(10)
        assert runs == [upkeep.TABLES]  # and its failure was logged, not raised
        assert len(drain(service, their_quickbooks(), Session())) >= 1  # delivery goes on
    finally:
        store.dispose()


def test_a_drained_queue_is_vacuumed_and_then_no_longer_stale(tmp_path, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite keeps no statistics")
    store = Store(db_url)
    store.migrate()
    try:
        with store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO qb_request (company, request_type, qbxml, ref_number, vendor, external_guid, line_count, "
                "state, attempts, created_at, updated_at) SELECT 'clerk', 'BillAdd', '<BillAddRq/>', 'D-' || g, "
                "'Old Vendor', '', 1, 'queued', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                "FROM generate_series(1, 5000) g"))
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE qb_request")
        with store.engine.begin() as conn:  # drained, one update each: 5,000 dead "queued" versions
            conn.execute(text("UPDATE qb_request SET state = 'done'"))
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
        refresh = dict(share=upkeep.SHARE, least=upkeep.LEAST, vacuum=True)
        assert store.refresh_statistics(*upkeep.TABLES, **refresh) == ["qb_request"]
        with store.engine.connect() as conn:  # (how many dead versions it could remove depends on the
            vacuumed, changed = conn.execute(text(  # oldest transaction of the whole server: not asserted)
                "SELECT last_vacuum IS NOT NULL, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relid = to_regclass('qb_request')")).one()
        assert (vacuumed, changed) == (True, 0)
        assert store.refresh_statistics(*upkeep.TABLES, **refresh) == []
    finally:
        store.dispose()
