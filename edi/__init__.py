"""X12 EDI reader: bytes -> domain dataclasses (810 / 850 / 856). Pure, no I/O besides the stream given.

Public API::

    parse_bytes(data, *, keep_segments=False) -> ParseResult
    parse(stream_or_path, *, keep_segments=False) -> ParseResult
    iter_sets(stream, *, keep_segments=False, result=None) -> Iterator[ParsedSet]
    EdiReader(stream, ...)            # iterate; .result fills as you go
    detect_transaction_sets(data) -> list[str]
    build_997(result, *, sender_id=None, receiver_id=None, control_number, when) -> str   (edi.ack)
"""
from __future__ import annotations

import io
import os
import re
from typing import BinaryIO, Iterator

from .envelope import EdiReader
from .model import ParsedSet, ParseResult
from .tokenizer import Tokenizer

__all__ = [
    "EdiReader",
    "ParseResult",
    "ParsedSet",
    "build_997",
    "detect_transaction_sets",
    "iter_sets",
    "parse",
    "parse_bytes",
]


def iter_sets(
    stream: BinaryIO,
    *,
    keep_segments: bool = False,
    result: ParseResult | None = None,
    chunk_size: int = 64 * 1024,
) -> Iterator[ParsedSet]:
    """Stream the transaction sets of ``stream`` (binary, read in chunks).

    File-level warnings/errors and per-GS summaries go into ``result`` (pass
    your own ``ParseResult`` to see them; its ``sets`` list is not filled).
    GE/IEA faults found after a set was yielded are applied to that same
    object (``rejected`` + ``document=None``) - see ``edi.envelope``.
    """
    reader = EdiReader(stream, keep_segments=keep_segments, chunk_size=chunk_size)
    if result is not None:
        reader.result = result
        reader.tokenizer._warn_cb = result.warnings.append
        reader.tokenizer._error_cb = result.errors.append
    return iter(reader)


def parse_bytes(data: bytes, *, keep_segments: bool = False) -> ParseResult:
    """Parse a whole file held in memory. Never raises on bad input."""
    reader = EdiReader(io.BytesIO(bytes(data)), keep_segments=keep_segments, retain=True)
    for _ in reader:
        pass
    return reader.result


def parse(source: BinaryIO | str | os.PathLike, *, keep_segments: bool = False) -> ParseResult:
    """Parse a binary stream or a file path, keeping every set in ``result.sets``."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return parse(fh, keep_segments=keep_segments)
    reader = EdiReader(source, keep_segments=keep_segments, retain=True)
    for _ in reader:
        pass
    return reader.result


_ST_RE = re.compile(rb"(?:^|[^A-Za-z0-9])ST(.)(\d{3})(?=\W)", re.S)


def detect_transaction_sets(data: bytes) -> list[str]:
    """ST01 values found in ``data`` (in order, de-duplicated): cheap content classification.

    Uses the real tokenizer on the data (no document parsing); falls back to a
    byte scan when the envelope cannot be read.
    """
    found: list[str] = []
    tok = Tokenizer(io.BytesIO(bytes(data)))
    try:
        for seg in tok:
            if seg.elements[0].upper() == "ST" and len(seg.elements) > 1:
                st01 = seg.elements[1].strip()
                if st01 and st01 not in found:
                    found.append(st01)
    except Exception:  # pragma: no cover - tokenizer does not raise; belt and braces
        found = []
    if not found:
        for m in _ST_RE.finditer(bytes(data)):
            st01 = m.group(2).decode("ascii")
            if st01 not in found:
                found.append(st01)
    return found


def __getattr__(name: str):
    if name == "build_997":
        from .ack import build_997

        return build_997
    raise AttributeError(name)
