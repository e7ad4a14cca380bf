"""Upgrades keep what a running deployment has queued."""
from __future__ import annotations

import json

from sqlalchemy import text

from connector.plans import RequestMeta
from connector.store import QueuedRequest, Store

OLD_RECEIPT = ('<ItemReceiptAddRq><ItemReceiptAdd><VendorRef><FullName>Acme Supply</FullName></VendorRef><TxnDate>2024-03-01</TxnDate>'
               '<RefNumber>ASN-7</RefNumber><Memo>EDI 856 ship notice ASN-7</Memo>'
               '<ExternalGUID>{6F1C7F43-2B0E-4C55-9A55-6B1D0C6A9E21}</ExternalGUID>'
               '<ItemLineAdd><ItemRef><FullName>W-1</FullName></ItemRef><Quantity>2</Quantity></ItemLineAdd>'
               '</ItemReceiptAdd></ItemReceiptAddRq>')
OLD_PLAN = {"po_numbers": ["PO-1"], "lines": [{"item": "W-1", "vendor_part": "", "quantity": "2", "po_number": "PO-1",
                                               "description": "", "line": "1"}]}


def test_a_receipt_queued_before_0005_gets_its_header_from_its_qbxml(db_url):
    store = Store(db_url)
    store.migrate("0004")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO qb_request (company, request_type, qbxml, ref_number, vendor, external_guid, "
                          "line_count, state, attempts, meta, created_at, updated_at) VALUES ('northwind', "
                          "'ItemReceiptAdd', :x, 'ASN-7', 'Acme Supply', '', 1, 'queued', 0, :m, "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                     {"x": OLD_RECEIPT, "m": json.dumps({"link_plan": OLD_PLAN, "linked": False})})
    store.migrate()
    with store.session() as s:
        meta = RequestMeta.from_json(s.query(QueuedRequest).one().meta)
    receipt = meta.link_plan.receipt
    assert (receipt.vendor, str(receipt.txn_date), receipt.ref_number) == ("Acme Supply", "2024-03-01", "ASN-7")
    assert receipt.external_guid == "{6F1C7F43-2B0E-4C55-9A55-6B1D0C6A9E21}"
    assert meta.link_plan.lines[0].quantity == 2 and not meta.linked
    linked = meta.link_plan.linked([])
    assert linked.findtext("ItemReceiptAdd/RefNumber") == "ASN-7"
    assert linked.findtext("ItemReceiptAdd/Memo") == "EDI 856 ship notice ASN-7"
    store.dispose()


def _migrate(url, barrier):
    from connector.store import Store

    store = Store(url)
    barrier.wait(30)  # both processes start migrating the empty database at the same moment
    store.migrate()
    store.dispose()


def test_two_processes_setting_up_a_fresh_database_at_once_both_succeed(db_url):
    """Seen before: two processes opening a fresh database at once crashed creating alembic's version
    table (issue 11). Real processes, SQLite and PostgreSQL."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_migrate, args=(db_url, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = Store(db_url)
    current, head = store.revisions()
    store.dispose()
    assert current == head


def test_migrate_works_without_fcntl(tmp_path, monkeypatch):
    """Windows has no fcntl (qbedi on the QuickBooks machine itself): the SQLite migration lock must not need it."""
    import sys

    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows: import fcntl -> ImportError
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        store.migrate()
        assert store.revisions()[0] == store.revisions()[1]
    finally:
        store.dispose()


def test_schema_head_is_alembics_head_and_an_up_to_date_database_skips_alembic(db_url):
    """``SCHEMA_HEAD`` names the newest migration; a database at it is opened without loading alembic (a
    poll's memory), one behind it is migrated."""
    import subprocess
    import sys

    from connector.store import SCHEMA_HEAD

    store = Store(db_url)
    try:
        store.migrate()
        current, head = store.revisions()
        assert current == head == SCHEMA_HEAD
    finally:
        store.dispose()
    probe = ("import sys; from connector.store import Store; s = Store(sys.argv[1]); s.migrate(); "
             "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, db_url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    store = Store(db_url)
    try:
        with store.engine.begin() as conn:  # back to 0010 by hand (migrate never downgrades)
            conn.execute(text("UPDATE alembic_version SET version_num = '0010'"))
            conn.execute(text("DROP TABLE po_reference"))  # (0015)
            conn.execute(text("ALTER TABLE edi_document DROP COLUMN seller_id"))  # (0014)
            conn.execute(text("ALTER TABLE edi_document DROP COLUMN set_place"))  # (0013)
            conn.execute(text("ALTER TABLE edi_document DROP COLUMN segment_index"))  # (0012)
            conn.execute(text("DROP TABLE file_chunk"))  # (0011)
            conn.execute(text("ALTER TABLE received_file DROP COLUMN chunks"))
        store.migrate()
        assert store.revisions()[0] == SCHEMA_HEAD
    finally:
        store.dispose()


def test_0014_and_0015_give_documents_stored_before_them_their_sellers_id_and_po_numbers(tmp_path, db_url):
    """A document held as unknown_supplier before 0014 is found by the N1 id its supplier is mapped by; one
    stored before 0015 by the purchase order it names."""
    from connector.services import IngestService
    from connector.settings import load_settings
    from connector.store import Document
    from tests.support.builders import write_config, x12_file

    settings = load_settings(write_config(tmp_path, db_url, suppliers={}))
    store = Store(settings.database_url)
    try:
        store.migrate()
        IngestService(store, settings).ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i",
                                              name="i.edi")
        with store.engine.begin() as conn:  # as it was stored before 0014
            conn.execute(text("UPDATE alembic_version SET version_num = '0013'"))
            conn.execute(text("DROP TABLE po_reference"))
            conn.execute(text("ALTER TABLE edi_document DROP COLUMN seller_id"))
        store.migrate()
        with store.session() as s:
            [doc] = s.query(Document).all()
            assert (doc.supplier_id, doc.sender_id, doc.seller_id) == (None, "INITECHEDI", "INITECH")
            assert s.execute(text("SELECT po_number, document_id FROM po_reference")).all() == [("PO-7810", doc.id)]
    finally:
        store.dispose()


def test_a_database_a_newer_qbedi_set_up_is_one_line_saying_so(tmp_path, db_url, capsys):
    """Seen after going back to an older qbedi: `status` said "at schema 0015, this qbedi needs 0014: run qbedi
    migrate", and `migrate` and `run` then ended in alembic's traceback (Can't locate revision)."""
    from connector.store import SCHEMA_HEAD
    from qbedi.cli import main
    from tests.support.builders import write_config

    cfg = str(write_config(tmp_path, db_url))
    assert main(["migrate", "--config", cfg]) == 0
    store = Store(db_url)
    newer = f"{int(SCHEMA_HEAD) + 1:04d}"
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE alembic_version SET version_num = '{newer}'"))
    store.dispose()
    capsys.readouterr()
    for args in (["migrate"], ["status"], ["poll", "--once"], ["documents"]):
        assert main([*args, "--config", cfg]) == 2, args
        err = capsys.readouterr().err
        assert f"the database is at schema {newer}, set up by a newer qbedi" in err and "Traceback" not in err, err
        assert "restore a backup taken before the upgrade" in err
    assert main(["check", "--config", cfg]) == 0
    assert "set up by a newer qbedi" in capsys.readouterr().out
