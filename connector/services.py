"""Service layer: receive a file, keep it, translate it, queue it; review held work.

Every step commits before the next one starts, so a crash between any two
steps loses nothing: the raw bytes are stored first (and a source is told
"consumed" only after that commit), translation reads them back, and the same
bytes arriving again are recognised by their sha256.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import BinaryIO, Callable

import structlog
from sqlalchemy import func, insert, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, selectinload
from sqlalchemy.orm.attributes import set_committed_value

import edi

from . import control, lifecycle, raw
from .leases import poll_lease
from .matching import PRICE_VARIANCE, QUANTITY_VARIANCE, po_numbers, three_way
from .plans import RequestMeta
from .settings import LiveSettings, Settings
from .sources import FileGone, RemoteFile, Source, SourceError, SourceUnavailable
from .status import MAYBE_IN_QUICKBOOKS, Activity, AckState, DocStatus, FileStatus, FileVerdict, Hold, RqState, Scope
from .store import (Document, FileSighting, OutboundAck, PoReference, ReceivedFile, Store, audit, new_document_ids,
                    utcnow)
from .translate import Translation, document_json, translate_set

log = structlog.get_logger(__name__)

ACK_MAX_ATTEMPTS = 50  # a 997 the source refused this many polls in a row is given up (audited, in `qbedi status`)
ACK_CLAIM_SECONDS = 900  # a process sending a 997 holds it this long at most (a crash mid-send frees it after);
# longer than a source's worst case (Cleo: 60 s read timeout x 5 tries + backoff + the send action)
MAX_PROCESS_ATTEMPTS = 3  # a file whose translation raised is tried this many times in all
CHUNK_DOCUMENTS = 50  # a file's documents are committed this many at a time (a crash keeps what was done)
# a file's documents stored so far after which the database's statistics are read again (PostgreSQL): the
# planner of a store that had few documents would otherwise go on reading every document of a supplier
ANALYZE_AFTER = frozenset(CHUNK_DOCUMENTS * 2 ** k for k in range(5, 20))
STATISTICS = ("edi_document", "qb_request", "audit_event")  # the tables an ingest's look-ups read
REPORTED_DOCUMENTS = 100  # a file's outcome lists its first documents one by one, the rest by status


@dataclass
class DocOutcome:
    document_id: int
    translation: Translation
    status: str  # store status (queued / held / rejected / duplicate)


@dataclass
class IngestOutcome:
    file_id: int
    name: str
    sha256: str
    duplicate: bool = False
    documents: list[DocOutcome] = field(default_factory=list)  # the first REPORTED_DOCUMENTS stored
    counts: dict[str, int] = field(default_factory=dict)  # every document stored, by status
    error: str | None = None
    result: object = field(default=None, repr=False)  # the edi ParseResult (in memory only)
    ack: str | None = None  # name of the 997 sent back, if any
    ack_id: int | None = None  # the 997 owed for it (stored when the file was translated)
    unfinished: tuple[int, int] | None = None  # (sets done, sets in all): its time slice ran out, resumed later


@dataclass
class PollReport:
    source: str
    listed: int = 0
    fetched: list[IngestOutcome] = field(default_factory=list)
    skipped: int = 0  # seen before (same source, id and hash)
    errors: list[str] = field(default_factory=list)
    acks_resent: int = 0  # 997s from earlier polls delivered this time
    settling: list[str] = field(default_factory=list)  # files still being written, left for the next poll
    settling_why: dict[str, str] = field(default_factory=dict)  # and why, in words (a source that says)
    paused: bool = False  # a person paused the source: nothing was fetched
    elsewhere: bool = False  # another process was polling it (a lease per source): nothing was done here


RELEASE_CHUNK = 50  # documents released in one unit of work by IngestService.release_all
REPORTED_FAILURES = 100  # a release's report names this many documents it could not release (and counts all)


@dataclass
class ReleaseReport:
    """What :meth:`IngestService.release_all` did: counts, not every document (it may be thousands)."""

    matched: int  # held or failed documents that met the filters when it started
    released: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # their status now (queued, held, ...)
    held_for: dict[str, int] = field(default_factory=dict)  # those held or rejected again, by reason code
    failed: list[tuple[int, str]] = field(default_factory=list)  # (document, why) left as they were
    not_released: int = 0  # all of those (failed names the first REPORTED_FAILURES)
    elsewhere: int = 0  # released (or dismissed) meanwhile by someone else: another press, another clerk
    left: int = 0  # still meeting the filters when its time ran out: not tried yet
    last: int = 0  # the last document tried: a run ``after`` it carries on with the ones not tried yet

    def add(self, out: DocOutcome) -> None:
        self.released += 1
        self.counts[out.status] = self.counts.get(out.status, 0) + 1
        if out.translation.holds and out.status in (DocStatus.HELD, DocStatus.REJECTED):
            code = out.translation.holds[0].code
            self.held_for[code] = self.held_for.get(code, 0) + 1

    def fail(self, document_id: int, why: str) -> None:
        self.not_released += 1
        if len(self.failed) < REPORTED_FAILURES:
            self.failed.append((document_id, why))

    def as_dict(self) -> dict:
        return {"matched": self.matched, "released": self.released, "counts": self.counts,
                "held_for": self.held_for, "not_released": self.not_released,
                "failed": [{"id": i, "error": why} for i, why in self.failed], "elsewhere": self.elsewhere,
                "left": self.left, "last": self.last}


def _bill_pos(t: Translation) -> tuple[str, ...]:
    """The purchase orders a bill's item lines are linked to at send time (its supplier's ``link_to_po``):
    those its lines name, when it has item lines to link."""
    if t.request_type != "BillAdd" or t.supplier is None or not t.supplier.link_to_po or \
            not getattr(t.spec, "item_lines", None):
        return ()
    return tuple(sorted({(ln.get("po_number") or "").strip() for ln in (t.json or {}).get("lines") or []} - {""}))


TAKEN = (DocStatus.AWAITING_APPROVAL, DocStatus.QUEUED, DocStatus.SENT, DocStatus.POSTED, DocStatus.DISMISSED)


def _taken():
    """Documents whose transaction is (or may be) in QuickBooks: awaiting approval (it will be, once
    approved), queued, sent, posted; closed by a person (dismissed: e.g. entered by hand); or held because
    its answer was lost and it may already be there."""
    return (Document.status.in_(TAKEN) |
            ((Document.status == DocStatus.HELD) & Document.reason_code.in_(MAYBE_IN_QUICKBOOKS)))


def _insert_po_references(s: Session, docs: list[Document], rows: list[dict]) -> None:
    """The purchase orders each new document names (:class:`connector.store.PoReference`)."""
    refs = [{"po_number": n, "document_id": d.id} for d, row in zip(docs, rows)
            for n in po_numbers(row["parsed"], d.transaction_set, d.document_number)]
    if refs:
        s.execute(insert(PoReference), refs)


def purchase_order_documents(s: Session, supplier_id: str, numbers, *, exclude: int | None = None,
                             before: int | None = None, where: list = ()) -> tuple[dict[str, list[Document]], ...]:
    """What qbedi has of a supplier's purchase orders ``numbers``, each by PO number, oldest first: (the 850s,
    not rejected or dismissed; the ship notices that name them and count as received, :data:`RECEIVED`; the
    invoices that bill them, :func:`_taken`, credits left out). ``exclude``: a document left out; ``before``:
    only documents stored before that id; ``where``: more conditions (a clerk's companies). Found by the PO
    numbers each document names (an index): never the supplier's other documents."""
    numbers = sorted({n.strip().upper() for n in numbers} - {""})
    orders: dict[str, list[Document]] = {}
    receipts: dict[str, list[Document]] = {}
    billed: dict[str, list[Document]] = {}
    if not numbers or not supplier_id:
        return orders, receipts, billed
    earlier = [Document.id < before] if before is not None else []
    if exclude is not None:
        earlier.append(Document.id != exclude)
    earlier += list(where)
    naming = Document.id.in_(select(PoReference.document_id).where(PoReference.po_number.in_(numbers)))
    for po in s.scalars(select(Document).where(
            naming, Document.supplier_id == supplier_id, Document.transaction_set == "850",
            ~Document.status.in_((DocStatus.REJECTED, DocStatus.DISMISSED)), *earlier).order_by(Document.id)):
        orders.setdefault(po.document_number.strip().upper(), []).append(po)
    if not orders:
        return orders, receipts, billed
    for asn in s.scalars(select(Document).where(
            naming, Document.supplier_id == supplier_id, Document.transaction_set == "856",
            Document.status.in_(RECEIVED), *earlier).order_by(Document.id)):
        for number in set(po_numbers(asn.parsed or {}, "856")) & set(orders):
            receipts.setdefault(number, []).append(asn)
    for inv in s.scalars(select(Document).where(
            naming, Document.supplier_id == supplier_id, Document.transaction_set == "810", _taken(), *earlier)
            .order_by(Document.id)):
        bill = inv.parsed or {}
        if bill.get("credit"):
            continue  # (a credit gives nothing back to bill: the goods went back)
        for number in set(po_numbers(bill, "810")) & set(orders):
            billed.setdefault(number, []).append(inv)
    return orders, receipts, billed


class _Taken:
    """The documents that new ones (a chunk of a file, or one released document) would duplicate: for each,
    taken documents (:func:`_taken`) of the same supplier, or earlier copies not yet mapped (same sender),
    with the same set and number; read in one query, and kept current as a chunk's own documents are
    settled in order."""

    def __init__(self):
        self.by_supplier: dict[tuple, int] = {}
        self.by_sender: dict[tuple, int] = {}

    @classmethod
    def read(cls, s: Session, docs: list[Document], chunk: list[Translation]) -> _Taken:
        taken = cls()
        numbers = {d.document_number for d, t in zip(docs, chunk) if d.document_number and t.supplier_id}
        if not numbers:
            return taken
        suppliers = sorted({t.supplier_id for t in chunk if t.supplier_id})
        senders = sorted({d.sender_id for d in docs})
        cols = (Document.id, Document.supplier_id, Document.sender_id, Document.transaction_set,
                Document.document_number)
        same = (Document.transaction_set.in_(sorted({d.transaction_set for d in docs})),
                Document.document_number.in_(sorted(numbers)), Document.id.not_in([d.id for d in docs]), _taken())
        # (index look-ups of (supplier_id, transaction_set, document_number), one per key, in two ranges: an OR
        # of the two lets the planner walk every stored document instead; SQLite reads a row-value IN list by
        # scanning; PostgreSQL needs statistics that know the table is not empty: IngestService._process
        # refreshes them as a big file is stored)
        rows = s.execute(union_all(
            select(*cols).where(Document.supplier_id.in_(suppliers), *same),
            select(*cols).where(Document.supplier_id.is_(None), Document.sender_id.in_(senders), *same)))
        for id_, supplier, sender, tset, number in rows:
            key, where = ((supplier, tset, number), taken.by_supplier) if supplier is not None else \
                ((sender, tset, number), taken.by_sender)
            where[key] = min(id_, where.get(key, id_))
        return taken

    def ids(self, doc: Document, t: Translation) -> list[int]:
        found = (self.by_supplier.get((t.supplier_id, doc.transaction_set, doc.document_number)),
                 self.by_sender.get((doc.sender_id, doc.transaction_set, doc.document_number)))
        return [i for i in found if i is not None]

    def add(self, doc: Document, t: Translation) -> None:
        """``doc`` was settled: if it is now taken, the chunk's later documents see it."""
        if t.supplier_id and doc.document_number and doc.status in TAKEN:
            self.by_supplier.setdefault((t.supplier_id, doc.transaction_set, doc.document_number), doc.id)


def _suppliers_with_orders(s: Session, chunk: list[Translation]) -> set[str]:
    """The suppliers of a chunk's invoices that have any purchase order stored (one query): only their
    invoices are matched (:meth:`IngestService._variances`)."""
    suppliers = {t.supplier_id for t in chunk if t.supplier_id and t.parsed.envelope.transaction_set == "810"}
    if not suppliers:
        return set()
    return set(s.scalars(select(Document.supplier_id).where(
        Document.supplier_id.in_(sorted(suppliers)), Document.transaction_set == "850").distinct()))


MAX_REASON = 2000  # characters of a person's reason (dismiss, reject, overrides)
# ship notices whose goods count as received: in QuickBooks, or on their way there (not held, refused or dismissed)
RECEIVED = (DocStatus.AWAITING_APPROVAL, DocStatus.QUEUED, DocStatus.SENT, DocStatus.POSTED)


_DOCUMENT_COLUMNS = frozenset(c.key for c in Document.__table__.columns)
# (a hold message is read on the web page and in the CLI: both ways to say a document is not a duplicate)
_NOT_A_DUPLICATE = "\"Not a duplicate: post it\" on its page, with a reason (or `qbedi release {id} --not-duplicate --reason ...`)"


class IngestService:
    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self._live = LiveSettings(settings)
        self._clock = time.monotonic  # (tests move it: a file's time slice)

    @property
    def settings(self) -> Settings:
        """The current settings: re-read when the config or suppliers file changed (see LiveSettings)."""
        return self._live.current()

    @property
    def live(self) -> LiveSettings:
        """The settings as they change on disk (the Web Connector's users read them too)."""
        return self._live

    # ------------------------------------------------------------ receive
    def receive(self, data: bytes | BinaryIO, *, source: str, remote_id: str, name: str,
                connection: str | None = None) -> tuple[int, bool]:
        """Store the raw bytes (committed): ``data`` is the bytes, or a binary stream read from where it
        is to its end a piece at a time (:mod:`connector.raw`: a big file is never held whole); with the
        partner connection they came in on when the source has several (its 997 goes back there).
        Returns (file id, already known)."""
        stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
        digest, size = raw.digest(stream)
        return self._keep(stream, digest, size, source=source, remote_id=remote_id, name=name,
                          connection=connection)

    def _keep(self, stream: BinaryIO, digest: str, size: int, **where) -> tuple[int, bool]:
        start = stream.tell()
        try:
            return self._receive(stream, digest, size, **where)
        except IntegrityError:  # the same bytes stored at this very moment by another poll: it is known
            stream.seek(start)
            return self._receive(stream, digest, size, **where)

    def _receive(self, stream: BinaryIO, digest: str, size: int, *, source: str, remote_id: str, name: str,
                 connection: str | None) -> tuple[int, bool]:
        with self.store.session() as s:
            existing = s.scalar(select(ReceivedFile).options(defer(ReceivedFile.content))
                                .where(ReceivedFile.sha256 == digest))
            if existing is not None:
                self._sighting(s, existing, source, remote_id)
                audit(s, "duplicate_file", file=existing, source=source, remote_id=remote_id, name=name,
                      message="the same bytes were received before; nothing new is queued")
                log.info("file.duplicate", file=name, source=source, file_id=existing.id, sha256=digest[:12])
                return existing.id, True
            f = ReceivedFile(sha256=digest, source=source, remote_id=remote_id, name=name, connection=connection,
                             size=size, content=b"")
            start = stream.tell()
            raw.write(s, f, stream, size)
            self._sighting(s, f, source, remote_id)
            audit(s, "file_received", file=f, source=source, remote_id=remote_id, name=name, size=size,
                  sha256=digest)
            if self.settings.raw_dir:
                stream.seek(start)
                raw.copy_to(stream, self._raw_path(f, digest, name))
            log.info("file.received", file=name, source=source, file_id=f.id, size=size)
            return f.id, False

    def _raw_path(self, f: ReceivedFile, digest: str, name: str):
        folder = self.settings.resolve(self.settings.raw_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{f.id:08d}-{digest[:12]}-{_safe(name)}"

    @staticmethod
    def _sighting(s: Session, f: ReceivedFile, source: str, remote_id: str) -> None:
        seen = s.scalar(select(FileSighting).where(FileSighting.source == source, FileSighting.remote_id == remote_id,
                                                   FileSighting.sha256 == f.sha256))
        if seen is None:
            s.add(FileSighting(file_id=f.id, source=source, remote_id=remote_id, sha256=f.sha256))

    def seen(self, source: str, remote_id: str) -> bool:
        """Was this (source, remote id) fetched and stored before, whatever its hash?"""
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(FileSighting).where(
                FileSighting.source == source, FileSighting.remote_id == remote_id)) > 0

    # ------------------------------------------------------------ translate
    def process(self, file_id: int) -> IngestOutcome:
        """Parse + translate + queue a stored file whose documents are not created yet, and store the
        997 owed for it (to the partner connection the file came in on).

        Whatever happens the file ends visible: with its documents, with a verdict (``unreadable``:
        empty, not X12, ...), or ``failed`` with the error, tried again by :meth:`resume` on the next
        polls (``MAX_PROCESS_ATTEMPTS`` in all). One file never blocks the files behind it."""
        try:
            return self._process(file_id)
        except Exception as e:  # noqa: BLE001 - a bug in one file's translation must not hide it or stop the rest
            log.exception("file.translate_failed", file_id=file_id)
            with self.store.session() as s:
                f = s.get(ReceivedFile, file_id)
                out = IngestOutcome(file_id=f.id, name=f.name, sha256=f.sha256)
                if f.status not in (FileStatus.RECEIVED, FileStatus.FAILED):
                    out.duplicate = True  # another poll translated it meanwhile (its error was ours alone)
                    return out
                lifecycle.file_failed(s, f, f"{type(e).__name__}: {e}"[:2000],
                                      retry=(f.attempts or 0) + 1 < MAX_PROCESS_ATTEMPTS)
                out.error = f.error
                return out

    def _process(self, file_id: int) -> IngestOutcome:
        """Read the file's envelopes once (:func:`edi.survey`: which sets a GE/IEA fault rejects), then
        translate and store its sets ``CHUNK_DOCUMENTS`` at a time, each chunk committed: a crash keeps the
        chunks done and the next poll (:meth:`resume`) carries on after them. A set under a broken group or
        interchange is rejected before it is translated, so none is ever queued. The file is ``parsed``,
        with its parse warnings and its 997, in the last chunk's unit of work."""
        with self.store.session() as s:
            f = s.get(ReceivedFile, file_id)
            out = IngestOutcome(file_id=f.id, name=f.name, sha256=f.sha256)
            if f.status not in (FileStatus.RECEIVED, FileStatus.FAILED):
                out.duplicate = True
                return out
            name, digest = f.name, f.sha256
            survey = self._parse(s, f, out)
            if survey is None:
                return out
        done = self._recorded(file_id)  # documents stored by an earlier, interrupted run
        if survey.sets > CHUNK_DOCUMENTS:  # a big file's look-ups need statistics that know what is stored
            self.store.refresh_statistics(*STATISTICS)
        reader = edi.EdiReader(raw.open_file(self.store, f))
        out.result = reader.result
        slim = survey.sets > CHUNK_DOCUMENTS  # a big file: outcomes keep a summary, not every translation
        chunk: list[Translation] = []
        limit = self.settings.file_time_slice_seconds
        deadline = self._clock() + limit
        for ordinal, ps in enumerate(reader):
            if ordinal < done:
                continue
            t = translate_set(self.settings, survey.apply(ordinal, ps), ordinal=ordinal, file_sha256=digest,
                              file_name=name)
            chunk.append(t)
            more = ordinal + 1 < survey.sets
            late = more and self._clock() > deadline
            if more and (len(chunk) >= CHUNK_DOCUMENTS or late):
                if not self._store_chunk(file_id, chunk, out, slim=slim):
                    return out
                chunk = []
                if ordinal + 1 - done in ANALYZE_AFTER:  # a big file doubles what the planner thinks is stored
                    self.store.refresh_statistics(*STATISTICS)
                if late:  # its time slice is up: the files behind it go first, the next poll carries on
                    out.unfinished = (ordinal + 1, survey.sets)
                    log.warning("file.time_slice_used", file=name, sets_done=ordinal + 1, sets=survey.sets,
                                seconds=limit, detail="the files behind it go first; the next poll carries on")
                    return out
        self._store_chunk(file_id, chunk, out, slim=slim, last=reader.result)
        return out

    @staticmethod
    def _file_for_update(s: Session, file_id: int, *, content: bool = False) -> ReceivedFile:
        """The file's row, locked until this unit of work commits: one translation of a file at a time
        (two ``qbedi poll --once`` at once, a poll beside ``qbedi run``). A no-op write takes the lock first:
        SQLite ignores FOR UPDATE and would let two processes read "not done yet" before either writes."""
        s.execute(update(ReceivedFile).where(ReceivedFile.id == file_id).values(attempts=ReceivedFile.attempts),
                  execution_options={"synchronize_session": False})
        return s.get(ReceivedFile, file_id, with_for_update=True, populate_existing=True,
                     options=[] if content else [defer(ReceivedFile.content)])

    def _recorded(self, file_id: int) -> int:
        with self.store.session() as s:
            return self._recorded_in(s, file_id)

    @staticmethod
    def _recorded_in(s: Session, file_id: int) -> int:
        """How many of the file's sets have their document: a file's documents are its sets 0, 1, ... in
        order, so one more than the last ordinal (one index look-up, however many the file has)."""
        last = s.scalar(select(func.max(Document.ordinal)).where(Document.file_id == file_id))
        return 0 if last is None else last + 1

    def _store_chunk(self, file_id: int, chunk: list[Translation], out: IngestOutcome, *, slim: bool,
                     last=None) -> bool:
        """Record one chunk of translated sets in one unit of work (and finish the file with the ``last``
        one). False when another process got there first (it carries on: this one stops)."""
        with self.store.session() as s:
            f = self._file_for_update(s, file_id)
            expected = chunk[0].ordinal if chunk else None
            if f.status not in (FileStatus.RECEIVED, FileStatus.FAILED) or (
                    expected is not None and self._recorded_in(s, file_id) != expected):
                out.duplicate = True
                return False
            before = len(out.documents)
            for t, doc in zip(chunk, self._record_chunk(s, f, chunk)):
                out.counts[doc.status] = out.counts.get(doc.status, 0) + 1
                if len(out.documents) < REPORTED_DOCUMENTS:
                    out.documents.append(DocOutcome(doc.id, t, doc.status))
            if last is not None:
                lifecycle.file_parsed(f)
                for w in last.warnings:
                    audit(s, "parse_warning", file=f, code=w.code, message=w.message)
                out.ack_id = self._owe_997(s, f, last)
        if slim:
            for d in out.documents[before:]:
                _slim(d.translation)
        return True

    def _parse(self, s: Session, f: ReceivedFile, out: IngestOutcome):
        """The survey of the file's envelopes (:func:`edi.survey`, reading the raw bytes as a stream), or
        None with the file's verdict recorded (nothing in it to translate)."""
        if not f.chunks and not f.content.strip():
            verdict, msg = FileVerdict.EMPTY, "the file is empty"
        else:
            try:
                survey = edi.survey(raw.open_file(self.store, f))
            except Exception as e:  # the parser promises not to raise; keep the file whatever happens
                log.exception("edi.parse_crashed", file=f.name, file_id=f.id)
                verdict, msg, survey = FileVerdict.PARSER_ERROR, f"internal parser error: {e!r}", None
            if survey is not None and survey.sets:
                return survey
            if survey is not None and not raw.contains(raw.open_file(self.store, f), b"ISA"):
                verdict, msg = FileVerdict.NOT_X12, "not an X12 file (no ISA segment): " + _looks_like(
                    raw.open_file(self.store, f).read(512))
            elif survey is not None:
                verdict = FileVerdict.UNREADABLE
                msg = "; ".join(i.message for i in survey.result.errors) or "no X12 transaction set found in the file"
        lifecycle.file_unreadable(s, f, verdict, msg)
        out.error = msg
        log.warning("file.unreadable", file=f.name, file_id=f.id, verdict=verdict, reason=msg)
        return None

    @staticmethod
    def _owe_997(s: Session, f: ReceivedFile, result) -> int | None:
        """Store the 997 owed to the partner for every functional group of the file (sent by the poll that
        fetched it, or a later one; the same interchange control number every time)."""
        from edi.ack import build_997

        try:
            text = build_997(result, control_number=f.id)
        except Exception:  # an ack we cannot build must not lose the file we already stored
            log.exception("ack.build_failed", file=f.name, file_id=f.id)
            return None
        if not text:
            return None
        content = text.encode("latin-1", "replace")
        del text  # (a big file's 997 is megabytes: one copy at a time)
        ack = OutboundAck(file_id=f.id, source=f.source, name=f"997_{f.id:08d}_{_safe(f.name)}",
                          connection=f.connection, content=content)
        s.add(ack)
        s.flush()
        return ack.id

    def ingest(self, data: bytes, *, source: str, remote_id: str, name: str) -> IngestOutcome:
        file_id, known = self.receive(data, source=source, remote_id=remote_id, name=name)
        out = self.process(file_id)
        out.duplicate = out.duplicate or known
        return out

    def _company_for(self, t: Translation) -> str:
        if t.supplier is not None:
            return self.settings.company_for(t.supplier)  # the configured spelling is the queue's key
        users = self.settings.web_connector.users
        return users[0].username if users else "default"

    def _record_chunk(self, s: Session, f: ReceivedFile, chunk: list[Translation]) -> list[Document]:
        """Record a chunk of ``f``'s translated sets, in order, as if one by one: each document is settled
        (duplicate check, match, queue or hold) seeing only those before it. The stored documents a chunk could
        duplicate are read in one query (:class:`_Taken`); an earlier document of the same chunk is found in it.

        Mostly the chunk is settled first, its ids given (:func:`connector.store.new_document_ids`), and then
        inserted once, as it ends (not inserted and then updated). When an invoice of the
        chunk is matched with purchase orders, whose look-ups read the chunk's earlier documents back from the
        database, the documents are inserted first and their changes written at the end."""
        if not chunk:
            return []
        rows = [self._new_document(f, t) for t in chunk]
        orders = _suppliers_with_orders(s, chunk)
        first = any(t.supplier_id in orders for t in chunk)  # (matching reads the chunk's earlier ones back)
        if first:
            by_ordinal = {d.ordinal: d for d in s.scalars(  # (one INSERT ... RETURNING; rows come in any order)
                insert(Document).returning(Document).options(defer(Document.parsed)), rows)}
            docs = [by_ordinal[t.ordinal] for t in chunk]
            _insert_po_references(s, docs, rows)  # (the match of a later one reads them)
        else:
            docs = [Document(id=i, status=DocStatus.RECEIVED, **row)
                    for i, row in zip(new_document_ids(s, len(rows)), rows)]
        taken = _Taken.read(s, docs, chunk)
        batch = lifecycle.Batch()
        for doc, t, row in zip(docs, chunk, rows):
            set_committed_value(doc, "requests", [])  # a new document has none (not read back per document)
            set_committed_value(doc, "parsed", row["parsed"])  # what was written (not read back and decoded)
            set_committed_value(doc, "file", f)
            self._record(s, f, doc, t, taken, match=t.supplier_id in orders, batch=batch, chunk=docs)
            taken.add(doc, t)
        if not first:  # (as they ended: before their requests and events, which name them)
            s.execute(insert(Document), [{k: v for k, v in vars(d).items() if k in _DOCUMENT_COLUMNS} for d in docs])
            _insert_po_references(s, docs, rows)
        lifecycle.write_batch(s, batch)
        later = [d for d in docs if d.ordinal >= REPORTED_DOCUMENTS]  # a big file's: one line a chunk for each kind
        for event, statuses in (("documents.queued", (DocStatus.QUEUED, DocStatus.AWAITING_APPROVAL)),
                                ("documents.held", (DocStatus.HELD, DocStatus.REJECTED))):
            quiet = [d for d in later if d.status in statuses]
            if quiet:
                counts = {st: sum(1 for d in quiet if d.status == st) for st in {d.status for d in quiet}}
                reasons = {} if event == "documents.queued" else {"reasons": {
                    code: sum(1 for d in quiet if d.reason_code == code) for code in {d.reason_code for d in quiet}}}
                log.info(event, file=f.name, documents=len(quiet), **counts, **reasons,
                         first=quiet[0].document_number, last=quiet[-1].document_number,
                         sets=f"{quiet[0].ordinal + 1}-{quiet[-1].ordinal + 1}")
        return docs

    @staticmethod
    def _new_document(f: ReceivedFile, t: Translation) -> dict:
        """The row of a new document (received, not translated yet: :func:`lifecycle.translated` is next)."""
        env, j = t.parsed.envelope, t.json
        return dict(
            file_id=f.id, ordinal=t.ordinal, transaction_set=env.transaction_set[:6], version=env.version[:20],
            interchange_control=env.interchange_control[:20], group_control=env.group_control[:20],
            set_control=env.set_control[:20], sender_id=(j.get("sender_id") or "")[:40], supplier_id=t.supplier_id,
            seller_id=((j.get("seller") or {}).get("id") or "").strip()[:80] or None,
            document_number=(j.get("document_number") or "")[:60], document_date=j.get("document_date"),
            total=j.get("total"), currency=(j.get("currency") or "USD")[:3], parsed=dict(j),
            segment_index=t.parsed.first_segment or None,
            set_place=list(t.parsed.place) if t.parsed.place else None,
        )

    def _record(self, s: Session, f: ReceivedFile, doc: Document, t: Translation, taken: _Taken, *,
                match: bool, batch: lifecycle.Batch, chunk: list[Document]) -> None:
        j = t.json
        lifecycle.translated(s, doc, batch=batch, status=t.status, transaction_set=doc.transaction_set,
                             document_number=doc.document_number, total=j.get("total"), supplier=t.supplier_id)
        if t.status == "ready":
            dup = self._duplicate_of(s, doc, t, taken.ids(doc, t), chunk)
            if dup is not None:
                t.hold(*dup)
                t.json = j = document_json(t, f.name)
                doc.parsed = dict(j)
        self._settle(s, doc, t, match=match, ingest=True, batch=batch)
        if t.holds and doc.ordinal < REPORTED_DOCUMENTS:  # (a big file's later ones: a line a chunk)
            log.info(f"document.{doc.status}", file=f.name, document=doc.document_number, set=doc.transaction_set,
                     reasons=[h.code for h in t.holds])

    def _settle(self, s: Session, doc: Document, t: Translation, *, match: bool = True, ingest: bool = False,
                batch: lifecycle.Batch | None = None, quiet: bool = False) -> None:
        """Queue a ready translation, or hold / reject the document with its reasons (``match``: an invoice
        is first matched with its purchase order and receipts; not when a person accepted its variance, nor
        when its supplier has no purchase order stored; ``ingest``: only documents stored before it count;
        ``quiet``: no log line for a queued one, one of many whose caller sums them up)."""
        if t.status == "ready" and match:
            for v in self._variances(s, doc, t, before=doc.id if ingest else None):
                t.hold(v.code, v.message)
            if t.holds:
                t.json = document_json(t, doc.file.name if doc.file is not None else "")
        if t.status == "ready":
            self._queue(s, doc, t, batch, quiet=quiet)
        else:
            lifecycle.hold(s, doc, [h.as_dict() for h in t.holds], rejected=t.status == "rejected", batch=batch)

    @staticmethod
    def _variances(s: Session, doc: Document, t: Translation, *, before: int | None = None) -> list:
        """An invoice against the purchase orders it names and what was received for them, as far as qbedi
        has them (connector.matching); ``before``: only documents stored before that id."""
        sup = t.supplier
        if doc.transaction_set != "810" or sup is None or not sup.three_way_match.enabled or not t.json \
                or t.json.get("credit"):
            return []  # (a credit bills nothing: no goods to match)
        numbers = sorted({(ln.get("po_number") or "").strip() for ln in t.json.get("lines") or []} - {""})
        if not numbers:
            return []
        orders, receipts, billed = (
            {n: [d.parsed or {} for d in docs] for n, docs in part.items()}
            for part in purchase_order_documents(s, t.supplier_id, numbers, exclude=doc.id, before=before))
        orders = {n: docs[-1] for n, docs in orders.items()}  # the latest change of a PO wins
        if not orders:
            return []
        return three_way(t.json, orders, receipts, billed,
                         price_tolerance_percent=sup.three_way_match.price_tolerance_percent,
                         quantity_tolerance_percent=sup.three_way_match.quantity_tolerance_percent)

    def _queue(self, s: Session, doc: Document, t: Translation, batch: lifecycle.Batch | None = None, *,
               quiet: bool = False) -> None:
        company = self._company_for(t)
        spec = t.spec
        lines = len(getattr(spec, "expense_lines", []) or []) + len(getattr(spec, "item_lines", []) or []) + \
            len(getattr(spec, "lines", []) or [])
        meta = RequestMeta(link_plan=t.link_plan) if t.link_plan else RequestMeta(mod_plan=t.mod_plan) \
            if t.mod_plan else RequestMeta(refs=t.references, bill_pos=_bill_pos(t))
        approval = not self._auto_post(t)
        rq = lifecycle.queue(s, doc, company=company, approval=approval, batch=batch, request_type=t.request_type,
                             qbxml=t.request_xml, ref_number=getattr(spec, "ref_number", "")[:40], vendor=getattr(spec, "vendor", "")[:100],
                             external_guid=t.external_guid, line_count=max(1, lines), meta=meta.to_json())
        if quiet or (batch is not None and doc.ordinal >= REPORTED_DOCUMENTS):
            return  # one of many (a big file's later ones, a release of all): their caller sums them up
        log.info("document.awaiting_approval" if approval else "document.queued", document=doc.document_number,
                 set=doc.transaction_set, company=company, request=rq.request_type, total=doc.parsed.get("total"))

    def _auto_post(self, t: Translation) -> bool:
        """Does this document go to QuickBooks without a person's approval? The supplier's ``auto_post``,
        else the global one."""
        own = t.supplier.auto_post if t.supplier is not None else None
        return self.settings.auto_post if own is None else own

    def _duplicate_of(self, s: Session, doc: Document, t: Translation, ids: list[int] | None = None,
                      chunk: list[Document] = ()) -> tuple[str, str] | None:
        """Is this document one that is (or may be) in QuickBooks already? Decided by what it is: the
        supplier, the transaction set and the document number; never by the interchange control number,
        which senders reuse and restart. The message names the earlier document, says where the two
        differ, and how to post a different document that reuses the number; one of another company (its
        supplier was moved since) only by that company: a clerk of this one reads this message, not the other's
        books."""
        if not doc.document_number or not t.supplier_id or (t.request_type or "").endswith("Mod"):
            return None  # (a change reuses its PO's number by design)
        if ids is None:  # (else the caller looked them up for a whole chunk)
            ids = _Taken.read(s, [doc], [t]).ids(doc, t)
        if not ids:
            return None
        other = next((d for d in chunk if d.id == min(ids)), None) or s.get(Document, min(ids))
        if other.company and other.company != self._company_for(t):
            return (Hold.DUPLICATE, f"{t.supplier_id} {doc.transaction_set} {doc.document_number} is already "
                                    f"{other.status} for company {other.company} (the supplier was moved since): "
                                    "not posted here as well; if it belongs here too, post it with " +
                                    _NOT_A_DUPLICATE.format(id=doc.id) + ", else dismiss it")
        where = f"document #{other.id}" + (f", QuickBooks {other.qb_txn_type or 'transaction'} {other.qb_txn_id}"
                                           if other.qb_txn_id else "")
        mine = {"date": (t.json or {}).get("document_date") or doc.document_date, "total": (t.json or {}).get("total")}
        theirs = {"date": other.document_date, "total": None if other.total is None else str(other.total)}
        differ = [f"{k} {mine[k]} here, {theirs[k]} there" for k in ("date", "total")
                  if mine[k] and theirs[k] and str(mine[k]) != str(theirs[k])]
        if not differ:
            return (Hold.DUPLICATE, f"{t.supplier_id} {doc.transaction_set} {doc.document_number} is already "
                                    f"{other.status} ({where}) with the same date and total: a copy, not posted "
                                    "again; nothing to do")
        return (Hold.DUPLICATE, f"{t.supplier_id} {doc.transaction_set} {doc.document_number} is already "
                                f"{other.status} ({where}), but {'; '.join(differ)}: if it is a different document "
                                "that reuses the number, post it with " + _NOT_A_DUPLICATE.format(id=doc.id) +
                                "; if it is a corrected copy, dismiss one of them")

    @staticmethod
    def _superseded(s: Session, doc: Document, t: Translation) -> tuple[str, str] | None:
        """A purchase order change released after a later change of the same PO went ahead."""
        if not t.mod_plan or not t.supplier_id:
            return None
        later = s.scalar(select(Document).where(
            Document.id > doc.id, Document.supplier_id == t.supplier_id, Document.transaction_set == "850",
            Document.document_number == doc.document_number, _taken()).order_by(Document.id.desc()).limit(1))
        if later is None:
            return None
        return (Hold.SUPERSEDED,
                f"purchase order {doc.document_number} was changed again by document #{later.id} (received later, "
                f"{later.status}); applying this older change now would undo it. Dismiss this document, or change "
                f"the purchase order in QuickBooks by hand")

    # ------------------------------------------------------------ sources
    def poll(self, source: Source, *, should_stop=lambda: False) -> PollReport:
        """One poll of ``source`` (:meth:`_poll`), unless a person paused it; its outcome goes in the sync
        history (:mod:`connector.control`)."""
        with self.store.session() as s:
            if control.is_paused(s, Scope.SOURCE, source.name):
                log.info("source.paused", source=source.name, detail="paused: nothing is fetched until resumed")
                return PollReport(source=source.name, paused=True)
        with poll_lease(self.store, source.name) as mine:
            if not mine:  # another process polls this source right now: it is that poll's to report
                log.info("source.polled_elsewhere", source=source.name,
                         detail="another qbedi process is polling this source; this poll leaves it to that one")
                return PollReport(source=source.name, elsewhere=True)
            report = self._poll(source, should_stop=should_stop)
        failed = bool(report.errors) and not report.fetched  # (nothing listed, or every file listed went wrong)
        control.record_event(
            self.store, Scope.SOURCE, source.name, Activity.POLL_FAILED if failed else Activity.POLL_OK,
            report.errors[0] if failed else (control.IDLE_POLL if not report.listed and not report.fetched else
                                             f"{report.listed} listed, {len(report.fetched)} fetched")
            + (f", {len(report.settling)} waiting for their writer to finish ({', '.join(report.settling[:5])}"
               f"{' ...' if len(report.settling) > 5 else ''})" if report.settling else "")
            + (f", {len(report.errors)} error(s): {report.errors[0]}" if report.errors else ""),
            listed=report.listed, fetched=len(report.fetched), errors=len(report.errors))
        return report

    def _poll(self, source: Source, *, should_stop=lambda: False) -> PollReport:
        """One poll: list -> fetch -> store (commit) -> acknowledge -> translate/queue.

        Files are handled one at a time, each step committed before the next; a
        file that fails is reported and the others go on; ``should_stop`` is
        checked between files (a clean shutdown leaves nothing half done).
        """
        report = PollReport(source=source.name)
        self.resume()  # stored by an earlier poll but not yet translated (crash, error)
        try:
            listing = iter(source.list_new())
        except SourceError as e:
            report.errors.append(str(e))
            log.warning("source.unavailable", source=source.name, error=str(e))
            return report
        report.acks_resent = self.retry_acks(source)  # 997s an earlier poll could not deliver
        while not should_stop():
            try:
                remote = next(listing)
            except StopIteration:
                break
            except SourceError as e:  # the rest of the listing is unavailable; what came before still counts
                report.errors.append(str(e))
                log.warning("source.unavailable", source=source.name, error=str(e), listed_so_far=report.listed)
                break
            report.listed += 1
            try:
                self._poll_one(source, remote, report)
            except FileGone:
                report.skipped += 1  # another poll took it: it is that poll's to report
            except SourceError as e:
                report.errors.append(f"{remote.name}: {e}")
                log.warning("source.fetch_failed", source=source.name, file=remote.name, error=str(e))
            except Exception as e:  # noqa: BLE001 - one bad file must not block the others
                report.errors.append(f"{remote.name}: {type(e).__name__}: {e}")
                log.exception("source.file_failed", source=source.name, file=remote.name)
        report.settling = list(getattr(source, "settling", None) or [])
        report.settling_why = dict(getattr(source, "settling_why", None) or {})
        return report

    def _poll_one(self, source: Source, remote: RemoteFile, report: PollReport) -> None:
        if getattr(source, "immutable_ids", False) and self._acknowledged(source.name, remote.remote_id):
            # the id names one file forever (Cleo message ids): no need to download it again
            report.skipped += 1
            source.acknowledge(remote)  # we stored it before but the consume did not reach the source
            return
        with raw.spool() as fetched:
            into = getattr(source, "fetch_into", None)  # a source that streams: a big file is never held whole
            if into is not None:
                into(remote, fetched)
            else:
                fetched.write(source.fetch(remote))
            fetched.seek(0)
            digest, size = raw.digest(fetched)
            if remote.size is not None and size != remote.size:
                raise SourceError(f"short download: announced {remote.size} bytes, got {size}; nothing stored")
            if self._acknowledged(source.name, remote.remote_id, digest):
                report.skipped += 1  # the very same file again (names are reused: only name + content count)
                source.acknowledge(remote)
                return
            file_id, known = self._keep(fetched, digest, size, source=source.name, remote_id=remote.remote_id,
                                        name=remote.name, connection=(remote.meta or {}).get("connection_alias"))
        source.acknowledge(remote)
        self._mark_acknowledged(source.name, remote.remote_id, file_id)
        out = self.process(file_id)
        out.duplicate = out.duplicate or known
        if out.ack_id is not None and self._deliver_ack(source, out.ack_id) is True:
            out.ack = f"997_{out.file_id:08d}_{_safe(out.name)}"
        report.fetched.append(out)

    def retry_acks(self, source: Source) -> int:
        """Send the 997s owed through this source (oldest first): those an earlier poll could not deliver,
        and those of files translated after a crash. Returns how many went out."""
        with self.store.session() as s:
            ids = list(s.scalars(select(OutboundAck.id).where(OutboundAck.source == source.name,
                                                              OutboundAck.state == AckState.PENDING)
                                 .order_by(OutboundAck.id)))
        sent = 0
        for ack_id in ids:
            done = self._deliver_ack(source, ack_id)
            if done is None:
                continue  # another process is sending this one, or it is kept (nowhere to send it)
            if not done:
                break  # the source refuses uploads or is out now: the rest waits for the next poll
            sent += 1
        return sent

    def _deliver_ack(self, source: Source, ack_id: int) -> bool | None:
        """Send one stored 997: True when the source took it, False when it did not (refused: a try
        counted, or an outage: no try counted), None when it is not this process's to send (another holds
        it, it is no longer pending) or it is kept (the source has nowhere to send 997s)."""
        with self.store.session() as s:
            ack = s.get(OutboundAck, ack_id, options=[defer(OutboundAck.content)])  # (read only to be sent)
            if ack.state != AckState.PENDING:
                return None
            if not getattr(source, "sends_acks", True):
                lifecycle.ack_kept(s, ack, f"source {source.name!r} has nowhere to send 997s (a folder source's "
                                           "outbox:, a Cleo source's upload_acks: true); kept: qbedi ack FILE "
                                           "writes it")
                return None
            if not lifecycle.claim_ack(s, ack, seconds=ACK_CLAIM_SECONDS):
                return None
            name, connection, payload = ack.name, ack.connection, ack.content
        try:
            self._upload_ack(source, name, connection, payload)
        except Exception as e:  # noqa: BLE001 - a 997 that fails must never stop the polls that follow
            self._ack_not_taken(ack_id, name, e)
            return False
        with self.store.session() as s:
            lifecycle.ack_sent(s, s.get(OutboundAck, ack_id), source=source.name)
        return True

    @staticmethod
    def _upload_ack(source: Source, name: str, connection: str | None, payload: bytes) -> None:
        upload_to = getattr(source, "upload_to", None)
        if connection and upload_to is not None and getattr(getattr(source, "settings", None), "upload_acks", False):
            upload_to(connection, name, payload)  # back to the partner connection the file came from
        else:
            source.upload(name, payload)

    def _ack_not_taken(self, ack_id: int, name: str, e: Exception) -> None:
        """An outage (the source unreachable, a folder share gone) costs no try; a refusal does."""
        outage = isinstance(e, (SourceUnavailable, OSError))
        if not isinstance(e, (SourceError, OSError)):
            log.exception("ack.upload_error", ack=name)
        with self.store.session() as s:
            ack = s.get(OutboundAck, ack_id)
            if outage:
                lifecycle.release_ack(ack)
                ack.last_error = f"source unavailable: {e}"
                log.warning("ack.source_unavailable", ack=name, error=str(e), detail="sent when the source is back")
            elif lifecycle.ack_failed(s, ack, str(e), max_attempts=ACK_MAX_ATTEMPTS):
                log.error("ack.abandoned", ack=name, attempts=ack.attempts, error=str(e))
            else:
                log.warning("ack.upload_failed", ack=name, attempt=ack.attempts, error=str(e),
                            detail="will be sent again on the next poll")

    def _acknowledged(self, source: str, remote_id: str, sha256: str | None = None) -> bool:
        with self.store.session() as s:
            q = select(func.count()).select_from(FileSighting).where(
                FileSighting.source == source, FileSighting.remote_id == remote_id,
                FileSighting.acknowledged_at.is_not(None))
            if sha256 is not None:
                q = q.where(FileSighting.sha256 == sha256)
            return s.scalar(q) > 0

    def _mark_acknowledged(self, source: str, remote_id: str, file_id: int) -> None:
        with self.store.session() as s:
            for sg in s.scalars(select(FileSighting).where(FileSighting.source == source,
                                                           FileSighting.remote_id == remote_id,
                                                           FileSighting.file_id == file_id)):
                sg.acknowledged_at = utcnow()

    def resume(self) -> list[IngestOutcome]:
        """Translate files stored but not yet processed (a crash between store and translate), and try
        again those whose translation raised (a bounded number of times)."""
        with self.store.session() as s:
            ids = list(s.scalars(select(ReceivedFile.id).where(
                (ReceivedFile.status == FileStatus.RECEIVED) |
                ((ReceivedFile.status == FileStatus.FAILED) & (ReceivedFile.attempts < MAX_PROCESS_ATTEMPTS)))
                .order_by(ReceivedFile.id)))
        return [self.process(i) for i in ids]

    # ------------------------------------------------------------ review
    def release(self, document_id: int, *, not_duplicate: str | None = None, accept_variance: str | None = None,
                receive_open: str | None = None, by: str = "", companies: tuple[str, ...] = ()) -> DocOutcome:
        """Translate a held document again with the current mappings (after an admin fixed them).

        ``not_duplicate``: a person's reason why a document held as ``duplicate_document`` is a different
        document that reuses the number; it then goes ahead without the duplicate check (audited).
        ``accept_variance``: a person's reason to post an invoice held for a price or quantity variance as it
        is (audited with the variances); it then goes ahead without the three-way match. ``receive_open``: a
        person's reason to receive what the purchase orders have open of a ship notice held for an over-shipment,
        the rest left out (audited; QuickBooks' open quantities are read again when it goes). ``companies``: a
        person who works for these companies only: ValueError, and nothing changed, when the current mapping
        would queue it for another one."""
        if not_duplicate is not None and not not_duplicate.strip():
            raise ValueError("say why it is not a duplicate (--reason)")
        if len(not_duplicate or accept_variance or receive_open or "") > MAX_REASON:
            raise ValueError(f"keep the reason under {MAX_REASON} characters")
        if accept_variance is not None and not accept_variance.strip():
            raise ValueError("say why the variance is accepted (--reason)")
        if receive_open is not None and not receive_open.strip():
            raise ValueError("say why only what is open is received (--reason)")
        self._live.current(now_please=True)  # an admin may have fixed the mapping a moment ago
        with self.store.session() as s:
            doc = _document(s, document_id)
            if not_duplicate is not None and doc.reason_code != Hold.DUPLICATE:
                raise ValueError(f"document #{document_id} is not held as a duplicate ({doc.reason_code or doc.status})")
            if accept_variance is not None and doc.reason_code not in (PRICE_VARIANCE, QUANTITY_VARIANCE):
                raise ValueError(f"document #{document_id} is not held for a price or quantity variance "
                                 f"({doc.reason_code or doc.status})")
            if receive_open is not None and doc.reason_code != Hold.OVER_RECEIPT:
                raise ValueError(f"document #{document_id} is not a ship notice held for shipping more than is open "
                                 f"({doc.reason_code or doc.status})")
            return self._release(s, doc, not_duplicate=not_duplicate, accept_variance=accept_variance,
                                 receive_open=receive_open, by=by, companies=companies)

    def _release(self, s: Session, doc: Document, *, not_duplicate: str | None = None,
                 accept_variance: str | None = None, receive_open: str | None = None, by: str = "",
                 orders: set[str] | None = None,
                 quiet: bool = False, kept: raw.KeptChunks | None = None, companies: tuple[str, ...] = ()) -> DocOutcome:
        """One document translated again in the unit of work ``s`` (:meth:`release`, :meth:`release_all`).
        ``orders``: the suppliers with a purchase order stored, when known (an invoice of another is not matched);
        ``quiet``: not logged when queued (:meth:`_settle`); ``kept``: its file's chunks read lately;
        ``companies``: see :meth:`release`."""
        lifecycle.release(s, doc, by=by)
        if not_duplicate is not None:
            audit(s, "duplicate_overridden", document=doc, reason=not_duplicate.strip(), by=by,
                  previous_reason=doc.reason)
        if accept_variance is not None:
            audit(s, "variance_accepted", document=doc, reason=accept_variance.strip(), by=by,
                  variances=doc.reason)
        if receive_open is not None:
            audit(s, "receive_open_chosen", document=doc, reason=receive_open.strip(), by=by, shipped=doc.reason)
        f = doc.file
        ps = _stored_set(s, f, doc, kept)
        t = translate_set(self.settings, ps, ordinal=doc.ordinal, file_sha256=f.sha256, file_name=f.name)
        if receive_open is not None and t.link_plan is not None:
            t.link_plan = replace(t.link_plan, open_only=True)
        if companies and t.status == "ready" and (to := self._company_for(t)) not in companies:
            raise ValueError(f"the mapping now sends document #{doc.id} to company {to}, not one of yours: someone who "
                             f"works for {to} releases it")
        if t.status == "ready":
            dup = (None if not_duplicate is not None else self._duplicate_of(s, doc, t)) or \
                self._superseded(s, doc, t)
            if dup:
                t.hold(*dup)
                t.json = document_json(t, f.name)
        doc.supplier_id = t.supplier_id
        doc.parsed = t.json
        self._settle(s, doc, t, match=accept_variance is None and (orders is None or t.supplier_id in orders),
                     quiet=quiet)
        return DocOutcome(doc.id, t, doc.status)

    def release_all(self, where: list, *, by: str = "", seconds: float | None = None, after: int = 0,
                    progress: Callable[[ReleaseReport], None] | None = None,
                    companies: tuple[str, ...] = ()) -> ReleaseReport:
        """Release every held or failed document that meets ``where`` (conditions on :class:`Document`: the
        review page's filters, :func:`connector.views.review_filter`), oldest first, as :meth:`release` does
        one: after an admin mapped a supplier whose big file came first, its thousands of held invoices.

        ``RELEASE_CHUNK`` documents to a unit of work, so a crash keeps the chunks done and running it again
        carries on. One released or dismissed meanwhile by someone else (another press, read once its chunk is
        locked) is counted as ``elsewhere``, not tried. A document that cannot be released (an error) leaves
        its chunk to be done again one document at a time: only that one stays as it was, and the report says
        why. Each document is tried once: one held again is not tried again in the same run (the ids ascend).
        ``seconds``: stop after the chunk that passes that long (the web page's request); ``left`` then
        counts the documents not tried yet, and a run ``after`` its ``last`` carries on with them (from the
        oldest again, the ones held again would use up every run's time). ``progress`` is called after each
        chunk. ``companies``: see :meth:`release` (one the mapping sends elsewhere is not released, and says why)."""
        self._live.current(now_please=True)  # an admin may have fixed the mapping a moment ago
        releasable = [Document.status.in_(lifecycle.RELEASABLE), *where]
        last = max(0, after)
        with self.store.session() as s:
            report = ReleaseReport(matched=s.scalar(select(func.count()).select_from(Document).where(
                *releasable, Document.id > last)))
        deadline = None if seconds is None else self._clock() + seconds
        kept = raw.KeptChunks()  # (a file's sets in a row: its chunks read once, not twice a set)
        while True:
            with self.store.session() as s:
                ids = list(s.scalars(select(Document.id).where(*releasable, Document.id > last)
                                     .order_by(Document.id).limit(RELEASE_CHUNK)))
            if not ids:
                break
            try:
                with self.store.session() as s:
                    _lock_documents(s, ids)  # (then read: what another press did meanwhile is seen)
                    docs = list(s.scalars(select(Document).where(*releasable, Document.id.in_(ids))
                                          .order_by(Document.id).options(selectinload(Document.requests))))
                    orders = set(s.scalars(select(Document.supplier_id).where(Document.transaction_set == "850")
                                           .distinct()))
                    outcomes = [self._release(s, doc, by=by, orders=orders, kept=kept, companies=companies,
                                              quiet=report.released + n >= REPORTED_DOCUMENTS)
                                for n, doc in enumerate(docs)]
                report.elsewhere += len(ids) - len(docs)
            except Exception:  # noqa: BLE001 - one document's problem must not stop the others: one at a time
                outcomes = [o for i in ids if (o := self._release_one(i, by, report, companies)) is not None]
            for o in outcomes:
                report.add(o)
            last = report.last = ids[-1]
            if progress is not None:
                progress(report)
            if deadline is not None and self._clock() > deadline:
                with self.store.session() as s:
                    report.left = s.scalar(select(func.count()).select_from(Document).where(
                        *releasable, Document.id > last))
                break
        log.info("documents.released", by=by, matched=report.matched, released=report.released,
                 **report.counts, not_released=report.not_released, elsewhere=report.elsewhere, left=report.left)
        return report

    def _release_one(self, document_id: int, by: str, report: ReleaseReport,
                     companies: tuple[str, ...] = ()) -> DocOutcome | None:
        try:
            with self.store.session() as s:
                doc = _document(s, document_id)
                if doc.status not in lifecycle.RELEASABLE:
                    report.elsewhere += 1
                    return None
                return self._release(s, doc, by=by, companies=companies)
        except (LookupError, ValueError) as e:
            report.fail(document_id, str(e))
        except Exception as e:  # noqa: BLE001 - kept as it was, reported, logged
            log.exception("document.release_failed", document_id=document_id)
            report.fail(document_id, f"{type(e).__name__}: {e}")
        return None

    def resync(self, document_id: int, *, by: str) -> None:
        """Post again a document whose transaction QuickBooks confirmed deleted (reconciliation flagged it
        ``qb_deleted``): its request joins the queue once more; the old TxnID stays in the audit trail."""
        with self.store.session() as s:
            doc = _document(s, document_id)
            done = next((r for r in reversed(doc.requests) if r.state == RqState.DONE and r.result_txn_id), None)
            if done is None:
                raise ValueError(f"document #{document_id} has no posted request to send again")
            lifecycle.resync(s, doc, done, by=by)
        log.info("document.resync", document_id=document_id, by=by)

    def retry_file(self, file_id: int, *, by: str = "") -> IngestOutcome:
        """A person asks for a file whose translation failed (and was given up after the automatic tries,
        or not yet) to be translated again now, e.g. after an upgrade fixed the bug. Audited with who."""
        with self.store.session() as s:
            f = s.get(ReceivedFile, file_id)
            if f is None:
                raise LookupError(f"no received file #{file_id}")
            if f.status != FileStatus.FAILED:
                raise ValueError(f"file #{file_id} is {f.reason_code if f.status == FileStatus.UNREADABLE else f.status}"
                                 "; only files whose translation failed are tried again")
            audit(s, "file_retry", file=f, by=by, attempts=f.attempts, previous_error=f.error)
        return self.process(file_id)

    def dismiss(self, document_id: int, reason: str, *, by: str = "") -> None:
        """Close a held/failed/rejected document without posting it (the reason stays in the audit trail)."""
        if not reason.strip():
            raise ValueError("say why the document is dismissed (--reason)")
        if len(reason) > MAX_REASON:
            raise ValueError(f"keep the reason under {MAX_REASON} characters (it is shown on every page of the document)")
        with self.store.session() as s:
            doc = _document(s, document_id)
            lifecycle.dismiss(s, doc, reason, by=by)

    def approve(self, document_id: int, *, by: str) -> None:
        """A person approves a document awaiting approval: it joins its company's queue."""
        with self.store.session() as s:
            doc = _document(s, document_id)
            lifecycle.approve(s, doc, by=by)
        log.info("document.approved", document_id=document_id, by=by)

    def reject(self, document_id: int, reason: str, *, by: str) -> None:
        """A person refuses a document awaiting approval: it never reaches QuickBooks (kept, with the reason)."""
        if not reason.strip():
            raise ValueError("say why the document is rejected (--reason)")
        if len(reason) > MAX_REASON:
            raise ValueError(f"keep the reason under {MAX_REASON} characters (it is shown on every page of the document)")
        with self.store.session() as s:
            doc = _document(s, document_id)
            lifecycle.reject(s, doc, reason.strip(), by=by)
        log.info("document.rejected", document_id=document_id, by=by)


def _stored_set(s: Session, f: ReceivedFile, doc: Document, kept: raw.KeptChunks | None = None) -> edi.ParsedSet:
    """``doc``'s set of its stored file as a whole-file parse leaves it (a GE/IEA fault after it applied).
    With its ``set_place`` only its ISA, its GS and the set are read: a document stored with a place was
    surveyed at ingest, and one a GE/IEA fault reaches was rejected then, never released. Without one, the
    file is read as a stream: envelopes first, then sets up to it."""
    ps = raw.placed_set(lambda start: raw.open_in(s, f, start, kept=kept), doc)
    if ps is not None:
        return ps
    ordinal = doc.ordinal  # (no place, or not the set that was kept there: read the file)
    survey = edi.survey(raw.open_in(s, f))
    for n, ps in enumerate(edi.EdiReader(raw.open_in(s, f), parse_only=ordinal)):  # (the sets before: not parsed)
        if n == ordinal:
            return survey.apply(n, ps)
    raise LookupError(f"file #{f.id} has no set #{ordinal}")


def _slim(t: Translation) -> None:
    """Keep what a poll's report shows of a stored document (status, holds, number), not its parse tree,
    qbXML or lines: a big file's outcome then costs little per document."""
    t.parsed = edi.ParsedSet(envelope=t.parsed.envelope, document=None)
    t.spec = t.request_xml = t.qbxml = None
    t.link_plan = t.mod_plan = None
    t.references = ()
    t.json = {k: v for k, v in t.json.items() if k not in ("lines", "charges", "qbxml", "notes")}


_MAGIC = ((b"%PDF", "a PDF"), (b"PK\x03\x04", "a zip archive (e.g. a spreadsheet)"), (b"\xd0\xcf\x11\xe0", "an Office file"),
          (b"<?xml", "an XML file"), (b"{", "JSON"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8", "a JPEG image"))


def _lock_documents(s: Session, ids: list[int]) -> None:
    """The documents' rows locked until this unit of work ends, before they are read: a no-op write takes the
    lock (SQLite ignores FOR UPDATE; as :meth:`IngestService._file_for_update`). Two presses of Release (or
    Resync) at once, by two clerks or a double click, then queue a document once: the second reads it queued,
    and is refused."""
    s.execute(update(Document).where(Document.id.in_(ids)).values(status=Document.status),
              execution_options={"synchronize_session": False})


def _document(s: Session, document_id: int) -> Document:
    """The document a person acts on, its row locked until this unit of work ends (:func:`_lock_documents`: two
    people acting on it at once act one after the other), or LookupError saying there is none."""
    _lock_documents(s, [document_id])
    doc = s.get(Document, document_id)
    if doc is None:
        raise LookupError(f"no document #{document_id}")
    return doc


def _looks_like(data: bytes) -> str:
    head = data.lstrip()[:8]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"it looks like {what}"
    text = sum(32 <= b < 127 or b in (9, 10, 13) for b in data[:512])
    return "it is text" if text >= 0.95 * len(data[:512]) else "it is binary data"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]


@dataclass
class Page:
    """Rows of a listing and how many there are in all (a listing never cuts rows off without saying)."""

    rows: list[dict]
    total: int
    limit: int | None
    offset: int = 0

    @property
    def complete(self) -> bool:
        return self.offset == 0 and len(self.rows) == self.total


def _page(s: Session, q, count_q, convert, limit: int | None, offset: int) -> Page:
    total = s.scalar(count_q)
    q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return Page([convert(x) for x in s.scalars(q)], total, limit, offset)


def document_page(store: Store, *, status: str | None = None, where: list = (), limit: int | None = 200,
                  offset: int = 0) -> Page:
    """Documents, oldest first (``status``: one of :class:`DocStatus`; ValueError names them otherwise; ``where``:
    more conditions on :class:`Document`, e.g. a company's, :func:`connector.views.scope`)."""
    if status and status not in set(DocStatus):
        raise ValueError(f"no document status {status!r}; the statuses are: {', '.join(DocStatus)}")
    with store.session() as s:
        q = select(Document).where(*where).order_by(Document.id).options(
            selectinload(Document.file).load_only(ReceivedFile.id, ReceivedFile.name))
        n = select(func.count()).select_from(Document).where(*where)
        if status:
            q, n = q.where(Document.status == status), n.where(Document.status == status)
        return _page(s, q, n, _row, limit, offset)


def document_rows(store: Store, *, status: str | None = None, limit: int | None = 200) -> list[dict]:
    return document_page(store, status=status, limit=limit).rows


def file_page(store: Store, *, verdict: str | None = None, limit: int | None = 200, offset: int = 0) -> Page:
    """Every received file with its verdict: ``parsed`` (with its documents), a :class:`FileVerdict`
    (empty, not_x12, ...) or ``failed``; ``verdict`` filters on either."""
    with store.session() as s:
        q, n = select(ReceivedFile).order_by(ReceivedFile.id), select(func.count()).select_from(ReceivedFile)
        if verdict:
            cond = (ReceivedFile.status == verdict) | (ReceivedFile.reason_code == verdict)
            q, n = q.where(cond), n.where(cond)
        page = _page(s, q.options(defer(ReceivedFile.content)), n, _file_row, limit, offset)
        shown = file_documents(s, [r["id"] for r in page.rows])
        for r in page.rows:
            docs, r["document_count"] = shown[r["id"]]
            r["documents"] = [{"id": d.id, "transaction_set": d.transaction_set, "document_number": d.document_number,
                               "status": d.status} for d in docs]
        return page


FILE_DOCUMENTS_SHOWN = 20  # a file's documents a listing of files names (a 100 MB file holds 60,000 invoices)


def file_documents(s: Session, file_ids: list[int], *, first: int = FILE_DOCUMENTS_SHOWN) -> dict[int, tuple]:
    """For each file: (its first ``first`` documents in the file's order, how many it holds), read on the
    (file_id, ordinal) index: never all of a big file's documents for one line of a listing."""
    counts = dict(s.execute(select(Document.file_id, func.count()).where(Document.file_id.in_(file_ids))
                            .group_by(Document.file_id)).all()) if file_ids else {}
    cols = (Document.id, Document.transaction_set, Document.document_number, Document.status, Document.reason_code)
    return {fid: (s.execute(select(*cols).where(Document.file_id == fid).order_by(Document.ordinal, Document.id)
                            .limit(first)).all() if counts.get(fid) else [], counts.get(fid, 0))
            for fid in file_ids}


def file_counts(store: Store) -> dict[str, int]:
    """Received files by verdict (``parsed``, ``empty``, ``not_x12``, ..., ``failed``, ``received``)."""
    with store.session() as s:
        rows = s.execute(select(ReceivedFile.status, ReceivedFile.reason_code, func.count())
                         .group_by(ReceivedFile.status, ReceivedFile.reason_code)).all()
    out: dict[str, int] = {}
    for status, code, n in rows:
        key = status if status in (FileStatus.PARSED, FileStatus.RECEIVED, FileStatus.FAILED) else (code or status)
        out[key] = out.get(key, 0) + n
    return out


def _file_row(f: ReceivedFile) -> dict:
    verdict = f.reason_code if f.status == FileStatus.UNREADABLE else f.status
    return {"id": f.id, "name": f.name, "source": f.source, "size": f.size, "sha256": f.sha256,
            "received_at": f.received_at.isoformat() if isinstance(f.received_at, datetime) else None,
            "verdict": verdict, "reason": f.error, "attempts": f.attempts}


def _row(d: Document) -> dict:
    return {"id": d.id, "file": d.file.name, "transaction_set": d.transaction_set, "supplier": d.supplier_id,
            "sender": d.sender_id, "seller_id": d.seller_id, "document_number": d.document_number, "total": None if d.total is None else str(d.total),
            "status": d.status, "reason_code": d.reason_code, "reason": d.reason, "company": d.company,
            "qb_txn_type": d.qb_txn_type, "qb_txn_id": d.qb_txn_id,
            "posted_at": d.posted_at.isoformat() if isinstance(d.posted_at, datetime) else None}
