"""Segment readers shared by the 810 / 850 / 856 parsers (N1 loop, ITD, SAC, product ids)."""
from __future__ import annotations

from decimal import Decimal

from .model import Charge, Issue, Party, ProductIds, Terms
from .values import SegmentView, Values, money

VENDOR_QUALIFIERS = {"VN", "VP", "VA"}
BUYER_QUALIFIERS = {"BP", "IN", "PI"}
UPC_QUALIFIERS = {"UP", "UK", "EN", "UI", "UA"}


def product_ids(seg: SegmentView, start: int, products: ProductIds | None = None) -> ProductIds:
    """Qualifier/id pairs from element ``start`` on (IT106.., PO106.., LIN02..)."""
    p = products or ProductIds()
    els = seg.elements
    for i in range(start, len(els) - 1, 2):
        qual = els[i].strip().upper()
        value = els[i + 1].strip()
        if not qual or not value:
            continue
        if qual in VENDOR_QUALIFIERS and not p.vendor_part:
            p.vendor_part = value
        elif qual in BUYER_QUALIFIERS and not p.buyer_part:
            p.buyer_part = value
        elif qual in UPC_QUALIFIERS and not p.upc:
            p.upc = value
        else:
            p.other.setdefault(qual, value)
    return p


def party(seg: SegmentView) -> Party:
    return Party(code=seg.get(1), name=seg.get(2), id_qualifier=seg.get(3), id=seg.get(4))


PER_NUMBERS = {"TE": "phone", "EM": "email", "FX": "fax"}  # PER03/05/07 communication number qualifiers


def party_detail(p: Party, seg: SegmentView) -> None:
    """N2 / N3 / N4 / PER into the current party (a PER's name and first number of each kind)."""
    if seg.tag == "PER":
        if not p.contact and seg.get(2):
            p.contact = seg.get(2)
        for q in (3, 5, 7):
            attr = PER_NUMBERS.get(seg.get(q).upper())
            if attr and seg.get(q + 1) and not getattr(p, attr):
                setattr(p, attr, seg.get(q + 1))
        return
    if seg.tag == "N2":
        extra = " ".join(x for x in (seg.get(1), seg.get(2)) if x)
        if not p.name:
            p.name = extra
        elif extra and extra != p.name:
            p.name = f"{p.name} {extra}"
    elif seg.tag == "N3":
        p.address_lines.extend(x for x in (seg.get(1), seg.get(2)) if x)
    elif seg.tag == "N4":
        p.city, p.state, p.postal_code, p.country = seg.get(1), seg.get(2), seg.get(3), seg.get(4)


def terms(seg: SegmentView, v: Values) -> Terms:
    return Terms(
        type_code=seg.get(1),
        basis_date_code=seg.get(2),
        discount_percent=v.r(seg, 3),
        discount_due_date=v.dt(seg, 4),
        discount_days=v.n0(seg, 5),
        net_due_date=v.dt(seg, 6),
        net_days=v.n0(seg, 7),
        discount_amount=v.n2(seg, 8),
        deferred_due_date=v.dt(seg, 9),
        deferred_amount=v.n2(seg, 10),
        percent_payable=v.r(seg, 11),
        description=seg.get(12),
        day_of_month=v.n0(seg, 13),
    )


def charge(seg: SegmentView, v: Values, base: Decimal | None, issues: list[Issue]) -> Charge:
    """SAC: amount SAC05 (N2), else SAC07 percent of ``base``; allowances negative."""
    indicator = seg.get(1).upper()
    amount = v.n2(seg, 5)
    percent = v.r(seg, 7)
    if indicator == "N":  # "no allowance or charge": informational only
        return Charge(indicator=indicator, code=seg.get(2), amount=Decimal("0"),
                      description=seg.get(15) or seg.get(14) or seg.get(3), percent=percent)
    if amount is None and percent is not None and base is not None:
        amount = money(base * percent / 100)
    if amount is None:
        amount = Decimal("0")
        if indicator in ("A", "C"):
            issues.append(
                Issue(
                    code="invalid_value",
                    message="SAC has neither an amount (SAC05) nor a percent (SAC07); taken as 0",
                    segment="SAC",
                    position=seg.position,
                    element=5,
                    severity="warning",
                )
            )
    amount = abs(amount)
    if indicator == "A":
        amount = -amount
    description = seg.get(15) or seg.get(14) or seg.get(3)
    return Charge(indicator=indicator, code=seg.get(2), amount=amount, description=description, percent=percent)


MANDATORY_SEGMENTS = {"BIG", "TDS", "BEG", "BSN", "HL"}  # mandatory in the X12 standard itself


def missing(segment: str, message: str) -> Issue:
    return Issue(code="missing_segment", message=message, segment=segment,
                 x12_code="3" if segment in MANDATORY_SEGMENTS else None)
