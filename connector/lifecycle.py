"""Every change of state of a file, a document, a QuickBooks request or a 997.

The one module that assigns ``status`` / ``state``. Each function below is one
transition: it checks that the change is legal (:class:`IllegalTransition`
otherwise: a bug, never a user error), makes it, and writes its audit event in
the caller's unit of work (``Store.session()``), so the state and the trail
that explains it commit together or not at all.

Request and document move together where a request belongs to a document::

    request   queued -> sent -> done                 document  queued -> sent -> posted
                 \\        \\-> unknown (answer lost) -> queued (verified absent) | done (verified present)
                  \\-> held | failed | cancelled                 held | failed

A bill too big for one round trip goes in parts: each part but the last takes its request (and
document) from ``sent`` (or ``unknown``, found in QuickBooks) back to ``queued`` (:func:`part_posted`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

import structlog
from sqlalchemy import insert, update
from sqlalchemy.orm import Session, defer

from .plans import RequestMeta
from .status import AckState, DocStatus, FileStatus, RqState
from .store import AuditEvent, Document, OutboundAck, QueuedRequest, ReceivedFile, audit, audit_row, utcnow

log = structlog.get_logger(__name__)

D, R = DocStatus, RqState

DOC_NEXT: Mapping[str, frozenset[str]] = {
    D.RECEIVED: frozenset({D.TRANSLATED}),
    D.TRANSLATED: frozenset({D.QUEUED, D.AWAITING_APPROVAL, D.HELD, D.REJECTED}),
    D.AWAITING_APPROVAL: frozenset({D.QUEUED, D.REJECTED}),  # approve, reject
    D.QUEUED: frozenset({D.QUEUED, D.SENT, D.HELD, D.FAILED}),
    D.SENT: frozenset({D.SENT, D.QUEUED, D.POSTED, D.HELD, D.FAILED}),
    D.HELD: frozenset({D.QUEUED, D.AWAITING_APPROVAL, D.HELD, D.REJECTED, D.DISMISSED}),  # release, dismiss
    D.FAILED: frozenset({D.QUEUED, D.AWAITING_APPROVAL, D.HELD, D.REJECTED, D.DISMISSED}),
    D.REJECTED: frozenset({D.DISMISSED}),
    D.POSTED: frozenset({D.QUEUED}),  # re-sync: only once QuickBooks confirmed the transaction is gone
    D.DISMISSED: frozenset(),
}
RQ_NEXT: Mapping[str, frozenset[str]] = {
    R.AWAITING: frozenset({R.QUEUED, R.CANCELLED}),  # its document approved, rejected
    R.QUEUED: frozenset({R.SENT, R.HELD, R.FAILED, R.CANCELLED}),
    R.SENT: frozenset({R.DONE, R.QUEUED, R.UNKNOWN, R.HELD, R.FAILED}),
    R.UNKNOWN: frozenset({R.UNKNOWN, R.QUEUED, R.DONE, R.HELD}),
    R.HELD: frozenset({R.CANCELLED}),
    R.FAILED: frozenset({R.CANCELLED}),
    R.DONE: frozenset(),
    R.CANCELLED: frozenset(),
}
FILE_NEXT: Mapping[str, frozenset[str]] = {
    FileStatus.RECEIVED: frozenset({FileStatus.PARSED, FileStatus.UNREADABLE, FileStatus.FAILED}),
    FileStatus.FAILED: frozenset({FileStatus.PARSED, FileStatus.UNREADABLE, FileStatus.FAILED}),  # retried
    FileStatus.PARSED: frozenset(),
    FileStatus.UNREADABLE: frozenset(),
}
ACK_NEXT: Mapping[str, frozenset[str]] = {
    AckState.PENDING: frozenset({AckState.PENDING, AckState.SENT, AckState.ABANDONED, AckState.KEPT}),
    AckState.SENT: frozenset(),
    AckState.ABANDONED: frozenset(),
    AckState.KEPT: frozenset(),
}

RELEASABLE = (D.HELD, D.FAILED)
DISMISSABLE = (D.HELD, D.FAILED, D.REJECTED)


class IllegalTransition(ValueError):
    """A change of state the lifecycle does not allow (a bug in the caller)."""


def _check(table: Mapping[str, frozenset[str]], what: str, ident, old: str, new: str) -> None:
    if new not in table.get(old, frozenset()):
        raise IllegalTransition(f"{what} #{ident}: {old} -> {new} is not a legal transition")


def _doc_to(doc: Document, new: DocStatus) -> None:
    _check(DOC_NEXT, "document", doc.id, doc.status, new)
    doc.status = new


def _rq_to(rq: QueuedRequest, new: RqState) -> None:
    _check(RQ_NEXT, "request", rq.id, rq.state, new)
    rq.state = new


def set_meta(rq: QueuedRequest, meta: RequestMeta) -> None:
    """Write a request's working data back (not a change of state)."""
    rq.meta = meta.to_json()


