"""Purchase orders at send time: reading the PO a change (850 ``04``/``01``) applies to, and
linking a receipt's (856) lines to the open lines of its purchase orders.

Both read QuickBooks one round trip before they write, so an EditSequence or an open quantity is
never older than one round trip. Receipts of one purchase order go one at a time, and two changes
of one purchase order in the order they were received (see ``_building``).
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

import qbxml_templates as qx
from qbxml_templates.refs import references
from qbxml_templates.specs import ItemLine

from .. import lifecycle
from ..plans import Link, ModPlan, PoLineRead, PoRead, ReceiptLine, RequestMeta
from ..status import IN_FLIGHT_REQUEST, Hold, RqState
from ..store import QueuedRequest, audit


def dec(text: str | None) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _closed(ret) -> bool:
    return ret.findtext("IsManuallyClosed") == "true" or ret.findtext("IsFullyReceived") == "true"


# ---------------------------------------------------------------- changes

def po_add_pending(s: Session, company: str, po_numbers) -> bool:
    """Is a PurchaseOrderAdd for one of these numbers still on its way to QuickBooks?"""
    if not po_numbers:
        return False
    return bool(s.scalars(select(QueuedRequest.id).where(
        QueuedRequest.company == company, QueuedRequest.request_type == "PurchaseOrderAdd",
        QueuedRequest.ref_number.in_(list(po_numbers)), QueuedRequest.state.in_(IN_FLIGHT_REQUEST))).all())


def po_for_change(s: Session, rq: QueuedRequest, plan: ModPlan, rets: list):
    """(the PO a change applies to, why none can be chosen). QuickBooks allows reused PO numbers:
    the PO we added ourselves wins, else the only open one."""
    mine = [r for r in rets if (r.findtext("VendorRef/FullName") or "").lower() == plan.vendor.lower()]
    ours = s.scalars(select(QueuedRequest.result_txn_id).where(
        QueuedRequest.company == rq.company, QueuedRequest.request_type == "PurchaseOrderAdd",
        QueuedRequest.ref_number == plan.ref_number, QueuedRequest.state == RqState.DONE)).all()
    for r in mine:
        if r.findtext("TxnID") in ours:
            return r, None
    if len(mine) <= 1:
        return (mine[0] if mine else None), None
    open_ = [r for r in mine if not _closed(r)]
    if len(open_) == 1:
        return open_[0], None
    return None, (f"{len(mine)} purchase orders numbered {plan.ref_number} for {plan.vendor} in QuickBooks "
                  f"({len(open_)} open); change the right one by hand, then dismiss this document")


def apply_po_read(s: Session, rq: QueuedRequest, meta: RequestMeta, rets: list, ticket: str) -> str | None:
    """Remember TxnID + EditSequence + lines of the PO a change applies to (valid for this session).
    Returns the hold code when the change was held instead."""
    plan = meta.mod_plan
    ret, why = po_for_change(s, rq, plan, rets)
    if why:
        lifecycle.hold_request(s, rq, Hold.AMBIGUOUS_PO, why)
        return Hold.AMBIGUOUS_PO
    if ret is None:
        lifecycle.hold_request(s, rq, Hold.UNKNOWN_PO, f"purchase order {plan.ref_number} of {plan.vendor} is not "
                                                       "in QuickBooks, so the change cannot be applied")
        return Hold.UNKNOWN_PO
    read = PoRead(txn_id=ret.findtext("TxnID"), edit_sequence=ret.findtext("EditSequence"), ticket=ticket,
                  lines=tuple(PoLineRead(txn_line_id=ln.findtext("TxnLineID") or "",
                                         item=ln.findtext("ItemRef/FullName") or "",
                                         received=dec(ln.findtext("ReceivedQuantity")))
                              for ln in ret.findall("PurchaseOrderLineRet")))
    lifecycle.set_meta(rq, replace(meta, po_read=read))
    audit(s, "read", document=rq.document, request_id=rq.id, txn_id=read.txn_id, edit_sequence=read.edit_sequence)
    return None


# ---------------------------------------------------------------- receipts

def link_in_flight(s: Session, company: str, rq: QueuedRequest, po_numbers, batch_pos: set[str]) -> bool:
    """Another receipt (or bill) for one of these POs is being linked or posted: receipts of one PO go one
    at a time, and so do bills, so each reads the open quantities the previous one left."""
    pos = set(po_numbers)
    if pos & batch_pos:
        return True
    for other in s.scalars(select(QueuedRequest).where(
            QueuedRequest.company == company, QueuedRequest.request_type == rq.request_type,
            QueuedRequest.id != rq.id, QueuedRequest.state.in_(IN_FLIGHT_REQUEST))):
        meta = RequestMeta.from_json(other.meta)
        busy = other.state != RqState.QUEUED or meta.linked
        theirs = meta.link_plan.po_numbers if meta.link_plan is not None else meta.bill_pos
        if busy and pos & set(theirs):
            return True
    return False


def _same_item(po_line, line: ReceiptLine) -> bool:
    name = (po_line.findtext("ItemRef/FullName") or "").lower()
    mpn = (po_line.findtext("ManufacturerPartNumber") or "").lower()
    item, part = line.item.lower(), line.vendor_part.lower()
    return bool((item and item == name) or (part and (part == mpn or part == name)))


def _open_lines(pos: dict[str, list]) -> tuple[dict[tuple[str, str], Decimal], list]:
    """Open quantity per (TxnID, TxnLineID), and every PO line as (PO number, key, element)."""
    open_qty: dict[tuple[str, str], Decimal] = {}
    po_lines = []
    for ref_number, rets in pos.items():
        for ret in rets:
            for ln in ret.findall("PurchaseOrderLineRet"):
                key = (ret.findtext("TxnID"), ln.findtext("TxnLineID"))
                qty = dec(ln.findtext("Quantity")) - dec(ln.findtext("ReceivedQuantity"))
                open_qty[key] = Decimal(0) if _closed(ret) or ln.findtext("IsManuallyClosed") == "true" \
                    else max(qty, 0)
                po_lines.append((ref_number, key, ln))
    return open_qty, po_lines


def _per(x: ReceiptLine) -> Decimal:
    """QuickBooks' units in one of the supplier's (``shipped``: "4 CA" when converted), else 1."""
    try:
        return x.quantity / Decimal(x.shipped.split()[0]) if x.shipped else Decimal(1)
    except (InvalidOperation, ZeroDivisionError, IndexError):
        return Decimal(1)


def _take(p: ReceiptLine, pos: dict, open_qty: dict, po_lines: list, lines: list, links: list):
    """Take one receipt line's quantity from the open PO lines it matches; returns (code, message, quantity
    not taken, in QuickBooks' unit) when it cannot be taken whole."""
    need = p.quantity
    cands = [(ref, key, ln) for ref, key, ln in po_lines if (not p.po_number or ref == p.po_number)
             and _same_item(ln, p)]
    if not cands:
        return Hold.UNMAPPED_LINE, f"{p.name} (line {p.line or '?'}) is not on purchase order " \
                                   f"{p.po_number or ', '.join(pos)}", p.quantity
    for ref, key, ln in cands:
        take = min(need, open_qty[key])
        if take <= 0:
            continue
        lines.append(ItemLine(item=ln.findtext("ItemRef/FullName") or p.item, quantity=take, description=p.description,
                              link_txn_id=key[0], link_txn_line_id=key[1]))
        links.append(Link(po=ref, txn_id=key[0], txn_line_id=key[1], quantity=take))
        open_qty[key] -= take
        need -= take
        if need == 0:
            return None
    shipped = f" ({p.shipped})" if p.shipped else ""  # converted from the supplier's unit
    open_words = f"has only {p.quantity - need} open" if p.quantity > need else "has nothing open"
    return Hold.OVER_RECEIPT, f"{p.quantity}{shipped} x {p.name} shipped but purchase order {p.po_number or '?'} " \
                              f"{open_words}", need


