"""Tolerant, streaming X12 tokenizer: bytes in, segments out.

Reads a binary stream in chunks (64 KiB by default) and yields one
``Segment`` at a time, so memory does not grow with the file. Delimiters come
from each ISA (they may change from one interchange to the next); oddities
are reported through the ``warn`` callback as ``Issue`` objects
(``bom``, ``isa_width``, ``wrapped``, ``trailing_separator``,
``missing_terminator``, ``no_interchange``, ``garbage``) and fatal problems
through ``error`` (code ``malformed``). It never raises on bad input.
"""
from __future__ import annotations

from typing import BinaryIO, Callable, Iterator

from .model import Delimiters, Issue

CHUNK = 64 * 1024
BOM = b"\xef\xbb\xbf"
WS = b" \t\r\n"
CRLF = b"\r\n"
# Offsets of the 16 element separators in a correct 106-character ISA.
ISA_SEPARATOR_OFFSETS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
ISA_HEADER_WINDOW = 1024  # bytes kept in view while reading an ISA header


def _next_isa(buf: bytes, start: int) -> int:
    """Offset of the next plausible ISA header at or after ``start`` (-1 if none)."""
    pos = buf.find(b"ISA", start)
    while pos >= 0:
        if _is_isa_start(buf[pos : pos + 4]) and len(buf) > pos + 3:
            return pos
        pos = buf.find(b"ISA", pos + 1)
    return -1


class Segment:
    """One segment: ``elements[0]`` is the tag, ``elements[n]`` is element n."""

    __slots__ = ("elements", "delimiters", "index")

    def __init__(self, elements: list[str], delimiters: Delimiters, index: int):
        self.elements = elements
        self.delimiters = delimiters
        self.index = index  # 1-based position in the file

    @property
    def tag(self) -> str:
        return self.elements[0]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Segment({self.elements!r})"


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _utf8_char(buf: bytes, pos: int) -> bytes:
    """The character at ``pos``: one byte, or a whole UTF-8 sequence."""
    b = buf[pos]
    n = 1
    if b >= 0xF0:
        n = 4
    elif b >= 0xE0:
        n = 3
    elif b >= 0xC0:
        n = 2
    if n > 1:
        cand = buf[pos : pos + n]
        try:
            cand.decode("utf-8")
            return cand
        except UnicodeDecodeError:
            pass
    return buf[pos : pos + 1]


def _is_isa_start(s: bytes) -> bool:
    return s[:3] == b"ISA" and (len(s) == 3 or not s[3:4].isalnum())


