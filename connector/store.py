"""Durable store: received files, EDI documents, the QuickBooks request queue, audit.

SQLAlchemy 2 models; the schema is created and upgraded by alembic
(``connector/migrations``). SQLite by default, PostgreSQL by URL.

The states each row can be in are :mod:`connector.status`; every change of
state goes through :mod:`connector.lifecycle`.
"""
from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from . import _json
from .status import AckState, DocStatus, FileStatus, RqState


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ReceivedFile(Base):
    __tablename__ = "received_file"
    __table_args__ = (Index("ix_file_verdict", "status", "reason_code"),)  # files counted by verdict
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(100))
    remote_id: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(500))
    connection: Mapped[str | None] = mapped_column(String(200), nullable=True)  # partner connection it came in on
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # the bytes, when ``chunks`` is 0 (else empty)
    chunks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # FileChunk rows (connector.raw)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=FileStatus.RECEIVED)
    reason_code: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the verdict: empty, not_x12, ...
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # translations that raised
    documents: Mapped[list["Document"]] = relationship(back_populates="file", order_by="Document.id")


class FileChunk(Base):
    """One piece of a big file's raw bytes (:mod:`connector.raw`): ``seq`` 0, 1, ... in order, written once."""

    __tablename__ = "file_chunk"
    file_id: Mapped[int] = mapped_column(ForeignKey("received_file.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FileSighting(Base):
    """Every time a source listed a file we fetched: (source, remote id, sha256) is the dedup key."""

    __tablename__ = "file_sighting"
    __table_args__ = (UniqueConstraint("source", "remote_id", "sha256", name="uq_sighting"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("received_file.id"))
    source: Mapped[str] = mapped_column(String(100))
    remote_id: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OutboundAck(Base):
    """A 997 owed to a partner: kept until the source took it, retried on every poll until then."""

    __tablename__ = "outbound_ack"
    __table_args__ = (Index("ix_ack_pending", "source", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("received_file.id"))
    source: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500))
    connection: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the partner connection it goes to
    content: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), default=AckState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # a process is sending it


class Document(Base):
    __tablename__ = "edi_document"
    __table_args__ = (
        Index("ix_doc_supplier_number", "supplier_id", "transaction_set", "document_number"),
        Index("ix_doc_status", "status"),
        Index("ix_doc_file", "file_id", "ordinal"),  # a file's documents (resuming a chunked ingest)
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("received_file.id"))
    ordinal: Mapped[int] = mapped_column(Integer, default=0)  # position of the set within the file
    # where its ST is in the file (the 1-based segment count, as edi's tokenizer counts): its page shows its
    # own segments, however far into a big file; None for documents stored before migration 0012
    segment_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # where its ISA, GS and ST are in the file's bytes (edi.SetPlace as a list): its page reads only those;
    # None for documents stored before migration 0013, or when the tokenizer could not tell (UTF-16, no ISA)
    set_place: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    transaction_set: Mapped[str] = mapped_column(String(6))
    version: Mapped[str] = mapped_column(String(20), default="")
    interchange_control: Mapped[str] = mapped_column(String(20), default="")
    group_control: Mapped[str] = mapped_column(String(20), default="")
    set_control: Mapped[str] = mapped_column(String(20), default="")
    sender_id: Mapped[str] = mapped_column(String(40), default="")
    # the seller's own id (its N1 party's), which a supplier may be mapped by: with sender_id, what a document
    # held before its supplier was mapped is found by (migration 0014; None before it, or with no N1 id)
    seller_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    supplier_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    document_number: Mapped[str] = mapped_column(String(60), default="")
    document_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    total: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(20), default=DocStatus.RECEIVED)
    reason_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    parsed: Mapped[dict] = mapped_column(JSON, default=dict)  # the translate --json document
    company: Mapped[str | None] = mapped_column(String(260), nullable=True)  # Web Connector user it goes to
    qb_txn_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    qb_txn_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    qb_amount: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    file: Mapped[ReceivedFile] = relationship(back_populates="documents")
    requests: Mapped[list["QueuedRequest"]] = relationship(back_populates="document", order_by="QueuedRequest.id")


