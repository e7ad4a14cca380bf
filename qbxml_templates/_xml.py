"""Low-level helpers: typed text nodes, refs, value formatting.

Character strategy (qbXML research §5: non-ASCII is a recurring source of
parse errors): documents are serialised as pure ASCII; every non-ASCII
character becomes a numeric character reference (``&#233;``), which any
conforming XML parser (QuickBooks' included) decodes to the same character.
QuickBooks Desktop (US/CA/UK) stores text in Windows-1252, so a character
outside cp1252 is first transliterated (NFKD, combining marks dropped, a few
typographic substitutions); if it still cannot be stored, we raise
:class:`QbxmlValueError` rather than let QuickBooks turn it into ``?``.
Characters XML 1.0 forbids (C0 controls except TAB/LF/CR) also raise.
Lengths are checked in characters after this normalisation.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

from .errors import QbxmlValueError
from .refs import _MADE, REF_TAGS

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SUBST = {
    "\u2010": "-", "\u2011": "-", "\u2212": "-", "\u00a0": " ",
    "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0131": "i",
    "\u00d8": "O", "\u00f8": "o", "\u2190": "<-", "\u2192": "->", "\u2264": "<=", "\u2265": ">=",
}


def clean_text(value: object, field: str) -> str:
    """Return ``value`` as text QuickBooks can store (see module docstring)."""
    s = value if type(value) is str else str(value)
    if s.isascii() and s.isprintable():  # plain ASCII (most text): nothing to check or replace
        return s
    if _XML_FORBIDDEN.search(s):
        raise QbxmlValueError(field, "contains a control character XML does not allow", value)
    try:
        s.encode("cp1252")
        return s
    except UnicodeEncodeError:
        pass
    out = []
    for ch in s:
        try:
            ch.encode("cp1252")
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        if ch in _SUBST:
            out.append(_SUBST[ch])
            continue
        decomposed = "".join(
            c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
        )
        try:
            decomposed.encode("cp1252")
        except UnicodeEncodeError:
            raise QbxmlValueError(
                field, f"character {ch!r} (U+{ord(ch):04X}) cannot be stored by QuickBooks", value
            ) from None
        out.append(decomposed)
    return "".join(out)


def text(parent: etree._Element, tag: str, value: object, *, max_len: int | None = None,
         field: str | None = None, where: str | None = None) -> etree._Element | None:
    """Append ``<tag>value</tag>`` unless value is None or "".

    ``field`` names the value in an error (default ``parent/tag``, or ``where/parent/tag`` when ``where``
    is given: the name is only built when there is an error to report)."""
    if value is None or value == "":
        return None
    if type(value) is str and value.isascii() and value.isprintable():
        s = value  # (clean_text's fast path, without building the field name)
    else:
        s = clean_text(value, field or _field(parent, tag, where))
    if max_len is not None and len(s) > max_len:
        raise QbxmlValueError(
            field or _field(parent, tag, where), f"{len(s)} characters, qbXML allows at most {max_len}: {s!r}", value
        )
    el = _SubElement(parent, tag)
    el.text = s
    return el


def _field(parent: etree._Element, tag: str, where: str | None) -> str:
    return f"{where}/{parent.tag}/{tag}" if where else f"{parent.tag}/{tag}"


_SubElement = etree.SubElement


def sub(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, tag)


_REFS: dict[tuple, tuple] = {}  # (tag, name, list id, max) -> (checked reference to copy, (list, FullName) or None)
_REFS_KEPT = 1024  # distinct references remembered (a file names a few vendors, accounts and classes)


def ref(parent: etree._Element, tag: str, full_name: str = "", list_id: str = "", *,
        max_len: int | None = None) -> etree._Element | None:
    """``<XRef><ListID/></XRef>`` when list_id is set, else ``<FullName/>``; None if neither.

    A reference is checked and built once (:func:`text`: the same text and the same errors), then copied:
    an invoice names the same account and class on every line."""
    if not list_id and not full_name:
        return None
    key = (tag, full_name, list_id, max_len)
    try:
        kept, named = _REFS.get(key) or (None, None)
    except TypeError:  # (a name that is not text: built each time, as text() takes it)
        kept, key = None, None
    if kept is None:
        kept = etree.Element(tag)
        if list_id:
            text(kept, "ListID", list_id, max_len=36)  # (errors name it XRef/ListID)
        else:
            text(kept, "FullName", full_name, max_len=max_len)
        named = (REF_TAGS[tag], kept[0].text) if tag in REF_TAGS and not list_id and kept[0].text else None
        if key is not None:
            if len(_REFS) >= _REFS_KEPT:
                _REFS.clear()
            _REFS[key] = kept, named
    el = kept.__copy__()
    parent.append(el)
    if named is not None and (made := _MADE.get()) is not None:
        made[named] = None  # (refs.made(): what references() would read off the request)
    return el


def _dec(value: object, field: str) -> Decimal:
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise QbxmlValueError(field, "not a number", value)
    else:
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise QbxmlValueError(field, "not a number", value) from None
    if not d.is_finite():
        raise QbxmlValueError(field, "not a finite number", value)
    return d


_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal(10) ** 13  # AMTTYPE: at most 13 integer digits


def fmt_amount(value: object, field: str = "Amount", where: str | None = None) -> str:
    """AMTTYPE: exactly two decimals, at most 13 integer digits.

    More than two significant decimals raises (no silent rounding of money). ``where`` is put before
    ``field`` in an error's name (built only when there is an error).
    """
    d = value if type(value) is Decimal and value.is_finite() else _dec(value, f"{where}/{field}" if where else field)
    q = d.quantize(_CENT, rounding=ROUND_HALF_UP)
    if q != d:
        raise QbxmlValueError(f"{where}/{field}" if where else field, f"amount {value} has more than 2 decimals", value)
    if not q:
        q = abs(q)  # no "-0.00"
    if -_AMOUNT_LIMIT < q < _AMOUNT_LIMIT:
        return f"{q:.2f}"
    raise QbxmlValueError(f"{where}/{field}" if where else field, f"amount {value} too large for AMTTYPE", value)


def fmt_decimal(value: object, field: str, *, places: int = 5, min_places: int = 0) -> str:
    """PRICETYPE / QUANTYPE: up to 10 integer digits, up to 5 decimals (no rounding)."""
    d = _dec(value, field)
    if d == d.to_integral_value():
        d = d.quantize(Decimal(1))
    else:
        d = d.normalize()
    exp = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    if exp > places:
        raise QbxmlValueError(field, f"{value} has more than {places} decimals", value)
    exp = max(exp, min_places)
    s = f"{d:.{exp}f}"
    if s in ("-0", "-0.00"):
        s = s[1:]
    if len(s.lstrip("+-").split(".")[0]) > 10:
        raise QbxmlValueError(field, f"{value} too large", value)
    return s


def fmt_price(value: object, field: str = "Cost") -> str:
    return fmt_decimal(value, field, places=5, min_places=2)


def fmt_qty(value: object, field: str = "Quantity") -> str:
    return fmt_decimal(value, field, places=5, min_places=0)


def fmt_date(value: date | str | None, field: str = "TxnDate") -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise QbxmlValueError(field, f"not an ISO date: {value!r}", value) from None


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


_GUID = re.compile(r"^(0|\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\})$")


def fmt_guid(value: str, field: str = "ExternalGUID") -> str | None:
    if not value:
        return None
    v = str(value).strip()
    if re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", v):
        v = "{" + v + "}"
    if not _GUID.match(v):
        raise QbxmlValueError(field, "GUIDTYPE must look like {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}", value)
    return v


def request(rq_name: str, request_id: str | None, **attrs: str | None) -> etree._Element:
    el = etree.Element(rq_name)
    if request_id is not None and request_id != "":
        el.set("requestID", clean_text(request_id, f"{rq_name}@requestID"))
    for k, v in attrs.items():
        if v is not None and v != "":
            el.set(k, str(v))
    return el
