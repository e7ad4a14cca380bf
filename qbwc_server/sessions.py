"""Web Connector sessions (tickets) and login throttling.

Sessions live in memory: a QBWC conversation lasts seconds to minutes. A
restart mid-session simply makes the ticket unknown; the SOAP layer answers
that as "stale ticket" (sendRequestXML "" / receiveResponseXML -1) and the
Web Connector starts a fresh session on its next run. Work that was in flight
stays recoverable because the provider persists its own state.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import structlog

from connector.callers import caller_network
from connector.passwords import hash_password, verify_password
from qbwc_server.contracts import QBSession, SessionRegistry, WebConnectorUser

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_ticket() -> str:
    return str(uuid.uuid4())


def company_key(user: WebConnectorUser) -> str:
    """What "one open session per company" is keyed on.

    With an explicit company file, the file path (case-insensitive, Windows);
    with "" (whatever file QuickBooks has open) we cannot know the file before
    sendRequestXML, so the user name stands in for it.
    """
    if user.company_file:
        return "file:" + user.company_file.strip().lower()
    return "user:" + user.username


class Busy(Exception):
    """Another non-expired session is open for the same company."""

    def __init__(self, other: QBSession):
        super().__init__(f"session {other.ticket[:8]} of {other.username} is still open")
        self.other = other


@dataclass
class _Failures:
    count: int = 0
    first_at: datetime | None = None
    locked_until: datetime | None = None
    lockouts: int = 0


class LoginThrottle:
    """Failed-login accounting per (user name, remote address).

    After ``max_failures_per_user`` wrong passwords (within ``window``) for a *known* user from one
    address, that user is locked *at that address* for ``base_lockout`` * 2**(lockouts so far), capped
    at ``max_lockout``. While locked, attempts are refused without checking the password (fast "nvu",
    no sleeping). So a guesser slows only himself: the real Web Connector, at its own address, keeps
    logging in; unknown user names lock nobody (each still costs the guesser a full password hash).
    Behind a reverse proxy the address is the client's, read from the proxy's header only when the
    proxy is trusted (``qbwc_server.soap``). A successful login clears that pair's counter.
    """

    def __init__(
        self,
        *,
        clock: Clock = utcnow,
        max_failures_per_user: int = 5,
        max_unknown_per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
        base_lockout: timedelta = timedelta(minutes=1),
        max_lockout: timedelta = timedelta(hours=1),
        max_tracked: int = 10_000,
    ):
        self.clock = clock
        self.max_tracked = max_tracked
        self.max_user = max_failures_per_user
        self.max_unknown = max_unknown_per_address
        self.window = window
        self.base_lockout = base_lockout
        self.max_lockout = max_lockout
        self._lock = threading.Lock()
        self._f: dict[str, _Failures] = {}

    @staticmethod
    def _key(username: str, remote_addr: str | None) -> str:
        return f"{(username or '').lower()}|{caller_network(remote_addr)}"

    def unknown_refused(self, remote_addr: str | None) -> bool:
        """Has this address guessed too many unknown user names lately? Then further unknown names from it
        are refused without hashing (they cost the server a full scrypt each); known users are unaffected."""
        now = self.clock()
        with self._lock:
            f = self._f.get("?|" + caller_network(remote_addr))
            return bool(f and f.first_at and now - f.first_at <= self.window and f.count >= self.max_unknown)

    def record_unknown(self, remote_addr: str | None) -> None:
        now = self.clock()
        with self._lock:
            if len(self._f) > self.max_tracked:
                self._prune(now)
            f = self._f.setdefault("?|" + caller_network(remote_addr), _Failures())
            if f.first_at is None or now - f.first_at > self.window:
                f.count, f.first_at = 0, now
            f.count += 1

    def locked_until(self, username: str, remote_addr: str | None = None) -> datetime | None:
        """When the lockout covering this attempt ends, or None if not locked."""
        now = self.clock()
        with self._lock:
            f = self._f.get(self._key(username, remote_addr))
            return f.locked_until if f and f.locked_until and f.locked_until > now else None

    def record_failure(self, username: str, remote_addr: str | None = None) -> datetime | None:
        """Count a wrong password for a known user; return the lockout end if this failure triggered one."""
        now = self.clock()
        with self._lock:
            if len(self._f) > self.max_tracked:
                self._prune(now)
            f = self._f.setdefault(self._key(username, remote_addr), _Failures())
            if f.first_at is None or now - f.first_at > self.window:
                f.count, f.first_at = 0, now
            f.count += 1
            if f.count < self.max_user:
                return None
            f.locked_until = now + min(self.base_lockout * (2**f.lockouts), self.max_lockout)
            f.lockouts += 1
            f.count, f.first_at = 0, None
            return f.locked_until

    def _prune(self, now: datetime) -> None:
        """Forget counters that can no longer matter (bounded memory under guessing)."""
        for k, f in list(self._f.items()):
            locked = f.locked_until is not None and f.locked_until > now
            fresh = f.first_at is not None and now - f.first_at <= self.window
            if not locked and not fresh:
                del self._f[k]

    def record_success(self, username: str, remote_addr: str | None = None) -> None:
        with self._lock:
            self._f.pop(self._key(username, remote_addr), None)


class SessionManager:
    """Tickets -> :class:`QBSession`, with expiry, busy detection and login checks."""

    def __init__(
        self,
        ttl: timedelta = timedelta(minutes=30),
        clock: Clock = utcnow,
        *,
        throttle: LoginThrottle | None = None,
        registry: SessionRegistry | None = None,
    ):
        self.ttl = ttl
        self.clock = clock
        self.throttle = throttle or LoginThrottle(clock=clock)
        self.registry = registry  # sessions shared with other processes on the same database
        self._lock = threading.RLock()
        self._sessions: dict[str, QBSession] = {}
        self._by_company: dict[str, str] = {}  # company key -> ticket
        self._ticket_locks: dict[str, threading.RLock] = {}
        # short notes for tickets that never became sessions (nvu/none/busy) and
        # for closed ones, so getLastError/closeConnection can answer sensibly
        self._notes: dict[str, tuple[datetime, str]] = {}
        self._dummy_hash: str | None = None

    # ------------------------------------------------------------ credentials
    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(uuid.uuid4().hex)
        return self._dummy_hash

    def check_credentials(
        self, users: dict[str, WebConnectorUser], username: str, password: str, remote_addr: str | None = None
    ) -> tuple[WebConnectorUser | None, str]:
        """Return (user, "") on success or (None, reason) on failure.

        reason is "locked" (throttled; password not even checked) or "bad".
        Unknown users get a dummy verify so timing does not reveal them.
        """
        if self.throttle.locked_until(username, remote_addr):
            return None, "locked"
        user = users.get(username or "")
        if user is None and self.throttle.unknown_refused(remote_addr):
            return None, "locked"  # this address keeps guessing names: no more hashing for it for a while
        stored = user.password_hash if user is not None else self._dummy()
        ok = verify_password(password or "", stored)
        if user is not None and ok:
            self.throttle.record_success(username, remote_addr)
            return user, ""
        if user is None:  # an unknown name locks nobody out; a flood of them from one address is refused cheaply
            self.throttle.record_unknown(remote_addr)
            return None, "bad"
        until = self.throttle.record_failure(user.username, remote_addr)
        if until:
            log.warning("qbwc.login_locked", user=username, remote=remote_addr, until=until.isoformat())
        return None, "bad"

    # ------------------------------------------------------------ sessions
    def open(self, user: WebConnectorUser) -> QBSession:
        """New session for this user; raises :class:`Busy` if the company has one open."""
        now = self.clock()
        key = company_key(user)
        with self._lock:
            other_t = self._by_company.get(key)
            if other_t:
                other = self._sessions.get(other_t)
                if other is not None and not other.closed and other.expires_at > now:
                    raise Busy(other)
            s = QBSession(
                ticket=new_ticket(),
                username=user.username,
                company_file=user.company_file,
                created_at=now,
                expires_at=now + self.ttl,
                qbxml_version=user.qbxml_version,
            )
            self._sessions[s.ticket] = s
            self._by_company[key] = s.ticket
            self._ticket_locks[s.ticket] = threading.RLock()
        if self.registry is not None:
            self.registry.claim(ticket=s.ticket, username=s.username, company_file=s.company_file,
                                qbxml_version=s.qbxml_version)
        return s

    def open_for_company(self, user: WebConnectorUser) -> QBSession | None:
        """The live (non-expired, not closed) session holding this user's company, if any."""
        now = self.clock()
        with self._lock:
            t = self._by_company.get(company_key(user))
            s = self._sessions.get(t) if t else None
            if s is None or s.closed or s.expires_at <= now:
                return None
            return s

    def get(self, ticket: str | None) -> QBSession | None:
        """Live session for the ticket (and extend its expiry), else None. With a registry: a ticket
        another process issued is adopted while it is live there, and one replaced by a newer login
        elsewhere is stale here too."""
        if not ticket:
            return None
        now = self.clock()
        with self._lock:
            s = self._sessions.get(ticket)
            live = s is not None and not s.closed and s.expires_at > now
            if live:
                s.expires_at = now + self.ttl  # sliding: an active conversation stays alive
        if s is None:
            return self._adopt(ticket, now) if self.registry is not None else None
        if not live:
            return None
        if self.registry is not None:
            if not self.registry.is_current(s.username, ticket):
                self.close(ticket, shared=False)  # a newer login for this user, in another process
                self.note(ticket, "Session replaced by a newer Web Connector session")
                return None
            self.registry.seen(s.username, ticket)
        return s

    def _adopt(self, ticket: str, now: datetime) -> QBSession | None:
        rec = self.registry.find(ticket)
        if rec is None:
            return None
        s = QBSession(ticket=ticket, username=rec["username"], company_file=rec.get("company_file") or "",
                      created_at=now, expires_at=now + self.ttl, qbxml_version=rec.get("qbxml_version") or "13.0")
        s.state["_adopted"] = True  # whatever the issuing process had in flight is verified, never re-sent
        key = company_key(WebConnectorUser(s.username, "", s.company_file, s.qbxml_version))
        with self._lock:
            if ticket in self._sessions:  # adopted by a concurrent call meanwhile
                return self._sessions[ticket]
            self._sessions[ticket] = s
            self._by_company[key] = ticket
            self._ticket_locks.setdefault(ticket, threading.RLock())
        log.info("qbwc.session_adopted", user=s.username, ticket=ticket[:8],
                 detail="issued by another qbedi process on this database")
        return s

    def lock_for(self, ticket: str | None) -> threading.RLock:
        """Per-ticket lock (one QBWC call at a time per session)."""
        with self._lock:
            lk = self._ticket_locks.get(ticket or "")
            if lk is None:
                lk = threading.RLock()  # throwaway for unknown tickets
            return lk

    def close(self, ticket: str, *, shared: bool = True) -> QBSession | None:
        """``shared``: also record it closed for the other processes (not when another process's login
        replaced it)."""
        with self._lock:
            s = self._sessions.pop(ticket, None)
            self._ticket_locks.pop(ticket, None)
            if s is None:
                return None
            s.closed = True
            for k, t in list(self._by_company.items()):
                if t == ticket:
                    del self._by_company[k]
        if shared and self.registry is not None:
            self.registry.release(s.username, ticket)
        return s

    def pop_expired(self) -> list[QBSession]:
        """Remove and return sessions past their expiry (caller tells the provider)."""
        now = self.clock()
        with self._lock:
            gone = [s for s in self._sessions.values() if s.expires_at <= now]
            for s in gone:
                self.close(s.ticket)
            for t, (exp, _) in list(self._notes.items()):
                if exp <= now:
                    del self._notes[t]
        return gone

    def sessions(self) -> list[QBSession]:
        with self._lock:
            return list(self._sessions.values())

    # ------------------------------------------------------------ notes
    def note(self, ticket: str, text: str) -> None:
        with self._lock:
            self._notes[ticket] = (self.clock() + self.ttl, text)

    def get_note(self, ticket: str | None) -> str | None:
        with self._lock:
            n = self._notes.get(ticket or "")
            return n[1] if n else None
