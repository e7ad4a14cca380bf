"""Read models for people: what the AP web page (and anything else that shows state) reads.

Invariants:

- Read only: nothing here changes a row (state changes are :mod:`connector.lifecycle`'s, actions are the
  services' and :mod:`connector.control`'s).
- Every listing is a :class:`~connector.services.Page` of at most ``limit`` rows (a listing never cuts rows
  off without saying how many there are in all), newest first, and filters on indexed columns first
  (``edi_document.status``, ``qb_request (company, state)``, ``audit_event.document_id``,
  ``sync_event (scope, name, id)``): a page costs the same with 100,000 documents in the store as with 100
  (``bench/web.py``).
- Values are plain dicts of str / int / None (what a template or ``--json`` prints); the raw file's bytes are
  loaded only for one document's page (:func:`document_detail`).
"""
from __future__ import annotations

import itertools
import re
from decimal import Decimal
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import BinaryIO, Callable
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from . import control
from . import raw as raw_file
from .delivery import why_waiting
from .lifecycle import RELEASABLE
from .plans import RequestMeta
from .services import Page, file_documents
from .settings import Settings
from .status import Activity, DocStatus, FileStatus, FileVerdict, RqState, Scope
from .store import (CompanyState, Document, NotificationState, QueuedRequest, ReceivedFile, SourceState, Store,
                    audit_trail)

MAX_PAGE = 200  # rows a listing shows at most, whatever is asked
RAW_SEGMENTS = 5000  # segments of a raw file shown at most (the whole file stays in the store)
REVIEW = (DocStatus.HELD, DocStatus.FAILED)  # what the "held and failed" page lists by default
REVIEWABLE = (DocStatus.HELD, DocStatus.FAILED, DocStatus.REJECTED)  # may be filtered on there
# a company's requests on their way to its QuickBooks (the dashboard's Queue column): a held or failed one is an
# old attempt (its document is on the held list, and a release makes a new request), so not counted there
OPEN_REQUEST = (RqState.AWAITING, RqState.QUEUED, RqState.SENT, RqState.UNKNOWN)
ERRORS = (Activity.POLL_FAILED, Activity.SESSION_ERROR)
# a received file's verdicts, as the files listing filters on them
VERDICTS = (FileStatus.PARSED, *FileVerdict, FileStatus.FAILED, FileStatus.RECEIVED)

# what a person does about each reason code, in words (README: "Reviewing held documents")
ADVICE = {
    "unknown_supplier": "No supplier mapping matches the sender. An admin adds the supplier (its ids are in the "
                        "message) to the suppliers file; then press Release (or, on the list filtered by that supplier, "
                        "Release all: every document it had held).",
    "price_variance": "The invoice charges more than the purchase order (both prices are in the reason). Ask the "
                      "supplier for a corrected invoice and dismiss this one, or, if the price is right, accept the "
                      "variance with a reason.",
    "quantity_variance": "The invoice bills more than was received (or ordered): the numbers are in the reason. "
                         "Wait for the rest to arrive and press Release, ask for a corrected invoice, or accept the "
                         "variance with a reason.",
    "supplier_archived": "The supplier is archived in the mapping. If it supplies again, an admin removes "
                         "archived: true and you press Release; otherwise dismiss the document with a reason.",
    "unmapped_line": "A line (marked below) has no QuickBooks account or item. An admin adds a line rule, a "
                     "default_account or a charge_accounts entry for this supplier; then press Release.",
    "total_mismatch": "The lines and charges do not add up to the invoice total. Ask the supplier for a corrected "
                      "invoice (then dismiss this one), or an admin raises the supplier's total_tolerance and you "
                      "press Release.",
    "duplicate_document": "The same supplier already sent a document with this number (the message names it). Same "
                          "date and total: it is a copy, dismiss it. A different document that reuses the number: "
                          "use 'Not a duplicate' with a reason.",
    "unsupported_currency": "The invoice is not in the supplier's currency. An admin sets the supplier's currency, "
                            "or enter it in QuickBooks by hand and dismiss it here.",
    "missing_segment": "The file is incomplete. Ask the supplier to send it again, then dismiss this one.",
    "invalid_value": "The file holds a value that cannot be read. Ask the supplier to send it again, then dismiss "
                     "this one.",
    "qb_invalid_reference": "QuickBooks does not know a vendor, account, class or item this document names. Create "
                            "it in QuickBooks (or an admin fixes the mapping), then press Release.",
    "qb_missing_reference": "QuickBooks does not know a vendor, account, class or item this document names. Create "
                            "it in QuickBooks (or an admin fixes the mapping), then press Release.",
    "over_receipt": "The ship notice is for more than the purchase order has open (both numbers are in the reason); "
                    "nothing was received. If the order was raised in QuickBooks to take the extra, press Release. "
                    "If the supplier sent too much, press Receive what is open (the rest stays out of QuickBooks, "
                    "noted on this page), or ask for a corrected ship notice and dismiss this one.",
    "unknown_po": "QuickBooks has no purchase order with this number. Check it, then release or dismiss.",
    "ambiguous_po": "Several purchase orders in QuickBooks match. Check them, then release or dismiss.",
    "edit_conflict": "The purchase order kept changing in QuickBooks while qbedi tried to change it. Check it, then "
                     "press Release.",
    "too_big": "The invoice is so long that QuickBooks cannot finish its bill within one Web Connector round trip "
               "per part (the reason says how many lines are in QuickBooks already). An admin raises "
               "web_connector.batch_budget_seconds (and the Web Connector's timeout); then press Release and the "
               "rest goes to the same bill. Or finish the bill by hand in QuickBooks and dismiss this.",
    "partial_bill": "The first lines of this invoice are in QuickBooks as one bill (its TxnID is in the reason); the "
                    "rest could not be added. Fix what the reason names and press Release: the rest goes to the same "
                    "bill. Or delete that bill in QuickBooks and press Release: the whole invoice is posted again as "
                    "a new bill. Or finish the bill by hand in QuickBooks and dismiss this (the bill stays there).",
    "bill_deleted": "Someone deleted, in QuickBooks, the bill this invoice was being added to. Press Release to post "
                    "the whole invoice again as a new bill, or dismiss this.",
    "superseded": "A newer change to the same purchase order was already applied. Dismiss this one (applying it "
                  "would undo the newer change).",
    "unit_mismatch": "A line comes in a unit QuickBooks does not count the item in. An admin says how many one "
                     "holds on the line rule (units:), then press Release.",
    "unverifiable": "QuickBooks' answer was lost and qbedi could not check whether the bill is there. Look for it in "
                    "QuickBooks: there, dismiss this; not there, press Release.",
    "no_answer": "QuickBooks' answer was lost. Look for the transaction in QuickBooks: there, dismiss this; not "
                 "there, press Release.",
    "qb_error": "QuickBooks refused the document (its message is above). Fix the cause in QuickBooks or the "
                "mapping, then press Release; or dismiss it.",
    "envelope_error": "The file's envelope is broken. Ask the supplier to send it again.",
    "unsupported_transaction": "qbedi does not post this kind of document; nothing to do.",
    "rejected_by_reviewer": "A person refused it at approval; it never reached QuickBooks.",
}
NO_ADVICE = "Read the reason above; fix the cause, then press Release, or dismiss the document with a reason."

