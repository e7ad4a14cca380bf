"""Backups taken while qbedi works restore to a state it resumes from: nothing lost, nothing doubled.
SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore into a new database)."""
from __future__ import annotations

import os
import sqlite3
import shutil
import subprocess
import threading
import uuid

import pytest
import yaml
from sqlalchemy import create_engine, func, select, text

from connector.backup import BackupError, backup
from connector.delivery import DeliveryService
from connector.services import IngestService
from connector.settings import load_settings
from connector.status import DocStatus
from connector.store import Document, Store
from qbedi.cli import main
from tests.support.builders import make_quickbooks, write_config, x12_file
from tests.support.delivery import Session, drain

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Freight and Delivery", "Equipment Repairs")


def _invoice(n: int) -> bytes:
    return x12_file("acme_INV-10045.edi").replace(b"INV-10045", f"INV-{n}".encode()).replace(
        b"000000101", f"{n:09d}".encode())


def _fill_while_backing_up(tmp_path, db_url):
    settings = load_settings(write_config(tmp_path, db_url))
    store = Store(settings.database_url)
    store.migrate()
    ingest = IngestService(store, settings)
    for n in range(1, 11):
        ingest.ingest(_invoice(n), source="inbox", remote_id=f"{n}", name=f"{n}.edi")
    stop = threading.Event()

    def keep_ingesting():  # qbedi goes on working during the backup
        n = 100
        while not stop.is_set() and n < 400:
            ingest.ingest(_invoice(n), source="inbox", remote_id=f"{n}", name=f"{n}.edi")
            n += 1

    worker = threading.Thread(target=keep_ingesting)
    worker.start()
    try:
        done = backup(settings.database_url, tmp_path / "qbedi-backup.db")
    finally:
        stop.set()
        worker.join()
    return settings, store, done


def _consistent(engine) -> int:
    """Every document in the copy has its request and its audit trail: the copy is one committed state."""
    with engine.connect() as c:
        docs = c.execute(text("SELECT count(*) FROM edi_document")).scalar()
        orphans = c.execute(text("SELECT count(*) FROM edi_document d WHERE NOT EXISTS (SELECT 1 FROM qb_request r "
                                 "WHERE r.document_id = d.id)")).scalar()
        untracked = c.execute(text("SELECT count(*) FROM edi_document d WHERE NOT EXISTS (SELECT 1 FROM "
                                   "audit_event e WHERE e.document_id = d.id AND e.kind = 'queued')")).scalar()
    assert orphans == 0 and untracked == 0
    return docs


