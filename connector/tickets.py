"""Web Connector sessions shared by every qbedi process on one database (scale-out on PostgreSQL, or a
restart that keeps its tickets).

A ticket is issued by one process, but the next call of that conversation may reach another (a load
balancer without affinity, a restarted process). Each company's current session is recorded in
``company_state.info["session"]``: its ticket, user, company file, qbXML version, when it was last seen and
whether it closed. Invariants:

- One current session per Web Connector user: a new login replaces the record (the Web Connector runs one
  update at a time per application, so a new login means the old conversation is over). A process asked
  about a ticket that is no longer its user's current one treats it as stale.
- A process that does not know a ticket it is asked about adopts it when the record says it is live
  (seen within the session time-to-live, not closed). What the first process had in flight is then
  "answer lost" for the adopter: verified in QuickBooks before anything is sent again, never re-sent
  blindly (connector.delivery), so a conversation that moves between processes loses and doubles nothing.
- ``seen`` is written at most once a minute per session: sharing costs a primary-key read per call.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from .store import CompanyState, Store, utcnow

SEEN_EVERY = timedelta(minutes=1)


class SharedSessions:
    """The :class:`qbwc_server.sessions.SessionRegistry` on the store (``company_state``)."""

    def __init__(self, store: Store, ttl: timedelta):
        self.store, self.ttl = store, ttl
        self._seen: dict[str, datetime] = {}  # ticket -> last time this process wrote ``seen_at``

    def claim(self, *, ticket: str, username: str, company_file: str, qbxml_version: str) -> None:
        """This ticket is now the user's current session (whatever was before it is over)."""
        now = utcnow()
        self._write(username, {"ticket": ticket, "username": username, "company_file": company_file,
                               "qbxml_version": qbxml_version, "seen_at": now.isoformat(), "closed": False})
        self._seen[ticket] = now

    def is_current(self, username: str, ticket: str) -> bool:
        rec = self._record(username)
        return rec is None or rec.get("ticket") == ticket  # (no record: written by an older qbedi, or a test)

    def find(self, ticket: str) -> dict | None:
        """The live record of ``ticket`` (another process issued it), else None."""
        with self.store.session() as s:
            for cs in s.query(CompanyState).all():  # one row per company: a handful
                rec = (cs.info or {}).get("session") or {}
                if rec.get("ticket") == ticket:
                    live = not rec.get("closed") and datetime.fromisoformat(rec["seen_at"]) + self.ttl > utcnow()
                    return dict(rec) if live else None
        return None

    def seen(self, username: str, ticket: str) -> None:
        now = utcnow()
        if now - self._seen.get(ticket, datetime.min) < SEEN_EVERY:
            return
        self._seen[ticket] = now
        rec = self._record(username)
        if rec is not None and rec.get("ticket") == ticket:
            self._write(username, {**rec, "seen_at": now.isoformat()})

    def release(self, username: str, ticket: str) -> None:
        self._seen.pop(ticket, None)
        rec = self._record(username)
        if rec is not None and rec.get("ticket") == ticket:
            self._write(username, {**rec, "closed": True})

    # ------------------------------------------------------------ the record
    def _record(self, username: str) -> dict | None:
        with self.store.session() as s:
            cs = s.get(CompanyState, username)
            return ((cs.info or {}).get("session") if cs is not None else None) or None

    def _write(self, username: str, rec: dict) -> None:
        with self.store.session() as s:
            cs = s.get(CompanyState, username, with_for_update=True) or CompanyState(company=username, info={})
            cs.info = {**(cs.info or {}), "session": rec}
            s.merge(cs)
