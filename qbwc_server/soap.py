"""The QuickBooks Web Connector SOAP contract, served with spyne.

Wire contract (research/qbwc.md §1-2, reference WSDLs): namespace
``http://developer.intuit.com/``, SOAP 1.1 document/literal wrapped, element
names and parameter order exactly as Intuit's WSDL. qbXML travels as escaped
text inside string elements (spyne escapes/unescapes).

All decisions live in :class:`QBWCHandler` (plain Python, testable without
SOAP); :class:`QBWCService` only adapts spyne calls to it. Every callback is
wrapped so that nothing - provider exceptions included - ever turns into a
SOAP fault: the answer stays a valid ``""`` / ``-1`` and ``getLastError``
carries a one-line reason while the traceback goes to *our* log.
"""
from __future__ import annotations

from qbwc_server import compat as _compat  # noqa: F401  (before spyne)

import logging
import re
import threading
from datetime import timedelta
from typing import Callable

import structlog
from lxml import etree
from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from qbwc_server.contracts import QBSession, WebConnectorUser, WorkProvider
from qbwc_server.sessions import Busy, SessionManager

log = structlog.get_logger(__name__)

TNS = "http://developer.intuit.com/"

STALE_TICKET = (
    "Session expired or unknown ticket \u2014 the Web Connector will start a new session next run"
)
NOOP = "NoOp"

# hresults QBWC passes in receiveResponseXML / connectionError, with what an admin can do
HRESULT_HINTS = {
    "0x80040400": "QuickBooks could not parse the qbXML request (schema/element order/characters); "
    "the document was not posted and is held for review",
    "0x80040401": "could not access QuickBooks; check that QuickBooks is running and not showing a dialog",
    "0x80040402": "unexpected QuickBooks error; see qbsdklog.txt on the QuickBooks machine",
    "0x80040408": "could not start QuickBooks; open QuickBooks and the company file on that machine",
    "0x80040410": "the company file is open in a mode that blocks access (e.g. single-user by someone else)",
    "0x80040418": "this application is not authorised in QuickBooks (Edit > Preferences > Integrated Applications)",
    "0x8004040d": "the Web Connector ticket was rejected by QuickBooks; the next run starts a new session",
}


# characters XML 1.0 cannot carry (lxml refuses to serialise them)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (for human-readable messages only)."""
    return _XML_INVALID.sub("\ufffd", text) if _XML_INVALID.search(text) else text


