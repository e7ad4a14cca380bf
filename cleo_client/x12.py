"""Which X12 transaction sets a file holds, from its ST segments (never its name).

A small, bounded reader (linear in the input, never loops): the ISA segment
gives the element separator (its 4th character) and, after its 16th element
separator, the component separator and then the segment terminator; every
segment ``ST<sep>nnn`` after it names a transaction set. Files without an ISA
envelope (a bare ``ST*850*...``) are recognised by a segment-start scan.

``edi.detect_transaction_sets`` is *not* called by default: in the version
this was written against, its tokenizer does not return on some non-X12
input (e.g. a Markdown file), which would hang a poll. Pass ``use_edi=True``
once that is fixed to prefer it.
"""
from __future__ import annotations

import io
import re
from typing import BinaryIO

_BARE_ST_RE = re.compile(r"(?:^|[~'\r\n])[ \t]*ST([^\w\s])(\d{3})(?=[^\w]|$)")


def _unique(codes: list[str]) -> list[str]:
    out: list[str] = []
    for c in codes:
        if c not in out:
            out.append(c)
    return out


def _isa_delimiters(text: str, i: int) -> tuple[str, str] | None:
    """(element separator, segment terminator) of the ISA starting at ``i``."""
    if len(text) < i + 4:
        return None
    sep = text[i + 3]
    if sep.isalnum() or sep.isspace():
        return None
    pos = i
    for _ in range(16):
        pos = text.find(sep, pos + 1)
        if pos < 0:
            return None
    # text[pos+1] is ISA16 (component separator); the terminator follows it
    if len(text) < pos + 3:
        return None
    term = text[pos + 2]
    if term.isalnum() or term == sep:
        return None
    return sep, term


def _own_detect(data: bytes) -> list[str]:
    return transaction_sets_in(io.BytesIO(data))


def transaction_sets_in(stream: BinaryIO, *, piece: int = 1 << 20) -> list[str]:
    """:func:`transaction_sets` of a binary stream read from where it is, a piece at a time: memory is
    about one piece (and the longest segment), whatever the file's size; the ST segments are found by a
    pattern on the bytes (a segment is not made a string)."""
    first = stream.read(max(piece, 64 * 1024))  # the envelope is in the first piece
    text = first.decode("latin-1")
    i = text.find("ISA")
    delims = _isa_delimiters(text, i) if i >= 0 else None
    found: dict[str, None] = {}
    if delims is None:  # no ISA envelope: segment starts, each piece with the end of the one before
        tail = ""
        while text:
            found.update(dict.fromkeys(m.group(2) for m in _BARE_ST_RE.finditer(tail + text)))
            tail, text = text[-16:], stream.read(piece).decode("latin-1")
        return list(found)
    sep, term = (re.escape(c.encode("latin-1")) for c in delims)
    st = re.compile(term + rb"[\r\n \t]*ST" + sep + rb"([^" + sep + term + rb"]*)")
    data = first[i:]
    while True:
        more = stream.read(piece)
        cut = data.rfind(delims[1].encode("latin-1")) if more else len(data)
        if cut < 0:
            cut = 0
        for m in st.finditer(data, 0, cut):  # whole segments only: the rest waits for the next piece
            code = m.group(1).decode("latin-1").strip()
            if code:
                found[code] = None
        if not more:
            return list(found)
        data = data[cut:] + more


def transaction_sets(data: bytes, *, use_edi: bool = False) -> list[str]:
    """ST01 codes in order of first appearance, de-duplicated, e.g. ``["810"]``; ``[]`` if not X12."""
    if use_edi:
        try:
            from edi import detect_transaction_sets  # optional, written by another engineer

            codes = [str(c) for c in detect_transaction_sets(data)]
            if all(re.fullmatch(r"\d{3}", c) for c in codes):
                return codes
        except Exception:
            pass
    return _own_detect(data)