STATE_WORDS = {"running": "running", "paused": "paused", "failing": "failing", "new": "not started yet"}
# a company's requests by state, in words (the dashboard's Queue column)
REQUEST_WORDS = {RqState.AWAITING: "awaiting approval", RqState.QUEUED: "queued", RqState.SENT: "sent, answer awaited",
                 RqState.UNKNOWN: "answer lost, checked in QuickBooks at the next session"}


def advice(reason_code: str | None) -> str:
    return ADVICE.get(reason_code or "", NO_ADVICE)


def _iso(v: datetime | None) -> str | None:
    return v.isoformat(sep=" ", timespec="seconds") if isinstance(v, datetime) else None


def _limit(limit: int | None) -> int:
    return max(1, min(MAX_PAGE, int(limit or 50)))


# ---------------------------------------------------------------- counts on every page

def nav_counts(store: Store, *, within: list = ()) -> dict[str, int]:
    """Documents waiting for a person: held, failed, awaiting approval (index-only counts; ``within``: of a
    person's companies, :func:`scope`)."""
    wanted = (DocStatus.HELD, DocStatus.FAILED, DocStatus.AWAITING_APPROVAL)
    with store.session() as s:
        rows = dict(s.execute(select(Document.status, func.count()).where(Document.status.in_(wanted), *within)
                              .group_by(Document.status)).all())
    return {str(k): int(rows.get(k, 0)) for k in wanted}


# ---------------------------------------------------------------- dashboard

@dataclass
class Dashboard:
    companies: list[dict]
    sources: list[dict]
    documents: dict[str, int]  # by status
    held_reasons: list[dict]  # [{reason_code, count}] of held + failed documents
    waiting: list[str]  # in words, per company
    errors: list[dict]  # recent errors, newest first (the history, not only the last one)
    activity: list[dict]  # recent history, newest first


def _company_names(settings: Settings, states: dict[str, CompanyState]) -> list[str]:
    names = [u.username for u in settings.web_connector.users]
    return names + sorted(n for n in states if n not in names)


def companies(store: Store, settings: Settings) -> list[dict]:
    """Each Web Connector company: state (running / paused / failing / new), last session and its outcome,
    requests by state, and its last error."""
    pauses = control.pauses(store)
    with store.session() as s:
        states = {c.company: c for c in s.scalars(select(CompanyState))}
        info = {c: (cs.info or {}) for c, cs in states.items()}
        names = _company_names(settings, states)
        depth: dict[str, dict[str, int]] = {}
        for name in names:  # one index range (company, state) per company: the done rows are never read
            depth[name] = dict(s.execute(select(QueuedRequest.state, func.count()).where(
                QueuedRequest.company == name, QueuedRequest.state.in_(OPEN_REQUEST))
                .group_by(QueuedRequest.state)).all())
    out = []
    for name in names:
        cs = states.get(name)
        sessions = control.history(store, scope=Scope.COMPANY, name=name,
                                   kinds=(Activity.SESSION_OK, Activity.SESSION_ERROR), limit=1)
        last_error = control.history(store, scope=Scope.COMPANY, name=name, kinds=(Activity.SESSION_ERROR,), limit=1)
        refused = info.get(name, {}).get("last_refused_login")
        p = pauses.get((Scope.COMPANY, name))
        if p is not None:
            state = "paused"
        elif sessions and sessions[0]["kind"] == Activity.SESSION_ERROR:
            state = "failing"
        elif cs is None or cs.last_contact is None:
            state = "new"
        else:
            state = "running"
        user = settings.user(name)
        out.append({
            "name": name, "state": state, "company_file": (user.company_file if user else "") or
            info.get(name, {}).get("company_file") or "",
            "company_name": info.get(name, {}).get("company_name"),
            "last_contact": _iso(cs.last_contact) if cs else None, "last_result": cs.last_result if cs else None,
            "last_session": sessions[0] if sessions else None, "last_error": last_error[0] if last_error else None,
            "last_refused_login": refused,
            "paused": None if p is None else {"at": _iso(p.paused_at), "by": p.by, "reason": p.reason},
            "depth": {str(k): v for k, v in sorted(depth.get(name, {}).items())},
            "configured": user is not None,
        })
    return out


def sources(store: Store, settings: Settings) -> list[dict]:
    """Each configured source: state, last completed poll, failures, last error."""
    pauses = control.pauses(store)
    with store.session() as s:
        states = {st.name: st for st in s.scalars(select(SourceState))}
    out = []
    for cfg in settings.sources:
        st = states.get(cfg.name)
        p = pauses.get((Scope.SOURCE, cfg.name))
        state = "paused" if p else "failing" if st is not None and st.consecutive_failures else \
            "new" if st is None else "running"
        last_error = control.history(store, scope=Scope.SOURCE, name=cfg.name, kinds=(Activity.POLL_FAILED,), limit=1)
        out.append({
            "name": cfg.name, "type": cfg.type, "state": state,
            "last_poll": _iso(st.last_poll_at) if st else None, "last_ok": _iso(st.last_ok_at) if st else None,
            "failures": st.consecutive_failures if st else 0, "error": st.last_error if st else None,
            "next_poll": _iso(st.next_poll_at) if st else None, "files_fetched": st.files_fetched if st else 0,
            "last_error": last_error[0] if last_error else None,
            "paused": None if p is None else {"at": _iso(p.paused_at), "by": p.by, "reason": p.reason},
        })
    return out


