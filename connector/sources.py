"""Where suppliers' files come from.

Every source (a local folder, Cleo Integration Cloud, Harmony/VLTrader)
implements :class:`Source`. The ingest service drives one poll as
list -> fetch (raw bytes stored + committed) -> acknowledge -> translate, and
deduplicates on (source, remote id, sha256), so a crash between any two steps
neither loses nor doubles a file.

The ``folder`` type is built in; an adapter adds its own ``type:`` with
:func:`register_source_type` when it is imported (``cleo_client`` registers
``cleo``), so the core never imports an adapter.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Protocol


@dataclass(frozen=True)
class RemoteFile:
    source: str  # source name from the config, e.g. "inbox" or "cleo"
    remote_id: str  # stable id at the source (path relative to the folder, Cleo message id, ...)
    name: str  # file name as announced
    size: int | None = None  # announced length, checked after download when known
    meta: dict = field(default_factory=dict, compare=False, hash=False)


class Source(Protocol):
    name: str

    def list_new(self) -> Iterable[RemoteFile]:
        """Files waiting at the source (may include ones already fetched: dedup is ours)."""

    def fetch(self, remote: RemoteFile) -> bytes:
        """The file's bytes, complete (raise on a short read)."""

    # optional: ``fetch_into(remote, out)`` writes the file's bytes, complete, into the binary file ``out``
    # (raise on a short read); the ingest service uses it before ``fetch`` so a big file is never held whole

    def acknowledge(self, remote: RemoteFile) -> None:
        """Mark consumed at the source; called only after the bytes are committed locally."""

    def upload(self, name: str, content: bytes) -> None:
        """Send a file back to the partner (997 acknowledgments); optional."""

    @property
    def sends_acks(self) -> bool:
        """Does :meth:`upload` deliver 997s anywhere? (False: they are kept, never reported as sent.)"""


class SourceError(Exception):
    """A source could not be read (outage, credentials, permissions). Carries a message an admin can act on."""


class FileGone(SourceError):
    """A listed file is no longer there: another poll (another process) took it. Nothing is wrong."""


class SourceUnavailable(SourceError):
    """The source cannot be reached now (down, timing out, rate limiting): nothing it was asked was
    refused; the same request goes again later without counting as a failed try."""


class FolderSource:
    """A local (or mounted / SFTP-dropped) folder.

    Files are consumed by moving them to ``processed/`` under the folder (or
    left in place with ``on_consume="keep"``). Hidden files and partial
    uploads (``*.part``, ``*.tmp``) are skipped, and so is a file modified less
    than ``settle_seconds`` ago (still being written: read on a later poll);
    one that changes between listing and reading is not stored. An X12 file
    whose last segment is not its IEA (a writer that stalled for longer than
    ``settle_seconds``) is left until it is complete, or unchanged for
    ``incomplete_wait_seconds``: then it is taken as it is (and kept, rejected
    with the envelope error, for a person).
    """

    SKIP_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload")

    def __init__(self, name: str, path: str | os.PathLike, *, on_consume: str = "move", processed_dir: str = "processed",
                 outbox: str | os.PathLike | None = None, settle_seconds: float = 0.0,
                 incomplete_wait_seconds: float = 600.0):
        self.name = name
        self.settle_seconds = settle_seconds
        self.incomplete_wait_seconds = incomplete_wait_seconds
        self.path = Path(path)
        self.on_consume = on_consume
        self.processed = self.path / processed_dir
        self.outbox = Path(outbox) if outbox else None
        self.settling: list[str] = []
        self.settling_why: dict[str, str] = {}

    def list_new(self) -> Iterable[RemoteFile]:
        if not self.path.is_dir():
            raise SourceError(f"inbox folder {self.path} does not exist or is not a folder")
        now = time.time()
        self.settling = []  # names left for a later poll, for the poll's report
        self.settling_why: dict[str, str] = {}  # and why, in words
        for entry in sorted(self.path.iterdir()):
            if not entry.is_file() or entry.name.startswith(".") or entry.name.endswith(self.SKIP_SUFFIXES) \
                    or entry == self.processed:  # (where consumed files go, whatever it is, is never read)
                continue
            st = entry.stat()
            if now - st.st_mtime < self.settle_seconds:
                self.settling.append(entry.name)  # still being written (or just finished): next poll
                self.settling_why[entry.name] = (f"changed less than {self.settle_seconds:g} s ago (still being "
                                                 "written); read on the next poll")
                continue
            if now - st.st_mtime < self.incomplete_wait_seconds and _unfinished_interchange(entry, st.st_size):
                self.settling.append(entry.name)  # an interchange without its IEA yet: the writer stalled
                at = time.strftime("%H:%M:%S", time.gmtime(st.st_mtime + self.incomplete_wait_seconds))
                self.settling_why[entry.name] = (
                    "its interchange has no IEA yet (did its writer stop part-way?): read once it is complete, or "
                    f"taken as it is, and rejected for a person, if still unchanged at {at} UTC")
                continue
            yield RemoteFile(self.name, entry.name, entry.name, st.st_size, meta={"mtime_ns": st.st_mtime_ns})

    def fetch(self, remote: RemoteFile) -> bytes:
        out = io.BytesIO()
        self.fetch_into(remote, out)
        return out.getvalue()

    def fetch_into(self, remote: RemoteFile, out: BinaryIO) -> None:
        path = self.path / remote.remote_id
        try:
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, out, 256 * 1024)
        except FileNotFoundError:  # another poll (another process) took it since the listing
            raise FileGone(f"{remote.name} was taken by another poll meanwhile; nothing to do") from None
        if remote.meta.get("mtime_ns") not in (None, path.stat().st_mtime_ns):
            raise SourceError(f"{remote.name} changed while it was read (still being written); read on a later poll")

    def acknowledge(self, remote: RemoteFile) -> None:
        if self.on_consume != "move":
            return
        src = self.path / remote.remote_id
        if not src.exists():
            return
        dest = self.processed / remote.remote_id
        n = 1
        while dest.exists():
            dest = self.processed / f"{remote.remote_id}.{n}"
            n += 1
        try:
            self.processed.mkdir(parents=True, exist_ok=True)
            os.rename(src, dest)  # (processed/ is inside the folder: one file system, never a copy left behind)
        except FileNotFoundError:  # another poll (another process) moved it a moment ago: done already
            pass
        except OSError as e:
            raise SourceError(f"cannot move {remote.name} to {self.processed}: {e.strerror or e}. qbedi must be able "
                              f"to write in {self.path} (check its permissions); the file is stored and is "
                              "translated, it stays in the folder until it can be moved") from None

    @property
    def sends_acks(self) -> bool:
        return self.outbox is not None

    def upload(self, name: str, content: bytes) -> None:
        if self.outbox is None:
            return
        self.outbox.mkdir(parents=True, exist_ok=True)
        tmp = self.outbox / (name + ".part")
        tmp.write_bytes(content)
        tmp.replace(self.outbox / name)