# ---------------------------------------------------------------- files

def file_parsed(f: ReceivedFile) -> None:
    _check(FILE_NEXT, "file", f.id, f.status, FileStatus.PARSED)
    f.status = FileStatus.PARSED


def file_unreadable(s: Session, f: ReceivedFile, verdict: str, error: str) -> None:
    """No document can come of it (empty, not X12, ...): kept, with the verdict and the reason."""
    _check(FILE_NEXT, "file", f.id, f.status, FileStatus.UNREADABLE)
    f.status, f.reason_code, f.error = FileStatus.UNREADABLE, verdict, error
    audit(s, "file_unreadable", file=f, verdict=verdict, error=error)


def file_failed(s: Session, f: ReceivedFile, error: str, *, retry: bool) -> None:
    """Translating it raised (a bug, or a database that went away): visible at once, with the error;
    ``retry``: the next polls try it again."""
    _check(FILE_NEXT, "file", f.id, f.status, FileStatus.FAILED)
    f.status, f.reason_code, f.error = FileStatus.FAILED, "translate_error", error
    f.attempts = (f.attempts or 0) + 1
    audit(s, "file_failed", file=f, error=error, attempt=f.attempts,
          message="will be tried again on the next poll" if retry else "given up: a developer should look at it")


# ---------------------------------------------------------------- documents: ingest and review

@dataclass
class Batch:
    """Many documents' ingest in one unit of work, written together by :func:`write_batch`: the requests
    :func:`queue` made (inserted in one statement) and every audit event of the batch, in the order the
    transitions happened (one more statement). Used by the ingest of a chunk of a file; everything else
    writes one document at a time."""

    requests: list[tuple[Document, QueuedRequest]] = field(default_factory=list)
    events: list[tuple[str, Document, object]] = field(default_factory=list)  # (kind, document, detail or request)


def _event(s: Session, batch: Batch | None, kind: str, doc: Document, detail: dict) -> None:
    if batch is None:
        audit(s, kind, document=doc, **detail)
    else:
        batch.events.append((kind, doc, detail))


def translated(s: Session, doc: Document, *, batch: Batch | None = None, **detail) -> None:
    """A new document (already added and flushed) has been translated."""
    _doc_to(doc, D.TRANSLATED)
    _event(s, batch, "translated", doc, detail)


def hold(s: Session, doc: Document, holds: list[dict], *, rejected: bool = False, batch: Batch | None = None) -> None:
    """Translation (or a duplicate check) says a person must look at it: held, or rejected for good."""
    _doc_to(doc, D.REJECTED if rejected else D.HELD)
    doc.reason_code, doc.reason = holds[0]["code"], "; ".join(h["message"] for h in holds)
    _event(s, batch, doc.status, doc, {"holds": holds})


def queue(s: Session, doc: Document, *, company: str, approval: bool = False, batch: Batch | None = None,
          **request) -> QueuedRequest:
    """The document goes to QuickBooks: one queued request for ``company``'s Web Connector.

    ``approval`` (``auto_post: false``): the request is built but kept back (``awaiting``) and the
    document waits in ``awaiting_approval`` until a person approves it (:func:`approve`).
    ``batch``: the request is inserted with the batch's others by :func:`write_batch` (called before the
    unit of work ends); what is returned is then a record of the row (its ``id`` set once written), not an
    object the session tracks."""
    _doc_to(doc, D.AWAITING_APPROVAL if approval else D.QUEUED)
    doc.company, doc.reason_code, doc.reason = company, None, None
    carried = _bill_in_parts(doc, request)
    if carried is not None:  # part of its bill is in QuickBooks already: go on with that bill, never a second
        request["meta"] = replace(RequestMeta.from_json(request.get("meta")), parts=carried).to_json()
    rq = QueuedRequest(document_id=doc.id, company=company, state=R.AWAITING if approval else R.QUEUED, **request)
    if batch is not None:
        batch.requests.append((doc, rq))
        batch.events.append((_queued_kind(rq), doc, rq))
        return rq
    s.add(rq)
    s.flush()  # (its id, for the audit event)
    audit(s, _queued_kind(rq), document=doc, **_queued_detail(doc, rq))
    return rq


