"""A received file's raw bytes: written once, kept exactly, read as a stream.

Invariants:

- A file of at most ``RAW_CHUNK`` bytes keeps them in ``received_file.content`` (``chunks`` = 0: every file
  stored before chunks existed is such a file). A bigger one keeps them in ``file_chunk`` rows ``seq`` 0 ..
  ``chunks`` - 1 of ``RAW_CHUNK`` bytes each (the last may be shorter) and an empty ``content``.
- They are written in the unit of work that stores the file row (:func:`write`), a chunk at a time through
  Core inserts (the ORM keeps nothing), and never changed after.
- Readers never hold a big file whole: :func:`open_file` is a binary stream that loads one chunk at a time,
  each in a short unit of work of its own (or the caller's session), so a 100 MB file costs about one chunk
  of memory and a reader never holds a transaction open while others write.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .store import FileChunk, ReceivedFile, Store

RAW_CHUNK = 256 * 1024  # bytes per file_chunk row, and the biggest file kept in received_file.content
SPOOL_IN_MEMORY = RAW_CHUNK  # a fetched file bigger than this waits on disk (a temporary file), not in memory
READ_SIZE = 64 * 1024


def spool() -> tempfile.SpooledTemporaryFile:
    """Where a source's file is fetched into before it is stored: memory for a small file, a temporary
    file (deleted when closed) beyond ``SPOOL_IN_MEMORY``."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="qbedi-fetch-")


def digest(stream: BinaryIO) -> tuple[str, int]:
    """(sha256 hex, length) of ``stream`` read from where it is to its end, a piece at a time; then
    rewound to where it was."""
    start = stream.tell()
    h, n = hashlib.sha256(), 0
    while piece := stream.read(READ_SIZE):
        h.update(piece)
        n += len(piece)
    stream.seek(start)
    return h.hexdigest(), n


def write(s: Session, f: ReceivedFile, stream: BinaryIO, size: int) -> None:
    """Keep ``size`` bytes of ``stream`` (from where it is) as the raw bytes of ``f``, a new file row, in
    ``s``'s unit of work; ``f`` is added and flushed (it has its id). A stream shorter than ``size``
    raises (nothing is kept: the unit of work rolls back)."""
    if size <= RAW_CHUNK:
        f.content, f.chunks = _exactly(stream, size), 0
        s.add(f)
        s.flush()
        return
    f.content, f.chunks = b"", -(-size // RAW_CHUNK)
    s.add(f)
    s.flush()
    for seq in range(f.chunks):
        s.execute(insert(FileChunk).values(file_id=f.id, seq=seq,
                                           data=_exactly(stream, min(RAW_CHUNK, size - seq * RAW_CHUNK))))


def copy_to(stream: BinaryIO, path: Path) -> None:
    """Write ``stream`` (from where it is to its end) to ``path``, a piece at a time."""
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, READ_SIZE)