def _unfinished_interchange(path: Path, size: int) -> bool:
    """Does the file start an X12 interchange (ISA) that does not end with an IEA segment yet? Reads at
    most the first 128 and the last 512 bytes. Whatever the segment terminator (``~``, a new line, none
    at the very end) and however the ISA is padded: the file ends with ``IEA<element separator>`` and a
    short trailer. Not X12, or unreadable: False (it is taken and judged)."""
    try:
        with open(path, "rb") as f:
            start = f.read(128).lstrip(b"\xef\xbb\xbf \t\r\n\x00")
            if not start.startswith(b"ISA"):
                return False
            if len(start) < 4:
                return True  # not even the element separator yet
            sep = start[3:4]
            f.seek(max(0, size - 512))
            tail = f.read()
    except OSError:
        return False
    return re.search(rb"(?:^|[^A-Za-z0-9])IEA" + re.escape(sep) + rb"[^\r\n]{0,60}[\s\x00]*$", tail) is None


# ---------------------------------------------------------------- source types

BUILTIN_SOURCE_TYPE = "folder"


@dataclass(frozen=True)
class SourceType:
    """A ``sources:`` entry type an adapter provides."""

    name: str
    settings_model: type  # pydantic model of the entry's own keys (all but name, type and poll)
    build: Callable[[Any, Any], Source]  # (Settings, the sources: entry) -> Source


_SOURCE_TYPES: dict[str, SourceType] = {}


def register_source_type(type_name: str, settings_model: type, build: Callable[[Any, Any], Source]) -> None:
    """Make ``type: <type_name>`` a valid source; called by an adapter when it is imported."""
    if type_name == BUILTIN_SOURCE_TYPE:
        raise ValueError(f"source type {type_name!r} is built in")
    _SOURCE_TYPES[type_name] = SourceType(type_name, settings_model, build)


def source_type(type_name: str) -> SourceType | None:
    return _SOURCE_TYPES.get(type_name)


def source_type_names() -> list[str]:
    return [BUILTIN_SOURCE_TYPE, *sorted(_SOURCE_TYPES)]


def build_source(settings, cfg) -> Source:
    """The Source for one validated ``sources:`` entry of ``settings``."""
    if cfg.type == BUILTIN_SOURCE_TYPE:
        return FolderSource(cfg.name, settings.resolve(cfg.path), on_consume=cfg.on_consume,
                            settle_seconds=cfg.settle_seconds, incomplete_wait_seconds=cfg.incomplete_wait_seconds,
                            outbox=settings.resolve(cfg.outbox) if cfg.outbox else None)
    registered = source_type(cfg.type)
    if registered is None:
        raise SourceError(f"source {cfg.name!r}: unknown type {cfg.type!r} (known types: "
                          f"{', '.join(source_type_names())})")
    return registered.build(settings, cfg)