def _queued_kind(rq: QueuedRequest) -> str:
    return "awaiting_approval" if rq.state == R.AWAITING else "queued"


def _queued_detail(doc: Document, rq: QueuedRequest) -> dict:
    return dict(request_id=rq.id, request_type=rq.request_type, company=rq.company,
                amount=(doc.parsed or {}).get("total"), external_guid=rq.external_guid)


def write_batch(s: Session, batch: Batch) -> None:
    """Write what a :class:`Batch` holds: its requests (one INSERT ... RETURNING, ids matched by
    document), then its audit events in the order their transitions happened (ids ascending in that
    order). The documents' own changes are flushed first. The batch is emptied."""
    s.flush()
    groups: dict[tuple[str, ...], list[QueuedRequest]] = {}  # (requests given the same columns: one statement)
    for _, rq in batch.requests:
        groups.setdefault(tuple(k for k in vars(rq) if not k.startswith("_")), []).append(rq)
    for keys, rqs in groups.items():
        rows = [{k: getattr(rq, k) for k in keys} for rq in rqs]
        by_document = {rq.document_id: rq for rq in rqs}
        if len(by_document) == len(rqs) and None not in by_document:  # (one request a document: any order)
            for rq_id, document_id in s.execute(
                    insert(QueuedRequest).returning(QueuedRequest.id, QueuedRequest.document_id), rows):
                by_document[document_id].id = rq_id
        else:
            ids = s.scalars(insert(QueuedRequest).returning(QueuedRequest.id, sort_by_parameter_order=True),
                            rows).all()
            for rq, rq_id in zip(rqs, ids):
                rq.id = rq_id
    rows = [audit_row(kind, _queued_detail(doc, what) if isinstance(what, QueuedRequest) else what, document=doc)
            for kind, doc, what in batch.events]
    if rows:
        s.execute(insert(AuditEvent), rows)  # (executemany: rows inserted in list order)
    batch.requests.clear()
    batch.events.clear()


def _bill_in_parts(doc: Document, request: dict):
    """The parts of a bill an earlier request of ``doc`` left in QuickBooks (held or failed between two
    parts), for a new request of the same bill to go on with (its EditSequence and lines read again
    first); None when there is none."""
    if request.get("request_type") != "BillAdd":
        return None
    last = next((old for old in reversed(doc.requests) if old.state in (R.HELD, R.FAILED)), None)
    parts = RequestMeta.from_json(last.meta).parts if last is not None else None  # the latest word only
    if parts is not None and parts.txn_id:
        return replace(parts, sending=0, reread=True, released=True)
    return None


def _is_now(s: Session, doc: Document) -> str:
    """"document #N is STATUS", and, when a person made it so, who and when: two clerks on one document, the
    second reads what the first just did."""
    from sqlalchemy import select

    recent = s.scalars(select(AuditEvent).where(AuditEvent.document_id == doc.id).order_by(AuditEvent.id.desc())
                       .limit(8))  # (a person's act is followed by what it led to: "released", then "queued")
    last = next((e for e in recent if (e.detail or {}).get("by")), None)
    by = last.detail["by"] if last is not None else None
    said = f"document #{doc.id} is {str(doc.status).replace('_', ' ')}"
    if by:
        said += f" ({last.kind.replace('_', ' ')} by {by} at {last.at:%Y-%m-%d %H:%M} UTC)"
    return said


def approve(s: Session, doc: Document, *, by: str) -> None:
    """A person approves a document awaiting approval: its request joins the queue (who and when audited)."""
    if doc.status != D.AWAITING_APPROVAL:
        raise ValueError(f"{_is_now(s, doc)}; only documents awaiting approval are approved")
    for rq in doc.requests:
        if rq.state == R.AWAITING:
            _rq_to(rq, R.QUEUED)
    _doc_to(doc, D.QUEUED)
    audit(s, "approved", document=doc, by=by, amount=(doc.parsed or {}).get("total"))


