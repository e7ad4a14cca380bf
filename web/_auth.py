"""Who may use the web page, and how: sign-in, sessions, CSRF, roles, the failed-login throttle, the key.

Invariants:

- Web users are ``web.users`` in the config (user name, scrypt hash, role), never the Web Connector's users.
  A password is checked only with :func:`connector.passwords.verify_password`; an unknown name costs the same
  scrypt work as a known one (nobody learns which names exist from the time an answer takes).
- A session is a row in :class:`Sessions` (in memory), named by a random id in the signed, HttpOnly,
  SameSite=Lax cookie. It ends after ``web.session_minutes`` without a request, on sign-out, and when the
  process restarts (the page then asks to sign in again). Signing in makes a new id (no fixation).
- Every POST carries the CSRF token of the cookie's session (a hidden field ``csrf``); a POST without it, or
  with another, changes nothing and is answered 400 with words.
- :class:`LoginThrottle`: failed sign-ins delay further tries exponentially, per (user name, address) and,
  for names nobody has or that failed from there, per address. A stranger can never keep a real user out:
  a user with the right password from an address where that name has not failed is always let in, and an
  unknown name delays only that address's unknown or failed names. A name guessed from many addresses (10
  failures in all) is slowed wherever it has not signed in before, never where its owner does. An IPv6
  caller is its /64. Refused tries do no password work.
- The cookie-signing key is ``$QBEDI_WEB_SECRET`` or the file ``web.secret_key_file`` (created 0600 with 32
  random bytes; a file others may read is refused, like ``qbedi.key``).
- With several Web Connector companies, the AppSupport page names a company to a person who is not signed in
  only through that company's support link (:func:`support_url`, written into its .qwc file), whose key is an
  HMAC of the company's name under the cookie-signing key: nobody learns which companies exist by guessing.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from connector.callers import caller_network
from connector.passwords import hash_password, verify_password
from connector.settings import Settings

ENV_SECRET = "QBEDI_WEB_SECRET"
ROLES = ("clerk", "admin")
# a hash nobody's password matches (a name that does not exist costs the same work as one that does)
_NOBODY = hash_password(secrets.token_urlsafe(24))


class WebSetupError(Exception):
    """The web page cannot start (its key file is unsafe or unreadable): one line saying what to do."""


def secret_key(settings: Settings) -> bytes:
    """The key that signs the session cookies (see the module docstring)."""
    env = os.environ.get(ENV_SECRET, "").strip()
    if env:
        if len(env) < 16:
            raise WebSetupError(f"${ENV_SECRET} is too short to sign cookies (use 32 random characters or more)")
        return env.encode("utf-8")
    path = settings.resolve(settings.web.secret_key_file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as e:
        raise WebSetupError(f"cannot create the web page's key file {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def support_key(secret: bytes | str, company: str) -> str:
    """The key in ``company``'s support link (the module docstring) under the cookie-signing key ``secret``:
    the same for one name, whatever its case."""
    secret = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(secret, b"qbedi support page\0" + company.lower().encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def support_url(settings: Settings, app_url: str, company: str) -> str:
    """The AppSupport URL of ``company``'s .qwc file: ``/support`` on the host of ``app_url``; with several
    Web Connector companies and the web page on, ``?company=NAME&key=KEY`` (:func:`support_key`: may create
    the key file, and raises :class:`WebSetupError` as it does)."""
    p = urlsplit(app_url)
    several = settings.web.enabled and len(settings.web_connector.users) > 1 and settings.user(company) is not None
    query = urlencode({"company": settings.user(company).username,
                       "key": support_key(secret_key(settings), company)}) if several else ""
    return urlunsplit((p.scheme, p.netloc, "/support", query, ""))


def support_company(settings: Settings, secret: bytes | str, company: str | None, key: str | None) -> str | None:
    """The company a support link names, when its key is right (else None)."""
    user = settings.user(company) if company else None
    if user is None or not key:
        return None
    return user.username if hmac.compare_digest(key.encode("utf-8", "replace"),
                                                support_key(secret, user.username).encode()) else None


def _read_key(path: Path) -> bytes:
    try:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise WebSetupError(f"the web page's key file {path} may be read by other users: chmod 600 {path}")
        key = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise WebSetupError(f"cannot read the web page's key file {path}: {e.strerror or e}") from None
    if len(key) < 32:
        raise WebSetupError(f"the web page's key file {path} holds no usable key (delete it: a new one is made)")
    return key.encode("utf-8")


# ---------------------------------------------------------------- users

@dataclass(frozen=True)
class WebUser:
    username: str
    role: str
    companies: tuple[str, ...] = ()  # a clerk of these companies only (configured spelling); () every company
    password: str = ""  # a fingerprint of the password hash signed in with: a new one in the config signs out

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def of(cls, settings: Settings, user) -> WebUser:
        """The person a :class:`connector.settings.WebUserSettings` describes, as the page knows them."""
        named = user.companies or ()
        known = [settings.user(c) for c in named]  # (the settings checked that each is a Web Connector user)
        return cls(user.username, user.role,
                   tuple(dict.fromkeys(k.username if k else c for k, c in zip(known, named))),  # (once each)
                   hashlib.sha256(user.password_hash.encode()).hexdigest()[:16])


def check_password(settings: Settings, username: str, password: str) -> WebUser | None:
    """The user when the name exists (any case) and the password matches; the same scrypt work either way."""
    want = next((u for u in settings.web.users if u.username.lower() == (username or "").strip().lower()), None)
    ok = verify_password(password or "", want.password_hash if want else _NOBODY)
    return WebUser.of(settings, want) if want is not None and ok else None


def known(settings: Settings, username: str) -> bool:
    return any(u.username.lower() == (username or "").strip().lower() for u in settings.web.users)


# ---------------------------------------------------------------- sessions

@dataclass
class _Row:
    user: WebUser
    created: float
    seen: float


class Sessions:
    """Signed-in sessions by id, in memory; each ends ``minutes`` after its last request (``clock``: seconds)."""

    LIMIT = 10_000  # sessions kept at most (the oldest idle ones go first)

    def __init__(self, minutes: int, clock=time.time):
        self.idle = minutes * 60
        self.clock = clock
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def create(self, user: WebUser) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            if len(self._rows) >= self.LIMIT:
                for old in sorted(self._rows, key=lambda k: self._rows[k].seen)[: self.LIMIT // 10]:
                    del self._rows[old]
            self._rows[sid] = _Row(user, now, now)
        return sid

    def get(self, sid: str | None) -> tuple[WebUser | None, str]:
        """(the user, "ok") and the session's idle clock restarted; (None, "expired" | "unknown" | "none")."""
        if not sid:
            return None, "none"
        now = self.clock()
        with self._lock:
            row = self._rows.get(sid)
            if row is None:
                return None, "unknown"
            if now - row.seen > self.idle:
                del self._rows[sid]
                return None, "expired"
            row.seen = now
            return row.user, "ok"

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._rows.pop(sid or "", None)

    def drop_user(self, username: str) -> None:
        with self._lock:
            for sid in [k for k, r in self._rows.items() if r.user.username == username]:
                del self._rows[sid]