def link_receipt(s: Session, rq: QueuedRequest, meta: RequestMeta, rets: list) -> str | None:
    """Turn an ItemReceipt's link plan into ItemLineAdd/LinkToTxn against open PO lines. Returns the
    hold code when the receipt was held instead."""
    plan = meta.link_plan
    pos: dict[str, list] = {}
    for ret in rets:
        if (ret.findtext("VendorRef/FullName") or "").lower() == rq.vendor.lower():
            pos.setdefault(ret.findtext("RefNumber") or "", []).append(ret)
    missing = [n for n in plan.po_numbers if n not in pos]
    if missing:
        lifecycle.hold_request(s, rq, Hold.UNKNOWN_PO, f"purchase order {', '.join(missing)} of {rq.vendor} is not "
                                                       "in QuickBooks (or belongs to another vendor)")
        return Hold.UNKNOWN_PO
    open_qty, po_lines = _open_lines(pos)
    lines: list[ItemLine] = []
    links: list[Link] = []
    taken = [(x, _take(x, pos, open_qty, po_lines, lines, links)) for x in plan.lines]
    left_out = [(x, p) for x, p in taken if p and plan.open_only and p[0] == Hold.OVER_RECEIPT]
    problems = [p for _, p in taken if p and not (plan.open_only and p[0] == Hold.OVER_RECEIPT)]
    if not problems and not lines:  # (what is open was chosen, and nothing is)
        problems = [(Hold.OVER_RECEIPT, "nothing is open on purchase order " + ", ".join(plan.po_numbers) +
                     ": nothing to receive; " + "; ".join(p[1] for _, p in left_out))]
    if problems:
        lifecycle.hold_request(s, rq, problems[0][0], "; ".join(p[1] for p in problems))
        return problems[0][0]
    if left_out:  # a person chose to receive what is open: the rest is said, never received
        said = [f"{p[2]} x {x.name} (of {x.quantity} shipped)" for x, p in left_out]
        audit(s, "over_shipment_left_out", document=rq.document, request_id=rq.id,
              message="received what the purchase order has open; not received: " + "; ".join(said))
        doc = rq.document  # (what the notice received, for the three-way match and its page: less these,
        doc.parsed = {**(doc.parsed or {}), "not_received": [  # in the supplier's unit, as its lines count)
            {"vendor_part": x.vendor_part, "item": x.item, "quantity": str(p[2] / _per(x))} for x, p in left_out]}
    el = plan.linked(lines)
    rq.qbxml = etree.tostring(el, encoding="unicode")
    rq.line_count = max(1, len(lines))
    lifecycle.set_meta(rq, replace(meta, linked=True, links=tuple(links), refs=tuple(references(el))))
    audit(s, "linked", document=rq.document, request_id=rq.id, links=[ln.to_json() for ln in links])
    return None