def _one_line(text: object, limit: int = 300) -> str:
    s = _xml_safe(" ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def _version_tuple(v: str | None) -> tuple[int, int] | None:
    if not v:
        return None
    m = re.match(r"\s*(\d+)(?:\.(\d+))?", str(v))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def _fmt_version(t: tuple[int, int]) -> str:
    return f"{t[0]}.{t[1]}"


def parse_hcp_response(hcp: str) -> dict:
    """Company facts from the HostQuery/CompanyQuery/PreferencesQuery response
    QBWC sends in the first sendRequestXML. Tolerant: returns what it finds."""
    info: dict = {}
    if not hcp or not hcp.strip():
        return info
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
        root = etree.fromstring(hcp.strip().encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        info["parse_error"] = _one_line(exc)
        return info
    if root is None:
        info["parse_error"] = "empty HCP response"
        return info

    def text(el, name):
        found = el.find(name) if el is not None else None
        return found.text.strip() if found is not None and found.text else None

    host = root.find(".//HostRet")
    if host is not None:
        info["product"] = text(host, "ProductName")
        info["major_version"] = text(host, "MajorVersion")
        info["minor_version"] = text(host, "MinorVersion")
        info["country"] = text(host, "Country")
        vers = [v.text.strip() for v in host.findall("SupportedQBXMLVersion") if v.text and v.text.strip()]
        info["supported_qbxml_versions"] = vers
        tuples = [t for t in (_version_tuple(v) for v in vers) if t]
        if tuples:
            info["max_qbxml_version"] = _fmt_version(max(tuples))
        info["is_automatic_login"] = text(host, "IsAutomaticLogin")
        info["qb_file_mode"] = text(host, "QBFileMode")
    company = root.find(".//CompanyRet")
    if company is not None:
        info["company_name"] = text(company, "CompanyName")
        info["legal_company_name"] = text(company, "LegalCompanyName")
        # private DataExt FileID written by QBWC (lets us check we talk to the right file)
        for de in company.findall(".//DataExtRet"):
            if text(de, "DataExtName") == "FileID":
                info["file_id"] = text(de, "DataExtValue")
                info["file_id_owner"] = text(de, "OwnerID")
    prefs = root.find(".//PreferencesRet")
    if prefs is not None:
        mc = prefs.find(".//MultiCurrencyPreferences/IsMultiCurrencyOn")
        if mc is not None and mc.text:
            info["multicurrency"] = mc.text.strip()
    return {k: v for k, v in info.items() if v not in (None, [], "")}


class QBWCHandler:
    """Web Connector callback semantics over a :class:`WorkProvider`."""

    def __init__(
        self,
        provider: WorkProvider,
        users: dict[str, WebConnectorUser],
        *,
        sessions: SessionManager | None = None,
        server_version: str = "qbedi 0.1",
        min_client_version: str | None = None,
        none_wait_seconds: int | None = 0,
        max_noop_rounds: int = 12,
        supersede_same_user: bool = True,
    ):
        self.provider = provider
        self.users = users
        self.sessions = sessions or SessionManager()
        self.server_version_text = server_version
        self.min_client_version = min_client_version
        self.none_wait_seconds = none_wait_seconds
        self.max_noop_rounds = max_noop_rounds
        self.supersede_same_user = supersede_same_user
        self._auth_lock = threading.Lock()

    # ---------------------------------------------------------------- helpers
    def _reap(self) -> None:
        for s in self.sessions.pop_expired():
            log.warning("qbwc.session_expired", user=s.username, company=s.company_file, ticket=s.ticket[:8])
            self._provider_call("close", s, lambda: self.provider.close(s))

    def _provider_call(self, what: str, session: QBSession | None, fn: Callable):
        """Run a provider callback; on exception log the traceback, record a one-line
        reason in session.last_error and return (False, None)."""
        try:
            return True, fn()
        except Exception as exc:  # noqa: BLE001 - nothing may escape into SOAP
            reason = f"qbedi internal error in {what}: {type(exc).__name__}: {_one_line(exc, 200)}"
            log.exception(
                "qbwc.provider_error",
                step=what,
                user=getattr(session, "username", None),
                company=getattr(session, "company_file", None),
                ticket=(session.ticket[:8] if session else None),
            )
            if session is not None:
                session.last_error = reason + " (details in the qbedi log)"
                session.state["_errors"] = session.state.get("_errors", 0) + 1
            return False, None

    def _live(self, ticket: str | None, method: str) -> QBSession | None:
        self._reap()
        s = self.sessions.get(ticket)
        if s is None:
            log.info("qbwc.stale_ticket", method=method, ticket=(ticket or "")[:8])
        return s

    # ---------------------------------------------------------------- callbacks
    def server_version(self) -> str:
        return self.server_version_text

    def client_version(self, version: str | None) -> str:
        log.info("qbwc.client_version", version=version)
        want = _version_tuple_full(self.min_client_version)
        have = _version_tuple_full(version)
        if want and have and have < want:
            return f"O:{self.min_client_version}"
        return ""

    def authenticate(self, username: str | None, password: str | None, remote_addr: str | None = None) -> list[str]:
        self._reap()
        username = username or ""
        user, why = self.sessions.check_credentials(self.users, username, password or "", remote_addr)
        if user is None:
            t = _throwaway_ticket()
            msg = (
                "Too many failed logins; try again later"
                if why == "locked"
                else "Invalid user name or password (check the password entered in the Web Connector)"
            )
            self.sessions.note(t, msg)
            log.warning("qbwc.auth_failed", user=username, remote=remote_addr, reason=why)
            refused = getattr(self.provider, "login_refused", None)  # optional: providers that keep a record
            if refused is not None and username in self.users:  # unknown names are not anybody's record
                self._provider_call("login_refused", None, lambda: refused(username, why, remote_addr))
            return [t, "nvu"]
        with self._auth_lock:
            old = self.sessions.open_for_company(user)
            if old is not None and old.username == user.username and self.supersede_same_user:
                # The Web Connector runs one update at a time per application, so a new
                # login by the same user means the old conversation is dead (crash,
                # timeout, restart). Close it through the provider (in-flight work is
                # recovered, never blindly re-sent) instead of answering "busy" until
                # the TTL runs out.
                log.warning("qbwc.session_superseded", user=username, company=user.company_file, ticket=old.ticket[:8])
                with self.sessions.lock_for(old.ticket):
                    self._provider_call("close", old, lambda: self.provider.close(old))
                    self.sessions.close(old.ticket)
                    self.sessions.note(old.ticket, "Session replaced by a newer Web Connector session")
        ok, has_work = self._provider_call("has_work", None, lambda: self.provider.has_work(user))
        if not ok:
            t = _throwaway_ticket()
            self.sessions.note(t, "qbedi could not check its queue (internal error, see qbedi log)")
            return [t, "none"] + self._wait_hint()
        if not has_work:
            t = _throwaway_ticket()
            self.sessions.note(t, "OK: nothing queued for QuickBooks")
            log.info("qbwc.auth_none", user=username, remote=remote_addr)
            idle = getattr(self.provider, "login_idle", None)  # optional: providers that keep a record
            if idle is not None:
                self._provider_call("login_idle", None, lambda: idle(user.username))
            return [t, "none"] + self._wait_hint()
        with self._auth_lock:
            try:
                s = self.sessions.open(user)
            except Busy as b:
                s, busy = None, b
        if s is None:
            b = busy
            t = _throwaway_ticket()
            self.sessions.note(t, "Busy: another Web Connector session for this company is still running")
            log.warning(
                "qbwc.auth_busy", user=username, company=user.company_file, other_ticket=b.other.ticket[:8]
            )
            return [t, "busy"]
        log.info("qbwc.session_open", user=username, company=user.company_file, ticket=s.ticket[:8], remote=remote_addr)
        return [s.ticket, user.company_file or ""]

    def _wait_hint(self) -> list[str]:
        return [] if self.none_wait_seconds is None else [str(int(self.none_wait_seconds))]

    def send_request_xml(
        self,
        ticket: str | None,
        hcp: str | None,
        company_file_name: str | None,
        country: str | None,
        major: int | None,
        minor: int | None,
    ) -> str:
        with self.sessions.lock_for(ticket):
            s = self._live(ticket, "sendRequestXML")
            if s is None:
                return ""
            s.state.pop("_adopted", None)
            if s.expecting == "receive":
                msg = "Out of sequence: sendRequestXML again before receiveResponseXML; the previous request's outcome is unknown"
                log.warning("qbwc.out_of_sequence", user=s.username, ticket=s.ticket[:8], method="sendRequestXML")
                self._provider_call("handle_failure", s, lambda: self.provider.handle_failure(s, "", msg))
                s.state["_failed"] = True
                s.expecting = "send"
            if hcp or not s.state.get("_negotiated"):
                self._record_company(s, hcp or "", company_file_name, country, major, minor)
            ok, req = self._provider_call("next_request", s, lambda: self.provider.next_request(s))
            if not ok:
                return ""
            if req and _XML_INVALID.search(req):
                # would make spyne fail while serialising (and QuickBooks could not parse it
                # anyway): never alter a document silently - hand it back to the provider
                m = _XML_INVALID.search(req)
                msg = (
                    f"qbedi built a request containing a character XML cannot carry "
                    f"(U+{ord(m.group()):04X} at offset {m.start()}); the document was not sent"
                )
                log.error("qbwc.invalid_request_chars", user=s.username, ticket=s.ticket[:8], offset=m.start())
                self._provider_call("handle_failure", s, lambda: self.provider.handle_failure(s, "", msg))
                s.last_error = msg
                s.state["_failed"] = True
                return ""
            if req:
                s.expecting = "receive"
                s.last_error = ""
                s.state["_noops"] = 0
                s.state["_sent"] = s.state.get("_sent", 0) + 1
                log.info("qbwc.request_sent", user=s.username, ticket=s.ticket[:8], chars=len(req), n=s.state["_sent"])
                return req
            # nothing to send right now: pause (NoOp) or finish
            wait = bool(s.state.pop("noop", False))
            if not wait and not s.state.get("done"):  # "done": the provider says this session can do nothing
                user = self.users.get(s.username)
                ok, more = self._provider_call("has_work", s, lambda: self.provider.has_work(user)) if user else (True, False)
                wait = bool(ok and more)
            if wait and s.state.get("_noops", 0) < self.max_noop_rounds:
                s.state["_noops"] = s.state.get("_noops", 0) + 1
                s.last_error = NOOP
                log.info("qbwc.noop", user=s.username, ticket=s.ticket[:8], round=s.state["_noops"])
                return ""
            if wait:
                s.last_error = (
                    f"Stopped waiting after {s.state.get('_noops', 0)} pauses: work is queued but not ready "
                    "to send; it will go on the next run"
                )
            elif not s.last_error or s.last_error == NOOP:
                s.last_error = _ok_text(s.state.get("summary")) if s.state.get("summary") else "OK: nothing more to send"
            log.info("qbwc.nothing_left", user=s.username, ticket=s.ticket[:8], status=s.last_error)
            return ""

    def _record_company(self, s: QBSession, hcp, company_file_name, country, major, minor) -> None:
        if hcp:
            s.company_info.update(parse_hcp_response(hcp))
        if company_file_name:
            s.company_info["company_file_name"] = company_file_name
        if country:
            s.company_info.setdefault("country", country)
            s.company_info["qbxml_country"] = country
        candidates = [t for t in (_version_tuple(s.qbxml_version),) if t]
        if major is not None and major > 0:
            rp = (int(major), int(minor or 0))
            s.company_info["request_processor_qbxml_version"] = _fmt_version(rp)
            candidates.append(rp)
        if s.company_info.get("max_qbxml_version"):
            candidates.append(_version_tuple(s.company_info["max_qbxml_version"]))
        if candidates:
            s.qbxml_version = _fmt_version(min(candidates))
        s.state["_negotiated"] = True
        log.info(
            "qbwc.company",
            user=s.username,
            ticket=s.ticket[:8],
            company=s.company_info.get("company_name"),
            file=company_file_name,
            product=s.company_info.get("product"),
            qbxml_version=s.qbxml_version,
        )

    def receive_response_xml(
        self, ticket: str | None, response: str | None, hresult: str | None, message: str | None
    ) -> int:
        with self.sessions.lock_for(ticket):
            s = self._live(ticket, "receiveResponseXML")
            if s is None:
                return -1
            if s.state.pop("_adopted", False) and s.expecting != "receive":
                s.expecting = "receive"  # the request went out from another process: its answer is verified there
            if s.expecting != "receive":
                s.last_error = "Out of sequence: receiveResponseXML without an outstanding request; ignored"
                log.warning("qbwc.out_of_sequence", user=s.username, ticket=s.ticket[:8], method="receiveResponseXML")
                return -1
            s.expecting = "send"
            if hresult and hresult.strip():
                h = hresult.strip()
                hint = HRESULT_HINTS.get(h.lower(), "")
                log.warning(
                    "qbwc.quickbooks_error", user=s.username, ticket=s.ticket[:8], hresult=h, message=_one_line(message or "")
                )
                s.last_error = _one_line(
                    f"QuickBooks error {h}: {message or '(no message)'}" + (f" \u2014 {hint}" if hint else "")
                )
                s.state["_failed"] = True
                ok, _ = self._provider_call(
                    "handle_failure", s, lambda: self.provider.handle_failure(s, h, message or "")
                )
                return -1
            ok, pct = self._provider_call("handle_response", s, lambda: self.provider.handle_response(s, response or ""))
            if not ok:
                return -1
            try:
                pct = int(pct)
            except (TypeError, ValueError):
                pct = 0
            if pct < 0:
                if not s.last_error:
                    s.last_error = "qbedi stopped this run after an error (details in the qbedi log)"
                return -1
            pct = min(pct, 100)
            log.info("qbwc.response_received", user=s.username, ticket=s.ticket[:8], percent=pct, chars=len(response or ""))
            return pct

    def connection_error(self, ticket: str | None, hresult: str | None, message: str | None) -> str:
        with self.sessions.lock_for(ticket):
            s = self._live(ticket, "connectionError")
            h = (hresult or "").strip()
            hint = HRESULT_HINTS.get(h.lower(), "")
            text = _one_line(
                f"Could not connect to QuickBooks {h}: {message or '(no message)'}" + (f" \u2014 {hint}" if hint else "")
            )
            if s is None:
                log.warning("qbwc.connection_error", ticket=(ticket or "")[:8], hresult=h, message=_one_line(message or ""))
                return "done"
            log.warning(
                "qbwc.connection_error", user=s.username, ticket=s.ticket[:8], hresult=h, message=_one_line(message or "")
            )
            s.last_error = text
            s.state["_failed"] = True
            self._provider_call("handle_failure", s, lambda: self.provider.handle_failure(s, h, message or ""))
            return "done"

    def get_last_error(self, ticket: str | None) -> str:
        s = self._live(ticket, "getLastError")
        if s is None:
            return self.sessions.get_note(ticket) or STALE_TICKET
        return s.last_error or "No error"

    def close_connection(self, ticket: str | None) -> str:
        with self.sessions.lock_for(ticket):
            s = self._live(ticket, "closeConnection")
            if s is None:
                note = self.sessions.get_note(ticket)
                return note or "Session already closed or expired"
            self._provider_call("close", s, lambda: self.provider.close(s))
            self.sessions.close(s.ticket)
            summary = s.state.get("summary")
            failed = s.state.get("_failed") or s.state.get("_errors")
            if failed:
                rest = re.sub(r"(?i)^ok\b:?\s*", "", str(summary or "")).strip()
                text = "Finished with errors" + (f": {rest}" if rest else "") + " \u2014 see the qbedi log"
            else:
                text = _ok_text(summary)
            self.sessions.note(s.ticket, text)
            log.info("qbwc.session_closed", user=s.username, ticket=s.ticket[:8], status=text)
            return _one_line(text)

    # interactive mode is never requested by qbedi; answer politely
    def get_interactive_url(self, ticket: str | None, session_id: str | None) -> str:
        log.info("qbwc.interactive_url_requested", ticket=(ticket or "")[:8])
        return ""

    def interactive_done(self, ticket: str | None) -> str:
        return "Done"

    def interactive_rejected(self, ticket: str | None, reason: str | None) -> str:
        log.info("qbwc.interactive_rejected", ticket=(ticket or "")[:8], reason=_one_line(reason or ""))
        return "Interactive mode is not used by qbedi; nothing to do"


def _ok_text(summary: str | None) -> str:
    """ "OK: <summary>" without doubling a provider's own "OK" prefix, nor putting one before its "Refused"."""
    if not summary:
        return "OK"
    summary = str(summary).strip()
    return summary if re.match(r"(?i)(ok|refused)\b", summary) else f"OK: {summary}"


def _version_tuple_full(v: str | None) -> tuple[int, ...] | None:
    if not v:
        return None
    parts = re.findall(r"\d+", str(v))
    return tuple(int(p) for p in parts) if parts else None


def _throwaway_ticket() -> str:
    from qbwc_server.sessions import new_ticket

    return new_ticket()


# ====================================================================== spyne
def _handler(ctx) -> QBWCHandler:
    return ctx.app.qbwc_handler


def _remote(ctx) -> str | None:
    env = getattr(ctx.transport, "req_env", None) or {}
    return env.get("qbedi.client_addr") or env.get("REMOTE_ADDR")  # see qbwc_server.server.client_address


def _safe(default, fn):
    """Last line of defence: a bug in the handler must not become a fault, and no
    string may carry a character that would make spyne fail while serialising."""
    try:
        out = fn()
    except Exception:  # noqa: BLE001
        log.exception("qbwc.handler_bug")
        return default
    if isinstance(out, str):
        return _xml_safe(out)
    if isinstance(out, list):
        return [_xml_safe(x) if isinstance(x, str) else x for x in out]
    return out


class _RedactInvalidRequest(logging.Filter):
    """spyne logs the *whole* body of an unparsable request at ERROR
    (``spyne.protocol.soap.soap11.invalid``: "%r in string %r") - for a broken
    authenticate envelope that would put the password in the log. Keep the
    parser error, replace the body by its size."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 2:
            err, body = record.args
            record.msg = "%r in request body (%d characters, not logged)"
            record.args = (err, len(body) if hasattr(body, "__len__") else -1)
        return True


for _name in ("spyne.protocol.soap.soap11.invalid", "spyne.protocol.xml.invalid"):
    _lg = logging.getLogger(_name)
    if not any(isinstance(f, _RedactInvalidRequest) for f in _lg.filters):
        _lg.addFilter(_RedactInvalidRequest())


ArrayOfString = Array(Unicode(nillable=True), type_name="ArrayOfString")


class QBWCService(ServiceBase):
    """Intuit's QBWebConnectorSvc contract. Names/order are the wire contract."""

    @rpc(_returns=Unicode)
    def serverVersion(ctx):
        return _safe("", lambda: _handler(ctx).server_version())

    @rpc(Unicode, _returns=Unicode)
    def clientVersion(ctx, strVersion):
        return _safe("", lambda: _handler(ctx).client_version(strVersion))

    @rpc(Unicode, Unicode, _returns=ArrayOfString)
    def authenticate(ctx, strUserName, strPassword):
        return _safe(
            ["", "nvu"], lambda: _handler(ctx).authenticate(strUserName, strPassword, _remote(ctx))
        )

    @rpc(Unicode, Unicode, Unicode, Unicode, Integer32, Integer32, _returns=Unicode)
    def sendRequestXML(ctx, ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers):
        return _safe(
            "",
            lambda: _handler(ctx).send_request_xml(
                ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers
            ),
        )

    @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32)
    def receiveResponseXML(ctx, ticket, response, hresult, message):
        return _safe(-1, lambda: _handler(ctx).receive_response_xml(ticket, response, hresult, message))

    @rpc(Unicode, Unicode, Unicode, _returns=Unicode)
    def connectionError(ctx, ticket, hresult, message):
        return _safe("done", lambda: _handler(ctx).connection_error(ticket, hresult, message))

    @rpc(Unicode, _returns=Unicode)
    def getLastError(ctx, ticket):
        return _safe("qbedi internal error (see qbedi log)", lambda: _handler(ctx).get_last_error(ticket))

    @rpc(Unicode, _returns=Unicode)
    def closeConnection(ctx, ticket):
        return _safe("OK", lambda: _handler(ctx).close_connection(ticket))

    @rpc(Unicode, Unicode, _returns=Unicode)
    def getInteractiveURL(ctx, wcTicket, sessionID):
        return _safe("", lambda: _handler(ctx).get_interactive_url(wcTicket, sessionID))

    @rpc(Unicode, _returns=Unicode)
    def interactiveDone(ctx, wcTicket):
        return _safe("Done", lambda: _handler(ctx).interactive_done(wcTicket))

    @rpc(Unicode, Unicode, _returns=Unicode)
    def interactiveRejected(ctx, wcTicket, reason):
        return _safe("", lambda: _handler(ctx).interactive_rejected(wcTicket, reason))


#: receiveResponseXML carries whole qbXML responses; spyne's default cap is 2 MB
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def make_application(handler: QBWCHandler) -> Application:
    """spyne Application. Input is *not* schema-validated (``validator=None``):
    with ``validator="lxml"`` harmless variants real clients send (e.g. the
    quickbooks-php WSDL's ``serverVersion(strVersion)``) become SOAP faults,
    which QBWC reports as QBWC10xx errors. Missing elements arrive as None and
    are handled. ``huge_tree=True`` lets a qbXML response text exceed libxml2's
    10 MB text-node limit (entities stay unresolved, no DTD/network; libxml2's
    entity-amplification guard still applies - checked)."""
    app = Application(
        [QBWCService],
        tns=TNS,
        name="QBWebConnectorSvc",
        in_protocol=Soap11(validator=None, huge_tree=True),
        out_protocol=Soap11(),
    )
    app.qbwc_handler = handler
    return app


def make_wsgi_app(
    provider: WorkProvider,
    users: dict[str, WebConnectorUser],
    *,
    sessions: SessionManager | None = None,
    server_version: str = "qbedi 0.1",
    min_client_version: str | None = None,
    none_wait_seconds: int | None = 0,
    max_noop_rounds: int = 12,
    supersede_same_user: bool = True,
    session_ttl: timedelta | None = None,
    support_text: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    trusted_proxies=(),
):
    """WSGI app: the SOAP service at ``/qbwc`` (``GET /qbwc?wsdl`` = WSDL),
    ``GET /health`` (200 "ok") and ``GET /`` / ``/support`` (AppSupport page).

    The returned callable has ``.handler`` (:class:`QBWCHandler`) and
    ``.sessions`` attributes for the caller/tests. ``trusted_proxies`` (addresses or networks) are the
    reverse proxies whose ``X-Forwarded-For`` names the real caller (login throttling is per caller).
    """
    # spyne runs a full gc.collect() inside a request about once a second (to close file
    # attachments promptly); we take none, and it cost 60-180 ms at p99 (bench/qbwc.py)
    import spyne.const

    spyne.const.MIN_GC_INTERVAL = float("inf")
    if sessions is None:
        sessions = SessionManager(ttl=session_ttl) if session_ttl else SessionManager()
    handler = QBWCHandler(
        provider,
        users,
        sessions=sessions,
        server_version=server_version,
        min_client_version=min_client_version,
        none_wait_seconds=none_wait_seconds,
        max_noop_rounds=max_noop_rounds,
        supersede_same_user=supersede_same_user,
    )
    soap = WsgiApplication(make_application(handler), max_content_length=max_request_bytes)
    from qbwc_server.server import QBWCRouter

    return QBWCRouter(soap, handler, support_text=support_text or server_version, trusted_proxies=trusted_proxies)
