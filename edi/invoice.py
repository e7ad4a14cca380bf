"""810 Invoice -> ``Invoice``."""
from __future__ import annotations

from decimal import Decimal

from .common import charge, missing, party, party_detail, product_ids, terms
from .model import Charge, Envelope, Invoice, InvoiceLine, Issue
from .totals import charge_reading
from .values import SegmentView, Values, money

ZERO = Decimal("0")
HALF_CENT = Decimal("0.005")  # TDS01 is in cents: a reading within half a cent agrees


def parse_invoice(envelope: Envelope, segments: list[SegmentView]) -> Invoice:
    inv = Invoice(envelope=envelope, number="", date=None)
    v = Values(inv.issues)
    area = "header"  # header -> detail (IT1 loop) -> summary (TDS on)
    cur_party = None
    line: InvoiceLine | None = None
    seen_big = seen_tds = False
    header_charges: list[Charge] = []
    summary_charges: list[Charge] = []
    for seg in segments:
        tag = seg.elements[0]
        if tag == "BIG":
            seen_big = True
            inv.date = v.dt(seg, 1)
            inv.number = seg.get(2)
            inv.po_date = v.dt(seg, 3)
            inv.po_number = seg.get(4)
            inv.transaction_type = seg.get(7)
            inv.credit = inv.transaction_type.upper() == "CR"
            if not inv.number:
                v._bad(seg, 2, "invoice number (BIG02) is empty", x12_code="1")
            if not seg.get(1):
                v._bad(seg, 1, "invoice date (BIG01) is empty", x12_code="1")
        elif tag == "IT1":
            area = "detail"
            cur_party = None
            line = _line(seg, v, len(inv.lines) + 1)
            inv.lines.append(line)
        elif tag == "PID":
            text = seg.get(5)
            if line is not None and text:
                line.description = f"{line.description} {text}".strip()
        elif tag == "TDS":
            seen_tds = True
            area = "summary"
            line = None
            inv.total = v.n2(seg, 1)
            inv.amount_subject_to_discount = v.n2(seg, 2)
            inv.discounted_amount_due = v.n2(seg, 3)
            inv.terms_discount_amount = v.n2(seg, 4)
        elif tag == "SAC":
            if line is not None:
                line.charges.append(charge(seg, v, line.amount, inv.issues))
            else:
                base = sum((ln.amount for ln in inv.lines), Decimal("0")) if inv.lines else None
                c = charge(seg, v, base, inv.issues)
                (summary_charges if area == "summary" else header_charges).append(c)
        elif tag == "N1":
            p = party(seg)
            if area == "header":
                inv.parties.append(p)
            cur_party = p
        elif tag in ("N2", "N3", "N4", "PER"):
            if cur_party is not None:
                party_detail(cur_party, seg)
        elif tag == "REF":
            if line is not None:
                if seg.get(1).upper() == "PO" and seg.get(2):
                    line.po_number = seg.get(2)
            elif area == "header" and cur_party is None:
                inv.references.setdefault(seg.get(1), seg.get(2))
        elif tag == "CUR":
            if area == "header" and seg.get(2):
                inv.currency = seg.get(2)
        elif tag == "ITD":
            inv.terms.append(terms(seg, v))
        elif tag == "DTM":
            if line is None and area == "header":
                d = v.dt(seg, 2)
                if d is not None:
                    inv.dates.setdefault(seg.get(1), d)
        elif tag == "NTE":
            if seg.get(2):
                inv.notes.append(seg.get(2))
        elif tag == "TXI":
            amount = v.r(seg, 2)
            if amount is not None:
                tax = Charge(indicator="T", code=seg.get(1), amount=amount, percent=v.r(seg, 3))
                if line is not None:
                    line.charges.append(tax)
                else:
                    inv.taxes.append(tax)
        elif tag == "CTT":
            inv.line_count = v.n0(seg, 1)
    # Summary SAC are the invoice charges; heading SAC only count when the
    # summary has none (senders that send both repeat the same charges).
    inv.charges = summary_charges or header_charges
    # Heading PO applies to lines without their own REF*PO.
    for ln in inv.lines:
        if not ln.po_number:
            ln.po_number = inv.po_number
    if not seen_big:
        inv.issues.append(missing("BIG", "810 has no BIG segment (invoice number and date)"))
    if not inv.lines:
        inv.issues.append(missing("IT1", "810 has no IT1 line items"))
    if not seen_tds:
        inv.issues.append(missing("TDS", "810 has no TDS total"))
    if inv.line_count is not None and inv.line_count != len(inv.lines):
        inv.issues.append(
            Issue(
                code="invalid_value",
                message=f"CTT01 says {inv.line_count} line items, counted {len(inv.lines)} IT1",
                segment="CTT",
                element=1,
                severity="warning",
            )
        )
    if inv.total is not None and inv.lines:
        # which charge segments make up TDS01: see edi.totals (translation posts by the same rule)
        if charge_reading(inv, HALF_CENT) is None:
            base = sum((ln.amount for ln in inv.lines), Decimal("0")) + sum((c.amount for c in inv.charges), Decimal("0"))
            computed = base + sum((t.amount for t in inv.taxes), Decimal("0"))
            inv.issues.append(
                Issue(
                    code="total_mismatch",
                    message=f"TDS01 total {money(inv.total)} differs from lines+charges+taxes {money(computed)}",
                    segment="TDS",
                    element=1,
                    severity="warning",
                )
            )
    return inv


def _line(seg: SegmentView, v: Values, ordinal: int) -> InvoiceLine:
    qty = v.r(seg, 2)
    price = v.r(seg, 4)
    if qty is None:
        if not seg.get(2):
            v._bad(seg, 2, "quantity invoiced (IT102) is missing")
        qty = ZERO
    if price is None:
        if not seg.get(4):
            v._bad(seg, 4, "unit price (IT104) is missing")
        price = ZERO
    return InvoiceLine(
        line_number=seg.get(1) or str(ordinal),
        quantity=qty,
        unit=seg.get(3),
        unit_price=price,
        amount=money(qty * price),
        products=product_ids(seg, 6),
        position=seg.position,
    )