def dashboard(store: Store, settings: Settings, *, history: int = 15, only: tuple[str, ...] = ()) -> Dashboard:
    """Received files by verdict are not on it: counting them reads every file row (no index on the verdict);
    the Received files page shows them. ``only``: a clerk's companies (:func:`scope`): their documents, their
    Web Connector sessions and history; no sources (a file may hold several companies' documents)."""
    comps = [c for c in companies(store, settings) if not only or c["name"] in only]
    within = scope(settings, only)
    with store.session() as s:
        docs = {str(k): int(v) for k, v in s.execute(select(Document.status, func.count()).where(*within)
                                                      .group_by(Document.status)).all()}
        reasons = [{"reason_code": r or "(none)", "status": st, "count": n} for st, r, n in s.execute(
            select(Document.status, Document.reason_code, func.count()).where(Document.status.in_(REVIEW), *within)
            .group_by(Document.status, Document.reason_code).order_by(func.count().desc()))]
        waiting = []
        for c in comps:
            n_queued = sum(c["depth"].get(k, 0) for k in (RqState.QUEUED, RqState.SENT, RqState.UNKNOWN))
            if c["state"] == "paused":
                if n_queued:
                    waiting.append(f"{n_queued} request(s) for {c['name']} wait: the company is paused (resume it on "
                                   "the Sync control page)")
                continue
            if not n_queued:
                continue
            # the oldest pending request (index range on (company, state, id)), and its document
            rq = s.scalar(select(QueuedRequest).where(
                QueuedRequest.company == c["name"],
                QueuedRequest.state.in_((RqState.QUEUED, RqState.SENT, RqState.UNKNOWN)))
                .order_by(QueuedRequest.id).limit(1))
            oldest = s.get(Document, rq.document_id) if rq is not None and rq.document_id else None
            if oldest is not None:
                set_committed_value(oldest, "requests", [rq])  # what why_waiting reads, without a look-up
            why = why_waiting(s, oldest) if oldest is not None else None
            waiting.append(f"{n_queued} request(s) for {c['name']}: {why or 'waiting for the next Web Connector run'}")
        approval = docs.get(DocStatus.AWAITING_APPROVAL, 0)
        if approval:
            waiting.insert(0, f"{approval} document(s) wait for a person's approval (Approval page)")
    return Dashboard(
        companies=comps, sources=[] if only else sources(store, settings), documents=docs, held_reasons=reasons,
        waiting=waiting, errors=_history_of(store, only, kinds=ERRORS, limit=history),
        activity=_history_of(store, only, limit=history, busy=True))


def _history_of(store: Store, names: tuple[str, ...], *, kinds=None, limit: int, busy: bool = False) -> list[dict]:
    """The sync history, newest first: every one's, or (``names``) these companies' only (``busy``: without the
    polls that found nothing, :func:`control.history`)."""
    if not names:
        return control.history(store, kinds=kinds, limit=limit, busy=busy)
    rows = [e for n in names for e in control.history(store, scope=Scope.COMPANY, name=n, kinds=kinds, limit=limit)]
    return sorted(rows, key=lambda e: -e["id"])[:limit]


# ---------------------------------------------------------------- document listings

def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


_LINE_REF = re.compile(r"\b(?:line|item)\s+([A-Za-z0-9.-]+)", re.I)
_CHARGE_REF = re.compile(r"\bcharge\s+([A-Z0-9]{2,4})\b")


def failing_lines(holds: list[dict]) -> tuple[set[str], set[str]]:
    """The line numbers and charge codes the hold messages name (``line 2 (vendor part ...) matches no line
    rule``, ``charge D240 FREIGHT has no account``): the ones a page marks as failing."""
    lines, charges = set(), set()
    for h in holds or ():
        msg = str(h.get("message") or "")
        lines |= {m.rstrip(".") for m in _LINE_REF.findall(msg)}
        charges |= set(_CHARGE_REF.findall(msg))
    return lines, charges


def _body(parsed: dict) -> dict:
    """Lines (each with ``failing``), charges, totals and dates of a stored document."""
    holds = parsed.get("holds") or []
    bad_lines, bad_charges = failing_lines(holds)
    lines = [{**ln, "failing": str(ln.get("line_number") or "") in bad_lines} for ln in parsed.get("lines") or []]
    charges = [{**c, "failing": c.get("code") in bad_charges} for c in parsed.get("charges") or []]
    sup = parsed.get("supplier") or {}
    return {"lines": lines, "charges": charges, "holds": holds, "supplier_name": sup.get("name"),
            "document_date": parsed.get("document_date"), "due_date": parsed.get("due_date"),
            "currency": parsed.get("currency") or "USD", "total": parsed.get("total"),
            "credit": bool(parsed.get("credit")), "notes": parsed.get("notes") or [],
            "po_numbers": parsed.get("po_numbers") or []}


def _doc_row(d: Document, *, body: bool) -> dict:
    parsed = (d.parsed or {}) if body else {}
    row = {"id": d.id, "status": d.status, "transaction_set": d.transaction_set, "number": d.document_number,
           "supplier": d.supplier_id, "sender": d.sender_id, "seller_id": d.seller_id, "company": d.company,
           "total": None if d.total is None else str(d.total), "document_date": d.document_date,
           "received": _iso(d.created_at), "updated": _iso(d.updated_at), "reason_code": d.reason_code,
           "reason": d.reason, "advice": advice(d.reason_code) if d.reason_code else None,
           "qb_txn_type": d.qb_txn_type, "qb_txn_id": d.qb_txn_id,
           "qb_amount": None if d.qb_amount is None else str(d.qb_amount), "posted_at": _iso(d.posted_at),
           "file_id": d.file_id}
    if body:
        row.update(_body(parsed))
    return row


