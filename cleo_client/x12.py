"""Which X12 transaction sets a file holds, from its ST segments (never its name).

Uses ``edi.detect_transaction_sets`` when the edi package provides it, else a
small reader: the ISA segment is fixed-width, so its 4th byte is the element
separator and its 106th the segment terminator; every ``ST<sep>nnn`` after it
names a transaction set.
"""
from __future__ import annotations

import re

INTERESTING = ("810", "850", "856", "997")


def _own_detect(data: bytes) -> list[str]:
    text = data.decode("latin-1")
    i = text.find("ISA")
    if i < 0 or len(text) < i + 4:
        return []
    sep = text[i + 3]
    term = text[i + 105] if len(text) > i + 105 else None
    if term is None or term.isalnum() or term == sep:
        m = re.search(r"[~\n\r']", text[i:])
        term = m.group(0) if m else "~"
    found = []
    for seg in text[i:].split(term):
        seg = seg.strip("\r\n \t")
        if seg.startswith("ST" + sep):
            code = seg.split(sep)[1].strip() if len(seg.split(sep)) > 1 else ""
            if code:
                found.append(code)
    return found


def transaction_sets(data: bytes) -> list[str]:
    """ST01 codes in file order, e.g. ``["810", "810"]``; ``[]`` if not X12."""
    try:
        import edi  # noqa: F401 - optional, written by another engineer

        detect = getattr(edi, "detect_transaction_sets", None)
        if detect is None:
            from edi import detect as _mod  # type: ignore[attr-defined]

            detect = getattr(_mod, "detect_transaction_sets", None)
    except Exception:
        detect = None
    if detect is not None:
        try:
            result = detect(data)
            codes = [str(c) for c in result]
            if all(re.fullmatch(r"\d{3}", c) for c in codes):
                return codes
        except Exception:
            pass
    return _own_detect(data)
