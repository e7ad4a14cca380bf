"""X12 EDI reader: bytes -> domain dataclasses (810 / 850 / 856). Pure, no I/O besides the stream given.

Public API::

    parse_bytes(data, *, keep_segments=False) -> ParseResult
    parse(stream_or_path, *, keep_segments=False) -> ParseResult
    survey(data_or_stream) -> Survey  # envelopes only: how many sets, which are rejected after the fact
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
from .model import Issue, ParsedSet, ParseResult, SetPlace
from .tokenizer import Tokenizer

__all__ = [
    "EdiReader",
    "ParseResult",
    "ParsedSet",
    "SetPlace",
    "build_997",
    "detect_transaction_sets",
    "iter_sets",
    "parse",
    "parse_bytes",
    "survey",
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
    if isinstance(data, str):  # be forgiving about the argument type, not only the content
        data = data.encode("utf-8")
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


class Survey:
    """What one cheap pass over a file's envelopes tells (no document is parsed): ``sets`` transaction sets,
    file-level ``result.warnings`` / ``result.errors``, and the GE/IEA faults found after their sets
    (``late_faults``: ``(first, end, issue)``, sets ``first <= ordinal < end``). A consumer that stores a
    big file's sets in chunks applies them with :meth:`apply` before each set is translated, so no set of
    a broken group or interchange is ever queued."""

    def __init__(self, sets: int, result: ParseResult, late_faults: list[tuple[int, int, Issue]]):
        self.sets, self.result, self.late_faults = sets, result, late_faults

    def faults(self, ordinal: int) -> list[Issue]:
        return [issue for first, end, issue in self.late_faults if first <= ordinal < end]

    def apply(self, ordinal: int, ps: ParsedSet) -> ParsedSet:
        """The set as a whole-file parse would leave it: rejected, without its document, under a fault."""
        for issue in self.faults(ordinal):
            if issue not in ps.rejected:
                ps.rejected.append(issue)
            ps.document = None
        return ps


def survey(data: bytes | BinaryIO) -> Survey:
    """Read the envelopes of ``data`` (bytes, or a binary stream read in chunks from where it is): no
    document parsing, one set in memory at a time."""
    stream = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    reader = EdiReader(stream, documents=False)
    n = 0
    for _ in reader:
        n += 1
    return Survey(n, reader.result, reader.late_faults)


_ST_RE = re.compile(rb"ST([^A-Za-z0-9\s])([0-9]{3})(?=[^A-Za-z0-9])")


def detect_transaction_sets(data: bytes) -> list[str]:
    """ST01 values found in ``data`` (in order, de-duplicated): cheap content classification.

    A byte-level scan (no document parsing, C speed): an ``ST`` segment start
    is ``ST`` + separator + three digits, preceded by the start of the data,
    a terminator or whitespace - never by the separator itself (so ``N1*ST*123``
    is not mistaken for a set). Falls back to the tokenizer (first 1 MB) for
    oddities such as hard-wrapped files.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    found: list[str] = []
    for m in _ST_RE.finditer(raw):
        i = m.start()
        sep = m.group(1)
        if i > 0:
            prev = raw[i - 1 : i]
            if prev == sep or prev.isalnum():
                continue
        st01 = m.group(2).decode("ascii")
        if st01 not in found:
            found.append(st01)
    if found:
        return found
    for seg in Tokenizer(io.BytesIO(raw[: 1024 * 1024])):
        if seg.elements[0].upper() == "ST" and len(seg.elements) > 1:
            st01 = seg.elements[1].strip()
            if st01 and st01 not in found:
                found.append(st01)
    return found


def __getattr__(name: str):
    if name == "build_997":
        from .ack import build_997

        return build_997
    raise AttributeError(name)
