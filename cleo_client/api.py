"""The one module that knows Cleo's REST API.

Cleo Integration Cloud (CIC), Cleo Harmony and VLTrader expose the same REST
API (``{scheme}://{host}:{port}/api`` on-prem; a tenant-specific host for
CIC). Nothing outside this module builds a Cleo URL or reads a Cleo JSON
field. The public record is thin (see ``/work/shared/research/cleo.md``,
"cleo.md" below), so every assumption is spelled out here, tagged

* ``SOLID``     several Cleo-authored public clients agree (cleo.md legend),
* ``EVIDENCED`` one old public source (2015-16 Cleo QA code),
* ``ASSUMED``   nothing public shows it; confirm on a real tenant,

and every path is a field of :class:`CleoApiPaths` (a setting, kept with
:class:`~cleo_client.settings.CleoSettings`), so a wrong guess is fixed in
configuration, not code.

Assumptions (numbered; the code refers to them as A1..A14):

A1  (SOLID, cleo.md §2.1) Auth: ``POST {api}/authentication`` form-encoded
    ``grant_type=password&username&password`` -> 200 JSON ``access_token``;
    then ``Authorization: Bearer <token>``. No client id/secret, no scope.
A2  (ASSUMED, cleo.md §2.1 "Unknown") ``expires_in`` (seconds) may come back;
    if it does we renew ``token_refresh_skew`` seconds early. No refresh
    grant is used: we log in again.
A3  (ASSUMED, cleo.md §5) 401 = missing/expired/invalid token (renew once and
    retry the request once); 403 = authenticated but not permitted. On the
    auth endpoint 400/401/403 = bad credentials, and an error ``message``
    mentioning expired/locked/disabled/inactive means the *account* is the
    problem.
A4  (SOLID, cleo.md §5) Error bodies are JSON with a ``message`` field.
A5  (SOLID, cleo.md §4.1) Collections: ``GET ...?startIndex=N&count=M
    [&filter=...]`` -> ``{"totalResults": n, "resources": [...]}``;
    ``startIndex`` 0-based (ASSUMED per cleo.md open question 4); stop when
    ``startIndex >= totalResults`` or a page is empty.
A6  (SOLID, cleo.md §4.1/4.3) Connections: ``GET {api}/connections`` with
    SCIM-like ``filter=alias eq "<alias>"``; records carry ``id``, ``alias``,
    ``type``, ``_links``. We still match the alias exactly client-side.
A7  (SOLID, cleo.md §4.4) Actions: ``GET {api}/actions?filter=alias eq "x"``,
    run with ``POST {api}/actions/{id}/run`` (or ``_links.run.href``) ->
    ``{"status", "result", "messages"}``; ``result == "success"`` is success.
    Which connection an action belongs to: ``connection.href`` on the action
    record (ASSUMED from the create body shape).
A8  (EVIDENCED 2016, cleo.md §4.6) Inbox listing:
    ``GET {api}/connections/{id}/incoming`` -> collection of
    ``{id, name, length, meta{created?}}``.
A9  (ASSUMED, cleo.md §4.6/§8) Inbox download: a ``_links.content.href`` /
    ``_links.download.href`` on the file record if present, else
    ``GET {api}/connections/{id}/incoming/{fileId}`` with
    ``Accept: application/octet-stream`` returns the raw bytes with a
    ``Content-Length`` equal to the record's ``length`` (the *outgoing*
    download is evidenced exactly like that). A JSON answer means the
    assumption is wrong and is reported as such.
A10 (ASSUMED, cleo.md §8) Acknowledge by delete:
    ``DELETE {api}/connections/{id}/incoming/{fileId}`` -> 200/204; 404 means
    already gone (treated as done).
A11 (ASSUMED, cleo.md §4.4/§8) Acknowledge by archive: run an admin-defined
    action (e.g. ``LCOPY %inbox%/<f> %inbox%/processed/`` + ``LDELETE``) with
    the JSON body ``{"file": <name>, "fileId": <id>}``. Per-file parameters
    to an action run are NOT evidenced; an action that ignores them and moves
    *everything* in the inbox could archive a file that arrived after our
    listing — keep ``acknowledge: none`` or ``delete`` until verified.
A12 (ASSUMED, cleo.md §4.6 contingency upload) Upload to a partner:
    ``POST {api}/connections/{id}/outgoing`` with an
    ``application/octet-stream`` body and
    ``Content-Disposition: attachment; filename="<name>"`` -> 200/201.
    Optionally followed by an admin-defined send action. Never retried on
    5xx (a POST that creates something); connection errors before sending
    are retried.
A13 (EVIDENCED third-party, cleo.md §3/§7) The product and version are in the
    ``Server`` response header, e.g. ``Cleo Harmony/5.8.0.21 (Linux)``.
A14 (ASSUMED, cleo.md §5) No documented rate limits: we retry 429 and 5xx
    with exponential backoff + jitter and honour ``Retry-After`` (capped).
A15 (ASSUMED) A connection's ``id`` is what a re-created connection does not
    keep (its alias it does): an inbox that answers 404 is looked up again by
    alias once before the connection counts as failed (CleoSource.list_new).

Security (cleo.md §7, corrected): CVE-2024-50623 was fixed in 5.8.0.21, but
that fix was bypassed in the wild; CVE-2024-55956 is fixed in 5.8.0.24
(Cleo advisory, Dec 2024). cleo.md §7 says "5.8.0.21 fixes both" — public
advisories say 5.8.0.24, so we warn below 5.8.0.24.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Iterator
from urllib.parse import urlsplit

import requests
import structlog
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cleo_client import errors as E
from cleo_client.settings import CleoApiPaths
from connector import redact

log = structlog.get_logger("qbedi.cleo")

# --------------------------------------------------------------------------- knobs

DEFAULT_PATHS = CleoApiPaths()

# A3: words in an auth error message that mean "the account", not "the password".
ACCOUNT_PROBLEM_RE = re.compile(r"(?i)expire|lock|disabl|inactiv|suspend|deactivat")

# A13 + security note.
SAFE_VERSION = (5, 8, 0, 24)
KNOWN_EXPLOITED_CVES = ("CVE-2024-50623", "CVE-2024-55956")
_SERVER_RE = re.compile(
    r"(?P<product>(?:Cleo\s*)?(?:Harmony|VLTrader|LexiCom|VersaLex|Integration\s*Cloud)|Cleo)"
    r"[\s/]*v?(?P<version>\d+(?:\.\d+){1,3})",
    re.I,
)

MAX_RETRY_AFTER = 120.0  # A14: never let a Retry-After park the poll loop for hours


@dataclass(frozen=True)
class ServerVersion:
    raw: str
    product: str | None = None
    version: str | None = None

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        if not self.version:
            return None
        return tuple(int(p) for p in self.version.split("."))

    @property
    def vulnerable(self) -> bool:
        """True when it names a Harmony/VLTrader/LexiCom-family version below 5.8.0.24."""
        vt = self.version_tuple
        if vt is None:
            return False
        vt = vt + (0,) * (4 - len(vt))
        return vt < SAFE_VERSION


def parse_server_header(value: str | None) -> ServerVersion | None:
    if not value:
        return None
    m = _SERVER_RE.search(value)
    if not m:
        return ServerVersion(raw=value)
    return ServerVersion(raw=value, product=" ".join(m.group("product").split()), version=m.group("version"))


class _CappedRetry(Retry):
    """urllib3 Retry whose honoured Retry-After is capped at MAX_RETRY_AFTER seconds."""

    def get_retry_after(self, response):  # public urllib3 API
        value = super().get_retry_after(response)
        if value is None:
            return None
        return min(value, MAX_RETRY_AFTER)


def build_retry(*, retries: int, backoff_factor: float, backoff_max: float, backoff_jitter: float,
                allow_post: bool) -> Retry:
    methods = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
    if allow_post:
        methods.add("POST")  # login and action runs: safe to repeat
    kw = dict(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset(methods),
        status_forcelist=(429, 500, 502, 503, 504),
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_jitter,
        respect_retry_after_header=True,
        raise_on_status=False,  # we want the last response, to read Cleo's message
        raise_on_redirect=False,
    )
    try:
        return _CappedRetry(**kw)
    except TypeError:  # urllib3 < 2 has no backoff_jitter/backoff_max keywords (pin urllib3>=2)
        kw.pop("backoff_jitter")
        kw.pop("backoff_max")
        return _CappedRetry(**kw)


def api_root(base_url: str) -> str:
    """Normalise a configured base URL to the API root (A5 etc. are relative to it).

    ``https://h:6080`` -> ``https://h:6080/api``; a URL that already has a path
    (``https://tenant.example/api`` or a CIC prefix) is kept as given.
    """
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise E.CleoConfigError(f"Cleo base_url {base_url!r} must look like https://host:port/api")
    if not parts.path:
        base += "/api"
    return base


# --------------------------------------------------------------------------- client


@dataclass
class Download:
    path: str
    length: int
    sha256: str
    content_type: str | None = None


@dataclass
class _Token:
    value: str
    expires_at: float | None  # monotonic
    issued_at: float = field(default_factory=time.monotonic)


class CleoClient:
    """Thin, typed access to the Cleo REST API (one ``requests.Session``).

    ``password`` may be a str or a ``connector.credentials.Secret``.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Any,
        *,
        paths: CleoApiPaths = DEFAULT_PATHS,
        page_size: int = 100,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        verify: bool | str = True,
        retries: int = 4,
        backoff_factor: float = 1.0,
        backoff_max: float = 60.0,
        backoff_jitter: float = 1.0,
        auth_mode: str = "token",
        token_refresh_skew: float = 60.0,
        auth_failure_cooldown: float = 300.0,
        user_agent: str = "qbedi-cleo/0.1",
    ):
        self.api = api_root(base_url)
        parts = urlsplit(self.api)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.username = username
        self._password = password
        self.paths = paths
        self.page_size = max(1, int(page_size))
        self.timeout = (connect_timeout, read_timeout)
        self.auth_mode = auth_mode
        self.token_refresh_skew = token_refresh_skew
        self.auth_failure_cooldown = auth_failure_cooldown
        self._retry_kw = dict(retries=retries, backoff_factor=backoff_factor, backoff_max=backoff_max,
                              backoff_jitter=backoff_jitter)
        self._token: _Token | None = None
        self._auth_lock = threading.RLock()  # one login at a time if threads share the client
        self._auth_failure: tuple[float, E.CleoAuthError] | None = None
        self.server: ServerVersion | None = None
        self._version_logged = False
        self.token_requests = 0  # for diagnostics/tests
        self._connections: dict[str, dict] = {}
        self._upload_mounts: set[str] = set()
        self.log = log.bind(cleo_api=self.api)

        if auth_mode not in ("token", "basic"):
            raise E.CleoConfigError(f"auth_mode must be 'token' or 'basic', not {auth_mode!r}")
        s = requests.Session()
        s.headers.update({"Accept": "application/json", "User-Agent": user_agent})
        s.verify = verify
        self._verify = verify
        adapter = HTTPAdapter(max_retries=build_retry(allow_post=True, **self._retry_kw))
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        if auth_mode == "basic":  # cleo.md §2.1: older releases; config-switchable fallback
            s.auth = (username, self._plain_password())
        self.session = s
        redact.register_secret(self._plain_password())

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _plain_password(self) -> str:
        p = self._password
        return p.reveal() if hasattr(p, "reveal") else str(p)

    def url(self, path_or_href: str) -> str:
        """An API-relative path (``/connections``), a server href (``/api/...``) or a full URL."""
        if path_or_href.startswith(("http://", "https://")):
            return path_or_href
        root_path = urlsplit(self.api).path
        if path_or_href.startswith(root_path + "/"):
            return self.origin + path_or_href  # href from _links (cleo.md §4.2)
        return self.api + path_or_href

    def _note_version(self, resp: requests.Response) -> None:
        if self.server is not None:
            return
        sv = parse_server_header(resp.headers.get(self.paths.version_header))
        if sv is None:
            return
        self.server = sv
        if not self._version_logged:
            self._version_logged = True
            self.log.info("cleo_server_version", server=sv.raw, product=sv.product, version=sv.version)
            if sv.vulnerable:
                self.log.warning(
                    "cleo_server_vulnerable",
                    server=sv.raw,
                    version=sv.version,
                    cves=list(KNOWN_EXPLOITED_CVES),
                    fixed_in=".".join(map(str, SAFE_VERSION)),
                    advice="this Cleo version has file-upload flaws exploited in the wild (Dec 2024); "
                    "upgrade to 5.8.0.24 or later and keep its HTTP listener off the internet",
                )

    def _send(self, method: str, url: str, **kw) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        # per request: requests lets $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE override Session.verify
        # (psf/requests#3829), which would silently ignore the configured ca_bundle
        kw.setdefault("verify", self._verify)
        try:
            resp = self.session.request(method, url, **kw)
        except requests.exceptions.SSLError as exc:
            raise E.CleoTLSError(
                f"TLS certificate of {self.origin} could not be verified ({_short(exc)}); if Cleo uses a private CA "
                f"or self-signed certificate, set ca_bundle to its PEM file rather than disabling verification",
                url=url,
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise E.CleoUnavailableError(
                f"could not connect to Cleo at {self.origin} within {self.timeout[0]}s (after retries); "
                f"check host/port, firewall and that Cleo is running",
                url=url,
            ) from None
        except requests.exceptions.ReadTimeout:
            raise E.CleoTimeoutError(
                f"Cleo at {self.origin} did not answer {method} {_path(url)} within {self.timeout[1]}s "
                f"(after retries); Cleo may be overloaded — raise read_timeout if this persists",
                url=url,
            ) from None
        except requests.exceptions.RetryError as exc:  # pragma: no cover - raise_on_status=False
            raise E.CleoUnavailableError(f"Cleo at {self.origin} kept failing: {_short(exc)}", url=url) from None
        except requests.exceptions.ConnectionError as exc:
            if "Read timed out" in str(exc):
                raise E.CleoTimeoutError(
                    f"Cleo at {self.origin} did not answer {method} {_path(url)} within {self.timeout[1]}s "
                    f"(after retries)", url=url) from None
            raise E.CleoUnavailableError(
                f"cannot reach Cleo at {self.origin} ({_short(exc)}); check host/port, DNS, firewall and "
                f"that Cleo is running", url=url,
            ) from None
        self._note_version(resp)
        return resp

    # -- auth (A1-A3) -----------------------------------------------------------

    def login(self, *, force: bool = False) -> None:
        """Get a fresh bearer token (A1). Raises CleoAuthError/CleoAccountError on rejection.

        After a rejection, further attempts within ``auth_failure_cooldown`` fail without contacting
        Cleo (so a poll loop cannot lock the account); ``force=True`` (an admin's explicit test) tries anyway.
        """
        if self.auth_mode == "basic":
            return
        if force:
            self._auth_failure = None
        if self._auth_failure is not None:
            at, err = self._auth_failure
            if time.monotonic() - at < self.auth_failure_cooldown:
                raise type(err)(f"{err} (not retried: last login failure was "
                                f"{int(time.monotonic() - at)}s ago; waiting {int(self.auth_failure_cooldown)}s "
                                f"between attempts to avoid locking the account)", status=err.http_status, url=err.url)
        url = self.url(self.paths.authentication)
        self.token_requests += 1
        resp = self._send(
            "POST", url,
            data={"grant_type": "password", "username": self.username, "password": self._plain_password()},
            headers={"Authorization": None},
        )
        if resp.status_code in (400, 401, 403):
            msg = _message(resp)
            if ACCOUNT_PROBLEM_RE.search(msg or ""):
                err: E.CleoAuthError = E.CleoAccountError(
                    f"Cleo refused the login for user {self.username!r} because of the account: {msg!r}. "
                    f"Ask the Cleo administrator to re-enable/extend the account or reset its password",
                    status=resp.status_code, url=url)
            else:
                err = E.CleoAuthError(
                    f"Cleo rejected the username/password for user {self.username!r} (HTTP {resp.status_code}"
                    f"{': ' + repr(msg) if msg else ''}). Re-enter them with `qbedi credentials set`, and check "
                    f"that this user is allowed to use the REST API",
                    status=resp.status_code, url=url)
            self._auth_failure = (time.monotonic(), err)
            raise err
        if resp.status_code != 200:
            raise self._error(resp, "POST", url, what="logging in")
        try:
            body = resp.json()
            token = body[self.paths.token_field]
            if not isinstance(token, str) or not token:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise E.CleoProtocolError(
                f"the login answer from {url} has no {self.paths.token_field!r}; check base_url and "
                f"paths.authentication (cleo_client/api.py A1)", status=resp.status_code, url=url) from None
        expires_at = None
        exp = body.get(self.paths.expires_field)
        if isinstance(exp, (int, float)) and exp > 0:  # A2
            expires_at = time.monotonic() + float(exp) - min(self.token_refresh_skew, float(exp) / 2)
        old = self._token
        self._token = _Token(token, expires_at)
        self._auth_failure = None
        redact.register_secret(token)
        if old is not None and old.value != token:
            redact.unregister_secret(old.value)  # keep the registry from growing over months of renewals
        self.log.debug("cleo_logged_in", user=self.username, expires_in=exp)

    def drop_token(self) -> None:
        """Forget the current token; the next call logs in again."""
        with self._auth_lock:
            if self._token is not None:
                redact.unregister_secret(self._token.value)
            self._token = None

    def _bearer(self) -> dict:
        if self.auth_mode == "basic":
            return {}
        with self._auth_lock:
            t = self._token
            if t is None or (t.expires_at is not None and time.monotonic() >= t.expires_at):
                self.login()
                t = self._token
            return {"Authorization": f"Bearer {t.value}"}

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), what: str = "",
                ok_statuses: tuple[int, ...] = (), headers: dict | None = None, **kw) -> requests.Response:
        """Authenticated request; renews the token once on 401 (A3); maps errors."""
        url = self.url(path)
        for attempt in (1, 2):
            hdrs = {**(headers or {}), **self._bearer()}
            resp = self._send(method, url, headers=hdrs, **kw)
            if resp.status_code == 401 and self.auth_mode == "token" and attempt == 1:
                resp.close()
                self.log.info("cleo_token_rejected_renewing", method=method, path=_path(url))
                with self._auth_lock:
                    if self._token is not None and hdrs.get("Authorization") == f"Bearer {self._token.value}":
                        self.drop_token()  # (another thread may already have renewed it)
                continue
            break
        if resp.status_code in expect or resp.status_code in ok_statuses:
            return resp
        try:
            raise self._error(resp, method, url, what=what)
        finally:
            resp.close()

    def _error(self, resp: requests.Response, method: str, url: str, *, what: str = "") -> E.CleoError:
        st = resp.status_code
        msg = _message(resp)
        doing = f" while {what}" if what else ""
        detail = f": {msg!r}" if msg else ""
        p = _path(url)
        if st == 401 and self.auth_mode == "basic":
            return E.CleoAuthError(
                f"Cleo rejected the username/password for user {self.username!r} (HTTP 401, basic auth) on "
                f"{method} {p}{detail}; re-enter them with `qbedi credentials set`", status=st, url=url)
        if st == 401:
            return E.CleoAuthError(
                f"Cleo rejected a freshly issued token for user {self.username!r} on {method} {p}{doing}{detail}; "
                f"the user may lack REST API rights, or auth_mode is wrong for this server", status=st, url=url)
        if st == 403:
            return E.CleoPermissionError(
                f"user {self.username!r} is not permitted to {method} {p}{doing}{detail}; ask the Cleo administrator "
                f"to grant this user access to the connection/API", status=st, url=url)
        if st == 404:
            return E.CleoNotFoundError(f"Cleo has no {p}{doing} (HTTP 404){detail}", status=st, url=url)
        if st in (405, 501):
            return E.CleoProtocolError(
                f"Cleo does not support {method} {p}{doing} (HTTP {st}){detail}; an API assumption in "
                f"cleo_client/api.py is wrong for this server — adjust the paths setting", status=st, url=url)
        if st == 429:
            return E.CleoRateLimitedError(
                f"Cleo kept answering 429 Too Many Requests to {method} {p}{doing} after retries; poll less often",
                status=st, url=url)
        if st >= 500:
            return E.CleoUnavailableError(
                f"Cleo at {self.origin} answered HTTP {st} to {method} {p}{doing} after retries{detail}; "
                f"Cleo is down or failing — check the Cleo server/tenant status", status=st, url=url)
        return E.CleoError(f"Cleo answered HTTP {st} to {method} {p}{doing}{detail}", status=st, url=url)

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise E.CleoProtocolError(
                f"Cleo's answer while {what} is not JSON (Content-Type {resp.headers.get('Content-Type')!r}); "
                f"check base_url points at the REST API root", status=resp.status_code, url=resp.url) from None

    # -- collections (A5) -------------------------------------------------------

    def paginate(self, path: str, *, filter: str | None = None, what: str = "listing",
                 page_size: int | None = None) -> Iterator[dict]:
        count = page_size or self.page_size
        start = 0  # A5: 0-based
        for _ in range(100_000):
            params: dict[str, Any] = {"startIndex": start, "count": count}
            if filter:
                params["filter"] = filter
            resp = self.request("GET", path, params=params, what=what)
            body = self._json(resp, what)
            resources = body.get("resources") if isinstance(body, dict) else None
            total = body.get("totalResults") if isinstance(body, dict) else None
            if not isinstance(resources, list) or not isinstance(total, int):
                raise E.CleoProtocolError(
                    f"Cleo's answer while {what} is not a collection (totalResults/resources; api.py A5)",
                    url=resp.url)
            yield from resources
            start += len(resources)
            if not resources or start >= total:
                return

    def count(self, path: str, *, what: str = "counting") -> int:
        resp = self.request("GET", path, params={"startIndex": 0, "count": 1}, what=what)
        body = self._json(resp, what)
        if not isinstance(body, dict) or not isinstance(body.get("totalResults"), int):
            raise E.CleoProtocolError(f"Cleo's answer while {what} has no totalResults (api.py A5)", url=resp.url)
        return body["totalResults"]

    # -- connections & actions (A6, A7) -------------------------------------------

    def list_connections(self, filter: str | None = None) -> list[dict]:
        return list(self.paginate(self.paths.connections, filter=filter, what="listing connections"))

    def resolve_connection(self, alias: str, *, refresh: bool = False) -> dict:
        if not refresh and alias in self._connections:
            return self._connections[alias]
        flt = self.paths.alias_filter.format(alias=alias.replace('"', '\\"'))
        for rec in self.paginate(self.paths.connections, filter=flt, what=f"looking up connection {alias!r}"):
            if rec.get("alias") == alias and rec.get("id"):
                self._connections[alias] = rec
                return rec
        raise E.CleoNotFoundError(
            f"no Cleo connection with alias {alias!r} is visible to user {self.username!r}; check the alias in "
            f"the qbedi settings (case matters) and the user's permissions")

    def find_action(self, alias: str, connection: dict | None = None) -> dict:
        flt = self.paths.alias_filter.format(alias=alias.replace('"', '\\"'))
        matches = [a for a in self.paginate(self.paths.actions, filter=flt, what=f"looking up action {alias!r}")
                   if a.get("alias") == alias and a.get("id")]
        if connection is not None and len(matches) > 1:
            cid = connection.get("id", "")
            own = [a for a in matches if str((a.get("connection") or {}).get("href", "")).endswith("/" + cid)]
            matches = own or matches
        if not matches:
            where = f" on connection {connection.get('alias')!r}" if connection else ""
            raise E.CleoNotFoundError(
                f"no Cleo action with alias {alias!r}{where} is visible to user {self.username!r}; ask the Cleo "
                f"administrator to create it or fix the action alias in the settings")
        return matches[0]

    def run_action(self, action: dict, *, body: dict | None = None, timeout: int | None = None) -> dict:
        href = ((action.get("_links") or {}).get("run") or {}).get("href")
        path = href or self.paths.action_run.format(action_id=action["id"])
        params = {"timeout": timeout} if timeout else None
        resp = self.request("POST", path, json=body, params=params, expect=(200, 201, 202),
                            what=f"running action {action.get('alias')!r}")
        result = self._json(resp, "running an action")
        if not isinstance(result, dict) or str(result.get("result", "")).lower() not in ("success", ""):
            msgs = (result or {}).get("messages") if isinstance(result, dict) else None
            tail = "; ".join(str(m) for m in (msgs or [])[-3:])
            raise E.CleoActionError(
                f"Cleo action {action.get('alias')!r} did not succeed (status={result.get('status')!r}, "
                f"result={result.get('result')!r}){': ' + tail if tail else ''}; check the action in Cleo",
                url=resp.url)
        return result

    # -- inbox (A8-A11) -------------------------------------------------------------

    def list_incoming(self, connection_id: str) -> Iterator[dict]:
        return self.paginate(self.paths.incoming.format(connection_id=connection_id),
                             what="listing received files")

    def count_incoming(self, connection_id: str) -> int:
        return self.count(self.paths.incoming.format(connection_id=connection_id), what="counting received files")

    def _content_path(self, connection_id: str, record: dict) -> str:
        links = record.get("_links") or {}
        for name in self.paths.content_link_names:
            href = (links.get(name) or {}).get("href") if isinstance(links.get(name), dict) else None
            if href:
                return href
        return self.paths.incoming_file.format(connection_id=connection_id, file_id=record["id"])

    def download_incoming(self, connection_id: str, record: dict, out: IO[bytes], *,
                          max_bytes: int | None = None, max_seconds: float | None = None,
                          chunk_size: int = 64 * 1024) -> Download:
        """Stream one received file into ``out`` (A9). Raises on a short read or size mismatch.

        The caller owns ``out`` and must discard it when this raises.
        """
        path = self._content_path(connection_id, record)
        name = record.get("name") or record.get("id")
        resp = self.request("GET", path, stream=True, headers={"Accept": "application/octet-stream"},
                            what=f"downloading {name!r}")
        with resp:
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype == "application/json":
                raise E.CleoProtocolError(
                    f"Cleo answered JSON instead of the file's bytes for {name!r}; the download route "
                    f"(paths.incoming_file, api.py A9) is wrong for this server", url=resp.url)
            announced = _int_or_none(resp.headers.get("Content-Length"))
            expected = _int_or_none(record.get("length"))
            limit = max_bytes
            if limit is not None and (announced or 0) > limit:
                raise E.CleoError(f"received file {name!r} is {announced} bytes, over the max_file_bytes limit "
                                  f"{limit}; raise the limit if this is legitimate", url=resp.url)
            h = hashlib.sha256()
            n = 0
            deadline = time.monotonic() + max_seconds if max_seconds else None
            try:
                for chunk in resp.iter_content(chunk_size):
                    if deadline is not None and time.monotonic() > deadline:
                        raise E.CleoTimeoutError(
                            f"download of {name!r} took longer than {max_seconds}s (got {n} bytes); nothing was "
                            f"stored — raise download_timeout if the file is legitimately large", url=resp.url)
                    n += len(chunk)
                    if limit is not None and n > limit:
                        raise E.CleoError(f"received file {name!r} exceeds the max_file_bytes limit {limit}",
                                          url=resp.url)
                    h.update(chunk)
                    out.write(chunk)
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                if "timed out" in str(exc).lower():
                    raise E.CleoTimeoutError(
                        f"download of {name!r} stalled after {n} bytes (read timeout {self.timeout[1]}s); "
                        f"nothing was stored, it will be retried on the next poll", url=resp.url) from None
                raise E.CleoTruncatedDownloadError(
                    f"download of {name!r} ended after {n} of {announced if announced is not None else '?'} bytes; "
                    f"nothing was stored, it will be retried on the next poll", url=resp.url) from None
        if announced is not None and n != announced:
            raise E.CleoTruncatedDownloadError(
                f"download of {name!r} returned {n} bytes but Cleo announced {announced}; nothing was stored",
                url=resp.url)
        if expected is not None and n != expected:
            raise E.CleoTruncatedDownloadError(
                f"download of {name!r} returned {n} bytes but the file record says {expected}; nothing was stored",
                url=resp.url)
        return Download(path=getattr(out, "name", ""), length=n, sha256=h.hexdigest(), content_type=ctype or None)

    def delete_incoming(self, connection_id: str, file_id: str) -> bool:
        """A10. True if deleted now, False if it was already gone."""
        resp = self.request("DELETE", self.paths.incoming_file.format(connection_id=connection_id, file_id=file_id),
                            expect=(200, 202, 204), ok_statuses=(404,), what="deleting a consumed file")
        resp.close()
        return resp.status_code != 404

    # -- outbox (A12) ------------------------------------------------------------------

    def upload_outgoing(self, connection_id: str, name: str, content: bytes) -> dict:
        path = self.paths.outgoing.format(connection_id=connection_id)
        url = self.url(path)
        if url not in self._upload_mounts:
            # A12: no blind retry of this POST on 5xx/429 — longest-prefix mount on the same Session.
            self.session.mount(url, HTTPAdapter(max_retries=build_retry(allow_post=False, **self._retry_kw)))
            self._upload_mounts.add(url)
        safe = name.replace('"', "").replace("\r", "").replace("\n", "")
        resp = self.request("POST", path, data=content, expect=(200, 201),
                            headers={"Content-Type": "application/octet-stream",
                                     "Content-Disposition": f'attachment; filename="{safe}"'},
                            what=f"uploading {name!r}")
        try:
            return resp.json() if resp.content else {}
        except ValueError:
            return {}

    # -- server info (A13) ---------------------------------------------------------------

    def server_version(self) -> ServerVersion | None:
        """From the ``Server`` header of any answer seen so far (logs in if nothing was seen)."""
        if self.server is None:
            self._bearer()
        return self.server


# --------------------------------------------------------------------------- helpers


def _message(resp: requests.Response) -> str | None:
    """A4: Cleo's error ``message``; else a short text body."""
    try:
        body = resp.json()
    except ValueError:
        text = (resp.text or "").strip()
        return text[:200] or None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return body[key][:300]
    return None


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _path(url: str) -> str:
    return urlsplit(url).path


def _short(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\(Caused by (\w+)\((.*)\)\)", text)
    if m:
        text = f"{m.group(1)}: {m.group(2)}"
    return redact.redact_string(text[:300])