def _exactly(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            raise IOError(f"the file ended after {len(data)} of the {n} bytes expected; nothing was kept")
        data += more
    return data


def open_file(store: Store, f: ReceivedFile) -> BinaryIO:
    """``f``'s bytes as a binary stream, a chunk loaded at a time, each in a unit of work of its own."""
    def load(seq: int) -> bytes:
        with store.session() as s:
            return _chunk(s, file_id, seq)

    file_id = f.id
    return _open(f, load)


def open_in(s: Session, f: ReceivedFile, start: int = 0, *, kept: KeptChunks | None = None) -> BinaryIO:
    """``f``'s bytes as a binary stream read through the caller's session ``s`` (a page, a command), from
    byte ``start`` on (the chunks before the one holding it are not read); ``kept``: chunks read lately by
    the caller, and the ones read now kept there."""
    if kept is not None:
        return _open(f, lambda seq: kept.load(s, f.id, seq), start)
    return _open(f, lambda seq: _chunk(s, f.id, seq), start)


class KeptChunks:
    """The last few chunks read, for many reads of places near each other in a row (the held documents of a
    file released in file order, :meth:`IngestService.release_all`): each chunk read from the database once,
    not twice per set (its ISA's and its own). At most ``most`` chunks (``RAW_CHUNK`` bytes each) are kept."""

    def __init__(self, most: int = 4):
        self._most, self._kept = most, {}

    def load(self, s: Session, file_id: int, seq: int) -> bytes:
        key = (file_id, seq)
        data = self._kept.pop(key, None)
        if data is None:
            data = _chunk(s, file_id, seq)
        self._kept[key] = data  # (the latest last: the oldest goes first)
        while len(self._kept) > self._most:
            del self._kept[next(iter(self._kept))]
        return data


def _open(f: ReceivedFile, load: Callable[[int], bytes], start: int = 0) -> BinaryIO:
    if not f.chunks:
        return io.BytesIO(bytes(f.content or b"")[start:])
    first, skip = divmod(max(start, 0), RAW_CHUNK)  # (every chunk but the last holds RAW_CHUNK bytes)
    return io.BufferedReader(_Chunks(f.chunks, load, first, skip), buffer_size=READ_SIZE)


def open_set(open_at: Callable[[int], BinaryIO], place: list | None) -> BinaryIO | None:
    """The bytes of a set's ISA, its GS, then of its file from its ST on, as one stream (``place``: where
    they are, an ``edi.SetPlace`` as stored; ``open_at(n)`` opens the file at byte n); None when ``place`` is
    not a usable one. Tokenized, it gives that ISA, that GS, then the set's own segments, at the stream's
    ``place`` (its ISA at 0, ...): a reader checks they are there before it trusts them."""
    from edi import SetPlace

    try:
        p = SetPlace(*place) if place else None
    except TypeError:
        return None
    if p is None or not (0 <= p.isa_offset < p.isa_end <= p.gs_offset < p.gs_end <= p.st_offset):
        return None
    near = p.st_offset - p.isa_offset <= RAW_CHUNK  # (a file's first sets: one stream, its chunk loaded once)
    fh = open_at(p.isa_offset)
    if near or p.gs_end - p.isa_offset <= READ_SIZE:  # (the GS soon after its ISA, as usual: one read for both)
        both = fh.read(p.gs_end - p.isa_offset)
        head = both[:p.isa_end - p.isa_offset] + both[p.gs_offset - p.isa_offset:]
    else:
        head = fh.read(p.isa_end - p.isa_offset)
        with open_at(p.gs_offset) as gs:
            head += gs.read(p.gs_end - p.gs_offset)
    if near:
        rest, gap = fh, p.st_offset - p.gs_end
        while gap > 0 and (skipped := len(fh.read(min(gap, READ_SIZE)))):  # (read on to the set's ST)
            gap -= skipped
    else:
        fh.close()
        rest = open_at(p.st_offset)
    isa = p.isa_end - p.isa_offset
    return _Joined(head, rest, SetPlace(0, isa, 1, isa, len(head), 2, len(head)))


def placed_set(open_at: Callable[[int], BinaryIO], doc, **reader):
    """``doc``'s set (an ``edi.ParsedSet``) read from its ``set_place`` alone, or None when it has none or
    what is there is not its set: its ISA, GS and ST not where the place says, or another ST/ISA/GS control
    number. ``reader``: more :class:`edi.EdiReader` options (``keep_segments``)."""
    import edi

    stream = open_set(open_at, doc.set_place)
    for ps in edi.EdiReader(stream, parse_only=0, **reader) if stream is not None else ():
        env = ps.envelope
        same = (env.transaction_set[:6], env.set_control[:20], env.interchange_control[:20], env.group_control[:20]) \
            == (doc.transaction_set, doc.set_control, doc.interchange_control, doc.group_control)
        return ps if same and ps.place == stream.place else None
    return None


class _Joined:
    """``head`` (bytes), then what ``rest`` (a binary stream) reads: one stream, for the tokenizer. ``place``:
    where its ISA, GS and ST must be found when it is read (else the place was not a set's: read the file)."""

    def __init__(self, head: bytes, rest: BinaryIO, place=None):
        self._head, self._rest, self.place = head, rest, place

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = (self._head, b"") if n < 0 else (self._head[:n], self._head[n:])
            return out
        return self._rest.read(n)


def contains(stream: BinaryIO, needle: bytes) -> bool:
    """Does ``stream`` (read to its end) contain ``needle``? A piece at a time, pieces overlapping."""
    tail = b""
    while piece := stream.read(READ_SIZE):
        if needle in tail + piece:
            return True
        tail = piece[1 - len(needle):] if len(needle) > 1 else b""
    return False


def _chunk(s: Session, file_id: int, seq: int) -> bytes:
    data = s.scalar(select(FileChunk.data).where(FileChunk.file_id == file_id, FileChunk.seq == seq))
    if data is None:
        raise IOError(f"received file #{file_id}: chunk {seq} of its raw bytes is missing")
    return bytes(data)


class _Chunks(io.RawIOBase):
    """The chunks ``first`` .. count - 1 that ``load`` returns, read in order as one stream (the first
    ``skip`` bytes of chunk ``first`` left out)."""

    def __init__(self, count: int, load: Callable[[int], bytes], first: int = 0, skip: int = 0):
        self._count, self._load = count, load
        self._next, self._buf, self._pos, self._skip = first, memoryview(b""), 0, skip

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self._pos >= len(self._buf):
            if self._next >= self._count:
                return 0
            self._buf = memoryview(b"")  # (let the chunk read go before the next one is loaded)
            self._buf, self._pos, self._skip = memoryview(self._load(self._next)), self._skip, 0
            self._next += 1
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n