def _listing(store: Store, where: list, *, limit: int | None, offset: int, body: bool, newest_first: bool = True,
             by_status: bool = False) -> Page:
    """``by_status``: the rows are few among many (held, failed): sort them by ``id + 0``, so the planner reads
    them through the status index and sorts them, rather than walking the whole table in id order until it has
    found a page of them (what SQLite does for ``status IN (...)`` with another filter)."""
    limit = _limit(limit)
    with store.session() as s:
        key = (Document.id + 0) if by_status else Document.id
        q = select(Document).where(*where).order_by(key.desc() if newest_first else key)
        if not body:
            q = q.options(defer(Document.parsed))
        total = s.scalar(select(func.count()).select_from(Document).where(*where))
        rows = [_doc_row(d, body=body) for d in s.scalars(q.offset(max(0, offset)).limit(limit))]
    return Page(rows, total, limit, max(0, offset))


def company_of(settings: Settings, supplier_id: str | None) -> str | None:
    """The company a supplier's documents go to (as the ingest service decides it when it queues one): the
    supplier's ``company``, else the first Web Connector user; None for a supplier not mapped (its documents
    are held until it is, and no company is theirs yet)."""
    sup = settings.suppliers.get(supplier_id or "")
    return settings.company_for(sup) if sup is not None else None


def _company_filter(settings: Settings | None, company: str):
    """Documents of a company: where a release would send them, when one can be released (held or failed) and
    its supplier is mapped: a supplier whose documents go there (:func:`company_of`), or, held before its
    supplier was mapped, sent under an id that supplier answers to (:func:`_answers_to`); else the company
    it was queued for (``company`` set); else none. So a document whose supplier an admin moved to another
    company is that company's to release, and the one it was queued for keeps what went to its QuickBooks."""
    if settings is None:
        return Document.company == company
    here = _from_suppliers(settings, [sid for sid in settings.suppliers if company_of(settings, sid) == company])
    anywhere = _from_suppliers(settings, list(settings.suppliers))
    releasable = Document.status.in_(RELEASABLE)
    return ((Document.company == company) & ~(releasable & anywhere)) | \
        ((releasable | Document.company.is_(None)) & here)


def scope(settings: Settings, companies: tuple[str, ...] | list[str]) -> list:
    """What a person who works for ``companies`` only may see, as conditions on :class:`Document` (none:
    every company): the documents of those companies (:func:`_company_filter`). A document of a sender no
    supplier answers to belongs to no company yet: only people who work for every company see it."""
    if not companies:
        return []
    return [or_(*(_company_filter(settings, c) for c in companies))]


def with_company(settings: Settings, rows: list[dict]) -> list[dict]:
    """Each row's company as a person reads it (as :func:`_company_filter` finds it): for one that can be
    released (or was never queued), the company its supplier's documents go to (:func:`company_of`), or that of
    the supplier its sender answers to; else the one it was queued for; else None."""
    senders = {i: sid for sid in settings.suppliers for i in _answers_to(settings, [sid])}
    for row in rows:
        if row["status"] in RELEASABLE or not row["company"]:
            now = company_of(settings, row["supplier"] or senders.get((row.get("sender") or "").upper())
                             or senders.get((row.get("seller_id") or "").upper()))
            row["company"] = now or row["company"]
    return rows


def _supplier_filter(settings: Settings | None, supplier: str):
    """A supplier's documents: those matched to it, and (with ``settings``) those held before it was mapped
    that were sent under an id it answers to (its own or one in its ``match``), which a release now matches
    to it: its ISA sender or its seller's N1 id."""
    if settings is None or supplier not in settings.suppliers:
        return Document.supplier_id == supplier
    return _from_suppliers(settings, [supplier])


def _from_suppliers(settings: Settings, suppliers: list[str]):
    """Documents of these suppliers: matched to one, or held before it was mapped, sent under an id it answers
    to (:func:`_answers_to`: a release matches them to it)."""
    ids = _answers_to(settings, suppliers)
    return Document.supplier_id.in_(suppliers) | (Document.supplier_id.is_(None) & (
        func.upper(Document.sender_id).in_(ids) | func.upper(Document.seller_id).in_(ids)))


def _answers_to(settings: Settings, suppliers: list[str]) -> list[str]:
    """The sender ids these suppliers answer to (their own, and those in their ``match``), upper case: a document
    held before its supplier was mapped, under one of them, is matched to it when it is released."""
    return sorted({i for sid in suppliers for i in (sid.upper(), *(str(m).upper() for m in settings.suppliers[sid].match))})


def review_filter(*, status: str | None = None, reason: str | None = None, supplier: str | None = None,
                  company: str | None = None, since: str | None = None, until: str | None = None,
                  settings: Settings | None = None, within: list = ()) -> list:
    """The review list's filters (:func:`review_page`) as conditions on :class:`Document`: what the page
    lists is what "release all" releases (:meth:`IngestService.release_all`); ``within``: of a person's
    companies (:func:`scope`). ValueError for a status the list does not show or a day that is not
    YYYY-MM-DD."""
    if status and status not in REVIEWABLE:
        raise ValueError(f"the review list shows {', '.join(REVIEWABLE)} documents, not {status!r}")
    where = [Document.status == status] if status else [Document.status.in_(REVIEW)]
    where.extend(within)
    if reason:
        where.append(Document.reason_code == reason)
    if supplier == "-":
        where.append(Document.supplier_id.is_(None))
    elif supplier:
        where.append(_supplier_filter(settings, supplier))
    if company:
        where.append(_company_filter(settings, company))
    if (d := _day(since)) is not None:
        where.append(Document.created_at >= datetime.combine(d, datetime.min.time()))
    if (d := _day(until)) is not None:
        where.append(Document.created_at < datetime.combine(d + timedelta(days=1), datetime.min.time()))
    return where


def review_page(store: Store, *, status: str | None = None, reason: str | None = None, supplier: str | None = None,
                company: str | None = None, since: str | None = None, until: str | None = None,
                settings: Settings | None = None, within: list = (), limit: int | None = 50, offset: int = 0) -> Page:
    """Held and failed documents (``status``: one of held, failed, rejected), newest first, each with its lines
    (the failing ones marked), totals, due date and what to do. ``since`` / ``until``: received on or after /
    on or before that day (YYYY-MM-DD); ``supplier`` ``"-"``: no supplier mapping matched; ``company``: with
    ``settings``, also the documents held before they were queued whose supplier's documents go there."""
    where = review_filter(status=status, reason=reason, supplier=supplier, company=company, since=since,
                          until=until, settings=settings, within=within)
    page = _listing(store, where, limit=limit, offset=offset, body=True, by_status=len(where) > 1)
    if settings is not None:
        with_company(settings, page.rows)
    return page


