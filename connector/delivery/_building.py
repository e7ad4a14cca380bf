"""What goes to QuickBooks in the next message set.

In this order, as much as fits the time budget (at least one element):

0. pages of name lists that are due (:mod:`._lists`), in the same round trip as the writes;
1. lost answers, looked up before anything is sent again (a change is simply re-read);
2. queued work, oldest first: a change whose purchase order was not read in this session is read
   first; a receipt reads its purchase orders first; everything else is checked against the name
   lists (missing vendors created when allowed, else held) and sent. A bill too big for the budget
   goes in parts (a BillAdd, then BillMods), as many lines a part as fit.

Requests that go are marked ``sent`` (and committed by the caller) before the message set leaves.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

import qbxml_templates as qx
from qbxml_templates.refs import references

from .. import lifecycle
from ..plans import BillParts, RequestMeta
from ..status import Hold, RqState
from ..store import CompanyState, Document, QueuedRequest, audit, utcnow
from ._answers import MAX_VERIFY_TRIES
from ._batch import Batch, Progress, RequestKey, RequestKind
from ._cost import CostBook
from ._lists import NameLists
from ._purchasing import link_in_flight, po_add_pending

log = structlog.get_logger(__name__)

BUDGET_FILL = 0.97  # fill batches to this share of the budget: real QuickBooks times are noisy
MIN_PART_LINES = 20  # a part of a bill sent in parts smaller than this waits for a batch of its own
MEASURED = 3  # BillMod batches measured before the cost of kept lines is trusted to refuse a bill up front
_QUERY_FOR = {  # Add type -> query builder for a lost answer
    "BillAdd": "bill_query",
    "VendorCreditAdd": "vendor_credit_query",
    "PurchaseOrderAdd": "purchase_order_query",
    "ItemReceiptAdd": "item_receipt_query",
}


@dataclass(frozen=True)
class Limits:
    budget: float  # seconds of QuickBooks time per message set
    max_requests: int
    validate: bool  # check each request against the XSD before it goes
    auto_create_vendors: bool


RECONCILE_PER_BATCH = 10  # posted transactions looked up in one batch at most (in its spare room)
RECONCILE_PER_SESSION = 50  # and in one Web Connector session: the rest of a pass waits for the next sessions
RECONCILE_EVERY_HOURS = 24  # a new pass over a company's posted transactions starts this long after the last
RECONCILE_QUERY = {"BillAdd": "bill_query", "VendorCreditAdd": "vendor_credit_query"}


def reconcile_cursor(s: Session, company: str) -> int | None:
    """The request id the reconciliation pass goes on after, or None when no pass is due."""
    cs = s.get(CompanyState, company)
    state = ((cs.info or {}) if cs is not None else {}).get("reconcile") or {}
    if state.get("after") is not None and not state.get("finished_at"):
        return int(state["after"])
    finished = state.get("finished_at")
    if finished and (utcnow() - datetime.fromisoformat(finished)).total_seconds() < RECONCILE_EVERY_HOURS * 3600:
        return None
    return 0  # never done, or the last pass is old enough: a new pass from the start


def _posted_after(company: str, cursor: int):
    """This company's posted bills and credits after ``cursor``, in (company, state, id) index order."""
    return select(QueuedRequest).where(
        QueuedRequest.company == company, QueuedRequest.state == RqState.DONE, QueuedRequest.id > cursor,
        QueuedRequest.request_type.in_(list(RECONCILE_QUERY))).order_by(
        QueuedRequest.company, QueuedRequest.state, QueuedRequest.id)


def reconcile_due(s: Session, company: str) -> bool:
    """Is a reconciliation pass due with something to look up (a Web Connector session is then worth it)?"""
    cursor = reconcile_cursor(s, company)
    return cursor is not None and s.scalar(_posted_after(company, cursor).with_only_columns(
        QueuedRequest.id).limit(1)) is not None


def set_reconcile_cursor(s: Session, company: str, after: int, *, finished: bool) -> None:
    cs = s.get(CompanyState, company) or CompanyState(company=company, info={})
    state = {"after": after, "finished_at": utcnow().isoformat() if finished else None}
    if (cs.info or {}).get("reconcile") != state:
        cs.info = {**(cs.info or {}), "reconcile": state}
        s.merge(cs)


