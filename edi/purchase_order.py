"""850 Purchase Order -> ``PurchaseOrder``."""
from __future__ import annotations

from decimal import Decimal

from .common import charge, missing, party, party_detail, product_ids, terms
from .model import Envelope, Issue, PurchaseOrder, PurchaseOrderLine
from .values import SegmentView, Values, money


def parse_purchase_order(envelope: Envelope, segments: list[SegmentView]) -> PurchaseOrder:
    po = PurchaseOrder(envelope=envelope, number="", date=None)
    v = Values(po.issues)
    area = "header"
    cur_party = None
    line: PurchaseOrderLine | None = None
    seen: set[str] = set()
    amt_total = None
    for seg in segments:
        tag = seg.tag
        seen.add(tag)
        if tag == "BEG":
            po.purpose = seg.get(1)
            po.order_type = seg.get(2)
            po.number = seg.get(3)
            po.date = v.dt(seg, 5)
            if not po.number:
                v._bad(seg, 3, "purchase order number (BEG03) is empty", x12_code="1")
            if not seg.get(5):
                v._bad(seg, 5, "purchase order date (BEG05) is empty", x12_code="1")
        elif tag == "PO1":
            area = "detail"
            cur_party = None
            line = _line(seg, v, len(po.lines) + 1)
            po.lines.append(line)
        elif tag == "CTT":
            area = "summary"
            line = None
            po.line_count = v.n0(seg, 1)
        elif tag == "AMT":
            if seg.get(1).upper() == "TT":
                amt_total = v.r(seg, 2)
        elif tag == "SAC":
            if line is not None:
                line.charges.append(charge(seg, v, line.amount, po.issues))
            else:
                base = sum((ln.amount or Decimal("0") for ln in po.lines), Decimal("0")) if po.lines else None
                po.charges.append(charge(seg, v, base, po.issues))
        elif tag == "N1":
            p = party(seg)
            if area == "header":
                po.parties.append(p)
            cur_party = p
        elif tag in ("N2", "N3", "N4", "PER"):
            if cur_party is not None:
                party_detail(cur_party, seg)
        elif tag == "REF":
            if area == "header" and cur_party is None:
                po.references.setdefault(seg.get(1), seg.get(2))
        elif tag == "CUR":
            if area == "header" and seg.get(2):
                po.currency = seg.get(2)
        elif tag == "ITD":
            po.terms.append(terms(seg, v))
        elif tag == "DTM":
            if area == "header":
                d = v.dt(seg, 2)
                if d is not None:
                    po.dates.setdefault(seg.get(1), d)
        elif tag == "PID":
            text = seg.get(5)
            if line is not None and text:
                line.description = f"{line.description} {text}".strip()
        elif tag in ("NTE", "MSG", "MTX"):
            text = seg.get(2) if tag in ("NTE", "MTX") else seg.get(1)
            if text:
                po.notes.append(text)
    if "BEG" not in seen:
        po.issues.append(missing("BEG", "850 has no BEG segment (PO number and date)"))
    if not po.lines:
        po.issues.append(missing("PO1", "850 has no PO1 line items"))
    if amt_total is not None:
        po.total = amt_total
    elif po.lines and all(ln.amount is not None for ln in po.lines):
        po.total = money(
            sum((ln.amount for ln in po.lines), Decimal("0"))
            + sum((c.amount for ln in po.lines for c in ln.charges), Decimal("0"))
            + sum((c.amount for c in po.charges), Decimal("0"))
        )
    if po.line_count is not None and po.line_count != len(po.lines):
        po.issues.append(
            Issue(
                code="invalid_value",
                message=f"CTT01 says {po.line_count} line items, counted {len(po.lines)} PO1",
                segment="CTT",
                element=1,
                severity="warning",
            )
        )
    return po


def _line(seg: SegmentView, v: Values, ordinal: int) -> PurchaseOrderLine:
    qty = v.r(seg, 2)
    if qty is None and not seg.get(2):
        v._bad(seg, 2, "quantity ordered (PO102) is missing")
    qty = qty if qty is not None else Decimal("0")
    price = v.r(seg, 4)
    return PurchaseOrderLine(
        line_number=seg.get(1) or str(ordinal),
        quantity=qty,
        unit=seg.get(3),
        unit_price=price,
        amount=money(qty * price) if price is not None else None,
        products=product_ids(seg, 6),
        position=seg.position,
    )