def reject(s: Session, doc: Document, reason: str, *, by: str) -> None:
    """A person refuses a document awaiting approval: nothing of it reaches QuickBooks (kept, with the reason)."""
    if doc.status != D.AWAITING_APPROVAL:
        raise ValueError(f"{_is_now(s, doc)}; only documents awaiting approval are rejected")
    for rq in doc.requests:
        if rq.state == R.AWAITING:
            _rq_to(rq, R.CANCELLED)
    _doc_to(doc, D.REJECTED)
    doc.reason_code, doc.reason = "rejected_by_reviewer", reason
    audit(s, "rejected_by_reviewer", document=doc, by=by, reason=reason)


def release(s: Session, doc: Document, *, by: str = "") -> None:
    """A person (``by``) asks for a held or failed document to be translated again (what follows is
    :func:`queue` or :func:`hold`)."""
    if doc.status not in RELEASABLE:
        raise ValueError(f"{_is_now(s, doc)}; only held or failed documents are released")
    audit(s, "released", document=doc, previous_status=doc.status, previous_reason=doc.reason, by=by)


def dismiss(s: Session, doc: Document, reason: str, *, by: str = "") -> None:
    """A person closes a document without posting it; what it still had queued is cancelled."""
    if doc.status not in DISMISSABLE:
        raise ValueError(f"{_is_now(s, doc)}; only held, failed or rejected documents can be dismissed")
    for rq in doc.requests:
        if rq.state in (R.QUEUED, R.HELD, R.FAILED):
            _rq_to(rq, R.CANCELLED)
    audit(s, "dismissed", document=doc, previous_status=doc.status, previous_reason=doc.reason, reason=reason, by=by)
    _doc_to(doc, D.DISMISSED)
    doc.reason_code, doc.reason = "dismissed", reason


# ---------------------------------------------------------------- posted documents: reconciliation

QB_DELETED, QB_CHANGED = "qb_deleted", "qb_changed"


def flag_posted(s: Session, doc: Document, code: str, message: str, **detail) -> None:
    """Reconciliation found a posted document's transaction deleted (``qb_deleted``) or changed
    (``qb_changed``) in QuickBooks: it stays posted, flagged for a person, with the evidence audited."""
    if doc.status != D.POSTED:
        raise IllegalTransition(f"document #{doc.id} is {doc.status}: only posted documents are reconciled")
    if doc.reason_code == code and doc.reason == message:
        return
    doc.reason_code, doc.reason = code, message
    audit(s, f"reconcile_{code.removeprefix('qb_')}", document=doc, message=message, **detail)


def unflag_posted(s: Session, doc: Document, **detail) -> None:
    """The transaction is in QuickBooks again as posted (restored, or changed back)."""
    if doc.status == D.POSTED and doc.reason_code in (QB_DELETED, QB_CHANGED):
        audit(s, "reconcile_ok", document=doc, previous_reason=doc.reason, **detail)
        doc.reason_code, doc.reason = None, None


def resync(s: Session, doc: Document, done: QueuedRequest, *, by: str) -> QueuedRequest:
    """A person posts again a document whose transaction QuickBooks confirmed deleted: a new request with
    the same qbXML joins the queue (the old TxnID stays in the audit trail)."""
    if doc.status != D.POSTED or doc.reason_code != QB_DELETED:
        raise ValueError(f"document #{doc.id} is {doc.status}" + (f" ({doc.reason_code})" if doc.reason_code else "")
                         + "; only posted documents whose transaction QuickBooks no longer has are posted again")
    audit(s, "resync", document=doc, by=by, previous_txn_id=doc.qb_txn_id, previous_amount=doc.qb_amount)
    _doc_to(doc, D.QUEUED)
    doc.reason_code, doc.reason, doc.qb_txn_id, doc.qb_txn_type, doc.qb_amount, doc.posted_at = (None,) * 6
    rq = QueuedRequest(document_id=doc.id, company=done.company, state=R.QUEUED, request_type=done.request_type,
                       qbxml=done.qbxml, ref_number=done.ref_number, vendor=done.vendor,
                       external_guid=done.external_guid, line_count=done.line_count,
                       meta=RequestMeta.from_json(done.meta).to_json() if done.meta else None)
    s.add(rq)
    s.flush()
    audit(s, "queued", document=doc, request_id=rq.id, request_type=rq.request_type, company=rq.company,
          amount=(doc.parsed or {}).get("total"), external_guid=rq.external_guid)
    return rq


# ---------------------------------------------------------------- requests: delivery