def not_tried(store: Store, *, after: int, settings: Settings | None = None, **filters) -> int:
    """How many held or failed documents the review filters show after document ``after``: what a "release
    all" that ran out of time has left to try (:meth:`IngestService.release_all` ``after``)."""
    where = review_filter(settings=settings, **filters)
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Document).where(*where, Document.status.in_(REVIEW),
                                                                         Document.id > after))


_RELEASED_AS = {DocStatus.QUEUED: "queued for QuickBooks", DocStatus.AWAITING_APPROVAL: "awaiting approval",
                DocStatus.HELD: "still held", DocStatus.REJECTED: "rejected"}


def release_summary(report) -> str:
    """What a "release all" did (a :class:`connector.services.ReleaseReport`), in one paragraph for a person."""
    if not report.matched:
        return "No held or failed document matches: nothing was translated again."
    order = list(_RELEASED_AS)  # (queued first, then awaiting approval, still held, rejected)
    done = ", ".join(f"{report.counts[st]:,} {_RELEASED_AS.get(st, st)}" for st in sorted(
        report.counts, key=lambda st: order.index(st) if st in order else len(order)))
    why = ", ".join(f"{code.replace('_', ' ')}: {n:,}" for code, n in sorted(report.held_for.items(),
                                                                             key=lambda kv: -kv[1]))
    text = (f"Translated again {report.released:,} of {report.matched:,} document(s) with the mapping as it is now"
            + (f": {done}" if done else "") + (f" (why: {why})" if why else "") + ".")
    if report.elsewhere:
        text += f" {report.elsewhere:,} had been released meanwhile by someone else."
    if report.not_released:
        text += f" {report.not_released:,} could not be released and are as they were."
    if report.left:
        text += f" Time ran out with {report.left:,} not tried yet: carry on to release them."
    return text


