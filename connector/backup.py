"""A consistent copy of the database while qbedi runs: the durable queue (received files, documents,
queued and in-flight requests, the audit trail) is in it, so a backup taken at any moment restores to a
state qbedi resumes from without losing or doubling anything (what was in flight is verified in
QuickBooks before anything is sent again).

- SQLite: the database's own online backup (a snapshot of one committed state, taken page by page while
  the service keeps writing); the copy is an ordinary database file.
- PostgreSQL: ``pg_dump --format=custom`` (one snapshot transaction); restored with ``pg_restore``.

:func:`restore` puts an SQLite backup back through SQLite itself (its backup API into the database file,
then the write-ahead log folded in), after checking the backup reads whole and keeping the database it
replaces beside it: never a file copied over a database whose old log would then be replayed into it.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from .store import safe_url


class BackupError(Exception):
    """The backup could not be made: one line saying why (nothing half-written is left at the target)."""


def backup(database_url: str, target: str | os.PathLike) -> dict:
    """Write a backup of ``database_url`` to ``target`` (a file); returns what was done."""
    url = make_url(database_url)
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists already: give a new file name (a backup never overwrites one)")
    if not target.parent.is_dir():
        raise BackupError(f"there is no folder {target.parent}: create it first, or give a file in another one")
    tmp = target.with_name(target.name + ".part")
    try:
        if url.get_backend_name() == "sqlite":
            kind = _sqlite(url.database, tmp)
        elif url.get_backend_name() == "postgresql":
            kind = _postgres(url, tmp)
        else:
            raise BackupError(f"no backup for {url.get_backend_name()} databases (SQLite and PostgreSQL only)")
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"database": url.render_as_string(hide_password=True), "file": str(target), "kind": kind,
            "bytes": target.stat().st_size}


def restore(database_url: str, source: str | os.PathLike, *, keep_as: str | os.PathLike | None = None) -> dict:
    """Replace the SQLite database of ``database_url`` with the backup ``source`` (qbedi stopped). The database
    it replaces is first backed up to ``keep_as`` (default: beside it, ``.before-restore``); returns what was
    done. Raises :class:`BackupError`, having changed nothing, when the backup does not read whole."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError("restore puts back SQLite backups only; for PostgreSQL: createdb NEW && pg_restore "
                          "--no-owner --dbname NEW FILE, then point database.url at NEW (README, Backups)")
    path, source = url.database, Path(source)
    if not path or path == ":memory:":
        raise BackupError("database.url names no SQLite file to restore into")
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    schema = _check_backup(source)
    from .store import schema_newer

    if schema_newer(schema):
        raise BackupError(f"{source}: {schema_newer(schema).replace('the database is', 'it is')}; not restored")
    kept = None
    if Path(path).exists():
        kept = Path(keep_as) if keep_as else Path(path + ".before-restore")
        if kept.exists():
            raise BackupError(f"{kept} exists already (an earlier restore's): move it away first")
        try:
            backup(database_url, kept)
        except BackupError:  # the database it replaces does not read (why one restores): kept as it is
            for suffix in ("", "-wal", "-shm"):
                if Path(path + suffix).exists():
                    os.replace(path + suffix, str(kept) + suffix)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(path, timeout=30)
    try:
        src.backup(dst)  # (SQLite writes the pages, in a transaction, through its log)
        dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as e:
        raise BackupError(f"SQLite restore failed: {e}" + (f" (the database before it: {kept})" if kept else "")) \
            from None
    finally:
        dst.close()
        src.close()
    return {"database": path, "from": str(source), "schema": schema, "kept": str(kept) if kept else None}


COPY_BATCH = 500  # rows a copy reads and writes at a time
COPY_BATCH_BYTES = {"file_chunk": 4, "received_file": 4}  # tables of raw bytes (a chunk is up to 1 MB): fewer