def hold_request(s: Session, rq: QueuedRequest, code: str, message: str, **detail) -> None:
    """Delivery cannot decide (a missing vendor, an ambiguous PO, a lost answer): a person does."""
    _rq_to(rq, R.HELD)
    doc = rq.document
    if doc is not None:
        _doc_to(doc, D.HELD)
        doc.reason_code, doc.reason = code, message
        audit(s, "held", document=doc, request_id=rq.id, holds=[{"code": code, "message": message}], **detail)
    log.warning("document.held", document=getattr(doc, "document_number", None), code=code, reason=message)


def fail_request(s: Session, rq: QueuedRequest, code: int | None, message: str) -> None:
    """QuickBooks (or the schema) refused it for good."""
    _rq_to(rq, R.FAILED)
    rq.status_code, rq.status_message = code, message
    doc = rq.document
    if doc is not None:
        _doc_to(doc, D.FAILED)
        doc.reason_code = f"qb_{code}" if code is not None else "qb_error"
        doc.reason = message
        audit(s, "failed", document=doc, request_id=rq.id, status_code=code, message=message)
    log.warning("document.failed", document=getattr(doc, "document_number", None), status_code=code, reason=message)


def retry(s: Session, rq: QueuedRequest, meta: RequestMeta, kind: str, **detail) -> None:
    """An answered request goes back to the queue (a transient error, a stale EditSequence)."""
    _rq_to(rq, R.QUEUED)
    set_meta(rq, meta)
    if rq.document is not None:
        _doc_to(rq.document, D.QUEUED)
    audit(s, kind, document=rq.document, request_id=rq.id, **detail)


def resend(s: Session, rq: QueuedRequest, meta: RequestMeta | None, kind: str, message: str) -> None:
    """A request whose answer was lost goes back to the queue: QuickBooks does not have it
    (``verified_absent``), it is a change that is re-read and re-applied (``reread``), or QuickBooks
    refused the whole message set unread (``requeued``)."""
    _rq_to(rq, R.QUEUED)
    if meta is not None:
        set_meta(rq, meta)
    audit(s, kind, document=rq.document, request_id=rq.id, message=message)


def part_posted(s: Session, rq: QueuedRequest, meta: RequestMeta, **detail) -> None:
    """QuickBooks has one more part of a bill sent in parts (``meta.parts`` says how far it is): the
    request goes back to the queue for the next part, with its tries counted afresh."""
    _rq_to(rq, R.QUEUED)
    set_meta(rq, meta)
    rq.attempts, rq.status_code, rq.status_message = 0, None, None
    if rq.document is not None and rq.document.status != D.QUEUED:
        _doc_to(rq.document, D.QUEUED)
    audit(s, "posted_part", document=rq.document, request_id=rq.id, **detail)


def answer_lost(s: Session, rq: QueuedRequest, why: str) -> None:
    """Sent, and no answer came back: verified in QuickBooks before anything is sent again."""
    _rq_to(rq, R.UNKNOWN)
    audit(s, "answer_lost", document=rq.document, request_id=rq.id, message=why)


def mark_sent(s: Session, rows: list[QueuedRequest], batch_id: str, ticket: str) -> None:
    """``sent`` for a whole batch in three statements, committed before the qbXML leaves.

    ``rows`` are queued requests loaded in this unit of work (documents with ``status``)."""
    if not rows:
        return
    for rq in rows:
        _check(RQ_NEXT, "request", rq.id, rq.state, R.SENT)
        if rq.document is not None:
            _check(DOC_NEXT, "document", rq.document_id, rq.document.status, D.SENT)
    now = utcnow()
    no_sync = {"synchronize_session": False}  # these rows are not touched again in this unit of work
    s.execute(update(QueuedRequest).where(QueuedRequest.id.in_([r.id for r in rows])).values(
        state=R.SENT, attempts=QueuedRequest.attempts + 1, batch_id=batch_id, sent_at=now, updated_at=now),
        execution_options=no_sync)
    docs = [r for r in rows if r.document_id is not None]
    if docs:
        s.execute(update(Document).where(Document.id.in_([r.document_id for r in docs])).values(
            status=D.SENT, updated_at=now), execution_options=no_sync)
        s.execute(insert(AuditEvent), [
            {"kind": "sent", "document_id": r.document_id, "file_id": r.document.file_id, "at": now,
             "detail": {"request_id": r.id, "attempt": r.attempts + 1, "batch": batch_id, "ticket": ticket}}
            for r in docs])


