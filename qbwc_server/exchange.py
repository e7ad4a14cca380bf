"""The WorkProvider behind the Web Connector: the durable queue <-> QuickBooks.

Exactly-once rules:

* A request is marked ``sent`` (and committed) *before* its qbXML leaves us.
* An answer that never comes back (QBWC crash, timeout, connectionError,
  out-of-sequence call, server restart) turns ``sent`` into ``unknown``.
* An ``unknown`` Add is never re-sent blindly: the next batch first asks
  QuickBooks (BillQuery by vendor + RefNumber range, matched on the
  ExternalGUID we wrote); only when QuickBooks has no such transaction does
  the request go back to ``queued``.
* Transient QuickBooks codes (record in use, 3170/3175/3176/3180, and 3231
  "not processed") are retried a bounded number of times; one failing
  document never blocks the others (``continueOnError`` + per-request state).

Batches fit a time budget: each request's QuickBooks time is predicted from a
per-type model (start conservative, then an exponentially weighted correction
from the measured time between our answer and QBWC's receiveResponseXML).
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import structlog
from lxml import etree
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import selectinload

import qbxml_templates as qx
from qbxml_templates.refs import references
from connector.settings import Settings
from connector.translate import purchase_order_mod_request
from connector.store import (
    AuditEvent,
    CompanyState,
    CostSample,
    DocStatus,
    Document,
    QueuedRequest,
    RqState,
    Store,
    audit,
    utcnow,
)

from .contracts import QBSession, WebConnectorUser

log = structlog.get_logger(__name__)

TRANSIENT = {3170, 3175, 3176, 3180, 3231}
REFERENCE_ERRORS = {3140}
MAX_ATTEMPTS = 5
MAX_MOD_ATTEMPTS = 3
MAX_VERIFY_TRIES = 3
STALE_EDIT_SEQUENCE = 3200
# conservative start: seconds of QuickBooks time per request and per line
DEFAULT_COST = {"per_request": 1.5, "per_line": 0.25}
EWMA_ALPHA = 0.3
FORGET = 0.9  # weight of the older batches in the least-squares fit
BUDGET_FILL = 0.97  # fill batches to this share of the budget

_QUERY_FOR = {  # Add type -> (query builder name, Ret element)
    "BillAdd": ("bill_query", "BillRet"),
    "VendorCreditAdd": ("vendor_credit_query", "VendorCreditRet"),
    "PurchaseOrderAdd": ("purchase_order_query", "PurchaseOrderRet"),
    "ItemReceiptAdd": ("item_receipt_query", "ItemReceiptRet"),
}
_AMOUNT_FIELD = {"BillRet": "AmountDue", "VendorCreditRet": "CreditAmount", "PurchaseOrderRet": "TotalAmount",
                 "ItemReceiptRet": "TotalAmount"}


class QueueExchange:
    def __init__(self, store: Store, settings: Settings, *, clock=time.monotonic):
        self.store = store
        self.settings = settings
        self.clock = clock
        wc = settings.web_connector
        self.budget = wc.batch_budget_seconds
        self.max_requests = wc.max_requests_per_batch
        self.validate = wc.validate_qbxml
        self.refresh_after = wc.reference_refresh_minutes * 60
        self.auto_create_vendors = wc.auto_create_vendors

    # ------------------------------------------------------------------ WorkProvider
    def has_work(self, user: WebConnectorUser) -> bool:
        with self.store.session() as s:
            return self._pending_count(s, user.username) + self._stale_sent(s, user.username) > 0

    def next_request(self, session: QBSession) -> str | None:
        st = session.state
        with self.store.session() as s:
            if st.get("batch"):  # we answered sendRequestXML but no receiveResponseXML came
                self._orphan(s, st.pop("batch"), "sendRequestXML called again before receiveResponseXML")
            if not st.get("started"):
                st.update(started=True, processed=0, posted=0, failed=0, held=0)
                self._recover_stale(s, session.username)
                self._remember_company(s, session)
            with s.no_autoflush:  # nothing below reads back what it wrote: flush once, at commit
                requests, batch = self._build_batch(s, session)
            if not requests:
                return None
            xml = qx.message_set(requests, on_error="continueOnError", version=session.qbxml_version)
            st["batch"] = batch
            return xml

    def handle_response(self, session: QBSession, response_xml: str) -> int:
        st = session.state
        batch = st.pop("batch", None)
        if batch is None:
            log.warning("qbwc.unexpected_response", user=session.username,
                        detail="receiveResponseXML without a batch in flight; ignored")
            return self._percent(session)
        try:
            items = qx.parse_response(response_xml)
        except Exception as e:  # unreadable answer: we cannot know what QuickBooks did
            with self.store.session() as s:
                self._orphan(s, batch, f"QuickBooks response could not be read: {e}")
            session.last_error = f"QuickBooks' response could not be read ({e}); the batch will be verified"
            return -1
        elapsed = self.clock() - batch["sent_at"]
        with self.store.session() as s, s.no_autoflush:
            ids = [*batch["requests"], *batch["verify"], *batch["lookups"]]
            # one query for every request of the batch (and its document); held here so the
            # identity map keeps them for the s.get() calls below
            s.info["preloaded"] = list(s.scalars(
                select(QueuedRequest).options(selectinload(QueuedRequest.document).defer(Document.parsed))
                .where(QueuedRequest.id.in_(ids)))) if ids else []
            seen: set[str] = set()
            before = {k: session.state.get(k, 0) for k in ("posted", "held", "failed")}
            for item in items:
                rid = item.request_id or ""
                seen.add(rid)
                if rid.startswith("v"):
                    self._verified(s, session, int(rid[1:]), item)
                elif rid.startswith("p"):
                    self._link(s, session, int(rid[1:]), item)
                elif rid.startswith("q"):
                    self._read_for_mod(s, session, int(rid[1:]), item)
                elif rid.startswith("r:"):
                    self._list_read(s, session, rid[2:], item)
                elif rid.startswith("a"):
                    self._vendor_created(s, session, int(rid[1:]), item)
                elif rid.isdigit():
                    self._answered(s, session, int(rid), item)
            missing = [r for r in batch["requests"] if str(r) not in seen] + \
                      [v for v in batch["verify"] if f"v{v}" not in seen]
            if missing:
                self._orphan(s, {"requests": missing, "verify": []}, "QuickBooks returned no answer for the request")
            self._learn(s, batch, elapsed)
            self._flush_bulk(s)
            percent = self._percent(session, s)  # in the same unit of work: one session per answer
        log.info("qbwc.batch_done", user=session.username, batch=batch["id"], seconds=round(elapsed, 2),
                 predicted_seconds=round(batch["predicted"], 2), answers=len(items), lost=len(missing),
                 **{k: session.state.get(k, 0) - v for k, v in before.items()})
        return percent

    def handle_failure(self, session: QBSession, hresult: str, message: str) -> None:
        batch = session.state.pop("batch", None)
        if batch is None:
            session.last_error = f"QuickBooks could not be reached: {message or hresult}".strip()
            return
        parse_error = (hresult or "").lower() == "0x80040400"
        with self.store.session() as s:
            if parse_error:  # QuickBooks rejected the whole message set: nothing of it was processed
                session.state["solo"] = True
                for rid in batch["requests"]:
                    rq = s.get(QueuedRequest, rid)
                    if rq is None:
                        continue
                    if len(batch["requests"]) == 1 and rq.attempts >= 3:
                        self._fail(s, rq, None, f"QuickBooks cannot parse this request ({hresult}: {message})")
                    else:
                        rq.state = RqState.QUEUED
                for vid in batch["verify"]:
                    rq = s.get(QueuedRequest, vid)
                    if rq is not None:
                        rq.state = RqState.UNKNOWN
            else:
                self._orphan(s, batch, f"QuickBooks failed to run the request ({hresult}: {message})")
        session.last_error = (f"QuickBooks could not process the last batch ({hresult}: {message}). "
                              "Nothing is lost: the requests will be checked and sent again.")

    def close(self, session: QBSession) -> None:
        st = session.state
        with self.store.session() as s:
            if st.get("batch"):
                self._orphan(s, st.pop("batch"), "session closed before QuickBooks' answer arrived")
            refs = self._refs(s, session.username)
            for name, r in list(refs.items()):  # an iterator does not outlive its session
                if (r or {}).get("iterator_id"):
                    refs[name] = {k: v for k, v in r.items() if k not in ("iterator_id", "partial")} | {"stale": True}
            if refs:
                self._save_refs(s, session.username, refs)
            cs = s.get(CompanyState, session.username) or CompanyState(company=session.username, info={})
            summary = (f"{st.get('posted', 0)} posted, {st.get('held', 0)} held, {st.get('failed', 0)} failed, "
                       f"{self._pending_count(s, session.username)} waiting")
            cs.last_contact, cs.last_result = utcnow(), summary
            s.merge(cs)
        st["summary"] = "OK: " + summary

    # ------------------------------------------------------------------ batches
    def _pending_count(self, s, company: str) -> int:
        return s.scalar(select(func.count()).select_from(QueuedRequest).where(
            QueuedRequest.company == company, QueuedRequest.state.in_(RqState.PENDING)))

    def _stale_sent(self, s, company: str) -> int:
        return s.scalar(select(func.count()).select_from(QueuedRequest).where(
            QueuedRequest.company == company, QueuedRequest.state == RqState.SENT))

    def _recover_stale(self, s, company: str) -> None:
        """``sent`` rows left by an earlier session (crash, restart) become ``unknown``."""
        for rq in s.scalars(select(QueuedRequest).where(QueuedRequest.company == company,
                                                        QueuedRequest.state == RqState.SENT)):
            rq.state = RqState.UNKNOWN
            audit(s, "answer_lost", document=rq.document, request_id=rq.id,
                  message="an earlier session ended without QuickBooks' answer; will verify before re-sending")

    def _remember_company(self, s, session: QBSession) -> None:
        cs = s.get(CompanyState, session.username) or CompanyState(company=session.username, info={})
        info = dict(cs.info or {})
        info.update({k: v for k, v in (session.company_info or {}).items() if isinstance(v, (str, int, float, list))})
        info["company_file"] = session.company_file
        info["qbxml_version"] = session.qbxml_version
        cs.info, cs.last_contact = info, utcnow()
        s.merge(cs)

    def _cost(self, s, rq_type: str) -> tuple[float, float]:
        # keep the rows referenced for this unit of work: a bare s.get() would re-SELECT (and autoflush)
        # for every request of a batch, the identity map being weak
        cache = s.info.setdefault("cost_rows", {})
        if rq_type not in cache:
            cache[rq_type] = s.get(CostSample, rq_type)
        row = cache[rq_type]
        if row is None:
            return DEFAULT_COST["per_request"], DEFAULT_COST["per_line"]
        return float(row.per_request), float(row.per_line)

    def predict(self, s, rq_type: str, lines: int) -> float:
        per_request, per_line = self._cost(s, rq_type)
        return per_request + per_line * max(1, lines)

    def _build_batch(self, s, session: QBSession):
        company = session.username
        limit = 1 if session.state.get("solo") else self.max_requests
        elements: list[etree._Element] = []
        batch = {"id": uuid.uuid4().hex[:20], "requests": [], "verify": [], "lookups": [], "predicted": 0.0,
                 "sent_at": None, "types": {}}
        budget = self.budget * BUDGET_FILL  # real QuickBooks times are noisy: keep a margin
        refs = self._refs(s, company)
        # 0. keep QuickBooks' name lists fresh, in the same round trip as the writes
        reading: set[str] = set()

        def read_list(list_name: str) -> None:
            if list_name not in reading:
                reading.add(list_name)
                elements.append(self._list_query(list_name, refs.get(list_name) or {}))
                batch["predicted"] += self.predict(s, f"{list_name}Query", 1)

        for list_name in self._lists_to_read(refs):
            read_list(list_name)
        usable = self._refs_usable(refs)
        created: set[str] = set()
        sent: list[QueuedRequest] = []
        # purchase orders with an earlier change waiting or in this batch: a later change of the same PO
        # waits its turn, or the older one (retried after it) would be applied last
        changing: set[tuple[str, str]] = set()
        # 1. verify answers we never saw, before anything is re-sent
        for rq in s.scalars(select(QueuedRequest).where(QueuedRequest.company == company,
                                                        QueuedRequest.state == RqState.UNKNOWN)
                            .order_by(QueuedRequest.id).limit(limit)):
            if rq.request_type.endswith("Mod"):  # a Mod is re-read and re-applied; applying it twice is harmless
                if (rq.meta or {}).get("mod_plan"):
                    changing.add(_po_key(rq))
                rq.state, rq.meta = RqState.QUEUED, _without(rq.meta, "edit_sequence")
                audit(s, "reread", document=rq.document, request_id=rq.id,
                      message="the answer to a change was lost; it will be re-read from QuickBooks and re-applied")
                continue
            el = self._verification_query(rq)
            if el is None:  # nothing to look it up by: a person decides
                self._hold(s, rq, "unverifiable", "the answer to this request was lost and it cannot be looked up "
                                                  "in QuickBooks; check QuickBooks, then release or cancel it")
                continue
            cost = self.predict(s, rq.request_type.replace("Add", "Query"), 1)
            if elements and batch["predicted"] + cost > budget:
                break
            elements.append(el)
            batch["verify"].append(rq.id)
            batch["predicted"] += cost
        # 2. new work, oldest first, as much as fits the budget (at least one)
        if len(elements) < limit:
            now = utcnow().isoformat()
            for rq in self._queued(s, company, page=limit + 10):
                if len(batch["requests"]) + len(batch["verify"]) + len(batch["lookups"]) >= limit:
                    break
                meta = rq.meta or {}
                if meta.get("mod_plan"):
                    key = _po_key(rq)
                    if key in changing:
                        continue  # an earlier change of this purchase order goes first
                    changing.add(key)
                if meta.get("not_before") and meta["not_before"] > now:
                    continue  # a transient QuickBooks error: wait before trying again
                el = None
                if meta.get("mod_plan"):
                    plan = meta["mod_plan"]
                    if meta.get("read_ticket") != session.ticket or not meta.get("edit_sequence"):
                        if self._po_add_pending(s, company, [plan["ref_number"]], batch):
                            continue
                        cost = self.predict(s, "PurchaseOrderQuery", 1)
                        if elements and batch["predicted"] + cost > budget:
                            break
                        elements.append(qx.purchase_order_query(
                            ref_numbers=[plan["ref_number"]], request_id=f"q{rq.id}", include_line_items=True,
                            include_linked_txns=False))
                        batch["lookups"].append(rq.id)
                        batch["predicted"] += cost
                        continue
                    # EditSequence read in an earlier round trip of this same session
                    el = purchase_order_mod_request(plan, meta["txn_id"], meta["edit_sequence"], meta.get("lines"),
                                                    request_id=str(rq.id))
                if meta.get("link_plan") and not meta.get("linked") and (
                        self._po_add_pending(s, company, meta["link_plan"].get("po_numbers") or [], batch)
                        or self._receipt_in_flight(s, company, rq, batch)):
                    continue  # its PO is still on its way, or another receipt is using its open quantities
                if meta.get("link_plan") and not meta.get("linked"):
                    # an ItemReceipt: read its purchase orders first (this round), add it next round
                    cost = self.predict(s, "PurchaseOrderQuery", 1)
                    if elements and batch["predicted"] + cost > budget:
                        break
                    elements.append(qx.purchase_order_query(
                        ref_numbers=meta["link_plan"]["po_numbers"] or None, vendor=None if meta["link_plan"][
                            "po_numbers"] else rq.vendor, request_id=f"p{rq.id}", include_line_items=True,
                        include_linked_txns=False))
                    batch["lookups"].append(rq.id)
                    batch.setdefault("receipt_pos", set()).update(meta["link_plan"].get("po_numbers") or [])
                    batch["predicted"] += cost
                    continue
                cost = self.predict(s, rq.request_type, rq.line_count)
                if elements and batch["predicted"] + cost > budget:
                    break
                if el is None:
                    el = etree.fromstring(rq.qbxml)
                if usable:
                    names = {k: set(refs[k]["names"]) for k in REF_LISTS} if "names" not in batch else batch["names"]
                    batch["names"] = names
                    wanted = meta.get("refs") if "refs" in meta else references(el)
                    missing = [(kind, name) for kind, name in wanted if name.lower() not in names[kind]]
                    if missing and self.auto_create_vendors and all(k == "Vendor" for k, _ in missing):
                        for _, name in missing:
                            if name.lower() not in created:
                                created.add(name.lower())
                                elements.append(qx.vendor_add(name, request_id=f"a{rq.id}"))
                        missing = []
                    rechecks = (rq.meta or {}).get("ref_rechecks", 0)
                    if missing and rechecks >= MAX_VERIFY_TRIES:
                        missing = []  # our lists could not settle it: QuickBooks decides (3140 -> held)
                    if missing:
                        kinds = {k for k, _ in missing}
                        if not (rq.meta or {}).get("ref_recheck") or kinds & reading:
                            rq.meta = {**(rq.meta or {}), "ref_rechecks": rechecks + 1}
                            # maybe just added in QuickBooks: re-read those lists now, decide next round
                            rq.meta = {**(rq.meta or {}), "ref_recheck": True}
                            for k in sorted(kinds):
                                read_list(k)
                            continue
                        self._hold(s, rq, "qb_missing_reference", "; ".join(
                            f"{k} \"{n}\" does not exist in QuickBooks (add it there, or fix the supplier "
                            f"mapping), then release this document" for k, n in missing))
                        session.state["held"] = session.state.get("held", 0) + 1
                        continue
                el.set("requestID", str(rq.id))
                if self.validate:
                    errors = qx.validate(qx.message_set([el], version=session.qbxml_version))
                    if errors:
                        self._fail(s, rq, None, "qbXML failed schema validation: " + "; ".join(errors[:3]))
                        continue
                elements.append(el)
                batch["requests"].append(rq.id)
                batch["predicted"] += cost
                counts = batch["types"].setdefault(rq.request_type, [0, 0])
                counts[0] += 1
                counts[1] += rq.line_count
                sent.append(rq)
        self._mark_sent(s, sent, batch["id"], session.ticket[:8])
        for vid in batch["verify"]:
            s.get(QueuedRequest, vid).batch_id = batch["id"]
        batch["sent_at"] = self.clock()
        if elements:
            log.info("qbwc.batch", user=company, batch=batch["id"], adds=len(batch["requests"]),
                     verifications=len(batch["verify"]), lookups=len(batch["lookups"]),
                     predicted_seconds=round(batch["predicted"], 2), budget_seconds=self.budget)
        return elements, batch

    @staticmethod
    def _mark_sent(s, rows: list[QueuedRequest], batch_id: str, ticket: str) -> None:
        """``sent`` for the whole batch in three statements (committed before the qbXML leaves)."""
        if not rows:
            return
        now = utcnow()
        no_sync = {"synchronize_session": False}  # these rows are not touched again in this unit of work
        s.execute(update(QueuedRequest).where(QueuedRequest.id.in_([r.id for r in rows])).values(
            state=RqState.SENT, attempts=QueuedRequest.attempts + 1, batch_id=batch_id, sent_at=now, updated_at=now),
            execution_options=no_sync)
        docs = [r for r in rows if r.document_id is not None]
        if docs:
            s.execute(update(Document).where(Document.id.in_([r.document_id for r in docs])).values(
                status=DocStatus.SENT, updated_at=now), execution_options=no_sync)
            s.execute(insert(AuditEvent), [
                {"kind": "sent", "document_id": r.document_id, "file_id": r.document.file_id, "at": now,
                 "detail": {"request_id": r.id, "attempt": r.attempts + 1, "batch": batch_id, "ticket": ticket}}
                for r in docs])

    @staticmethod
    def _queued(s, company: str, page: int = 200):
        """Queued requests, oldest first, a page at a time (rows waiting for something don't block the rest)."""
        last = 0
        while True:
            rows = list(s.scalars(select(QueuedRequest).where(
                QueuedRequest.company == company, QueuedRequest.state == RqState.QUEUED, QueuedRequest.id > last)
                .options(selectinload(QueuedRequest.document).load_only(Document.id, Document.file_id, Document.status))
                .order_by(QueuedRequest.id).limit(page)))
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def _verification_query(self, rq: QueuedRequest):
        found = _QUERY_FOR.get(rq.request_type)
        if not found or not rq.ref_number or not rq.vendor:
            return None
        if rq.request_type == "PurchaseOrderAdd":
            return qx.purchase_order_query(vendor=rq.vendor, ref_number_range=(rq.ref_number, rq.ref_number),
                                           request_id=f"v{rq.id}", include_line_items=False,
                                           include_linked_txns=False)
        builder = getattr(qx, found[0])
        return builder(vendor=rq.vendor, ref_number=rq.ref_number, request_id=f"v{rq.id}")

    # ------------------------------------------------------------------ answers
    def _answered(self, s, session: QBSession, rid: int, item) -> None:
        rq = s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.SENT:
            log.warning("qbwc.stray_answer", request=rid, state=getattr(rq, "state", None))
            return
        if item.ret is not None and (item.status_code == 0 or (item.severity != "Error" and item.status_code < 1000)):
            if item.status_code:
                audit(s, "quickbooks_warning", document=rq.document, request_id=rq.id,
                      status_code=item.status_code, message=item.message)
            self._posted(s, session, rq, item.ret, verified=False)  # written in bulk, not through the ORM
            return
        rq.status_code, rq.status_message = item.status_code, item.message
        if item.status_code == STALE_EDIT_SEQUENCE and (rq.meta or {}).get("mod_plan"):
            if rq.attempts < MAX_MOD_ATTEMPTS:
                rq.state, rq.meta = RqState.QUEUED, _without(rq.meta, "edit_sequence")
                if rq.document is not None:
                    rq.document.status = DocStatus.QUEUED
                audit(s, "stale_edit_sequence", document=rq.document, request_id=rq.id, attempt=rq.attempts,
                      message=item.message + " Someone changed it in QuickBooks; re-reading before trying again.")
            else:
                self._hold(s, rq, "edit_conflict",
                           f"{item.message} The purchase order kept changing in QuickBooks while we tried "
                           f"{rq.attempts} times; check it there, then release this document.",
                           status_code=item.status_code)
                session.state["held"] = session.state.get("held", 0) + 1
                session.state["processed"] += 1
        elif item.status_code in TRANSIENT and rq.attempts < MAX_ATTEMPTS:
            rq.state = RqState.QUEUED
            # the record is in use: give the other user time (5 s, 10 s, 20 s ... at most 5 min)
            wait = min(300, 5 * 2 ** (rq.attempts - 1))
            rq.meta = {**(rq.meta or {}), "not_before": (utcnow() + timedelta(seconds=wait)).isoformat()}
            if rq.document is not None:
                rq.document.status = DocStatus.QUEUED
            audit(s, "retry", document=rq.document, request_id=rq.id, status_code=item.status_code,
                  message=item.message, attempt=rq.attempts)
        elif item.status_code in REFERENCE_ERRORS:
            self._hold(s, rq, "qb_invalid_reference", item.message, status_code=item.status_code)
            session.state["held"] = session.state.get("held", 0) + 1
            session.state["processed"] += 1
        else:
            self._fail(s, rq, item.status_code, item.message)
            session.state["failed"] = session.state.get("failed", 0) + 1
            session.state["processed"] += 1

    def _verified(self, s, session: QBSession, rid: int, item) -> None:
        rq = s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.UNKNOWN:
            return
        match = None
        for ret in (item.rets or ([] if item.ret is None else [item.ret])):
            if (ret.findtext("ExternalGUID") or "").upper() == rq.external_guid.upper():
                match = ret
                break
        if match is not None:
            audit(s, "verified_present", document=rq.document, request_id=rq.id,
                  message="QuickBooks already has this transaction; not sent again")
            self._posted(s, session, rq, match, verified=True)
        elif item.status_code in (0, 1) and rq.attempts >= MAX_ATTEMPTS:  # a poison request is not sent again
            self._hold(s, rq, "no_answer", f"sent {rq.attempts} times and QuickBooks never answered; it is not in "
                                           "QuickBooks. Check the QuickBooks side (qbedi log), then release it")
            session.state["held"] = session.state.get("held", 0) + 1
        elif item.status_code in (0, 1):
            rq.state = RqState.QUEUED
            audit(s, "verified_absent", document=rq.document, request_id=rq.id,
                  message="QuickBooks has no transaction with our ExternalGUID; the request will be sent again")
        else:  # the lookup itself failed: ask again next round, a bounded number of times
            tries = (rq.meta or {}).get("verify_tries", 0) + 1
            rq.meta = {**(rq.meta or {}), "verify_tries": tries}
            if tries >= MAX_VERIFY_TRIES:
                self._hold(s, rq, "unverifiable", f"the answer to this request was lost and looking it up in "
                                                  f"QuickBooks failed {tries} times ({item.status_code}: "
                                                  f"{item.message}); check QuickBooks, then release or dismiss it")
                session.state["held"] = session.state.get("held", 0) + 1

    def _posted(self, s, session: QBSession, rq: QueuedRequest, ret, *, verified: bool) -> None:
        """QuickBooks has it: request done, document posted, audit with TxnID and amount.

        Written in bulk at the end of the answer (``_flush_bulk``): one UPDATE per table and one
        multi-row INSERT for a batch of ~40 answers instead of one unit-of-work row each.
        """
        txn_id = ret.findtext("TxnID") or ret.findtext("ListID") or ""
        amount_text = ret.findtext(_AMOUNT_FIELD.get(etree.QName(ret).localname, "TotalAmount")) or ""
        try:
            amount = Decimal(amount_text) if amount_text else None
        except InvalidOperation:
            amount = None
        now = utcnow()
        bulk = s.info.setdefault("bulk", {"rq": [], "doc": [], "audit": []})
        bulk["rq"].append({"id": rq.id, "state": RqState.DONE, "result_txn_id": txn_id, "status_code": 0,
                           "updated_at": now})
        doc = rq.document
        session.state["processed"] = session.state.get("processed", 0) + 1
        session.state["posted"] = session.state.get("posted", 0) + 1
        if doc is None:
            return
        txn_type = rq.request_type.removesuffix("Add").removesuffix("Mod")
        bulk["doc"].append({"id": doc.id, "status": DocStatus.POSTED, "qb_txn_id": txn_id, "qb_txn_type": txn_type,
                            "qb_amount": amount, "posted_at": now, "reason_code": None, "reason": None,
                            "updated_at": now})

        def note(kind, **detail):
            bulk["audit"].append({"kind": kind, "document_id": doc.id, "file_id": doc.file_id, "at": now,
                                  "detail": json.loads(json.dumps(detail, default=str))})

        note("posted", request_id=rq.id, txn_type=txn_type, txn_id=txn_id,
             amount=str(amount) if amount is not None else None, expected=str(doc.total) if doc.total else None,
             ref_number=ret.findtext("RefNumber"), edit_sequence=ret.findtext("EditSequence"),
             company=session.company_file, verified=verified)
        expected_links = {ln["txn_id"] for ln in (rq.meta or {}).get("links", [])}
        if expected_links:
            got = {lt.findtext("TxnID") for lt in ret.findall("LinkedTxn")}
            if not expected_links <= got:
                note("link_dropped", expected=sorted(expected_links), quickbooks=sorted(got))
                log.warning("document.link_dropped", document=doc.document_number, expected=sorted(expected_links))
        if amount is not None and doc.total is not None and abs(abs(amount) - abs(doc.total)) > Decimal("0.005") \
                and doc.transaction_set == "810":
            note("amount_differs", quickbooks=str(amount), edi=str(doc.total))
            log.warning("document.amount_differs", document=doc.document_number, quickbooks=str(amount),
                        edi=str(doc.total))
        log.debug("document.posted", document=doc.document_number, txn_type=txn_type, txn_id=txn_id,
                  amount=str(amount) if amount is not None else None, user=session.username)

    @staticmethod
    def _flush_bulk(s) -> None:
        """Posted rows written as bulk updates by primary key (executemany) and one multi-row INSERT."""
        bulk = s.info.pop("bulk", None)
        if not bulk:
            return
        s.flush()  # what the unit of work holds (e.g. a verified_present audit) comes first in the trail
        if bulk["rq"]:
            s.execute(update(QueuedRequest), bulk["rq"])
        if bulk["doc"]:
            s.execute(update(Document), bulk["doc"])
        if bulk["audit"]:
            s.execute(insert(AuditEvent), bulk["audit"])

    def _hold(self, s, rq: QueuedRequest, code: str, message: str, **detail) -> None:
        rq.state = RqState.HELD
        doc = rq.document
        if doc is not None:
            doc.status, doc.reason_code, doc.reason = DocStatus.HELD, code, message
            audit(s, "held", document=doc, request_id=rq.id, holds=[{"code": code, "message": message}], **detail)
        log.warning("document.held", document=getattr(doc, "document_number", None), code=code, reason=message)

    def _fail(self, s, rq: QueuedRequest, code: int | None, message: str) -> None:
        rq.state, rq.status_code, rq.status_message = RqState.FAILED, code, message
        doc = rq.document
        if doc is not None:
            doc.status = DocStatus.FAILED
            doc.reason_code = f"qb_{code}" if code is not None else "qb_error"
            doc.reason = message
            audit(s, "failed", document=doc, request_id=rq.id, status_code=code, message=message)
        log.warning("document.failed", document=getattr(doc, "document_number", None), status_code=code,
                    reason=message)

    def _orphan(self, s, batch: dict, why: str) -> None:
        for rid in list(batch.get("requests", [])) + list(batch.get("verify", [])):
            rq = s.get(QueuedRequest, rid)
            if rq is None or rq.state not in (RqState.SENT, RqState.UNKNOWN):
                continue
            rq.state = RqState.UNKNOWN
            audit(s, "answer_lost", document=rq.document, request_id=rq.id, message=why)
        log.warning("qbwc.answer_lost", batch=batch.get("id"), requests=len(batch.get("requests", [])), reason=why)

    # ------------------------------------------------------------------ reference lists
    def _refs(self, s, company: str) -> dict:
        cs = s.get(CompanyState, company)
        return dict(((cs.info or {}).get("refs") or {}) if cs else {})

    def _save_refs(self, s, company: str, refs: dict) -> None:
        cs = s.get(CompanyState, company) or CompanyState(company=company, info={})
        cs.info = {**(cs.info or {}), "refs": refs}
        s.merge(cs)

    def _lists_to_read(self, refs: dict) -> list[str]:
        if not self.refresh_after:
            return []
        now = utcnow()
        due = []
        for name in REF_LISTS:
            r = refs.get(name) or {}
            if r.get("disabled_until") and r["disabled_until"] > now.isoformat():
                continue
            at = r.get("refreshed_at")
            if r.get("iterator_id") or r.get("stale") or not at or \
                    (now - datetime.fromisoformat(at)).total_seconds() > self.refresh_after:
                due.append(name)
        return due

    def _refs_usable(self, refs: dict) -> bool:
        return bool(self.refresh_after) and all((refs.get(n) or {}).get("refreshed_at") and
                                                not (refs.get(n) or {}).get("iterator_id") and
                                                not (refs.get(n) or {}).get("stale") for n in REF_LISTS)

    def _list_query(self, list_name: str, state: dict):
        builder, iterable, field = REF_LISTS[list_name]
        if not iterable:
            return getattr(qx, builder)(request_id=f"r:{list_name}", include_ret=["ListID", field])
        kw = {"iterator": "Continue", "iterator_id": state["iterator_id"]} if state.get("iterator_id") else \
            {"iterator": "Start"}
        return getattr(qx, builder)(request_id=f"r:{list_name}", max_returned=REF_PAGE, include_ret=["ListID", field],
                                    **kw)

    def _list_read(self, s, session: QBSession, list_name: str, item) -> None:
        if list_name not in REF_LISTS:
            return
        refs = self._refs(s, session.username)
        state = dict(refs.get(list_name) or {})
        if item.status_code not in (0, 1):  # e.g. an expired iterator: start over next round
            state.pop("iterator_id", None)
            state["stale"] = True
            state["failures"] = state.get("failures", 0) + 1
            if state["failures"] >= MAX_VERIFY_TRIES:  # this QuickBooks will not list it: stop asking for a while
                state["disabled_until"] = (utcnow() + timedelta(seconds=max(self.refresh_after, 3600))).isoformat()
                state["failures"] = 0
                log.warning("qbwc.list_unreadable", list=list_name, status_code=item.status_code,
                            message=item.message)
        else:
            field = REF_LISTS[list_name][2]
            names = [] if not state.get("iterator_id") else list(state.get("partial", []))
            names += [(r.findtext(field) or "").lower() for r in (item.rets or [])]
            if item.iterator_remaining:
                state.update(partial=names, iterator_id=item.iterator_id)
            else:
                state = {"names": sorted(set(names)), "refreshed_at": utcnow().isoformat()}
        refs[list_name] = state
        self._save_refs(s, session.username, refs)

    def _vendor_created(self, s, session: QBSession, rid: int, item) -> None:
        rq = s.get(QueuedRequest, rid)
        name = item.ret_text("Name") if item.ret is not None else None
        if item.status_code in (0, 3100):  # created, or it existed after all
            refs = self._refs(s, session.username)
            vendors = refs.get("Vendor") or {}
            if name or rq is not None:
                vendors["names"] = sorted(set(vendors.get("names", [])) | {(name or rq.vendor).lower()})
                refs["Vendor"] = vendors
                self._save_refs(s, session.username, refs)
            if rq is not None and item.status_code == 0:
                audit(s, "vendor_created", document=rq.document, vendor=name or rq.vendor,
                      list_id=item.ret_text("ListID"))
        elif rq is not None:
            audit(s, "vendor_create_failed", document=rq.document, status_code=item.status_code, message=item.message)

    # ------------------------------------------------------------------ changes (Mods)
    def _read_for_mod(self, s, session: QBSession, rid: int, item) -> None:
        """Remember TxnID + EditSequence + lines of the PO a change applies to (valid for this session)."""
        rq = s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.QUEUED:
            return
        plan = rq.meta["mod_plan"]
        if item.status_code in TRANSIENT:
            return
        ret, why = self._po_for_change(s, rq, plan, item.rets or [])
        if why:
            self._hold(s, rq, "ambiguous_po", why)
            session.state["held"] = session.state.get("held", 0) + 1
            return
        if ret is None:
            self._hold(s, rq, "unknown_po", f"purchase order {plan['ref_number']} of {plan['vendor']} is not in "
                                            "QuickBooks, so the change cannot be applied")
            session.state["held"] = session.state.get("held", 0) + 1
            return
        lines = [{"txn_line_id": ln.findtext("TxnLineID"), "item": ln.findtext("ItemRef/FullName") or "",
                  "received": ln.findtext("ReceivedQuantity") or "0"} for ln in ret.findall("PurchaseOrderLineRet")]
        rq.meta = {**rq.meta, "txn_id": ret.findtext("TxnID"), "edit_sequence": ret.findtext("EditSequence"),
                   "read_ticket": session.ticket, "lines": lines}
        audit(s, "read", document=rq.document, request_id=rq.id, txn_id=ret.findtext("TxnID"),
              edit_sequence=ret.findtext("EditSequence"))

    @staticmethod
    def _po_for_change(s, rq: QueuedRequest, plan: dict, rets: list):
        """QuickBooks allows reused PO numbers: the PO we added ourselves wins, else the only open one."""
        mine = [r for r in rets if (r.findtext("VendorRef/FullName") or "").lower() == plan["vendor"].lower()]
        ours = s.scalars(select(QueuedRequest.result_txn_id).where(
            QueuedRequest.company == rq.company, QueuedRequest.request_type == "PurchaseOrderAdd",
            QueuedRequest.ref_number == plan["ref_number"], QueuedRequest.state == RqState.DONE)).all()
        for r in mine:
            if r.findtext("TxnID") in ours:
                return r, None
        if len(mine) <= 1:
            return (mine[0] if mine else None), None
        open_ = [r for r in mine if r.findtext("IsManuallyClosed") != "true" and r.findtext("IsFullyReceived") != "true"]
        if len(open_) == 1:
            return open_[0], None
        return None, (f"{len(mine)} purchase orders numbered {plan['ref_number']} for {plan['vendor']} in QuickBooks "
                      f"({len(open_)} open); change the right one by hand, then dismiss this document")

    # ------------------------------------------------------------------ item receipts
    @staticmethod
    def _receipt_in_flight(s, company: str, rq: QueuedRequest, batch: dict) -> bool:
        """Another receipt for one of these POs is being linked or posted: receipts of one PO go one at a
        time, so each reads the open quantities the previous one left."""
        pos = set((rq.meta or {}).get("link_plan", {}).get("po_numbers") or [])
        if pos & batch.get("receipt_pos", set()):
            return True
        for other in s.scalars(select(QueuedRequest).where(
                QueuedRequest.company == company, QueuedRequest.request_type == "ItemReceiptAdd",
                QueuedRequest.id != rq.id,
                QueuedRequest.state.in_((RqState.QUEUED, RqState.SENT, RqState.UNKNOWN)))):
            meta = other.meta or {}
            busy = other.state != RqState.QUEUED or meta.get("linked")
            if busy and pos & set(meta.get("link_plan", {}).get("po_numbers") or []):
                return True
        return False

    @staticmethod
    def _po_add_pending(s, company: str, po_numbers: list[str], batch: dict) -> bool:
        if not po_numbers:
            return False
        pending = s.scalars(select(QueuedRequest.id).where(
            QueuedRequest.company == company, QueuedRequest.request_type == "PurchaseOrderAdd",
            QueuedRequest.ref_number.in_(po_numbers),
            QueuedRequest.state.in_((RqState.QUEUED, RqState.SENT, RqState.UNKNOWN)))).all()
        return bool(pending)

    def _link(self, s, session: QBSession, rid: int, item) -> None:
        """Turn an ItemReceipt's link plan into ItemLineAdd/LinkToTxn against open PO lines."""
        rq = s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.QUEUED:
            return
        plan = (rq.meta or {}).get("link_plan") or {}
        if item.status_code not in (0, 1):
            if item.status_code in TRANSIENT:
                return  # asked again next round
            self._hold(s, rq, "qb_error", f"reading the purchase orders failed: {item.message}",
                       status_code=item.status_code)
            return
        pos: dict[str, list] = {}
        for ret in item.rets or []:
            if (ret.findtext("VendorRef/FullName") or "").lower() != rq.vendor.lower():
                continue
            pos.setdefault(ret.findtext("RefNumber") or "", []).append(ret)
        missing = [n for n in plan.get("po_numbers", []) if n not in pos]
        if missing:
            self._hold(s, rq, "unknown_po", f"purchase order {', '.join(missing)} of {rq.vendor} is not in "
                                            "QuickBooks (or belongs to another vendor)")
            session.state["held"] = session.state.get("held", 0) + 1
            return
        open_qty: dict[tuple[str, str], Decimal] = {}
        po_lines = []  # (po ref, txn id, line element)
        for ref_number, rets in pos.items():
            for ret in rets:
                closed = ret.findtext("IsManuallyClosed") == "true" or ret.findtext("IsFullyReceived") == "true"
                for ln in ret.findall("PurchaseOrderLineRet"):
                    key = (ret.findtext("TxnID"), ln.findtext("TxnLineID"))
                    qty = _dec(ln.findtext("Quantity")) - _dec(ln.findtext("ReceivedQuantity"))
                    open_qty[key] = Decimal(0) if closed or ln.findtext("IsManuallyClosed") == "true" else max(qty, 0)
                    po_lines.append((ref_number, key, ln))
        from qbxml_templates.specs import ItemLine, ItemReceiptSpec

        lines, problems, links = [], [], []
        for p in plan.get("lines", []):
            need = Decimal(p["quantity"])
            cands = [(ref, key, ln) for ref, key, ln in po_lines
                     if (not p["po_number"] or ref == p["po_number"]) and _same_item(ln, p)]
            if not cands:
                problems.append(("unmapped_line", f"{p['item'] or p['vendor_part']} (line {p['line'] or '?'}) is not "
                                                  f"on purchase order {p['po_number'] or ', '.join(pos)}"))
                continue
            for ref, key, ln in cands:
                take = min(need, open_qty[key])
                if take <= 0:
                    continue
                lines.append(ItemLine(item=ln.findtext("ItemRef/FullName") or p["item"], quantity=take,
                                      description=p["description"], link_txn_id=key[0], link_txn_line_id=key[1]))
                links.append({"po": ref, "txn_id": key[0], "txn_line_id": key[1], "quantity": str(take)})
                open_qty[key] -= take
                need -= take
                if need == 0:
                    break
            if need > 0:
                shipped = f" ({p['shipped']})" if p.get("shipped") else ""  # converted from the supplier's unit
                problems.append(("over_receipt", f"{p['quantity']}{shipped} x {p['item'] or p['vendor_part']} shipped but "
                                                 f"purchase order {p['po_number'] or '?'} has only "
                                                 f"{Decimal(p['quantity']) - need} open"))
        if problems:
            self._hold(s, rq, problems[0][0], "; ".join(m for _, m in problems))
            session.state["held"] = session.state.get("held", 0) + 1
            return
        old = etree.fromstring(rq.qbxml).find("ItemReceiptAdd")
        spec = ItemReceiptSpec(vendor=rq.vendor, txn_date=_date(old.findtext("TxnDate")),
                               ref_number=old.findtext("RefNumber") or "", memo=old.findtext("Memo") or "",
                               external_guid=old.findtext("ExternalGUID") or "", item_lines=lines)
        rq.qbxml = etree.tostring(qx.item_receipt_add(spec), encoding="unicode")
        rq.line_count = max(1, len(lines))
        rq.meta = {**(rq.meta or {}), "linked": True, "links": links}
        audit(s, "linked", document=rq.document, request_id=rq.id, links=links)

    # ------------------------------------------------------------------ learning / progress
    def _learn(self, s, batch: dict, elapsed: float) -> None:
        """Learn seconds = per_request * requests + per_line * lines, per request type.

        Exponentially weighted least squares over the batches seen (the time between
        our answer and QBWC's receiveResponseXML); a batch holding several types
        shares its time out by their predicted parts. Until batches differ enough
        to separate the two costs, both are scaled together.
        """
        predicted = batch.get("predicted") or 0.0
        types = batch.get("types") or {}
        if predicted <= 0 or elapsed <= 0 or not types:
            return
        shares = {t: self._cost(s, t)[0] * n + self._cost(s, t)[1] * lines for t, (n, lines) in types.items()}
        total = sum(shares.values()) or 1.0
        for rq_type, (n, lines) in types.items():
            y = elapsed * shares[rq_type] / total
            row = s.info["cost_rows"].get(rq_type) if "cost_rows" in s.info else None
            row = row or s.get(CostSample, rq_type)
            if row is None:
                row = CostSample(request_type=rq_type, per_request=DEFAULT_COST["per_request"],
                                 per_line=DEFAULT_COST["per_line"], samples=0, stats=None)
                s.add(row)
            f = list((row.stats or {}).get("sums") or [0.0] * 5)  # Snn, SnL, SLL, Sny, SLy
            for i, v in enumerate((n * n, n * lines, lines * lines, n * y, lines * y)):
                f[i] = FORGET * f[i] + v
            row.stats = {"sums": f}
            det = f[0] * f[2] - f[1] * f[1]
            a = b = None
            if det > 1e-6 * f[0] * f[2]:
                a, b = (f[3] * f[2] - f[1] * f[4]) / det, (f[0] * f[4] - f[1] * f[3]) / det
            if a is not None and a > 0 and b > 0:
                row.per_request, row.per_line = a, b
            else:  # not separable yet: one correction for both
                ratio = max(0.05, min(20.0, y / max(1e-9, float(row.per_request) * n + float(row.per_line) * lines)))
                factor = (1 - EWMA_ALPHA) + EWMA_ALPHA * ratio
                row.per_request, row.per_line = float(row.per_request) * factor, float(row.per_line) * factor
            row.samples = (row.samples or 0) + 1

    def _percent(self, session: QBSession, s=None) -> int:
        if s is None:
            with self.store.session() as s:
                return self._percent(session, s)
        s.flush()
        remaining = self._pending_count(s, session.username)
        reading = any((r or {}).get("iterator_id") for r in self._refs(s, session.username).values())
        if remaining == 0:
            return 99 if reading else 100  # finish a list read: its iterator dies with the session
        done = session.state.get("processed", 0)
        return max(0, min(99, int(100 * done / (done + remaining))))


REF_LISTS = {  # list -> (query builder, iterator allowed by the 13.0 XSD, name field in the Ret)
    "Vendor": ("vendor_query", True, "Name"),
    "Account": ("account_query", False, "FullName"),  # AccountQueryRq/ClassQueryRq take no iterator: read whole
    "Class": ("class_query", False, "FullName"),
    "Item": ("item_query", True, "FullName"),
}
REF_PAGE = 500


def _without(meta: dict | None, *keys: str) -> dict:
    return {k: v for k, v in (meta or {}).items() if k not in keys}


def _dec(text: str | None) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _date(text: str | None):
    from datetime import date

    return date.fromisoformat(text) if text else None


def _po_key(rq: QueuedRequest) -> tuple[str, str]:
    """The purchase order a change (``mod_plan``) applies to: vendor and PO number."""
    return (rq.vendor or "").lower(), rq.meta["mod_plan"]["ref_number"]


def _same_item(po_line, plan_line: dict) -> bool:
    name = (po_line.findtext("ItemRef/FullName") or "").lower()
    mpn = (po_line.findtext("ManufacturerPartNumber") or "").lower()
    item, part = (plan_line.get("item") or "").lower(), (plan_line.get("vendor_part") or "").lower()
    return bool((item and item == name) or (part and (part == mpn or part == name)))


def last_contact(store: Store) -> list[dict]:
    with store.session() as s:
        return [{"company": c.company, "last_contact": c.last_contact.isoformat() if isinstance(c.last_contact, datetime)
                 else None, "last_result": c.last_result, "info": c.info} for c in s.scalars(select(CompanyState))]