class Full(Exception):
    """The budget is spent: the batch is complete."""


def queued(s: Session, company: str, page: int):
    """Queued requests, oldest first, a page at a time (rows waiting for something don't block the rest).

    Ordered as the (company, state, id) index is, so each page is a range of it: with ``ORDER BY id``
    alone PostgreSQL may walk the primary key and filter out every drained row before the first queued."""
    last = 0
    while True:
        rows = list(s.scalars(select(QueuedRequest).where(
            QueuedRequest.company == company, QueuedRequest.state == RqState.QUEUED, QueuedRequest.id > last)
            .options(selectinload(QueuedRequest.document).load_only(Document.id, Document.file_id, Document.status))
            .order_by(QueuedRequest.company, QueuedRequest.state, QueuedRequest.id).limit(page)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id


class BatchBuilder:
    """Fills one :class:`Batch` for one session, in one unit of work."""

    def __init__(self, s: Session, *, company: str, ticket: str, qbxml_version: str, progress: Progress,
                 limits: Limits, costs: CostBook, lists: NameLists):
        self.s, self.company, self.ticket, self.version = s, company, ticket, qbxml_version
        self.progress, self.limits, self.costs, self.lists = progress, limits, costs, lists
        self.limit = 1 if progress.solo else limits.max_requests
        self.budget = limits.budget * BUDGET_FILL / costs.overrun()
        self.batch = Batch()
        self.elements: list[etree._Element] = []
        self.reading: set[str] = set()  # name lists read in this batch
        self.created: set[str] = set()  # vendors added in this batch
        # purchase orders with an earlier change waiting or in this batch: a later change of the same PO
        # waits its turn, or the older one (retried after it) would be applied last
        self.changing: set[tuple[str, str]] = set()
        self.sent: list[QueuedRequest] = []

    def build(self) -> tuple[list, Batch]:
        for list_name in self.lists.due():
            self._read_list(list_name)
        self.usable = self.lists.usable()
        try:
            self._verify_lost()
            if len(self.elements) < self.limit:
                self._fill()
            if self.batch.size < self.limit:
                self._reconcile()  # spare room only
        except Full:
            pass
        lifecycle.mark_sent(self.s, self.sent, self.batch.id, self.ticket[:8])
        for vid in self.batch.verify:
            self.s.get(QueuedRequest, vid).batch_id = self.batch.id
        return self.elements, self.batch

    def _add(self, el, cost: float, *, bucket: list[int] | None = None, rid: int | None = None) -> None:
        """Put ``el`` in the batch, or raise :class:`Full` when it would not fit (the first always fits)."""
        if self.elements and self.batch.predicted + cost > self.budget:
            raise Full
        self.elements.append(el)
        self.batch.predicted += cost
        if bucket is not None:
            bucket.append(rid)

    def _read_list(self, list_name: str) -> None:
        if list_name not in self.reading:
            self.reading.add(list_name)
            self.batch.lists.append(list_name)
            self.elements.append(self.lists.query(list_name))
            self.batch.predicted += self.costs.predict(f"{list_name}Query", 1)

    # ------------------------------------------------------------ 1. lost answers
    def _verify_lost(self) -> None:
        for rq in self.s.scalars(select(QueuedRequest).where(QueuedRequest.company == self.company,
                                                             QueuedRequest.state == RqState.UNKNOWN)
                                 .order_by(QueuedRequest.company, QueuedRequest.state, QueuedRequest.id)
                                 .limit(self.limit)):  # (a range of the (company, state, id) index)
            meta = RequestMeta.from_json(rq.meta)
            if rq.request_type.endswith("Mod"):  # a Mod is re-read and re-applied; applying it twice is harmless
                if meta.mod_plan is not None:
                    self.changing.add(meta.mod_plan.po_key)
                lifecycle.resend(self.s, rq, replace(meta, po_read=None), "reread", "the answer to a change was "
                                 "lost; it will be re-read from QuickBooks and re-applied")
                continue
            el = self._verification_query(rq)
            if el is None:  # nothing to look it up by: a person decides
                lifecycle.hold_request(self.s, rq, Hold.UNVERIFIABLE, "the answer to this request was lost and it "
                                       "cannot be looked up in QuickBooks; check QuickBooks, then release or cancel it")
                self.progress.count("held")
                continue
            self._add(el, self.costs.predict(rq.request_type.replace("Add", "Query"), 1),
                      bucket=self.batch.verify, rid=rq.id)

    @staticmethod
    def _verification_query(rq: QueuedRequest):
        key = str(RequestKey.of(RequestKind.VERIFY, rq.id))
        parts = RequestMeta.from_json(rq.meta).parts
        if parts is not None and parts.txn_id:  # a later part of a bill in parts: the bill, with its lines
            return qx.bill_query(txn_ids=[parts.txn_id], include_line_items=True, request_id=key)
        builder = _QUERY_FOR.get(rq.request_type)
        if not builder or not rq.ref_number or not rq.vendor:
            return None
        if parts is not None:  # its first part: found by its ExternalGUID, with the lines it has
            return qx.bill_query(vendor=rq.vendor, ref_number=rq.ref_number, request_id=key, include_line_items=True)
        if rq.request_type == "PurchaseOrderAdd":
            return qx.purchase_order_query(vendor=rq.vendor, ref_number_range=(rq.ref_number, rq.ref_number),
                                           request_id=key, include_line_items=False, include_linked_txns=False)
        return getattr(qx, builder)(vendor=rq.vendor, ref_number=rq.ref_number, request_id=key)

    # ------------------------------------------------------------ 3. reconciliation (spare room only)
    def _reconcile(self) -> None:
        """Look up a few posted bills and credits by TxnID (:data:`RECONCILE_PER_BATCH` a batch), walking
        the company's posted requests in id order, one pass every :data:`RECONCILE_EVERY_HOURS` hours: is
        each still in QuickBooks at the posted amount? The answer flags the document (``_answers``)."""
        cursor = reconcile_cursor(self.s, self.company)
        if cursor is None or self.progress.checked >= RECONCILE_PER_SESSION:
            return
        rows = list(self.s.scalars(_posted_after(self.company, cursor).limit(RECONCILE_PER_BATCH * 4)))
        last = cursor
        for rq in rows:
            if len(self.batch.checks) >= RECONCILE_PER_BATCH or self.batch.size + len(self.batch.checks) >= self.limit \
                    or self.progress.checked + len(self.batch.checks) >= RECONCILE_PER_SESSION:
                break
            last = rq.id
            builder = RECONCILE_QUERY.get(rq.request_type)
            if builder is None or not rq.result_txn_id or rq.document_id is None:
                continue
            el = getattr(qx, builder)(txn_ids=[rq.result_txn_id], request_id=str(RequestKey.of(RequestKind.RECONCILE,
                                                                                                 rq.id)))
            try:
                self._add(el, self.costs.predict(rq.request_type.replace("Add", "Query"), 1),
                          bucket=self.batch.checks, rid=rq.id)
            except Full:
                last = self.batch.checks[-1] if self.batch.checks else cursor
                break
        self.progress.checked += len(self.batch.checks)
        set_reconcile_cursor(self.s, self.company, last, finished=len(rows) == 0)

    # ------------------------------------------------------------ 2. queued work
    def _fill(self) -> None:
        now = utcnow().isoformat()
        for rq in queued(self.s, self.company, page=self.limit + 10):
            if self.batch.size >= self.limit:
                return
            meta = RequestMeta.from_json(rq.meta)
            if meta.mod_plan is not None:
                if meta.mod_plan.po_key in self.changing:
                    continue  # an earlier change of this purchase order goes first
                self.changing.add(meta.mod_plan.po_key)
            if meta.not_before and meta.not_before > now:
                continue  # a transient QuickBooks error: wait before trying again
            if meta.mod_plan is not None:
                self._change(rq, meta)
            elif meta.waits_for_link:
                self._receipt(rq, meta)
            elif meta.waits_for_bill_link:
                self._bill_link(rq, meta)
            else:
                self._send(rq, meta, etree.fromstring(rq.qbxml))

    def _po_read(self, rq: QueuedRequest, kind: RequestKind, **query) -> None:
        self._add(qx.purchase_order_query(request_id=str(RequestKey.of(kind, rq.id)), include_line_items=True,
                                          include_linked_txns=False, **query),
                  self.costs.predict("PurchaseOrderQuery", 1), bucket=self.batch.lookups, rid=rq.id)

    def _change(self, rq: QueuedRequest, meta: RequestMeta) -> None:
        """A purchase order change: read the PO in this session first, then send the Mod."""
        plan, read = meta.mod_plan, meta.po_read
        if read is None or read.ticket != self.ticket:
            if not po_add_pending(self.s, self.company, [plan.ref_number]):
                self._po_read(rq, RequestKind.MOD_READ, ref_numbers=[plan.ref_number])
            return
        self._send(rq, meta, plan.request(read.txn_id, read.edit_sequence, read.lines))

    def _receipt(self, rq: QueuedRequest, meta: RequestMeta) -> None:
        """An ItemReceipt: read its purchase orders first (this round), add it next round."""
        self._pos_to_link(rq, meta.link_plan.po_numbers)

    def _bill_link(self, rq: QueuedRequest, meta: RequestMeta) -> None:
        """A bill whose item lines are linked to its purchase orders: read them first (this round), link and
        send it next round (``_purchasing.link_bill``)."""
        if meta.parts is not None or self.costs.predict(rq.request_type, rq.line_count) > self.budget:
            # too big for one round trip (or part-way in already): it goes in parts, and a BillMod line cannot
            # carry a link
            lifecycle.set_meta(rq, replace(meta, linked=True))
            audit(self.s, "link_skipped", document=rq.document, request_id=rq.id, unlinked=[],
                  message=f"not linked to purchase order {', '.join(meta.bill_pos)}: the bill is too big for one Web "
                          "Connector round trip and goes in parts, whose added lines cannot carry a link; receive "
                          "or close the PO in QuickBooks by hand")
            return
        self._pos_to_link(rq, meta.bill_pos)

    def _pos_to_link(self, rq: QueuedRequest, po_numbers: tuple[str, ...]) -> None:
        """Read the purchase orders a receipt or bill links to (its vendor's when it names none), unless one is
        still on its way to QuickBooks or another receipt / bill is using its open quantities: then later."""
        if po_add_pending(self.s, self.company, po_numbers) or \
                link_in_flight(self.s, self.company, rq, po_numbers, self.batch.receipt_pos):
            return
        self._po_read(rq, RequestKind.LINK_READ, ref_numbers=list(po_numbers) or None,
                      vendor=None if po_numbers else rq.vendor)
        self.batch.receipt_pos.update(po_numbers)

    def _send(self, rq: QueuedRequest, meta: RequestMeta, el) -> None:
        cost = self.costs.predict(rq.request_type, rq.line_count)
        if rq.request_type == "BillAdd" and (meta.parts is not None or cost > self.budget) and qx.splittable(el):
            self._send_part(rq, meta, el)
            return
        if meta.parts is not None and meta.parts.txn_id:  # part-way in, and no longer sent in parts: never whole
            lifecycle.hold_request(self.s, rq, Hold.PARTIAL_BILL, f"{meta.parts.said}, and the invoice as translated "
                                   "now cannot be added to it in parts: check the bill in QuickBooks; delete it there "
                                   "and release this document to post the invoice again whole, or dismiss this")
            self.progress.count("held")
            return
        if self.elements and self.batch.predicted + cost > self.budget:
            raise Full
        if self.usable and not self._names_known(rq, meta, el):
            return
        el.set("requestID", str(RequestKey.of(RequestKind.QUEUED, rq.id)))
        if self._invalid(rq, el):
            return
        self._add(el, cost, bucket=self.batch.requests, rid=rq.id)
        self.batch.carries(rq.request_type, rq.line_count)
        self.sent.append(rq)

    def _send_part(self, rq: QueuedRequest, meta: RequestMeta, el) -> None:
        """A bill too big for one round trip, or part-way into QuickBooks already: its next part, as many
        lines as the room left in this batch holds (the first part a BillAdd, each next one a BillMod that
        names the lines the bill has and adds the next ones). A part smaller than :data:`MIN_PART_LINES`
        waits for a batch of its own; a bill whose kept lines alone fill a round trip is held."""
        total = len(qx.bill_lines(el))
        parts = replace(meta.parts or BillParts(total=total), total=total, sending=0)
        if parts.txn_id and parts.reread:  # its EditSequence and lines first (stale, or released)
            self._add(qx.bill_query(txn_ids=[parts.txn_id], include_line_items=True,
                                    request_id=str(RequestKey.of(RequestKind.BILL_READ, rq.id))),
                      self.costs.predict("BillQuery", parts.posted), bucket=self.batch.lookups, rid=rq.id)
            return
        left = parts.total - parts.posted
        if left <= 0:
            lifecycle.hold_request(self.s, rq, Hold.PARTIAL_BILL, f"{parts.said}, and the invoice as translated "
                                   f"now has only {parts.total} lines: check the bill in QuickBooks, then dismiss this "
                                   "document (or delete the bill there and release it)")
            self.progress.count("held")
            return
        kind = "BillMod" if parts.txn_id else "BillAdd"
        cost, mod = self.costs.cost(kind), self.costs.cost("BillMod")
        room = self.budget - self.batch.predicted
        # lines the bill may hold and still take MIN_PART_LINES more in a round trip of their own
        keepable = int(max(0.0, self.budget - mod.per_request - mod.per_line * MIN_PART_LINES) / mod.per_kept)
        if not parts.txn_id and parts.total > keepable + MIN_PART_LINES and \
                self.costs.samples("BillMod") >= MEASURED:
            self._too_big(rq, parts, mod, keepable)  # known not to fit: nothing of it goes
            return
        now = cost.lines_within(room, kept=parts.posted if parts.txn_id else 0)
        if now >= left:
            n = left  # the last part
        else:  # leave room for the parts after this one; at least MIN_PART_LINES while the cost is being learned
            n = max(min(now, keepable - parts.posted), min(now, MIN_PART_LINES))
        if n < min(left, MIN_PART_LINES) and self.elements:
            raise Full  # a batch of its own
        if n < 1 and parts.txn_id and self.costs.samples("BillMod") >= MEASURED:
            self._too_big(rq, parts, mod, keepable)
            return
        # (not one line fits while BillMod's time is unmeasured, e.g. its first answers were lost: one line
        # goes, and what QuickBooks takes for it is learned; the parts before left room for about that)
        n = max(n, 1)
        if self.usable and not self._names_known(rq, meta, el):
            return
        key = str(RequestKey.of(RequestKind.QUEUED, rq.id))
        part = qx.bill_add_part(el, n, key) if kind == "BillAdd" else qx.bill_mod_part(
            el, parts.txn_id, parts.edit_sequence, keep_expense=parts.expense_ids, keep_items=parts.item_ids,
            start=parts.posted, stop=parts.posted + n, request_id=key)
        if self._invalid(rq, part):
            return
        kept = parts.posted if parts.txn_id else 0
        self._add(part, cost.predict(n, kept), bucket=self.batch.requests, rid=rq.id)
        self.batch.carries(kind, n, kept)
        lifecycle.set_meta(rq, replace(meta, parts=replace(parts, sending=n)))
        self.sent.append(rq)

    def _invalid(self, rq: QueuedRequest, el) -> bool:
        """Checked against the XSD (when asked to): a request that fails it is failed, never sent."""
        errors = qx.validate(qx.message_set([el], version=self.version)) if self.limits.validate else []
        if errors:
            lifecycle.fail_request(self.s, rq, None, "qbXML failed schema validation: " + "; ".join(errors[:3]))
            self.progress.count("failed")
        return bool(errors)

    def _too_big(self, rq: QueuedRequest, parts: BillParts, mod, keepable: int) -> None:
        where = parts.said if parts.txn_id else "nothing of it was sent"
        lifecycle.hold_request(self.s, rq, Hold.TOO_BIG, f"too big for QuickBooks in Web Connector round trips of "
                               f"{self.limits.budget:.0f} s: {where}. Adding lines to a bill names every line it "
                               f"has, and QuickBooks is expected to take {mod.per_kept:.3f} s per line kept, so a "
                               f"bill of more than about {keepable + MIN_PART_LINES} lines cannot be finished. Raise "
                               "web_connector.batch_budget_seconds (and the Web Connector's timeout), then release "
                               "this document; or enter the bill by hand in QuickBooks and dismiss it",
                               lines=parts.total, posted=parts.posted)
        self.progress.count("held")

    def _names_known(self, rq: QueuedRequest, meta: RequestMeta, el) -> bool:
        """Does QuickBooks have every list entry the request names? Missing vendors are added first
        when allowed; a missing name is re-read once before the request is held for a person."""
        names = self.lists.names()
        wanted = meta.refs if meta.refs is not None else references(el)  # a change: built just now
        missing = [(kind, name) for kind, name in wanted if name.lower() not in names[kind]]
        if missing and self.limits.auto_create_vendors and all(k == "Vendor" for k, _ in missing):
            for _, name in missing:
                if name.lower() not in self.created:
                    self.created.add(name.lower())
                    self.elements.append(qx.vendor_add(name, request_id=str(RequestKey.of(RequestKind.VENDOR, rq.id)),
                                                       **_new_vendor_fields(rq)))
                    self.batch.vendors.append(rq.id)
            return True
        if not missing or meta.ref_rechecks >= MAX_VERIFY_TRIES:
            return True  # (our lists could not settle it: QuickBooks decides, 3140 -> held)
        kinds = {k for k, _ in missing}
        if not meta.ref_recheck or kinds & self.reading:
            # maybe just added in QuickBooks: re-read those lists now, decide next round
            lifecycle.set_meta(rq, replace(meta, ref_rechecks=meta.ref_rechecks + 1, ref_recheck=True))
            for k in sorted(kinds):
                self._read_list(k)
            return False
        lifecycle.hold_request(self.s, rq, Hold.MISSING_REFERENCE, "; ".join(
            f"{k} \"{n}\" does not exist in QuickBooks (add it there, or fix the supplier mapping), then release "
            f"this document" for k, n in missing))
        self.progress.count("held")
        return False


def _new_vendor_fields(rq: QueuedRequest) -> dict:
    """What a vendor qbedi creates carries from the EDI: the supplier's own name and address (N1/N3/N4), its
    contact (PER: name, phone, fax, e-mail) and its supplier number in AccountNumber (QuickBooks' field for
    it), with a note saying where it came from. Every text is cut to QuickBooks' field lengths (the XSD's)."""
    doc = rq.document
    parsed = (doc.parsed or {}) if doc is not None else {}
    seller = parsed.get("seller") or {}
    number = (doc.supplier_id if doc is not None else None) or seller.get("id") or parsed.get("sender_id") or ""
    fields: dict = {"notes": f"Created by qbedi from EDI (supplier {number or '?'}, document "
                             f"{parsed.get('document_number') or '?'})"[:4095]}
    if number:
        fields["account_number"] = str(number)[:99]
    if seller.get("name"):
        fields["company_name"] = seller["name"][:41]
    lines = [x for x in seller.get("address_lines") or [] if x][:4]
    address = {f"Addr{i}": v[:41] for i, v in enumerate(([seller["name"]] if seller.get("name") else []) + lines, 1)}
    for key, field, size in (("city", "City", 31), ("state", "State", 21), ("postal_code", "PostalCode", 13),
                             ("country", "Country", 31)):
        if seller.get(key):
            address[field] = seller[key][:size]
    if len(address) > 1:  # more than the name alone
        fields["vendor_address"] = address
    for key, size in (("contact", 41), ("phone", 21), ("fax", 21), ("email", 1023)):  # (the XSD's lengths)
        if seller.get(key):
            fields[key] = seller[key][:size]
    return fields

