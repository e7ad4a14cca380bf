"""A source is polled by one process at a time, whatever the number of ``qbedi run`` daemons and
``qbedi poll --once`` commands on one database.

PostgreSQL: a session-level advisory lock, keyed by the source's name, held on a connection of its own for
the length of the poll (the database frees it if the process dies). SQLite (one machine): an exclusive lock
on a file beside the database (the kernel frees it if the process dies). Taken without waiting: a process
that cannot have it leaves that source to the one polling it now.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from .store import Store

LEASE_CLASS = 0x71626470  # "qbdp": the advisory-lock class of poll leases (migrations use another key)


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big", signed=True)


@contextlib.contextmanager
def poll_lease(store: Store, source: str) -> Iterator[bool]:
    """``with poll_lease(store, "inbox") as mine:`` -- ``mine`` is False when another process is polling it."""
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LEASE_CLASS}, {_key(source)})").scalar()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LEASE_CLASS}, {_key(source)})")
                conn.rollback()
        return
    path = store.engine.url.database if store.engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield True  # one process by construction
        return
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", source)[:80]
    with open(Path(f"{path}.poll-{safe}.lock"), "a+b") as f:
        lock, unlock = _file_lock(f)
        try:
            lock()
        except OSError:  # another process holds it
            yield False
            return
        try:
            yield True
        finally:
            unlock()


def _file_lock(f):
    """(lock, unlock) for an exclusive, non-blocking lock on open file ``f``: flock, or msvcrt on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        def lock():
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

        def unlock():
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        return lock, unlock
    return (lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)), (lambda: fcntl.flock(f, fcntl.LOCK_UN))