# ---------------------------------------------------------------- throttle

@dataclass
class _Tries:
    failures: int = 0
    until: float = 0.0  # no try before this time
    seen: float = field(default=0.0)


class LoginThrottle:
    """Failed sign-ins, with an exponential delay (see the module docstring). ``wait`` says how many seconds a
    try must wait (0: go ahead); ``failed`` / ``succeeded`` record the outcome of a try that was made."""

    FREE = 3  # failures per (name, address) before any delay
    ADDRESS_FREE = 20  # failed or unknown names per address before that address's such names are delayed
    NAME_FREE = 10  # failures of one name from anywhere before it is slowed where it never signed in
    MAX_DELAY = 15 * 60
    FORGET = 24 * 3600  # failures older than this are forgotten
    LIMIT = 50_000  # entries kept at most

    def __init__(self, clock=time.time):
        self.clock = clock
        self._user: dict[tuple[str, str], _Tries] = {}
        self._addr: dict[str, _Tries] = {}
        self._name: dict[str, _Tries] = {}  # a name guessed from many addresses
        self._home: set[tuple[str, str]] = set()  # (name, network) that signed in: never slowed by _name
        self._lock = threading.Lock()

    @staticmethod
    def _net(addr: str | None) -> str:
        return caller_network(addr, unknown="?")

    @classmethod
    def _key(cls, username: str, addr: str | None) -> tuple[str, str]:
        return (username or "").strip().lower()[:200], cls._net(addr)

    def wait(self, username: str, addr: str | None, *, is_known: bool) -> int:
        now = self.clock()
        with self._lock:
            mine = self._user.get(self._key(username, addr))
            waits = [mine.until - now] if mine else []
            # the address's delay reaches unknown names, and known names that failed from here: never a real
            # user who has not failed from this address
            if not is_known or (mine and mine.failures):
                there = self._addr.get(self._net(addr))
                if there:
                    waits.append(there.until - now)
            # a name guessed from many addresses is slowed everywhere but where it has signed in before
            key = self._key(username, addr)
            guessed = self._name.get(key[0])
            if guessed and key not in self._home:
                waits.append(guessed.until - now)
        return max(0, int(max(waits, default=0) + 0.999))

    def failed(self, username: str, addr: str | None) -> None:
        now = self.clock()
        with self._lock:
            self._prune(now)
            key = self._key(username, addr)
            mine = self._user.setdefault(key, _Tries())
            there = self._addr.setdefault(key[1], _Tries())
            named = self._name.setdefault(key[0], _Tries())
            for t, free in ((mine, self.FREE), (there, self.ADDRESS_FREE), (named, self.NAME_FREE)):
                if now - t.seen > self.FORGET:
                    t.failures, t.until = 0, 0.0
                t.failures += 1
                t.seen = now
                if t.failures >= free:
                    t.until = now + min(self.MAX_DELAY, 2 ** (t.failures - free + 1))

    def succeeded(self, username: str, addr: str | None) -> None:
        with self._lock:
            key = self._key(username, addr)
            self._user.pop(key, None)
            if len(self._home) < self.LIMIT:
                self._home.add(key)

    def _prune(self, now: float) -> None:
        if len(self._user) + len(self._addr) < self.LIMIT:
            return
        for table in (self._user, self._addr, self._name):
            for k in [k for k, t in table.items() if now - t.seen > self.MAX_DELAY and t.until < now]:
                del table[k]
        if len(self._user) + len(self._addr) >= self.LIMIT:  # still full (a flood): keep the delays only
            for table in (self._user, self._addr, self._name):
                for k in [k for k, t in table.items() if t.until < now]:
                    del table[k]
