"""Three-way match: an invoice (810) against the purchase order it names (850) and what was received
(856), line by line, before it is queued.

Pure: the documents come in as the JSON qbedi keeps for them (``Document.parsed``); the caller finds
them. Invariants:

- Only what can be compared is compared: an invoice line whose PO is not in qbedi, or whose part the PO
  does not list, is not held for that (the match is a check on what is known, never a guess).
- Prices: the invoiced unit price may exceed the ordered one by at most ``price_tolerance_percent`` (a
  lower price is never held). Quantities: what this invoice and the supplier's other invoices of the PO's
  line bill together may exceed what was received (when a ship notice for the PO was received; never more
  than was ordered) or else what was ordered by at most ``quantity_tolerance_percent``: goods are billed
  once, whether in one invoice or in several.
- Every variance says both numbers side by side, the difference and the tolerance, in words.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PRICE_VARIANCE = "price_variance"
QUANTITY_VARIANCE = "quantity_variance"


@dataclass(frozen=True)
class Variance:
    code: str  # price_variance | quantity_variance
    message: str
    line_number: str
    invoiced: str
    expected: str


def _dec(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _key(line: dict) -> str:
    return (line.get("vendor_part") or "").strip().upper()


def _over(got: Decimal, want: Decimal, tolerance_percent: Decimal) -> bool:
    return got > want + (want * tolerance_percent / Decimal(100))


def _pct(got: Decimal, want: Decimal) -> str:
    if not want:
        return ""
    return f" ({(got - want) * 100 / want:+.1f}%)"


def three_way(invoice: dict, orders: dict[str, dict], receipts: dict[str, list[dict]],
              billed: dict[str, list[dict]] | None = None, *, price_tolerance_percent: Decimal = Decimal(0),
              quantity_tolerance_percent: Decimal = Decimal(0)) -> list[Variance]:
    """Variances of ``invoice`` against ``orders`` (PO number -> the 850's JSON), ``receipts`` (PO number ->
    the received 856s' JSON that name it) and ``billed`` (PO number -> the supplier's other invoices' JSON
    that bill it: what they invoiced of a line is no longer there to invoice)."""
    out: list[Variance] = []
    billed = billed or {}
    mine: dict[tuple[str, str], Decimal] = {}  # what this invoice's earlier lines bill of the same PO line
    for line in invoice.get("lines") or []:
        po_number = (line.get("po_number") or "").strip().upper()  # (the keys: :func:`po_numbers`)
        po = orders.get(po_number)
        if po is None or not _key(line):
            continue
        ordered = [pl for pl in po.get("lines") or [] if _key(pl) == _key(line)]
        if not ordered:
            continue
        n, part = line.get("line_number") or "?", line.get("vendor_part")
        price, want_price = _dec(line.get("unit_price")), _dec(ordered[0].get("unit_price"))
        if price is not None and want_price is not None and _over(price, want_price, price_tolerance_percent):
            out.append(Variance(PRICE_VARIANCE,
                                f"line {n} ({part}): invoiced at {price} each, ordered at {want_price} on "
                                f"{po_number}{_pct(price, want_price)}, tolerance {price_tolerance_percent}%",
                                str(n), str(price), str(want_price)))
        qty = _dec(line.get("quantity"))
        ordered_qty = sum((_dec(pl.get("quantity")) or Decimal(0) for pl in ordered), Decimal(0))
        got = [rl for r in receipts.get(po_number, []) for rl in received_lines(r) if _key(rl) == _key(line)]
        received = sum((_dec(rl.get("quantity")) or Decimal(0) for rl in got), Decimal(0)) if got else None
        if received is None:
            limit, what, aside = ordered_qty, "ordered", ""
        elif received <= ordered_qty:
            limit, what, aside = received, "received", f" (ordered {ordered_qty})"
        else:  # (more came than was ordered: what was not ordered is not billed without a person)
            limit, what, aside = ordered_qty, "ordered", f" (received {received})"
        before = [(b.get("document_number") or "?", q) for b in billed.get(po_number, [])
                  for bl in b.get("lines") or [] if (bl.get("po_number") or "").strip().upper() == po_number
                  and _key(bl) == _key(line) and (q := _dec(bl.get("quantity")))]
        already = sum((q for _, q in before), Decimal(0))
        earlier_here = mine.get((po_number, _key(line)), Decimal(0))
        if qty is not None:
            mine[(po_number, _key(line))] = earlier_here + qty
            already += earlier_here
            if earlier_here:
                before.append(("this invoice's lines above", earlier_here))
        if qty is not None and _over(qty + already, limit, quantity_tolerance_percent):
            out.append(Variance(QUANTITY_VARIANCE,
                                f"line {n} ({part}): invoiced {qty}, {what} {limit} on {po_number}{aside}"
                                + (f", of which {already} already invoiced ("
                                   + ", ".join(dict.fromkeys(num for num, _ in before)) + "): "
                                   + (f"{limit - already} left" if limit > already else "nothing left")
                                   if already else "")
                                + f", tolerance {quantity_tolerance_percent}%",
                                str(n), str(qty), str(limit - already)))
    return out


def received_lines(notice: dict) -> list[dict]:
    """A received ship notice's lines as received: less what a person chose to leave out of an over-shipment
    (``not_received``, kept on the notice when QuickBooks received what the PO had open)."""
    left = {}
    for x in notice.get("not_received") or []:
        left[_key(x)] = left.get(_key(x), Decimal(0)) + (_dec(x.get("quantity")) or Decimal(0))
    if not left:
        return notice.get("lines") or []
    out = []
    for rl in notice.get("lines") or []:
        q, cut = _dec(rl.get("quantity")) or Decimal(0), min(left.get(_key(rl), Decimal(0)), _dec(rl.get("quantity")) or Decimal(0))
        left[_key(rl)] = left.get(_key(rl), Decimal(0)) - cut
        out.append({**rl, "quantity": str(q - cut)})
    return out


def po_lines(number: str, order: dict, receipts: list[dict], invoices: list[dict]) -> list[dict]:
    """A purchase order's lines as the match sees them, for a person to check by eye: per ordered part,
    ``ordered``, ``received`` (by ``receipts``, the received ship notices' JSON) and ``invoiced`` (by
    ``invoices``, the invoices' JSON: their lines that name PO ``number``), as text."""
    out: dict[str, dict] = {}
    for pl in order.get("lines") or []:
        key = _key(pl)
        row = out.setdefault(key, {"part": pl.get("vendor_part") or "", "description": pl.get("description") or "",
                                   "ordered": Decimal(0), "received": Decimal(0), "invoiced": Decimal(0)})
        row["ordered"] += _dec(pl.get("quantity")) or Decimal(0)
    for r in receipts:
        for rl in received_lines(r):
            if _key(rl) in out:
                out[_key(rl)]["received"] += _dec(rl.get("quantity")) or Decimal(0)
    for inv in invoices:
        for il in inv.get("lines") or []:
            if (il.get("po_number") or "").strip().upper() == number and _key(il) in out:
                out[_key(il)]["invoiced"] += _dec(il.get("quantity")) or Decimal(0)
    return [{**row, **{k: str(row[k]) for k in ("ordered", "received", "invoiced")}} for row in out.values()]


def po_numbers(doc: dict, transaction_set: str, number: str = "") -> list[str]:
    """The purchase order numbers a document names, from the JSON qbedi keeps for it: a PO its own number,
    a ship notice its orders and its items', an invoice its lines' (each line's, else the invoice's); in
    upper case, as they are compared (a supplier's "po-8001" is its PO-8001)."""
    if transaction_set == "850":
        found = [number]
    elif transaction_set in ("810", "856"):
        found = [*(doc.get("po_numbers") or []), *((ln.get("po_number") or "") for ln in doc.get("lines") or [])]
    else:
        found = []
    return list(dict.fromkeys(n.strip().upper()[:60] for n in found if n and n.strip()))
