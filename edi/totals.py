"""Which charge segments make up an 810's TDS01 total.

Senders differ: TDS01 is lines + summary SAC (+ TXI), but some repeat the
summary charges line by line, some send them only per line, and some repeat a
tax as both SAC and TXI. Counting a breakdown twice would post wrong money, so
the reading that agrees with TDS wins, most complete first. Used by the parser
(a warning when no reading fits) and by translation (what to post).
"""
from __future__ import annotations

from decimal import Decimal

from .model import Invoice

# (line SACs, summary SACs, TXI taxes)
READINGS = ((True, True, False), (False, True, False), (True, False, False),
            (True, True, True), (False, True, True), (True, False, True))


_ZERO = Decimal(0)


def sums(inv: Invoice) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(lines, line SACs, summary SACs, TXI taxes): exact sums, so the same in any order (plain loops: a third of
    generator expressions' time, and they are taken three times an invoice)."""
    lines = line_sac = summary_sac = taxes = _ZERO
    for ln in inv.lines:
        lines += ln.amount
        for c in ln.charges:
            line_sac += c.amount
    for c in inv.charges:
        summary_sac += c.amount
    for c in inv.taxes:
        taxes += c.amount
    return lines, line_sac, summary_sac, taxes


def charge_reading(inv: Invoice, tolerance: Decimal = Decimal(0)) -> tuple[bool, bool, bool] | None:
    """The first reading whose sum is within ``tolerance`` of TDS01, or None (also when TDS is missing)."""
    if inv.total is None:
        return None
    lines, line_sac, summary_sac, taxes = sums(inv)
    for use_line, use_summary, use_tax in READINGS:
        total = lines + (line_sac if use_line else 0) + (summary_sac if use_summary else 0) + \
            (taxes if use_tax else 0)
        if abs(total - inv.total) <= tolerance:
            return use_line, use_summary, use_tax
    return None