class Tokenizer:
    """Iterate segments from a binary stream. See module docstring."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        warn: Callable[[Issue], None] | None = None,
        error: Callable[[Issue], None] | None = None,
        chunk_size: int = CHUNK,
    ):
        self.stream = stream
        self.chunk_size = chunk_size
        self._warn_cb = warn or (lambda issue: None)
        self._error_cb = error or (lambda issue: None)
        self._warned: set[str] = set()
        self.count = 0
        self.delimiters: Delimiters | None = None
        self.bytes_read = 0
        self._utf16 = None  # incremental decoder when the file is UTF-16 (BOM FF FE / FE FF)
        # Where the segment just yielded starts in the stream (its text, or the line break before it), or
        # None once the bytes read are no longer the stream's own (UTF-16 transcoded; an ISA met inside the
        # data after blanks that were dropped): reading the stream from there gives that segment first.
        self.offset: int | None = None
        self._exact = True
        self.header_index = 0  # segment number of the last ISA read as an interchange header (its delimiters)

    # -- reporting -------------------------------------------------------
    def _warn(self, code: str, message: str, once: bool = True) -> None:
        if once:
            if code in self._warned:
                return
            self._warned.add(code)
        self._warn_cb(Issue(code=code, message=message, severity="warning"))

    def _error(self, message: str) -> None:
        self._error_cb(Issue(code="malformed", message=message))

    # -- input -----------------------------------------------------------
    def _raw_read(self) -> bytes:
        try:
            chunk = self.stream.read(self.chunk_size)
        except Exception as exc:  # unreadable stream: report, do not raise
            self._error(f"read failed: {exc}")
            return b""
        if chunk is None:
            return b""
        if isinstance(chunk, str):  # text stream passed by mistake
            chunk = chunk.encode("latin-1", "replace")
        self.bytes_read += len(chunk)
        return bytes(chunk)

    def _read(self) -> bytes:
        chunk = self._raw_read()
        if self._utf16 is None:
            return chunk
        # UTF-16 file: transcode to UTF-8 as we go; b"" only at the real end.
        while True:
            out = self._utf16.decode(chunk, final=not chunk).encode("utf-8")
            if out or not chunk:
                return out
            chunk = self._raw_read()

    # -- ISA header ------------------------------------------------------
    def _parse_isa(self, buf: bytes):
        """Delimiters and the ISA elements from ``buf`` (which starts with ISA).

        Returns (elements, delimiters, bytes consumed) or None when the ISA
        cannot be read at all.
        """
        if len(buf) < 4:
            return None
        sep = buf[3:4]
        if sep in WS or sep.isalnum():
            return None
        positional = len(buf) >= 106 and all(buf[p : p + 1] == sep for p in ISA_SEPARATOR_OFFSETS)
        if positional:
            head = buf[:106]
            comp = buf[104:105]
            term = _utf8_char(buf, 105)
            if (
                b"\r" in head[:105]
                or b"\n" in head[:105]
                or head[:104].count(sep) != 16
                or comp in (sep, b"\r", b"\n", b" ")
                or term in (sep, comp)
            ):
                positional = False
        if positional:
            fields = buf[4:104].split(sep)
            consumed = 105 + len(term)
        else:
            # Fallback: count 16 separators, ignoring line breaks (wrapped files).
            out = bytearray()
            nseps = 0
            i = 3
            n = len(buf)
            wrapped = False
            while i < n and nseps < 16:
                c = buf[i : i + 1]
                if c in CRLF:
                    wrapped = True
                elif c == sep:
                    nseps += 1
                    out += c
                else:
                    out += c
                i += 1
            if nseps < 16:
                return None
            while i < n and buf[i : i + 1] in CRLF:
                wrapped = True
                i += 1
            if i >= n:
                return None
            comp = buf[i : i + 1]
            i += 1
            if i >= n:
                term = b"\n"  # file ends right after ISA16
            else:
                term = _utf8_char(buf, i)
                consumed_term = len(term)
                if term == b"\r" and buf[i + 1 : i + 2] == b"\n":
                    term = b"\r"
                i += consumed_term
            consumed = i
            fields = bytes(out[1:]).split(sep)
            if wrapped:
                self._warn("wrapped", "line breaks inside the ISA segment (hard-wrapped file); read leniently")
            self._warn("isa_width", "ISA is not fixed width (106 characters); delimiters taken from its first 16 elements")
        if sep == term or comp == term:
            return None
        if term in (b" ", b"\t"):
            after = buf[consumed : consumed + 1]
            if after in CRLF and after:
                # "ISA...*> <CR><LF>": the blank is padding before a line-break terminator.
                term = after
                self._warn("blank_terminator", "blanks before line-break segment terminators; the line break is used as terminator")
        elements = ["ISA"] + [_decode(f).strip() for f in fields[:15]] + [_decode(comp)]
        while len(elements) < 17:
            elements.append("")
        isa11 = elements[11]
        repetition = None
        if len(isa11) == 1 and not isa11.isalnum() and isa11 not in (_decode(sep), _decode(comp), _decode(term), " "):
            repetition = isa11
        delims = Delimiters(
            element=_decode(sep) if sep < b"\x80" else sep.decode("latin-1"),
            component=_decode(comp) if comp < b"\x80" else comp.decode("latin-1"),
            segment=_decode(term),
            repetition=repetition,
        )
        return elements, delims, consumed, (sep, comp, term)

    def _guess_bare(self, buf: bytes):
        """Delimiters for a file that starts with ST (no ISA/GS envelope)."""
        if len(buf) < 4:
            return None
        sep = buf[2:3]
        if sep.isalnum() or sep in WS:
            return None
        # ST*850*0001<term>: the first character after the control number
        # that is neither alphanumeric nor the separator ends the segment.
        i = 3
        seps = 0
        while i < len(buf):
            c = buf[i : i + 1]
            if c == sep:
                seps += 1
            elif not c.isalnum() and not (c == b" " and seps < 2):
                term = _utf8_char(buf, i)
                comp = b">" if term != b">" and sep != b">" else b":"
                return (
                    Delimiters(element=_decode(sep), component=_decode(comp), segment=_decode(term)),
                    (sep, comp, term),
                )
            i += 1
        return None

    # -- main loop -------------------------------------------------------
    def __iter__(self) -> Iterator[Segment]:
        buf = b""
        base = 0  # where buf[0] is in the stream (self.offset is derived from it while self._exact)
        eof = False
        first = True
        delims: Delimiters | None = None
        raw_sep = raw_comp = raw_term = b""
        need_header = True  # at file start or after an ISA seen inside the data

        def fill(min_len: int) -> None:
            nonlocal buf, eof
            while not eof and len(buf) < min_len:
                chunk = self._read()
                if not chunk:
                    eof = True
                else:
                    buf += chunk

        while True:
            if need_header:
                fill(ISA_HEADER_WINDOW)
                if first:
                    first = False
                    if buf[:2] in (b"\xff\xfe", b"\xfe\xff"):
                        import codecs

                        self._utf16 = codecs.getincrementaldecoder("utf-16")(errors="replace")
                        buf = self._utf16.decode(buf).encode("utf-8")
                        self._exact = False  # (the bytes read are no longer the file's)
                        self._warn("utf16", "file is UTF-16 encoded; transcoded to UTF-8")
                        fill(ISA_HEADER_WINDOW)
                    if buf.startswith(BOM):
                        buf, base = buf[3:], base + 3
                        self._warn("bom", "UTF-8 byte order mark before ISA (stripped)")
                stripped = buf.lstrip(WS + b"\x00")
                while not stripped and not eof:
                    buf, base = b"", base + len(buf)
                    fill(ISA_HEADER_WINDOW)
                    stripped = buf.lstrip(WS + b"\x00")
                buf, base = stripped, base + len(buf) - len(stripped)
                if not buf:
                    return
                if _is_isa_start(buf):
                    parsed = self._parse_isa(buf)
                    if parsed is None:
                        self._error("ISA segment cannot be read (fewer than 16 elements or unusable delimiters)")
                        nxt = _next_isa(buf, 3)
                        while nxt < 0 and not eof:
                            buf, base = b"xxx" + buf[-4:], base + len(buf) - 7  # (buf[3] stays where it was)
                            fill(ISA_HEADER_WINDOW)
                            nxt = _next_isa(buf, 3)
                        if nxt < 0:
                            return
                        buf, base = buf[nxt:], base + nxt
                        continue
                    elements, delims, consumed, raw = parsed
                    raw_sep, raw_comp, raw_term = raw
                    self.delimiters = delims
                    self.count += 1
                    self.offset = base if self._exact else None
                    self.header_index = self.count
                    yield Segment(elements, delims, self.count)
                    buf, base = buf[consumed:], base + consumed
                    need_header = False
                elif delims is None:
                    if buf[:2] == b"ST":
                        guessed = self._guess_bare(buf)
                        if guessed is not None:
                            delims, (raw_sep, raw_comp, raw_term) = guessed
                        if guessed is None:
                            self._error("file starts with ST but its delimiters cannot be determined")
                            return
                        self.delimiters = delims
                        self._warn("no_interchange", "no ISA/GS envelope: transaction sets read without interchange checks")
                        need_header = False
                    else:
                        pos = _next_isa(buf, 1)
                        while pos < 0 and not eof and len(buf) < 16 * CHUNK:
                            fill(len(buf) + self.chunk_size)
                            pos = _next_isa(buf, 1)
                        if pos < 0:
                            self._error("no ISA segment found: not an X12 interchange")
                            return
                        self._warn("garbage", f"{pos} bytes before the first ISA ignored")
                        buf, base = buf[pos:], base + pos
                        continue
                else:
                    need_header = False
            assert delims is not None
            term = raw_term
            idx = buf.rfind(term)
            if idx < 0:
                if eof:
                    tail = buf.lstrip(WS)
                    buf, base = b"", base + len(buf) - len(tail)
                    if _is_isa_start(tail) and tail != b"ISA":
                        buf = tail
                        need_header = True
                        if self._parse_isa(tail) is None:
                            self._error("file ends inside an ISA segment")
                            return
                        continue
                    seg = self._finish(tail, delims, raw_sep, raw_comp, last=True)
                    if seg is not None:
                        self.offset = base if self._exact else None
                        yield seg
                    return
                fill(len(buf) + self.chunk_size)
                continue
            complete = buf[:idx]
            rest = buf[idx + len(term) :]
            parts = complete.split(term)
            restart = False
            # Hot loop: plain segments (no inner line breaks, no trailing
            # component separator, ASCII element separator) are split here;
            # everything else goes through _finish.
            strip = WS if raw_sep not in WS else bytes(c for c in WS if bytes([c]) != raw_sep)
            el = delims.element
            fast_ok = raw_sep < b"\x80"
            at = base  # where the next part starts in the stream
            tlen = len(term)
            for i, part in enumerate(parts):
                start, at = at, at + len(part) + tlen
                s = part.strip(strip)
                if not s:
                    continue
                if s[:3] == b"ISA" and _is_isa_start(s):
                    lead = len(part) - len(part.lstrip(strip))
                    if lead + len(s) != len(part):  # (blanks after it are dropped: later bytes move)
                        self._exact = False
                    buf, base = term.join([s] + parts[i + 1 :]) + term + rest, start + lead
                    need_header = True
                    restart = True
                    break
                if fast_ok and b"\n" not in s and b"\r" not in s and not s.endswith(raw_comp):
                    try:
                        text = s.decode("utf-8")
                    except UnicodeDecodeError:
                        text = s.decode("latin-1")
                    elements = text.split(el)
                    elements[0] = elements[0].strip()
                    self.count += 1
                    self.offset = start if self._exact else None
                    yield Segment(elements, delims, self.count)
                    continue
                seg = self._finish(s, delims, raw_sep, raw_comp)
                if seg is not None:
                    self.offset = start if self._exact else None
                    yield seg
            if restart:
                continue
            buf, base = rest, base + idx + tlen
            if not buf and eof:
                return

    def _finish(self, raw: bytes, delims: Delimiters, sep: bytes, comp: bytes, last: bool = False) -> Segment | None:
        strip = WS if sep not in WS else bytes(c for c in WS if bytes([c]) != sep)
        s = raw.strip(strip)
        if not s:
            return None
        if last:
            self._warn("missing_terminator", "last segment has no segment terminator (file may be truncated)")
        if b"\r" in s or b"\n" in s:
            s = s.replace(b"\r", b"").replace(b"\n", b"")
            self._warn("wrapped", "line breaks inside segments (hard-wrapped file); removed and read leniently")
        if comp and s.endswith(comp) and comp != sep:
            s = s.rstrip(comp)
            self._warn("trailing_separator", "segments end with the component separator (ISA16 used as a terminator?)")
        if sep < b"\x80":
            elements = _decode(s).split(delims.element)
        else:
            elements = s.decode("latin-1").split(delims.element)
        tag = elements[0].strip()
        elements[0] = tag
        self.count += 1
        return Segment(elements, delims, self.count)