def copy_database(source_url: str, target_url: str, *, progress=None) -> dict:
    """Copy a qbedi database whole into an empty one (SQLite to PostgreSQL as a workspace grows), qbedi
    stopped: the target's schema is made by the migrations, every table is copied in key order a batch at a
    time (parents before children), PostgreSQL's id sequences are moved past the copied ids, and the rows
    are counted on both sides. Raises :class:`BackupError`, the source untouched, when the target holds
    anything, or when the counts differ. ``progress(table, rows)`` is told after each table."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store import Store

    try:
        src, dst = Store(source_url), Store(target_url)
    except (SQLAlchemyError, ImportError, ValueError) as e:  # a URL no driver takes
        raise BackupError(f"cannot open {safe_url(target_url)}: {_first_line(e)}") from None
    try:
        return _copy(src, dst, source_url, target_url, progress)
    except SQLAlchemyError as e:  # nobody listening, a refused login, no such database
        raise BackupError(f"the copy into {safe_url(target_url)} failed: {_first_line(e)}") from None
    finally:
        src.dispose()
        dst.dispose()


def _first_line(e: BaseException) -> str:
    return (str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__])[0]


def _copy(src, dst, source_url: str, target_url: str, progress) -> dict:
    from sqlalchemy import func, inspect, select, text, tuple_

    from .store import SCHEMA_HEAD, Base

    if src._version() != SCHEMA_HEAD:
        raise BackupError(f"the database to copy is not at this qbedi's schema ({src._version() or 'empty'}, "
                          f"not {SCHEMA_HEAD}): run qbedi migrate on it first")
    tables = Base.metadata.sorted_tables
    names = set(inspect(dst.engine).get_table_names())
    if names - {"alembic_version"}:
        with dst.engine.connect() as conn:
            busy = [t.name for t in tables if t.name in names
                    and conn.execute(select(func.count()).select_from(t)).scalar()]
        if busy:
            raise BackupError(f"the target database already holds qbedi data ({', '.join(busy)}): copy into "
                              "an empty database")
    dst.migrate()
    counts, source = {}, {}
    with src.engine.connect() as read, dst.engine.begin() as write:
        if read.dialect.name == "sqlite":
            read.exec_driver_sql("BEGIN")  # (one snapshot: every table read as of one moment)
        for table in tables:
            source[table.name] = read.execute(select(func.count()).select_from(table)).scalar()
            key = list(table.primary_key.columns)
            n, last = 0, None
            while True:
                q = select(table).order_by(*key).limit(COPY_BATCH_BYTES.get(table.name, COPY_BATCH))
                if last is not None:  # (paged on the key: each batch an index range, never an OFFSET)
                    q = q.where(tuple_(*key) > tuple_(*last)) if len(key) > 1 else q.where(key[0] > last[0])
                rows = [dict(r._mapping) for r in read.execute(q)]
                if not rows:
                    break
                write.execute(table.insert(), rows)
                n, last = n + len(rows), [rows[-1][c.name] for c in key]
            counts[table.name] = n
            if progress is not None:
                progress(table.name, n)
        if write.dialect.name == "postgresql":  # (ids given by the copy: the sequences go on after them)
            for table in tables:
                col = table.c.get("id")
                if col is not None and col.primary_key and counts[table.name]:
                    write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"(SELECT max(id) FROM {table.name}))"))
    with dst.engine.connect() as conn:
        differ = [f"{t.name} ({source[t.name]:,} there, {got:,} here)" for t in tables
                  if (got := conn.execute(select(func.count()).select_from(t)).scalar()) != source[t.name]]
    if differ:
        raise BackupError(f"the copy's row counts differ from the source's: {', '.join(differ)}; set "
                          "database.url to the new database only once a copy has none")
    return {"from": safe_url(source_url), "to": safe_url(target_url), "rows": counts}


def _check_backup(source: Path) -> str:
    """The backup's schema version, once it reads whole (else :class:`BackupError`)."""
    try:
        con = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            version = con.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise BackupError(f"{source} is not a qbedi backup that reads ({e})") from None
    if ok != "ok":
        raise BackupError(f"{source} is damaged (SQLite's integrity check: {ok}): not restored")
    if not version:
        raise BackupError(f"{source} holds no qbedi schema version: not a qbedi backup")
    return version[0]


def _sqlite(path: str | None, tmp: Path) -> str:
    if not path or path == ":memory:" or not Path(path).exists():
        raise BackupError(f"no SQLite database at {path}")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=1024)  # a consistent snapshot, copied in steps while writers go on
    except sqlite3.Error as e:
        raise BackupError(f"SQLite backup failed: {e}") from None
    finally:
        dst.close()
        src.close()
    return "sqlite"


def _postgres(url, tmp: Path) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian: postgresql-client)")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = [pg_dump, "--format=custom", "--no-owner", f"--file={tmp}", "--dbname", _conninfo(url)]
    schema = _search_path(url)
    if schema:
        args += ["--schema", schema]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return "pg_dump custom format (restore with pg_restore)"


def _conninfo(url) -> str:
    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def _search_path(url) -> str | None:
    opts = url.query.get("options") or ""
    if isinstance(opts, tuple):
        opts = " ".join(opts)
    for opt in opts.split():
        if opt.startswith("-csearch_path="):
            return opt.split("=", 1)[1].split(",")[0]
    return None