def test_a_sqlite_backup_taken_while_qbedi_ingests_restores_and_posts_everything_once(tmp_path, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite backup (the PostgreSQL one has its own test)")
    settings, store, done = _fill_while_backing_up(tmp_path, db_url)
    store.dispose()
    assert done["kind"] == "sqlite" and done["bytes"] > 0
    copy = tmp_path / "qbedi-backup.db"
    engine = create_engine(f"sqlite:///{copy}")
    with engine.connect() as c:
        assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    docs = _consistent(engine)
    engine.dispose()
    assert docs >= 10

    restored = tmp_path / "restored"  # restore = put the copy where a config points
    restored.mkdir()
    shutil.copy(copy, restored / "qbedi.db")
    rsettings = load_settings(write_config(restored, f"sqlite:///{restored / 'qbedi.db'}"))
    rstore = Store(rsettings.database_url)
    rstore.migrate()
    qb = make_quickbooks(accounts=ACCOUNTS)
    delivery = DeliveryService(rstore, rsettings)
    for _ in range(5):
        drain(delivery, qb, Session(), rounds=100)
    with rstore.session() as s:
        posted = s.scalar(select(func.count()).select_from(Document).where(Document.status == DocStatus.POSTED))
    rstore.dispose()
    refs = [b.ref_number for b in qb.bills]
    assert posted == docs and len(refs) == len(set(refs)) == docs


def test_a_postgresql_backup_restores_into_a_new_database(tmp_path, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("needs QBEDI_TEST_DATABASE_URL (PostgreSQL)")
    if not shutil.which("pg_restore"):
        pytest.skip("pg_restore is not installed")
    settings, store, done = _fill_while_backing_up(tmp_path, db_url)
    store.dispose()
    assert "pg_dump" in done["kind"]
    base = os.environ["QBEDI_TEST_DATABASE_URL"]
    name = f"qbedi_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        target = create_engine(base.rsplit("/", 1)[0] + "/" + name)
        url = target.url
        subprocess.run(["pg_restore", "--no-owner", "--dbname",
                        f"host={url.host} port={url.port or 5432} user={url.username} dbname={name}",
                        str(tmp_path / "qbedi-backup.db")], check=True, capture_output=True)
        schema = [s for s in target.dialect.get_schema_names(target.connect()) if s.startswith("t_")][0]
        restored = create_engine(f"{base.rsplit('/', 1)[0]}/{name}?options=-csearch_path%3D{schema}")
        assert _consistent(restored) >= 10
        restored.dispose()
        target.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_never_overwrites_and_says_why(tmp_path, db_url, capsys):
    cfg = write_config(tmp_path, db_url)
    assert main(["migrate", "--config", str(cfg)]) == 0
    (tmp_path / "old.bak").write_text("keep me")
    capsys.readouterr()
    assert main(["backup", "--to", str(tmp_path / "old.bak"), "--config", str(cfg)]) == 1
    assert "exists already" in capsys.readouterr().err and (tmp_path / "old.bak").read_text() == "keep me"
    assert main(["backup", "--to", str(tmp_path / "new.bak"), "--json", "--config", str(cfg)]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["bytes"] == (tmp_path / "new.bak").stat().st_size > 0
    assert not (tmp_path / "new.bak.part").exists()
    with pytest.raises(BackupError, match="no backup for"):
        backup("mysql://x@localhost/db", tmp_path / "m.bak")


def test_qbedi_restore_puts_a_backup_back_whole_and_keeps_the_database_it_replaces(tmp_path, db_url, capsys):
    """Seen: the README's restore (copy the file over the database) next to a write-ahead log left from later
    work came back corrupt ("wrong # of entries in index") or with the later documents. `qbedi restore` puts it
    back through SQLite, checks it first and keeps what it replaces."""
    if not db_url.startswith("sqlite"):
        pytest.skip("restore is for SQLite backups (PostgreSQL: pg_restore, tested above)")
    import socket

    from tests.support.processes import free_port

    cfg = write_config(tmp_path, db_url)
    raw = yaml.safe_load(cfg.read_text())
    raw["web_connector"]["listen"] = {"port": free_port()}
    cfg.write_text(yaml.safe_dump(raw))
    settings = load_settings(cfg)
    store = Store(settings.database_url)
    store.migrate()
    ingest = IngestService(store, settings)
    ingest.ingest(_invoice(1), source="inbox", remote_id="1", name="1.edi")
    running = socket.create_server(("127.0.0.1", settings.web_connector.listen.port))  # as qbedi run would
    try:
        assert main(["restore", "--from", str(tmp_path / "x.db"), "--yes", "--config", str(cfg)]) == 1
        assert "is qbedi run (or serve) running? Stop it first" in capsys.readouterr().err
    finally:
        running.close()
    assert main(["backup", "--to", str(tmp_path / "one.db"), "--config", str(cfg)]) == 0
    live = sqlite3.connect(settings.database_url.split("///", 1)[1])  # a connection left open: its log stays
    live.execute("PRAGMA wal_autocheckpoint=0")
    for n in range(2, 5):
        ingest.ingest(_invoice(n), source="inbox", remote_id=f"{n}", name=f"{n}.edi")
    store.dispose()
    capsys.readouterr()
    assert main(["restore", "--from", str(tmp_path / "one.db"), "--config", str(cfg)]) == 2  # (no --yes, no tty)
    assert "give --yes" in capsys.readouterr().err
    (tmp_path / "bad.db").write_bytes(b"not a database at all" * 100)
    assert main(["restore", "--from", str(tmp_path / "bad.db"), "--yes", "--config", str(cfg)]) == 1
    assert "is not a qbedi backup that reads" in capsys.readouterr().err
    assert main(["restore", "--from", str(tmp_path / "one.db"), "--yes", "--json", "--config", str(cfg)]) == 0
    done = yaml.safe_load(capsys.readouterr().out)
    live.close()
    assert done["kept"].endswith(".before-restore")
    check = Store(settings.database_url)
    with check.engine.connect() as c:
        assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    with check.session() as s:
        assert s.scalars(select(Document.document_number)).all() == ["INV-1"]  # the backup's state, whole
    check.dispose()
    kept = create_engine(f"sqlite:///{done['kept']}")
    with kept.connect() as c:
        assert c.execute(text("SELECT count(*) FROM edi_document")).scalar() == 4  # what it replaced, kept
    kept.dispose()
    assert main(["backup", "--to", str(tmp_path / "no" / "such" / "folder.db"), "--config", str(cfg)]) == 1
    assert "there is no folder" in capsys.readouterr().err  # (was a traceback)


def test_copy_database_moves_a_workspace_into_an_empty_database_and_qbedi_carries_on_there(tmp_path, db_url, capsys):
    """Seen: no way to move a workspace from SQLite to PostgreSQL (`migrate` makes an empty schema). The copy
    takes every table; the new database then takes new documents (ids after the copied ones) and posts the
    queue once. (The target is this test run's database: PostgreSQL in the PostgreSQL pass.)"""
    source_url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = write_config(tmp_path, source_url)
    settings = load_settings(cfg)
    store = Store(source_url)
    store.migrate()
    ingest = IngestService(store, settings)
    for n in range(1, 8):
        ingest.ingest(_invoice(n), source="inbox", remote_id=f"{n}", name=f"{n}.edi")
    ingest.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i", name="i.edi")  # held
    store.dispose()
    capsys.readouterr()
    assert main(["copy-database", "--to", db_url, "--json", "--config", str(cfg)]) == 0
    done = yaml.safe_load(capsys.readouterr().out)
    assert done["rows"]["edi_document"] == 8 and done["rows"]["received_file"] == 8 and done["rows"]["audit_event"] > 8
    assert main(["copy-database", "--to", db_url, "--config", str(cfg)]) == 1  # never into a database with data
    assert "already holds qbedi data" in capsys.readouterr().err
    for bad, words in (("postgres://x@h/db", "cannot open postgres://x@h/db"),  # (a driver SQLAlchemy lacks)
                       ("postgresql+psycopg://bob:s3cret@127.0.0.1:1/none", "the copy into postgresql+psycopg://bob:***@")):
        assert main(["copy-database", "--to", bad, "--config", str(cfg)]) == 1, bad
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and "s3cret" not in err, err

    (tmp_path / "new").mkdir()
    rsettings = load_settings(write_config(tmp_path / "new", db_url))  # database.url set to the new database
    rstore = Store(db_url)
    IngestService(rstore, rsettings).ingest(_invoice(99), source="inbox", remote_id="99", name="99.edi")
    qb = make_quickbooks(accounts=ACCOUNTS)
    for _ in range(3):
        drain(DeliveryService(rstore, rsettings), qb, Session(), rounds=100)
    with rstore.session() as s:
        by = dict(s.execute(select(Document.status, func.count()).group_by(Document.status)).all())
        newest = s.scalar(select(func.max(Document.id)))
    rstore.dispose()
    refs = [b.ref_number for b in qb.bills]
    assert by == {DocStatus.POSTED: 8, DocStatus.HELD: 1} and newest == 9 and len(refs) == len(set(refs)) == 8


def test_restore_and_copy_wait_for_a_running_qbedi_on_any_port(tmp_path, db_url, capsys):
    """Seen in review: the running check looked at the config's port alone; `qbedi run --port N` got past it.
    A qbedi run holds a lock on its database while it works; restore and copy-database look at it."""
    from tests.support.processes import serving

    cfg = write_config(tmp_path, db_url)
    assert main(["migrate", "--config", str(cfg)]) == 0
    assert main(["backup", "--to", str(tmp_path / "b.db"), "--config", str(cfg)]) == 0 or not db_url.startswith("sqlite")
    capsys.readouterr()
    sqlite = db_url.startswith("sqlite")
    with serving("run", cfg):  # (on a port of its own, not the config's)
        for args in ([["restore", "--from", str(tmp_path / "b.db"), "--yes"]] if sqlite else []) + [
                ["copy-database", "--to", f"sqlite:///{tmp_path / 'copy.db'}"]]:  # (restore: SQLite's alone)
            assert main([*args, "--config", str(cfg)]) == 1, args
            assert "a qbedi run (or serve) works on this database" in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()
    if sqlite:  # (stopped: the restore goes ahead)
        assert main(["restore", "--from", str(tmp_path / "b.db"), "--yes", "--config", str(cfg)]) == 0


def test_restore_over_a_damaged_database_keeps_it_as_it_was_and_puts_the_backup_back(tmp_path, db_url, capsys):
    """Seen in review: restore backed up the database it replaces first, and on a damaged one (the reason to
    restore) that failed: nothing was restored. A backup from a newer qbedi is refused."""
    if not db_url.startswith("sqlite"):
        pytest.skip("restore is for SQLite backups")
    cfg = write_config(tmp_path, db_url)
    settings = load_settings(cfg)
    store = Store(settings.database_url)
    store.migrate()
    IngestService(store, settings).ingest(_invoice(1), source="inbox", remote_id="1", name="1.edi")
    store.dispose()
    assert main(["backup", "--to", str(tmp_path / "good.db"), "--config", str(cfg)]) == 0
    live = settings.database_url.split("///", 1)[1]
    with open(live, "r+b") as f:  # the disk ate its first pages
        f.write(b"\0" * 8192)
    capsys.readouterr()
    assert main(["restore", "--from", str(tmp_path / "good.db"), "--yes", "--config", str(cfg)]) == 0
    assert open(live + ".before-restore", "rb").read(16) == b"\0" * 16  # the damaged one, kept as it was
    check = Store(settings.database_url)
    with check.session() as s:
        assert s.scalars(select(Document.document_number)).all() == ["INV-1"]
    with check.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    check.dispose()
    assert main(["backup", "--to", str(tmp_path / "newer.db"), "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["restore", "--from", str(tmp_path / "newer.db"), "--yes", "--config", str(cfg)]) == 1
    assert "set up by a newer qbedi" in capsys.readouterr().err
