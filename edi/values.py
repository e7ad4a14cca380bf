"""Element value conversion (N2 implied decimals, R, dates) that never raises.

Bad values become ``Issue(code="invalid_value", ...)`` on the document being
built; the caller gets ``None`` back.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .model import Issue

CENT = Decimal("0.01")
MAX_MAGNITUDE = Decimal(10) ** 15  # data elements R/Nn are at most 15 digits; beyond is corruption
MAX_R_LENGTH = 40  # characters of an R value read at all (15 digits, sign, point and generous zeros)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)\Z", re.ASCII)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class SegmentView:
    """A segment inside a transaction set: elements plus its 1-based position (ST = 1)."""

    __slots__ = ("elements", "position", "component")

    def __init__(self, elements: list[str], position: int, component: str = ">"):
        self.elements = elements
        self.position = position
        self.component = component

    @property
    def tag(self) -> str:
        return self.elements[0]

    def get(self, n: int) -> str:
        """Element n (1-based), stripped; '' when absent."""
        try:
            return self.elements[n].strip()
        except IndexError:
            return ""

    def components(self, n: int) -> list[str]:
        v = self.get(n)
        return v.split(self.component) if v else []


class Values:
    """Converters bound to an issue list."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues

    def _bad(self, seg: SegmentView, n: int, message: str, severity: str = "error", x12_code: str | None = None) -> None:
        self.issues.append(
            Issue(
                code="invalid_value",
                message=f"{seg.tag}{n:02d}: {message}",
                segment=seg.tag,
                position=seg.position,
                element=n,
                severity=severity,
                x12_code=x12_code,
            )
        )

    def r(self, seg: SegmentView, n: int) -> Decimal | None:
        els = seg.elements
        text = els[n].strip() if n < len(els) else ""  # (seg.get, inline: two per invoice line)
        if not text:
            return None
        if len(text) <= 15 and text.isdigit() and text.isascii():  # (a plain count: valid, and below the limit)
            return Decimal(text)
        if not _DECIMAL.match(text):  # X12 R: sign, digits, one decimal point; no exponent, never expanded
            self._bad(seg, n, f"{text[:40]!r} is not a decimal number", x12_code="6")
            return None
        value = Decimal(text) if len(text) <= MAX_R_LENGTH else None
        if value is None or value.copy_abs() >= MAX_MAGNITUDE:
            self._bad(seg, n, f"{text[:40]!r} is too large (X12 numbers carry at most 15 digits)", x12_code="5")
            return None
        return value

    def n2(self, seg: SegmentView, n: int) -> Decimal | None:
        """Implied two decimals: '5770' -> 57.70. A '.' makes it an R value (warning)."""
        text = seg.get(n)
        if not text:
            return None
        if "." in text:
            value = self.r(seg, n)
            if value is not None:
                self._bad(seg, n, f"{text!r} has a decimal point in an N2 (implied decimal) field; read as R", "warning")
            return value
        body = text[1:] if text[:1] in "+-" else text
        if not body.isdigit() or not body.isascii():
            self._bad(seg, n, f"{text!r} is not an N2 number", x12_code="6")
            return None
        if len(body) > 15:
            self._bad(seg, n, f"{text!r} is too large (X12 numbers carry at most 15 digits)", x12_code="5")
            return None
        return Decimal(int(text)) / 100

    def n0(self, seg: SegmentView, n: int) -> int | None:
        """An integer: optional sign and at most 15 digits. Linear in the text's length whatever it
        holds (an exponent such as ``1E9999999`` is never expanded)."""
        text = seg.get(n)
        if not text:
            return None
        body = text[1:] if text[:1] in "+-" else text
        if not (body.isdigit() and body.isascii()):
            self._bad(seg, n, f"{text[:40]!r} is not an integer", x12_code="6")
            return None
        if len(body.lstrip("0")) > 15:
            self._bad(seg, n, f"{text[:40]!r} is too large (X12 numbers carry at most 15 digits)", x12_code="5")
            return None
        return int(text)

    def dt(self, seg: SegmentView, n: int) -> date | None:
        """CCYYMMDD or YYMMDD (YY < 70 -> 20YY)."""
        text = seg.get(n)
        if not text:
            return None
        try:
            if len(text) == 8 and text.isdigit() and text.isascii():
                return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            if len(text) == 6 and text.isdigit() and text.isascii():
                yy = int(text[:2])
                return date((2000 if yy < 70 else 1900) + yy, int(text[2:4]), int(text[4:6]))
        except ValueError:
            pass
        self._bad(seg, n, f"{text!r} is not a date (CCYYMMDD or YYMMDD)", x12_code="8")
        return None