class QueuedRequest(Base):
    """One qbXML request (a single ``*Rq`` element) waiting for, or sent to, QuickBooks."""

    __tablename__ = "qb_request"
    __table_args__ = (
        # "this company's queued requests after id N, oldest first" is one index range: drained rows are
        # never read by a Web Connector call (migration 0009)
        Index("ix_rq_company_state_id", "company", "state", "id"),
        Index("ix_rq_company_type_ref", "company", "request_type", "ref_number"),
        Index("ix_rq_document", "document_id"),  # a document's requests
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("edi_document.id"), nullable=True)
    company: Mapped[str] = mapped_column(String(260))  # Web Connector username the request belongs to
    request_type: Mapped[str] = mapped_column(String(40))  # BillAdd, VendorCreditAdd, ...
    qbxml: Mapped[str] = mapped_column(Text)  # the *Rq element, no requestID
    ref_number: Mapped[str] = mapped_column(String(40), default="")
    vendor: Mapped[str] = mapped_column(String(100), default="")
    external_guid: Mapped[str] = mapped_column(String(40), default="")
    line_count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(12), default=RqState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_txn_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # per-type working data, e.g. an ItemReceipt's link plan (PO numbers, items, quantities)
    meta: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    document: Mapped[Document | None] = relationship(back_populates="requests")


