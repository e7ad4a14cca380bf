"""Keeping PostgreSQL's planner informed while a Web Connector drains the queue.

A drain changes ``qb_request`` (and the documents it posts) faster than any statistics age: a queue
analysed while 100,000 requests were waiting still "is" all queued to the planner after 90,000 were
drained, so the next page of queued work is read by walking the primary key past every drained row
(``Rows Removed by Filter: 90000``), and every update leaves the row's old "queued" index entry behind
until a VACUUM. Autovacuum may be off or behind (it is off on the machine these figures come from), so
the delivery service counts the rows its answers change and, every :data:`EVERY` of them, a background
thread runs :meth:`Store.refresh_statistics` with VACUUM for the tables that are stale by more than
:data:`SHARE` of their rows and :data:`LEAST` rows. Invariants: never inside a Web Connector call (the
thread runs after the answer is committed, off the call's path), at most one at a time per process, and
nothing at all where the store keeps no statistics (SQLite updates in place).
"""
from __future__ import annotations

import threading

import structlog

from .store import Store

log = structlog.get_logger(__name__)

TABLES = ("qb_request", "edi_document")  # what a Web Connector session's statements read and change
EVERY = 500  # rows changed by answers between two looks at the statistics
SHARE = 0.05  # stale: changed since the last ANALYZE by more than this share of the table
LEAST = 4000  # and by more than this many rows (a small queue's stale plan costs little; a VACUUM does)


class Upkeep:
    def __init__(self, store: Store, *, tables: tuple[str, ...] = TABLES, every: int = EVERY, share: float = SHARE,
                 least: int = LEAST):
        self.store, self.tables, self.every, self.share, self.least = store, tables, every, share, least
        self._lock = threading.Lock()
        self._changed = 0
        self._thread: threading.Thread | None = None

    def changed(self, rows: int) -> threading.Thread | None:
        """Count ``rows`` changed; start the refresh when enough have been since the last (returns its thread)."""
        if not self.store.keeps_statistics:
            return None
        with self._lock:
            self._changed += rows
            if self._changed < self.every or (self._thread is not None and self._thread.is_alive()):
                return None
            self._changed = 0
            self._thread = threading.Thread(target=self._refresh, name="qbedi-upkeep", daemon=True)
            self._thread.start()
            return self._thread

    def _refresh(self) -> None:
        try:
            done = self.store.refresh_statistics(*self.tables, share=self.share, least=self.least, vacuum=True)
        except Exception as e:  # upkeep must never cost a delivery: the next count tries again
            log.warning("store.upkeep_failed", error=f"{type(e).__name__}: {e}"[:300])
            return
        if done:
            log.info("store.statistics_refreshed", tables=done, detail="VACUUM (ANALYZE) after the queue changed")
