"""Service layer: receive a file, keep it, translate it, queue it; review held work.

Every step commits before the next one starts, so a crash between any two
steps loses nothing: the raw bytes are stored first (and a source is told
"consumed" only after that commit), translation reads them back, and the same
bytes arriving again are recognised by their sha256.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import edi

from . import lifecycle
from .plans import RequestMeta
from .settings import Settings
from .sources import RemoteFile, Source, SourceError
from .status import MAYBE_IN_QUICKBOOKS, AckState, DocStatus, FileStatus, Hold
from .store import Document, FileSighting, OutboundAck, ReceivedFile, Store, audit, utcnow
from .translate import Translation, document_json, sha256_of, translate_set

log = structlog.get_logger(__name__)

ACK_MAX_ATTEMPTS = 50  # a 997 the source refused this many polls in a row is given up (audited, in `qbedi status`)


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
    documents: list[DocOutcome] = field(default_factory=list)
    error: str | None = None
    result: object = field(default=None, repr=False)  # the edi ParseResult (in memory only)
    ack: str | None = None  # name of the 997 sent back, if any


@dataclass
class PollReport:
    source: str
    listed: int = 0
    fetched: list[IngestOutcome] = field(default_factory=list)
    skipped: int = 0  # seen before (same source, id and hash)
    errors: list[str] = field(default_factory=list)
    acks_resent: int = 0  # 997s from earlier polls delivered this time


def _taken():
    """Documents whose transaction is (or may be) in QuickBooks: queued, sent, posted; closed by a person
    (dismissed: e.g. entered by hand); or held because its answer was lost and it may already be there."""
    return (Document.status.in_((DocStatus.QUEUED, DocStatus.SENT, DocStatus.POSTED, DocStatus.DISMISSED)) |
            ((Document.status == DocStatus.HELD) & Document.reason_code.in_(MAYBE_IN_QUICKBOOKS)))


class IngestService:
    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    # ------------------------------------------------------------ receive
    def receive(self, data: bytes, *, source: str, remote_id: str, name: str) -> tuple[int, bool]:
        """Store the raw bytes (committed). Returns (file id, already known)."""
        try:
            return self._receive(data, source=source, remote_id=remote_id, name=name)
        except IntegrityError:  # the same bytes stored at this very moment by another poll: it is known
            return self._receive(data, source=source, remote_id=remote_id, name=name)

    def _receive(self, data: bytes, *, source: str, remote_id: str, name: str) -> tuple[int, bool]:
        digest = sha256_of(data)
        with self.store.session() as s:
            existing = s.scalar(select(ReceivedFile).where(ReceivedFile.sha256 == digest))
            if existing is not None:
                self._sighting(s, existing, source, remote_id)
                audit(s, "duplicate_file", file=existing, source=source, remote_id=remote_id, name=name,
                      message="the same bytes were received before; nothing new is queued")
                log.info("file.duplicate", file=name, source=source, file_id=existing.id, sha256=digest[:12])
                return existing.id, True
            f = ReceivedFile(sha256=digest, source=source, remote_id=remote_id, name=name, size=len(data),
                             content=data)
            s.add(f)
            s.flush()
            self._sighting(s, f, source, remote_id)
            audit(s, "file_received", file=f, source=source, remote_id=remote_id, name=name, size=len(data),
                  sha256=digest)
            if self.settings.raw_dir:
                raw = self.settings.resolve(self.settings.raw_dir)
                raw.mkdir(parents=True, exist_ok=True)
                (raw / f"{f.id:08d}-{digest[:12]}-{_safe(name)}").write_bytes(data)
            log.info("file.received", file=name, source=source, file_id=f.id, size=len(data))
            return f.id, False

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
        """Parse + translate + queue a stored file whose documents are not created yet."""
        with self.store.session() as s:
            f = s.get(ReceivedFile, file_id)
            out = IngestOutcome(file_id=f.id, name=f.name, sha256=f.sha256)
            if f.documents or f.status != FileStatus.RECEIVED:
                out.duplicate = True
                return out
            try:
                result = edi.parse_bytes(f.content)
            except Exception as e:  # the parser promises not to raise; keep the file whatever happens
                log.exception("edi.parse_crashed", file=f.name, file_id=f.id)
                lifecycle.file_unreadable(s, f, f"internal parser error: {e!r}")
                out.error = f.error
                return out
            if not result.sets:
                msg = "; ".join(i.message for i in result.errors) or "no X12 transaction set found in the file"
                lifecycle.file_unreadable(s, f, msg)
                out.error = msg
                log.warning("file.unreadable", file=f.name, file_id=f.id, reason=msg)
                return out
            lifecycle.file_parsed(f)
            out.result = result
            for w in result.warnings:
                audit(s, "parse_warning", file=f, code=w.code, message=w.message)
            for ordinal, ps in enumerate(result.sets):
                t = translate_set(self.settings, ps, ordinal=ordinal, file_sha256=f.sha256, file_name=f.name)
                doc = self._record(s, f, t)
                out.documents.append(DocOutcome(doc.id, t, doc.status))
            return out

    def ingest(self, data: bytes, *, source: str, remote_id: str, name: str) -> IngestOutcome:
        file_id, known = self.receive(data, source=source, remote_id=remote_id, name=name)
        out = self.process(file_id)
        out.duplicate = out.duplicate or known
        return out

    def _company_for(self, t: Translation) -> str:
        if t.supplier is not None and t.supplier.company:
            user = self.settings.user(t.supplier.company)  # the configured spelling is the queue's key
            return user.username if user is not None else t.supplier.company
        users = self.settings.web_connector.users
        return users[0].username if users else "default"

    def _record(self, s: Session, f: ReceivedFile, t: Translation) -> Document:
        env, j = t.parsed.envelope, t.json
        doc = Document(
            file_id=f.id, ordinal=t.ordinal, transaction_set=env.transaction_set[:6], version=env.version[:20],
            interchange_control=env.interchange_control[:20], group_control=env.group_control[:20],
            set_control=env.set_control[:20], sender_id=(j.get("sender_id") or "")[:40], supplier_id=t.supplier_id,
            document_number=(j.get("document_number") or "")[:60], document_date=j.get("document_date"),
            total=j.get("total"), currency=(j.get("currency") or "USD")[:3], parsed=dict(j),
        )
        s.add(doc)
        s.flush()
        lifecycle.translated(s, doc, status=t.status, transaction_set=env.transaction_set,
                             document_number=doc.document_number, total=j.get("total"), supplier=t.supplier_id)
        if t.status == "ready":
            dup = self._duplicate_of(s, doc, t)
            if dup is not None:
                t.hold(*dup)
                t.json = j = document_json(t, f.name)
        self._settle(s, doc, t)
        if t.holds:
            log.info(f"document.{doc.status}", file=f.name, document=doc.document_number, set=doc.transaction_set,
                     reasons=[h.code for h in t.holds])
        doc.parsed = dict(j)
        return doc

    def _settle(self, s: Session, doc: Document, t: Translation) -> None:
        """Queue a ready translation, or hold / reject the document with its reasons."""
        if t.status == "ready":
            self._queue(s, doc, t)
        else:
            lifecycle.hold(s, doc, [h.as_dict() for h in t.holds], rejected=t.status == "rejected")

    def _queue(self, s: Session, doc: Document, t: Translation) -> None:
        company = self._company_for(t)
        spec = t.spec
        lines = len(getattr(spec, "expense_lines", []) or []) + len(getattr(spec, "item_lines", []) or []) + \
            len(getattr(spec, "lines", []) or [])
        meta = RequestMeta(link_plan=t.link_plan) if t.link_plan else RequestMeta(mod_plan=t.mod_plan) \
            if t.mod_plan else RequestMeta(refs=t.references)
        rq = lifecycle.queue(s, doc, company=company, request_type=t.request_type, qbxml=t.request_xml,
                             ref_number=getattr(spec, "ref_number", "")[:40], vendor=getattr(spec, "vendor", "")[:100],
                             external_guid=t.external_guid, line_count=max(1, lines), meta=meta.to_json())
        log.info("document.queued", document=doc.document_number, set=doc.transaction_set, company=company,
                 request=rq.request_type, total=doc.parsed.get("total"))

    @staticmethod
    def _duplicate_of(s: Session, doc: Document, t: Translation) -> tuple[str, str] | None:
        if not doc.document_number or not t.supplier_id:
            return None
        live = (DocStatus.QUEUED, DocStatus.SENT, DocStatus.POSTED)
        is_change = (t.request_type or "").endswith("Mod")  # a change reuses its PO's number by design
        same_supplier = (Document.supplier_id == t.supplier_id) | (  # or an earlier copy not yet mapped
            Document.supplier_id.is_(None) & (Document.sender_id == doc.sender_id))
        other = None if is_change else s.scalar(select(Document).where(
            Document.id != doc.id, same_supplier,
            Document.transaction_set == doc.transaction_set, Document.document_number == doc.document_number,
            _taken()).limit(1))
        if other is not None:
            return (Hold.DUPLICATE,
                    f"{t.supplier_id} {doc.transaction_set} {doc.document_number} is already {other.status} "
                    f"(document #{other.id}{', QuickBooks ' + other.qb_txn_id if other.qb_txn_id else ''})")
        if doc.interchange_control:
            same_isa = s.scalar(select(Document).where(
                Document.id != doc.id, Document.file_id != doc.file_id, Document.sender_id == doc.sender_id,
                Document.interchange_control == doc.interchange_control,
                Document.status.in_(live)).limit(1))
            if same_isa is not None:
                return (Hold.DUPLICATE,
                        f"interchange {doc.interchange_control} from {doc.sender_id} was already received in "
                        f"file #{same_isa.file_id}; a resent interchange is not posted twice")
        return None

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
            except SourceError as e:
                report.errors.append(f"{remote.name}: {e}")
                log.warning("source.fetch_failed", source=source.name, file=remote.name, error=str(e))
            except Exception as e:  # noqa: BLE001 - one bad file must not block the others
                report.errors.append(f"{remote.name}: {type(e).__name__}: {e}")
                log.exception("source.file_failed", source=source.name, file=remote.name)
        return report

    def _poll_one(self, source: Source, remote: RemoteFile, report: PollReport) -> None:
        if getattr(source, "immutable_ids", False) and self._acknowledged(source.name, remote.remote_id):
            # the id names one file forever (Cleo message ids): no need to download it again
            report.skipped += 1
            source.acknowledge(remote)  # we stored it before but the consume did not reach the source
            return
        data = source.fetch(remote)
        if remote.size is not None and len(data) != remote.size:
            raise SourceError(f"short download: announced {remote.size} bytes, got {len(data)}; nothing stored")
        if self._acknowledged(source.name, remote.remote_id, sha256_of(data)):
            report.skipped += 1  # the very same file again (names are reused: only name + content count)
            source.acknowledge(remote)
            return
        file_id, known = self.receive(data, source=source.name, remote_id=remote.remote_id, name=remote.name)
        source.acknowledge(remote)
        self._mark_acknowledged(source.name, remote.remote_id, file_id)
        out = self.process(file_id)
        out.duplicate = out.duplicate or known
        if not out.duplicate and out.result is not None:
            self._acknowledge_functional_groups(source, out, remote)
        report.fetched.append(out)

    def _acknowledge_functional_groups(self, source: Source, out: IngestOutcome, remote: RemoteFile) -> None:
        """Owe the partner a 997 for every functional group of the file, and try to send it now.

        The 997 is stored first (``outbound_ack``): one the source does not take now is sent again on
        the next polls, with the same interchange control number, so a partner that got it twice
        sees the same acknowledgment."""
        from edi.ack import build_997

        try:
            text = build_997(out.result, control_number=out.file_id)
        except Exception:  # an ack we cannot build must not lose the file we already stored
            log.exception("ack.build_failed", file=out.name, file_id=out.file_id)
            return
        if not text:
            return
        name = f"997_{out.file_id:08d}_{_safe(out.name)}"
        with self.store.session() as s:
            ack = OutboundAck(file_id=out.file_id, source=source.name, name=name,
                              connection=(remote.meta or {}).get("connection_alias"),
                              content=text.encode("latin-1", "replace"))
            s.add(ack)
            s.flush()
            ack_id = ack.id
            if not getattr(source, "sends_acks", True):
                lifecycle.ack_kept(s, ack, f"source {source.name!r} has nowhere to send 997s (a folder source's "
                                           "outbox:, a Cleo source's upload_acks: true); kept: qbedi ack FILE "
                                           "writes it")
                return
        if self._send_ack(source, ack_id):
            out.ack = name

    def retry_acks(self, source: Source) -> int:
        """Send the 997s an earlier poll could not deliver (oldest first); returns how many went out."""
        with self.store.session() as s:
            ids = list(s.scalars(select(OutboundAck.id).where(OutboundAck.source == source.name,
                                                              OutboundAck.state == AckState.PENDING)
                                 .order_by(OutboundAck.id)))
        sent = 0
        for ack_id in ids:
            if not self._send_ack(source, ack_id):
                break  # the source refuses uploads now: the rest waits for the next poll
            sent += 1
        return sent

    def _send_ack(self, source: Source, ack_id: int) -> bool:
        with self.store.session() as s:
            ack = s.get(OutboundAck, ack_id)
            name, connection, payload = ack.name, ack.connection, ack.content
        upload_to = getattr(source, "upload_to", None)
        try:
            if connection and upload_to is not None and getattr(getattr(source, "settings", None), "upload_acks", False):
                upload_to(connection, name, payload)  # back to the partner connection the file came from
            else:
                source.upload(name, payload)
        except Exception as e:  # noqa: BLE001 - a 997 that fails must never stop the polls that follow
            if not isinstance(e, (SourceError, OSError)):  # OSError: a folder outbox on a share that went away
                log.exception("ack.upload_error", ack=name)
            with self.store.session() as s:
                ack = s.get(OutboundAck, ack_id)
                if lifecycle.ack_failed(s, ack, str(e), max_attempts=ACK_MAX_ATTEMPTS):
                    log.error("ack.abandoned", ack=name, attempts=ack.attempts, error=str(e))
                else:
                    log.warning("ack.upload_failed", ack=name, attempt=ack.attempts, error=str(e),
                                detail="will be sent again on the next poll")
            return False
        with self.store.session() as s:
            lifecycle.ack_sent(s, s.get(OutboundAck, ack_id), source=source.name)
        return True

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
        """Translate files stored but not yet processed (a crash between store and translate)."""
        with self.store.session() as s:
            ids = list(s.scalars(select(ReceivedFile.id).where(ReceivedFile.status == "received")))
        return [self.process(i) for i in ids]

    # ------------------------------------------------------------ review
    def release(self, document_id: int) -> DocOutcome:
        """Translate a held document again with the current mappings (after an admin fixed them)."""
        with self.store.session() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise LookupError(f"no document #{document_id}")
            lifecycle.release(s, doc)
            f = doc.file
            result = edi.parse_bytes(f.content)
            ps = result.sets[doc.ordinal]
            t = translate_set(self.settings, ps, ordinal=doc.ordinal, file_sha256=f.sha256, file_name=f.name)
            if t.status == "ready":
                dup = self._duplicate_of(s, doc, t) or self._superseded(s, doc, t)
                if dup:
                    t.hold(*dup)
                    t.json = document_json(t, f.name)
            doc.supplier_id = t.supplier_id
            doc.parsed = t.json
            self._settle(s, doc, t)
            return DocOutcome(doc.id, t, doc.status)


    def dismiss(self, document_id: int, reason: str, *, by: str = "") -> None:
        """Close a held/failed/rejected document without posting it (the reason stays in the audit trail)."""
        if not reason.strip():
            raise ValueError("say why the document is dismissed (--reason)")
        with self.store.session() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise LookupError(f"no document #{document_id}")
            lifecycle.dismiss(s, doc, reason, by=by)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]


def document_rows(store: Store, *, status: str | None = None, limit: int = 200) -> list[dict]:
    with store.session() as s:
        q = select(Document).order_by(Document.id)
        if status:
            q = q.where(Document.status == status)
        return [_row(d) for d in s.scalars(q.limit(limit))]


def _row(d: Document) -> dict:
    return {"id": d.id, "file": d.file.name, "transaction_set": d.transaction_set, "supplier": d.supplier_id,
            "document_number": d.document_number, "total": None if d.total is None else str(d.total),
            "status": d.status, "reason_code": d.reason_code, "reason": d.reason, "company": d.company,
            "qb_txn_type": d.qb_txn_type, "qb_txn_id": d.qb_txn_id,
            "posted_at": d.posted_at.isoformat() if isinstance(d.posted_at, datetime) else None}