class PoReference(Base):
    """A purchase order a document names (an invoice's lines, a ship notice's orders, a PO itself): what the
    three-way match and a document's page find a PO's receipts and invoices by, on an index, however many
    documents the supplier sent (migration 0015; :func:`connector.matching.po_numbers`)."""
    __tablename__ = "po_reference"
    po_number: Mapped[str] = mapped_column(String(60), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("edi_document.id"), primary_key=True)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_doc", "document_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("edi_document.id"), nullable=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("received_file.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CompanyState(Base):
    """What we know of each Web Connector user's QuickBooks side."""

    __tablename__ = "company_state"
    company: Mapped[str] = mapped_column(String(260), primary_key=True)
    info: Mapped[dict] = mapped_column(JSON, default=dict)
    last_contact: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_result: Mapped[str | None] = mapped_column(Text, nullable=True)


class SourceState(Base):
    """Health of each source's polling, for `qbedi status` and backoff."""

    __tablename__ = "source_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_poll_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    files_fetched: Mapped[int] = mapped_column(Integer, default=0)


class CostSample(Base):
    """Measured QuickBooks time per request type (EWMA), for batches that fit the timeout."""

    __tablename__ = "qb_cost"
    request_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    per_request: Mapped[float] = mapped_column(Float)
    per_line: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    # weighted least-squares sums (requests, lines -> seconds), so both costs are learned separately
    stats: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Pause(Base):
    """A source or a company a person paused: while the row exists nothing is fetched from the source /
    sent to the company; every record is kept, and resuming (deleting the row) carries on where it stopped."""

    __tablename__ = "pause"
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # Scope
    name: Mapped[str] = mapped_column(String(260), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class SyncRequest(Base):
    """A person asked for something to happen now (poll a source, re-read QuickBooks' lists); the running
    ``qbedi run`` picks it up within seconds (another process may have written it: the CLI, the web page)."""

    __tablename__ = "sync_request"
    __table_args__ = (Index("ix_sync_request_open", "kind", "done_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # SyncKind
    target: Mapped[str | None] = mapped_column(String(260), nullable=True)  # a source or company; None = all
    by: Mapped[str] = mapped_column(String(100), default="")
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)


class SyncEvent(Base):
    """The sync history: polls, Web Connector sessions, errors, pauses (what `qbedi status` and the dashboard
    show as "recent", not only the last one)."""

    __tablename__ = "sync_event"
    __table_args__ = (Index("ix_sync_event_scope", "scope", "name", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    scope: Mapped[str] = mapped_column(String(10))  # Scope
    name: Mapped[str] = mapped_column(String(260))
    kind: Mapped[str] = mapped_column(String(20))  # Activity
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class NotificationState(Base):
    """What each notification channel has been told (connector/notify.py), so nothing is told twice across
    restarts: one row per channel and topic, e.g. ``email:held``, ``webhook:source:inbox``,
    ``email:digest``. What was told (``cursor``, ``episode``, ``last_sent_at``) moves on only once its message
    was delivered; a failed delivery records only ``last_attempt_at`` / ``last_error``, and the next check
    tries again (migration 0010)."""

    __tablename__ = "notification_state"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    cursor: Mapped[int | None] = mapped_column(Integer, nullable=True)  # held: the last audit_event id told
    episode: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the failure / silence told (its start)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


# ---------------------------------------------------------------- engine / unit of work

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_HEAD = "0015"  # the newest migration (tests/integration/test_migrations.py checks it is alembic's head)
MIGRATION_LOCK_KEY = 0x71626564  # "qbed": the advisory lock migrations hold on PostgreSQL
SERVING_LOCK_KEY = 0x71626573  # "qbes": the one qbedi run / serve hold (shared) while they work


def make_engine(url: str) -> Engine:
    kw: dict = {"future": True, "json_serializer": _json.dumps, "json_deserializer": _json.loads}
    if url.startswith("sqlite"):
        kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kw["pool_pre_ping"] = True
    engine = create_engine(url, **kw)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def safe_url(url: str) -> str:
    """A database URL as it may be shown or logged: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that does not parse says so, whatever it holds
        return "(a database URL that does not read)"


def _fcntl():
    try:
        import fcntl
    except ImportError:  # Windows: no file lock here (restore and copy-database look at the port alone)
        return None
    return fcntl


class SchemaNewer(Exception):
    """The database was set up by a newer qbedi than this one: nothing here can read or migrate it."""


def schema_newer(current: str | None) -> str | None:
    """What to say when ``current`` (the database's revision) is newer than this code's schemas (else None)."""
    if not current or not current.isdigit() or int(current) <= int(SCHEMA_HEAD):
        return None
    return (f"the database is at schema {current}, set up by a newer qbedi (this one knows schemas up to "
            f"{SCHEMA_HEAD}): run the newer qbedi, or restore a backup taken before the upgrade (qbedi restore)")


class Store:
    """Engine + session factory. ``with store.session() as s:`` is one unit of work."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest (or the given) alembic revision (idempotent).

        One process at a time: two processes opening a fresh database at once would both try to create
        alembic's version table. PostgreSQL: a transaction-scoped advisory lock; SQLite: an exclusive
        lock on a file beside the database."""
        if revision == "head" and self._at_head():
            return  # (alembic, ~13 MB of imports, is not loaded for a database already up to date)
        newer = schema_newer(self._version())
        if newer:
            raise SchemaNewer(newer)
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def _at_head(self) -> bool:
        """Is the database at :data:`SCHEMA_HEAD` already? (No table yet, or any error: no.)"""
        return self._version() == SCHEMA_HEAD

    def _version(self) -> str | None:
        """The database's schema revision, read without alembic (None: no table yet, or any error)."""
        try:
            with self.engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        except Exception:  # noqa: BLE001 - a new database, or one alembic should look at: migrate() decides
            return None
        return found[0] if len(found) == 1 else None

    @contextlib.contextmanager
    def _migration_lock(self):
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        try:
            import fcntl
        except ImportError:  # Windows
            fcntl = None
        try:
            import msvcrt
        except ImportError:
            msvcrt = None
        with open(f"{path}.migrate.lock", "a+b") as f:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_EX)
            elif msvcrt is not None:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)  # retries for ~10 s, then raises
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)
                elif msvcrt is not None:
                    f.seek(0)
                    msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

    @contextlib.contextmanager
    def serving(self):
        """Held while qbedi run / serve works on this database (a shared lock: several may), so that
        :meth:`in_use` tells a restore or a copy to wait. SQLite: a lock on a file beside the database (POSIX);
        PostgreSQL: a shared advisory lock on a connection kept for the while."""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock_shared({SERVING_LOCK_KEY})")
                conn.commit()
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock_shared({SERVING_LOCK_KEY})")
                    conn.commit()
            return
        fcntl = _fcntl()
        if not path or path == ":memory:" or fcntl is None:
            yield
            return
        with open(f"{path}.serving.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def in_use(self) -> bool:
        """Does a qbedi run / serve hold :meth:`serving` on this database now?"""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                free = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({SERVING_LOCK_KEY})").scalar()
                if free:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SERVING_LOCK_KEY})")
                conn.commit()
                return not free
        fcntl = _fcntl()
        if not path or path == ":memory:" or fcntl is None or not Path(f"{path}.serving.lock").exists():
            return False
        with open(f"{path}.serving.lock", "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def revisions(self) -> tuple[str | None, str]:
        """(the database's alembic revision or None for an empty database, the newest this code knows)."""
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        db = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if db and db != ":memory:" and not Path(db).exists() and Path(db).parent.is_dir():
            return None, head  # (connecting would create an empty file)
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @property
    def keeps_statistics(self) -> bool:
        """Whether :meth:`refresh_statistics` does anything here (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    def refresh_statistics(self, *tables: str, share: float = 0.1, least: int = 500,
                           vacuum: bool = False) -> list[str]:
        """PostgreSQL: ANALYZE those of ``tables`` whose statistics are stale (rows changed since the last
        ANALYZE over ``share`` of the rows it saw, and over ``least``): a big ingest changes them faster than
        autovacuum looks, and a planner that thinks a table empty reads a supplier's every document instead of
        one index key. ``vacuum``: VACUUM (ANALYZE) them instead, which also clears the dead row versions every
        update leaves in the indexes (a drained request's old "queued" entry) - the Web Connector's drain
        (:class:`connector.upkeep.Upkeep`). Returns the tables refreshed. SQLite: nothing (updates in place,
        and its plans here were measured worse with statistics than without)."""
        if not self.keeps_statistics:
            return []
        stale = []
        with self.engine.begin() as conn:
            for table in tables:
                changed, seen = conn.exec_driver_sql(
                    "SELECT coalesce(s.n_mod_since_analyze, 0), greatest(c.reltuples, 0) FROM pg_class c "
                    "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(%(t)s)",
                    {"t": table}).one_or_none() or (0, 0)
                if changed > max(least, seen * share):
                    stale.append(table)
                    if not vacuum:
                        conn.exec_driver_sql(f'ANALYZE "{table}"')
        if vacuum and stale:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in stale:  # (VACUUM cannot run inside a transaction)
                    conn.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
        return stale

    def dispose(self, *, fold_log: bool = False) -> None:
        """Close every connection. ``fold_log`` (qbedi run / serve stopping), SQLite: the write-ahead log is
        folded into the database file first, so the file alone is the whole database once qbedi stopped (a
        backup copied over it is not joined by a log left from before). Not for every command: it waits for
        the readers of a running qbedi."""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if fold_log and path and path != ":memory:" and Path(path).exists():  # (never creates a database)
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception:  # noqa: BLE001 - best effort on the way out (a busy or read-only database)
                pass
        self.engine.dispose()


def new_document_ids(s: Session, n: int) -> list[int]:
    """``n`` ids for documents this unit of work will insert, ascending, that no other insert takes: a chunk's
    documents are settled (duplicates, matching, queued or held) before they are written, with their ids, and
    then inserted once, as they end (no insert and then an update of each).

    PostgreSQL: the column's sequence. SQLite: one past the largest id, so the unit of work must hold the
    database's write lock already (it has written something: SQLite lets one writer in at a time)."""
    if n <= 0:
        return []
    if s.get_bind().dialect.name == "postgresql":
        return sorted(s.scalars(text("SELECT nextval(pg_get_serial_sequence('edi_document', 'id')) "
                                     "FROM generate_series(1, :n)"), {"n": n}))
    last = s.scalar(select(func.max(Document.id))) or 0
    return list(range(last + 1, last + 1 + n))


def audit(s: Session, kind: str, *, document: Document | None = None, file: ReceivedFile | None = None,
          **detail) -> AuditEvent:
    ev = AuditEvent(**audit_row(kind, detail, document=document, file=file))
    s.add(ev)
    return ev


_PLAIN = frozenset({str, int, bool, type(None)})  # values JSON keeps as they are (a str subclass: as text)


def audit_row(kind: str, detail: dict, *, document: Document | None = None, file: ReceivedFile | None = None
              ) -> dict:
    """An audit event as a row (:func:`audit` adds it as an object; a batch inserts many at once): its
    detail as JSON reads it back (a Decimal or a date as text; no round trip when every value is plain)."""
    plain = all(type(v) in _PLAIN for v in detail.values())
    return {"kind": kind, "document_id": document.id if document else None,
            "file_id": file.id if file else (document.file_id if document else None),
            "detail": dict(detail) if plain else json.loads(json.dumps(detail, default=str))}


def audit_trail(s: Session, document_id: int) -> list[AuditEvent]:
    return list(s.scalars(select(AuditEvent).where(AuditEvent.document_id == document_id).order_by(AuditEvent.id)))