@dataclass
class Postings:
    """Requests QuickBooks has recorded, written in bulk when the answer is applied: one UPDATE per
    table and one multi-row INSERT of audit events for a batch of ~40 answers."""

    requests: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def posted(self, rq: QueuedRequest, *, txn_id: str, txn_type: str, amount: Decimal | None,
               detail: dict, notes: Iterable[tuple[str, dict]] = ()) -> None:
        """Request done; its document posted with QuickBooks' TxnID and amount; ``posted`` audited
        with ``detail``, then each of ``notes`` (kind, detail)."""
        _check(RQ_NEXT, "request", rq.id, rq.state, R.DONE)
        now = utcnow()
        self.requests.append({"id": rq.id, "state": R.DONE, "result_txn_id": txn_id, "status_code": 0,
                              "updated_at": now})
        doc = rq.document
        if doc is None:
            return
        _check(DOC_NEXT, "document", doc.id, doc.status, D.POSTED)
        self.documents.append({"id": doc.id, "status": D.POSTED, "qb_txn_id": txn_id, "qb_txn_type": txn_type,
                               "qb_amount": amount, "posted_at": now, "reason_code": None, "reason": None,
                               "updated_at": now})
        for kind, d in (("posted", detail), *notes):
            self.events.append({**audit_row(kind, d, document=doc), "at": now})

    def write(self, s: Session) -> None:
        s.flush()  # what the unit of work holds (e.g. a verified_present audit) comes first in the trail
        if self.requests:
            s.execute(update(QueuedRequest), self.requests)
        if self.documents:
            s.execute(update(Document), self.documents)
        if self.events:
            s.execute(insert(AuditEvent), self.events)
        self.requests, self.documents, self.events = [], [], []


# ---------------------------------------------------------------- 997s

def claim_ack(s: Session, ack: OutboundAck, *, seconds: int) -> bool:
    """Take a pending 997 for sending, for ``seconds`` at most: one process at a time sends it (a claim
    left by a crashed process runs out). False when it is not pending or another process holds it."""
    now = utcnow()
    taken = s.execute(update(OutboundAck).where(
        OutboundAck.id == ack.id, OutboundAck.state == AckState.PENDING,
        OutboundAck.claimed_until.is_(None) | (OutboundAck.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=seconds)), execution_options={"synchronize_session": False})
    return taken.rowcount == 1


def release_ack(ack: OutboundAck) -> None:
    ack.claimed_until = None


def ack_sent(s: Session, ack: OutboundAck, *, source: str) -> None:
    """The source took it. (Already sent: another process sent it too after this one's claim ran out;
    nothing more to record.)"""
    if ack.state == AckState.SENT:
        log.warning("ack.sent_twice", ack=ack.name, detail="another process sent it after this one's claim ran out")
        return
    _check(ACK_NEXT, "997", ack.id, ack.state, AckState.SENT)
    ack.state, ack.sent_at, ack.attempts = AckState.SENT, utcnow(), ack.attempts + 1
    ack.claimed_until = None
    audit(s, "ack_sent", file=s.get(ReceivedFile, ack.file_id), name=ack.name, source=source, attempt=ack.attempts)


def ack_kept(s: Session, ack: OutboundAck, why: str) -> None:
    """The source cannot send 997s: the acknowledgment is kept (never recorded as sent)."""
    _check(ACK_NEXT, "997", ack.id, ack.state, AckState.KEPT)
    ack.state = AckState.KEPT
    audit(s, "ack_kept", file=s.get(ReceivedFile, ack.file_id, options=[defer(ReceivedFile.content)]),
          name=ack.name, message=why)


def ack_failed(s: Session, ack: OutboundAck, error: str, *, max_attempts: int) -> bool:
    """The source refused the 997: tried again on the next poll, or given up after ``max_attempts``.
    Returns True when it was given up."""
    if ack.state != AckState.PENDING:  # another process settled it meanwhile
        return ack.state == AckState.ABANDONED
    ack.attempts += 1
    ack.last_error = error
    ack.claimed_until = None
    f = s.get(ReceivedFile, ack.file_id)
    if ack.attempts >= max_attempts:
        _check(ACK_NEXT, "997", ack.id, ack.state, AckState.ABANDONED)
        ack.state = AckState.ABANDONED
        audit(s, "ack_abandoned", file=f, name=ack.name, attempts=ack.attempts, error=error,
              message="the source refused this 997 every time; send it to the partner by hand (qbedi ack FILE "
                      "writes it)")
        return True
    audit(s, "ack_failed", file=f, name=ack.name, attempt=ack.attempts, error=error,
          message="will be sent again on the next poll")
    return False

