"""A Web Connector session's statements do not grow with the store (issue 12): with 20,000 drained
requests older than 2,000 queued ones, every statement a session runs against ``qb_request`` reads an
index range and no drained row. PostgreSQL (``QBEDI_TEST_DATABASE_URL``): EXPLAIN ANALYZE of each
statement as captured, with fresh statistics and after ANALYZE; SQLite: EXPLAIN QUERY PLAN, the same two
ways."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from connector import upkeep
from connector.delivery import DeliveryService
from connector.services import IngestService
from connector.settings import load_settings
from connector.store import Store
from tests.support.builders import make_quickbooks, write_config, x12_file
from tests.support.delivery import Session, drain

DRAINED = 20_000
QUEUED = 2_000  # many queued behind the drained: where PostgreSQL chose a primary-key scan filtering them out
INVOICES = ["acme_INV-10045.edi", "acme_INV-10046.edi", "globex_G-2026-0311.edi"]
ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery", "Discounts Received")

SERIES = {"postgresql": "generate_series(1, :n) AS s(g)",
          "sqlite": "(WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r WHERE g < :n) SELECT g FROM r) AS s"}


def _fill_drained(store: Store, n: int, *, drained: bool = True) -> None:
    state = "CASE WHEN g % 50 = 0 THEN 'held' ELSE 'done' END" if drained else "'queued'"
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO qb_request (company, request_type, qbxml, ref_number, vendor, external_guid, line_count, "
            "state, attempts, created_at, updated_at) SELECT 'clerk', 'BillAdd', '<BillAddRq/>', 'D-' || g, "
            f"'Old Vendor', '', 1, {state}, 1, CURRENT_TIMESTAMP, "
            f"CURRENT_TIMESTAMP FROM {SERIES[conn.dialect.name]}"), {"n": n})


def _analyze(store: Store) -> None:
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        conn.commit()


def _session_statements(store: Store, run) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "qb_request" in statement and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters[0] if executemany else parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return seen


def _plans(store: Store, statements) -> list[tuple[str, str]]:
    out = []
    sqlite = store.engine.dialect.name == "sqlite"
    with store.engine.connect() as conn:
        for statement, params in statements:
            tx = conn.begin()
            try:
                rows = conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) ")
                                            + statement, params or ())
                plan = "\n".join(r[-1] if sqlite else r[0] for r in rows)
            finally:
                tx.rollback()
            out.append((statement, plan))
    return out


def _reads_drained_rows(plan: str) -> bool:
    removed = sum(int(n) for n in re.findall(r"Rows Removed by (?:Filter|Index Recheck): (\d+)", plan))
    sqlite_scan = any(re.match(r"SCAN (TABLE )?qb_request\b", line.strip()) and "INDEX" not in line
                      for line in plan.splitlines())
    # SQLite: a search of the primary key (SEARCH ... USING INTEGER PRIMARY KEY (rowid>?)) walks the drained rows
    sqlite_pk_walk = any("qb_request USING INTEGER PRIMARY KEY (rowid>" in line for line in plan.splitlines())
    return "Seq Scan on qb_request" in plan or removed > 100 or sqlite_scan or sqlite_pk_walk


@pytest.mark.parametrize("analyzed", [False, True, "while-queued"],
                         ids=["fresh-statistics", "after-analyze", "drained-after-analyze"])
def test_no_web_connector_statement_reads_the_drained_requests(tmp_path, db_url, analyzed):
    """``drained-after-analyze``: the requests were analysed while all were still queued, then drained by
    updates (as a Web Connector drains them), and the delivery service's upkeep then refreshed what was
    stale (:mod:`connector.upkeep`); without that refresh PostgreSQL's planner still takes them all for
    queued and walks the primary key past every drained one."""
    settings = load_settings(write_config(tmp_path, db_url))
    store = Store(settings.database_url)
    store.migrate()
    try:
        # older than the work queued below: a scan in id order meets them first
        _fill_drained(store, DRAINED, drained=analyzed != "while-queued")
        ingest = IngestService(store, settings)
        for name in INVOICES:
            ingest.ingest(x12_file(name), source="inbox", remote_id=name, name=name)
        with store.engine.begin() as conn:
            # copies of a queued BillAdd (no document of their own), then one left "sent" by a crashed
            # session: recovered at the next login
            conn.execute(text(
                "INSERT INTO qb_request (company, request_type, qbxml, ref_number, vendor, external_guid, line_count, "
                "state, attempts, meta, created_at, updated_at) SELECT company, request_type, qbxml, ref_number || '-' "
                "|| g, vendor, external_guid, line_count, state, 0, meta, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                f"FROM qb_request, {SERIES[conn.dialect.name]} "
                "WHERE id = (SELECT max(id) FROM qb_request WHERE state = 'queued')"),
                {"n": QUEUED})
            conn.execute(text("UPDATE qb_request SET state = 'sent' WHERE id = (SELECT max(id) FROM qb_request)"))
        if analyzed is True:
            _analyze(store)
        elif analyzed == "while-queued":
            _analyze(store)  # all 22,000 queued
            with store.engine.begin() as conn:  # the first 20,000 drained
                conn.execute(text("UPDATE qb_request SET state = CASE WHEN id % 50 = 0 THEN 'held' ELSE 'done' "
                                  "END WHERE ref_number LIKE 'D-%'"))
                if store.keeps_statistics:  # (its counts reach pg_stat now, not up to a few seconds later)
                    conn.execute(text("SELECT pg_stat_force_next_flush()"))
            stale = store.refresh_statistics(*upkeep.TABLES, share=upkeep.SHARE, least=upkeep.LEAST, vacuum=True)
            assert stale == (["qb_request"] if store.keeps_statistics else [])
        service = DeliveryService(store, settings)
        qb = make_quickbooks(vendors=("Acme Industrial Supply", "Globex Corporation"), accounts=ACCOUNTS)

        def session():  # the first calls of a session: login, two message sets and their answers, close
            assert service.has_work(Session())
            assert len(drain(service, qb, Session(), rounds=2)) == 2

        statements = _session_statements(store, session)
        assert len(qb.bills) >= 20
        assert len(statements) >= 8
        plans = _plans(store, statements)
        bad = []
        for statement, plan in plans:
            if _reads_drained_rows(plan):
                bad.append(f"{statement}\n{plan}")
        assert not bad, "statements reading drained rows:\n\n" + "\n\n".join(bad)
    finally:
        store.dispose()


def fill_documents(store: Store, n: int) -> None:
    """``n`` posted Acme invoices (numbers D-1...), stored before the file under test."""
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO received_file (sha256, source, remote_id, name, size, content, received_at, "
                          "status, attempts) VALUES ('0', 'inbox', 'old', 'old.edi', 0, :c, CURRENT_TIMESTAMP, "
                          "'parsed', 0)"), {"c": b""})
        conn.execute(text(
            "INSERT INTO edi_document (file_id, ordinal, transaction_set, version, interchange_control, "
            "group_control, set_control, sender_id, supplier_id, document_number, document_date, total, currency, "
            "status, parsed, company, created_at, updated_at) SELECT (SELECT max(id) FROM received_file), g, '810', "
            "'004010', '1', '1', '0001', 'ACMESUPPLY', CASE WHEN g % 10 = 0 THEN NULL ELSE 'ACMESUPPLY' END, "
            "'D-' || g, '2026-01-01', 10, 'USD', CASE WHEN g % 7 = 0 THEN 'held' ELSE 'posted' END, '{}', 'clerk', "
            f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM {SERIES[conn.dialect.name]}"), {"n": n})


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh-statistics", "after-analyze"])
def test_no_ingest_statement_reads_the_stored_documents(tmp_path, db_url, analyzed):
    """The duplicate check of each new document (same supplier, set and number, or an unmapped earlier
    copy from the same sender) is two look-ups of the (supplier_id, transaction_set, document_number)
    index, whatever the store holds."""
    settings = load_settings(write_config(tmp_path, db_url))
    store = Store(settings.database_url)
    store.migrate()
    try:
        fill_documents(store, DRAINED)
        if analyzed:
            with store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
                conn.commit()
        ingest = IngestService(store, settings)
        seen: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if "edi_document" in statement and statement.lstrip().upper().startswith("SELECT"):
                seen.append((statement, parameters))

        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            for name in INVOICES:
                ingest.ingest(x12_file(name), source="inbox", remote_id=name, name=name)
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert any("document_number" in st for st, _ in seen)
        bad = [f"{st}\n{plan}" for st, plan in _plans(store, seen)
               if _reads_drained_rows(plan.replace("edi_document", "qb_request"))]
        assert not bad, "statements reading the stored documents:\n\n" + "\n\n".join(bad)
    finally:
        store.dispose()


def test_a_big_files_own_documents_do_not_slow_its_duplicate_look_ups(tmp_path, db_url, monkeypatch):
    """A file of 1,500 invoices of one supplier into an empty store: its last chunk's duplicate look-up is
    still an exact index look-up (PostgreSQL: the statistics are read again as the file doubles what was
    stored; before, the planner thought the table empty and filtered every document of the supplier)."""
    from connector import services
    from tests.support.builders import interchange

    monkeypatch.setattr(services, "CHUNK_DOCUMENTS", 20)
    monkeypatch.setattr(services, "ANALYZE_AFTER", frozenset({160, 320, 640, 1280}))
    settings = load_settings(write_config(tmp_path, db_url))
    store = Store(settings.database_url)
    store.migrate()
    try:
        seen: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().startswith("SELECT edi_document.id, edi_document.supplier_id"):
                seen.append((statement, parameters))

        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            out = IngestService(store, settings).ingest(interchange([f"INV-{n}" for n in range(1500)]),
                                                        source="inbox", remote_id="big.edi", name="big.edi")
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert out.counts == {"queued": 1500} and len(seen) == 75
        ((statement, plan),) = _plans(store, seen[-1:])
        assert not _reads_drained_rows(plan.replace("edi_document", "qb_request")), plan
    finally:
        store.dispose()