def review_choices(store: Store, settings: Settings, only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """What the review filters offer: the reason codes, the configured suppliers, the companies (``only``: a
    clerk's companies, and the suppliers whose documents go there)."""
    reasons = sorted(ADVICE)  # every reason code qbedi gives (a query for the ones in use reads every held row)
    sups = sorted(sid for sid in settings.suppliers if not only or company_of(settings, sid) in only)
    return {"reasons": reasons, "suppliers": sups,
            "companies": [u.username for u in settings.web_connector.users if not only or u.username in only]}


def approval_page(store: Store, *, within: list = (), limit: int | None = 100, offset: int = 0) -> Page:
    """Documents awaiting a person's approval, oldest first (first come, first approved)."""
    return _listing(store, [Document.status == DocStatus.AWAITING_APPROVAL, *within], limit=limit, offset=offset,
                    body=True, newest_first=False)


def documents_page(store: Store, *, status: str | None = None, number: str | None = None, find: str | None = None,
                   file_id: int | None = None, settings: Settings | None = None, within: list = (),
                   limit: int | None = 50, offset: int = 0) -> Page:
    """Every document, newest first (``status`` filters; ``number``: the supplier's document number, exact;
    ``find``: what a person types to find one, :func:`_found`; ``file_id``: one received file's; ``within``: of
    a person's companies, :func:`scope`)."""
    if status and status not in set(DocStatus):
        raise ValueError(f"no document status {status!r}; the statuses are: {', '.join(DocStatus)}")
    where = list(within)
    if file_id is not None:
        where.append(Document.file_id == file_id)
    if status:
        where.append(Document.status == status)
    if number:
        where.append(Document.document_number == number.strip())
    if find and find.strip():
        where.append(_found(find, settings))
    return _listing(store, where, limit=limit, offset=offset, body=False)


_AMOUNT = re.compile(r"-?\$?-?\d{1,3}(,?\d{3})*(\.\d{1,2})?")


def _found(text: str, settings: Settings | None):
    """Documents a clerk means by ``text``: part of the supplier's document number, of the supplier's id,
    the sender's id or (``settings``) the QuickBooks vendor or alias a supplier is mapped to, in any case; a
    total (``289``, ``289.00``, ``$1,289.00``); a document date (``2026-11-18`` or ``11/18/2026``). A scan of the documents'
    short columns (linear in the store; a list page reads at most a page of rows)."""
    t = text.strip()
    like = "%" + t.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conds = [func.upper(col).like(like, escape="\\")
             for col in (Document.document_number, Document.supplier_id, Document.sender_id)]
    if settings is not None:
        named = [sid for sid, sup in settings.suppliers.items()
                 if t.lower() in sup.vendor.lower() or t.lower() in (getattr(sup, "alias", None) or "").lower()]
        if named:
            conds.append(func.upper(Document.supplier_id).in_([sid.upper() for sid in named]))
    if _AMOUNT.fullmatch(t):
        amount = abs(Decimal(t.replace("$", "").replace(",", "")))
        conds.append(Document.total.in_((amount, -amount)))  # (a credit, whichever sign it is kept with)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        conds.append(Document.document_date == t)
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", t):  # (as US screens write it: month/day/year)
        conds.append(Document.document_date == f"{m[3]}-{int(m[1]):02d}-{int(m[2]):02d}")
    return or_(*conds)


def files_page(store: Store, *, verdict: str | None = None, limit: int | None = 50, offset: int = 0) -> Page:
    """Every received file, newest first, with its verdict (``parsed`` and its documents, ``empty``,
    ``not_x12`` and what it looks like, ``unreadable``, ``failed``...)."""
    limit = _limit(limit)
    with store.session() as s:
        q = select(ReceivedFile).options(defer(ReceivedFile.content))
        n = select(func.count()).select_from(ReceivedFile)
        if verdict:
            cond = (ReceivedFile.status == verdict) | (ReceivedFile.reason_code == verdict)
            q, n = q.where(cond), n.where(cond)
        total = s.scalar(n)
        files = list(s.scalars(q.order_by(ReceivedFile.id.desc()).offset(max(0, offset)).limit(limit)))
        shown = file_documents(s, [f.id for f in files])
        rows = []
        for f in files:
            docs, count = shown[f.id]
            rows.append({"id": f.id, "name": f.name, "source": f.source, "size": f.size, "received": _iso(f.received_at),
                         "verdict": f.reason_code if f.status == FileStatus.UNREADABLE else f.status,
                         "reason": f.error, "attempts": f.attempts, "document_count": count,
                         "documents": [{"id": d.id, "transaction_set": d.transaction_set, "number": d.document_number,
                                        "status": d.status, "reason_code": d.reason_code} for d in docs]})
    return Page(rows, total, limit, max(0, offset))


# ---------------------------------------------------------------- one document

def raw_segments(open_file: Callable[[], BinaryIO], *, limit: int = RAW_SEGMENTS) -> tuple[list[str], bool]:
    """The file (``open_file()`` gives its bytes as a stream, :mod:`connector.raw`) as a person reads X12:
    one segment a line, with its own delimiters (any terminator, wrapped lines joined). Returns (lines,
    cut: there were more than ``limit``). Reads no further than the ``limit`` segments shown."""
    from edi.tokenizer import Tokenizer

    out: list[str] = []
    try:
        for seg in Tokenizer(open_file()):
            if len(out) >= limit:
                return out, True
            out.append(_segment_text(seg))
    except Exception:  # noqa: BLE001 - the tokenizer promises not to raise; a page never fails on a file
        pass
    if not out:  # not X12: the text as it is (a page, not a dump)
        text = open_file().read(20000).decode("utf-8", "replace")
        out = text.splitlines()[:limit]
    return out, False


def set_segments(open_file: Callable[..., BinaryIO], at: int, *, limit: int = RAW_SEGMENTS,
                 place: list | None = None) -> tuple[list[str], list[int], bool] | None:
    """One document's own segments in its file (``at``: its ST's segment number, as the tokenizer counts),
    after the ISA and GS it is under, and the GE / IEA right after it if they come next (a one-document file
    is shown whole): (lines, their segment numbers in the file, cut: more than ``limit``). ``open_file(start)``
    reads the file from byte ``start``. With the set's ``place`` (edi.SetPlace, kept at ingest) only the ISA,
    the GS and the set itself are read, however far into the file it is; without it, the file is read from
    its start up to the set. Never further than the end of the set and a GE / IEA after it; None when the
    file has no segment ``at``."""
    head: dict[str, tuple[int, str]] = {}
    lines: list[str] = []
    numbers: list[int] = []
    ended = False  # its SE was read: only a GE or an IEA right after it is still shown
    try:
        for index, seg in _placed(open_file, at, place) or _numbered(open_file):
            tag = seg.elements[0].upper()
            if index < at:
                if tag in ("ISA", "GS"):
                    if tag == "ISA":
                        head.clear()
                    head[tag] = (index, _segment_text(seg))
                continue
            if (ended and tag not in ("GE", "IEA")) or (index > at and tag in ("ST", "GS", "ISA")):
                break  # (a set without its SE ends where the next set, group or interchange starts)
            if len(lines) >= limit:
                return _with_head(head, lines, numbers) + (True,)
            lines.append(_segment_text(seg))
            numbers.append(index)
            ended = ended or tag == "SE"
            if tag == "IEA":
                break
    except Exception:  # noqa: BLE001 - the tokenizer promises not to raise; a page never fails on a file
        return None
    return _with_head(head, lines, numbers) + (False,) if lines else None


def _numbered(open_file: Callable[..., BinaryIO]):
    """(segment number in the file, segment) of every segment, from the file's start."""
    from edi.tokenizer import Tokenizer

    return ((seg.index, seg) for seg in Tokenizer(open_file()))


def _placed(open_file: Callable[..., BinaryIO], at: int, place: list | None):
    """(segment number in the file, segment) of the ISA, the GS and the segments from the ST at ``at`` on,
    read from their ``place`` (edi.SetPlace) and nothing before; None when there is no usable place (the
    caller then reads the file from its start)."""
    from edi.tokenizer import Tokenizer

    stream = raw_file.open_set(open_file, place)
    if stream is None:
        return None
    tok = Tokenizer(stream)
    segments = iter(tok)
    first, offsets = [], []
    for _, seg in zip(range(3), segments):
        first.append(seg)
        offsets.append(tok.offset)
    want = stream.place
    if [seg.elements[0].upper() for seg in first] != ["ISA", "GS", "ST"] or \
            offsets != [want.isa_offset, want.gs_offset, want.st_offset]:
        return None  # (not what was kept: read the file from its start)
    numbers = (place[2], place[5], at)  # (SetPlace.isa_segment, .gs_segment; the ST's is at)
    return ((numbers[seg.index - 1] if seg.index <= 3 else at + seg.index - 3, seg)
            for seg in itertools.chain(first, segments))


def _segment_text(seg) -> str:
    return (seg.delimiters.element if seg.delimiters else "*").join(seg.elements)


def _with_head(head: dict, lines: list[str], numbers: list[int]) -> tuple[list[str], list[int]]:
    first = [head[t] for t in ("ISA", "GS") if t in head]
    return [text for _, text in first] + lines, [n for n, _ in first] + numbers


# audit detail names as a clerk reads them (others: their words, underscores as spaces)
DETAIL_WORDS = {"txn_id": "QuickBooks TxnID", "txn_line_id": "its line", "po": "PO", "qb_txn_id": "QuickBooks TxnID",
                "external_guid": "request id (ExternalGUID)", "edit_sequence": "QuickBooks revision (EditSequence)",
                "verified": "checked in QuickBooks"}


def _detail_key(key: str) -> str:
    return DETAIL_WORDS.get(key, key.replace("_", " "))


def _words(value):
    """An audit detail as a person reads it: holds as "code: message; ...", a record as "name value, ...",
    other lists joined; never Python's own notation (``{'po': ...}``, ``True``)."""
    if isinstance(value, list):
        return "; ".join(f"{v.get('code')}: {v.get('message')}" if isinstance(v, dict) and "code" in v
                         else str(_words(v)) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{_detail_key(str(k))} {_words(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, bool):  # not Python's True / False on a page
        return "yes" if value else "no"
    return value


def _parts_said(rq: QueuedRequest) -> str | None:
    """For a bill sent in parts: how, in words (its qbXML is the whole bill; the parts are cut from it)."""
    parts = RequestMeta.from_json(rq.meta).parts
    if parts is None:
        return None
    return (f"Too big for one Web Connector round trip, this bill goes in parts: a BillAdd with its first lines, "
            f"then BillMods adding the next ones to the same bill (each part names the lines the bill has). "
            f"{parts.said[0].upper() + parts.said[1:]}. The qbXML below is the whole bill the parts are cut from; "
            f"the attempts count the current part's.")


def document_detail(store: Store, document_id: int, *, within: list = ()) -> dict | None:
    """One document: what the supplier sent (lines, the failing ones marked, totals, due date), why it waits,
    what to do, every qbXML request sent with QuickBooks' answers, its QuickBooks TxnID and amount, the audit
    trail from the received file to the TxnID with who did what, and the raw X12 one segment a line."""
    with store.session() as s:
        d = s.scalar(select(Document).where(Document.id == document_id, *within)
                     .options(selectinload(Document.file)))
        if d is None:
            return None
        events = audit_trail(s, d.id)
        # a document's requests are the ones its trail names (lifecycle.queue audits each with its id): read by
        # primary key, never by scanning the request table for the document
        ids = sorted({e.detail.get("request_id") for e in events if isinstance((e.detail or {}).get("request_id"), int)})
        rqs = list(s.scalars(select(QueuedRequest).where(QueuedRequest.id.in_(ids), QueuedRequest.document_id == d.id)
                             .order_by(QueuedRequest.id))) if ids else []
        set_committed_value(d, "requests", rqs)
        row = _doc_row(d, body=True)
        f = d.file
        trail = [{"at": _iso(f.received_at), "kind": "received", "by": None,
                  "detail": {"file": f.name, "source": f.source, "size": f.size, "sha256": f.sha256[:16] + "..."}}]
        for e in events:
            detail = dict(e.detail or {})
            trail.append({"at": _iso(e.at), "kind": e.kind, "by": detail.pop("by", None),
                          "detail": {_detail_key(k): _words(v) for k, v in detail.items() if v not in (None, "", [], {})}})
        requests = [{"id": r.id, "type": r.request_type, "state": r.state, "company": r.company,
                     "qbxml": r.qbxml, "attempts": r.attempts, "sent_at": _iso(r.sent_at),
                     "status_code": r.status_code, "status_message": r.status_message,
                     "txn_id": r.result_txn_id, "ref_number": r.ref_number, "vendor": r.vendor,
                     "external_guid": r.external_guid, "created": _iso(r.created_at), "updated": _iso(r.updated_at),
                     "parts": _parts_said(r)}
                    for r in d.requests]
        # what QuickBooks answered (or did not): every request event after it was sent
        answers = [t for t in trail if "request_id" in t["detail"] and t["kind"] not in
                   ("queued", "awaiting_approval", "sent", "approved")]
        own = set_segments(lambda start=0: raw_file.open_in(s, f, start), d.segment_index,
                           place=d.set_place) if d.segment_index else None
        if own is not None:  # its own segments, numbered as in the file
            raw, raw_at, cut = own
        elif within:  # (the file from its start may hold other companies' documents: not for this person)
            raw, raw_at, cut = [], [], False
        else:  # (stored before its place was kept, or the file does not have it): the file from its start
            raw, cut = raw_segments(lambda: raw_file.open_in(s, f))
            raw_at = list(range(1, len(raw) + 1))
        row.update({
            "file": {"id": f.id, "name": f.name, "source": f.source, "size": f.size, "received": _iso(f.received_at)},
            "waiting": why_waiting(s, d), "trail": trail, "requests": requests, "answers": answers,
            "raw": raw, "raw_at": raw_at, "raw_own": own is not None, "raw_cut": cut, "set_control": d.set_control, "interchange_control": d.interchange_control,
            "translated_qbxml": (d.parsed or {}).get("qbxml"),
            "purchase_orders": _purchase_orders_of(s, d, within),
            "earlier_now": _earlier_now(s, d, within),
            "siblings": [{"id": x.id, "transaction_set": x.transaction_set, "number": x.document_number,
                          "status": x.status} for x in s.execute(
                select(Document.id, Document.transaction_set, Document.document_number, Document.status)
                .where(Document.file_id == f.id, Document.id != d.id, *within).order_by(Document.id).limit(50))],
        })
    return row


_EARLIER = re.compile(r"\(document #(\d+)\b")


def _earlier_now(s, d: Document, within: list) -> dict | None:
    """For a document held as a duplicate: the earlier document its message names, as it is now (the message
    says what it was when this one came: queued then, posted since)."""
    m = _EARLIER.search(d.reason or "") if d.status == DocStatus.HELD and d.reason_code == "duplicate_document" \
        else None
    other = s.scalar(select(Document).where(Document.id == int(m.group(1)), *within)) if m else None
    if other is None:
        return None
    return {"id": other.id, "number": other.document_number, "status": other.status,
            "qb_txn_type": other.qb_txn_type, "qb_txn_id": other.qb_txn_id}


def _purchase_orders_of(s, d: Document, within: list = ()) -> list[dict]:
    """The purchase orders a document is about (an invoice's and a ship notice's PO numbers, a PO itself), as
    the three-way match sees them: each PO's lines ordered, received and invoiced, and the documents that say
    so (:func:`connector.services.purchase_order_documents`), for a person to check by eye (``within``: of the
    documents that person may see)."""
    from .matching import po_lines, po_numbers
    from .services import purchase_order_documents

    numbers = po_numbers(d.parsed or {}, d.transaction_set, d.document_number)
    if not numbers or not d.supplier_id or d.transaction_set not in ("810", "850", "856"):
        return []
    orders, receipts, billed = purchase_order_documents(s, d.supplier_id, numbers, where=within)

    def docs(rows):
        return [{"id": x.id, "number": x.document_number, "status": x.status} for x in rows]

    return [{"number": n, "order": docs(orders[n][-1:])[0] if n in orders else None,
             "lines": po_lines(n, orders[n][-1].parsed or {}, [r.parsed or {} for r in receipts.get(n, [])],
                               [i.parsed or {} for i in billed.get(n, [])]) if n in orders else [],
             "receipts": docs(receipts.get(n, [])), "invoices": docs(billed.get(n, []))} for n in numbers]


# ---------------------------------------------------------------- sync control and support

def sync_overview(store: Store, settings: Settings, *, history: int = 30) -> dict:
    """What the Sync control page shows: sources and companies with their pauses, the open requests, and the
    history (polls, sessions, errors, pauses, requests)."""
    return {"sources": sources(store, settings), "companies": companies(store, settings),
            "open_requests": control.open_sync_requests(store), "history": control.history(store, limit=history),
            "notifications": notifications(store, settings)}


def notifications(store: Store, settings: Settings) -> dict:
    """What the Sync control page shows of notifications: the channels configured (where they go, never a
    secret) and what each has told, per topic: last sent, last failed attempt and its error."""
    cfg = settings.notifications
    channels = []
    if cfg.email is not None:
        channels.append({"channel": "email", "to": ", ".join(cfg.email.to),
                         "via": f"{cfg.email.host}:{cfg.email.port}"})
    if cfg.webhook is not None:
        parts = urlsplit(cfg.webhook.url)
        channels.append({"channel": "webhook", "to": f"{parts.scheme}://{parts.hostname}"
                         + (f":{parts.port}" if parts.port else "") + parts.path,
                         "via": "signed (HMAC-SHA256)" if cfg.webhook.secret_env else "unsigned"})
    with store.session() as s:
        rows = [{"channel": r.key.split(":", 1)[0], "topic": r.key.split(":", 1)[-1],
                 "last_sent": _iso(r.last_sent_at), "last_attempt": _iso(r.last_attempt_at),
                 "error": r.last_error if r.last_attempt_at and (not r.last_sent_at or r.last_attempt_at >
                                                                 r.last_sent_at) else None}
                for r in s.scalars(select(NotificationState).order_by(NotificationState.key))]
    return {"channels": channels, "topics": rows, "digest_at": cfg.digest_at if channels else None}


def support_summary(store: Store, settings: Settings, *, errors: int = 10, full: bool = True,
                    only: tuple[str, ...] | None = None) -> dict:
    """The AppSupport page: in words, is the sync healthy, and the last errors (``full`` False: the states and
    times only, no error's own message, nor who paused what: what anybody who reaches the page may read).

    ``only``: the companies shown (a clerk's, or the one a company's support link names); then their documents
    are counted (:func:`scope`), their errors listed, and the sources summed up without names (a file may
    hold several companies' documents). ``()``: no company at all (a stranger, with several companies: their
    names are not given away). None: every company, source and document."""
    comps = [c for c in companies(store, settings) if only is None or c["name"] in only]
    srcs = sources(store, settings)
    lines = []
    if only == ():
        lines.append("This qbedi serves several companies and names none of them to people who are not signed in: "
                     "open this page from your company's Web Connector (its Support link), or sign in.")
    for c in comps:
        if c["state"] == "paused":
            by = f" by {c['paused']['by'] or 'someone'}" if full else ""
            lines.append(f"Company {c['name']}: paused{by} at {c['paused']['at']} UTC"
                         + (f" ({c['paused']['reason']})" if full and c["paused"]["reason"] else "")
                         + ". The Web Connector is given nothing until it is resumed.")
        elif c["state"] == "new":
            lines.append(f"Company {c['name']}: no Web Connector has connected yet. Add its .qwc file in QuickBooks "
                         "Web Connector and press Update Selected.")
        elif c["state"] == "failing":
            lines.append(f"Company {c['name']}: the last Web Connector session had a problem at "
                         f"{c['last_session']['at']} UTC" + (f": {c['last_session']['message']}" if full else "."))
        else:
            lines.append(f"Company {c['name']}: working. Last Web Connector session {c['last_contact']} UTC"
                         + (f": {c['last_result'] or 'no summary'}." if full else "."))
        refused = c.get("last_refused_login")
        if refused and (not c["last_contact"] or refused["at"] > (c["last_contact"] or "").replace(" ", "T")):
            lines.append(f"Company {c['name']}: the Web Connector's last login was refused at {refused['at']} UTC "
                         f"({refused['reason']}). Check the password typed in the Web Connector.")
    if only is None:
        lines += [_source_line(src, full) for src in srcs]
    elif srcs:
        bad = sum(src["state"] in ("failing", "paused") for src in srcs)
        lines.append("Every source of EDI files is working." if not bad else
                     f"{bad} of {len(srcs)} source(s) of EDI files failing or paused: files from them wait; "
                     "ask your qbedi administrator.")
    review = approval = 0
    if only != ():
        with store.session() as s:  # documents a person must look at (counted on the status index)
            waiting = dict(s.execute(select(Document.status, func.count()).where(Document.status.in_(
                (DocStatus.HELD, DocStatus.FAILED, DocStatus.AWAITING_APPROVAL)), *scope(settings, only or ()))
                .group_by(Document.status)).all())
        review = waiting.get(DocStatus.HELD, 0) + waiting.get(DocStatus.FAILED, 0)
        approval = waiting.get(DocStatus.AWAITING_APPROVAL, 0)
    if review:
        lines.append(f"{review} document(s) held or refused by QuickBooks wait for AP review (page: Held & failed).")
    if approval:
        lines.append(f"{approval} document(s) wait for approval (page: Approval).")
    healthy = only != () and all(c["state"] == "running" for c in comps) \
        and all(x["state"] == "running" for x in srcs) and not review
    return {"healthy": healthy, "names_none": only == (), "lines": lines, "companies": comps,
            "sources": srcs if only is None else [],
            "errors": [] if only == () else _history_of(store, only or (), kinds=ERRORS, limit=errors)}


def _source_line(src: dict, full: bool) -> str:
    if src["state"] == "paused":
        return f"Source {src['name']}: paused; nothing is fetched from it until it is resumed."
    if src["state"] == "failing":
        return (f"Source {src['name']}: failing ({src['failures']} poll(s) in a row)"
                + (f": {src['error']}" if full else "."))
    if src["state"] == "new":
        return f"Source {src['name']}: not polled yet."
    return f"Source {src['name']}: working. Last completed poll {src['last_ok']} UTC."