# ---------------------------------------------------------------- bills

def link_bill(s: Session, rq: QueuedRequest, meta: RequestMeta, rets: list) -> None:
    """Link a bill's item lines to the open (unbilled) lines of the purchase orders it names, as QuickBooks
    has them now: each item line to the first line of the same item with enough left unbilled. A line (or a
    PO) QuickBooks does not have stays unlinked and the bill goes as it is: the three-way match has already
    compared it with what qbedi holds; the trail says what was and was not linked."""
    el = etree.fromstring(rq.qbxml)
    pos = {}
    for ret in rets:
        if (ret.findtext("VendorRef/FullName") or "").lower() == rq.vendor.lower() and not _closed(ret):
            pos.setdefault(ret.findtext("RefNumber") or "", ret)
    left: dict[tuple[str, str], Decimal] = {}
    po_lines = []
    for ref_number, ret in pos.items():
        for ln in ret.findall("PurchaseOrderLineRet"):
            key = (ret.findtext("TxnID"), ln.findtext("TxnLineID"))
            left[key] = Decimal(0) if ln.findtext("IsManuallyClosed") == "true" else dec(ln.findtext("UnbilledQuantity"))
            po_lines.append((ref_number, key, (ln.findtext("ItemRef/FullName") or "").lower()))
    links: dict[int, tuple[str, str]] = {}
    made: list[Link] = []
    unlinked: list[str] = []
    for i, line in enumerate(el.find("BillAdd").iterchildren("ItemLineAdd")):
        item, qty = (line.findtext("ItemRef/FullName") or "").lower(), dec(line.findtext("Quantity"))
        hit = next(((ref, key) for ref, key, name in po_lines if name == item and left[key] >= qty > 0), None)
        if hit is None:
            same = [left[key] for _, key, name in po_lines if name == item]
            name = line.findtext("ItemRef/FullName") or "?"
            unlinked.append(f"{name} x {qty} (" + (f"{sum(same)} left unbilled on the PO)" if same else
                                                   "not on the PO)"))
            continue
        ref, key = hit
        left[key] -= qty
        links[i] = key
        made.append(Link(po=ref, txn_id=key[0], txn_line_id=key[1], quantity=qty))
    missing = [n for n in meta.bill_pos if n not in pos]
    if links:
        el = qx.link_item_lines(el, links)
        rq.qbxml = etree.tostring(el, encoding="unicode")
    lifecycle.set_meta(rq, replace(meta, linked=True, links=tuple(made)))
    said = []
    if missing:
        said.append(f"QuickBooks has no open purchase order {', '.join(missing)} of {rq.vendor}")
    if made:
        said.append(f"{len(made)} item line{'s' if len(made) != 1 else ''} linked to purchase order "
                    f"{', '.join(sorted({ln.po for ln in made}))}")
    if unlinked and pos:
        said.append(f"not linked, so the PO stays open for them in QuickBooks: {'; '.join(unlinked[:10])}"
                    + (f" and {len(unlinked) - 10} more" if len(unlinked) > 10 else ""))
    audit(s, "linked" if made else "link_skipped", document=rq.document, request_id=rq.id,
          lines_linked=len(made), purchase_orders=sorted({ln.po for ln in made}), unlinked=unlinked[:10],
          message="; ".join(said) or "no item line to link")
