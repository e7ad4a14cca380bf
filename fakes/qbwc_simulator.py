"""A QuickBooks Web Connector stand-in that speaks the real wire format.

It builds envelopes the way the .NET Web Connector does (see the captured
``receiveResponseXML`` envelopes in ``shared/reference/qbwc/envelopes``):
``<?xml version="1.0" encoding="utf-8"?>`` + ``soap:Envelope`` with ``xsi`` /
``xsd`` declarations, the method element carrying the default namespace
``http://developer.intuit.com/``, qbXML entity-escaped inside string
elements, empty values as ``<x />``, and a quoted
``SOAPAction: "http://developer.intuit.com/<method>"`` header.

Call order follows the programmer's guide (research/qbwc.md §2):
serverVersion, clientVersion, authenticate, then sendRequestXML ->
``quickbooks.process`` -> receiveResponseXML until sendRequestXML answers ""
(getLastError; "NoOp" -> wait and retry, bounded) or receiveResponseXML
answers 100 (closeConnection) or < 0 (getLastError, closeConnection).

``quickbooks`` is any object with ``process(request_xml) -> response_xml``
(raising an exception that has ``.hresult`` and ``.message`` when QuickBooks
itself failed, e.g. a parse error), ``hcp_response() -> str`` and
``.company_file``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import requests
from lxml import etree

TNS = "http://developer.intuit.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

# parameter names in wire order (Intuit's WSDL)
PARAMS: dict[str, tuple[str, ...]] = {
    "serverVersion": (),
    "clientVersion": ("strVersion",),
    "authenticate": ("strUserName", "strPassword"),
    "sendRequestXML": (
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ),
    "receiveResponseXML": ("ticket", "response", "hresult", "message"),
    "connectionError": ("ticket", "hresult", "message"),
    "getLastError": ("ticket",),
    "closeConnection": ("ticket",),
    "getInteractiveURL": ("wcTicket", "sessionID"),
    "interactiveDone": ("wcTicket",),
    "interactiveRejected": ("wcTicket", "reason"),
}


class QuickBooksError(Exception):
    """What a fake QuickBooks raises when the request processor fails (hresult set)."""

    def __init__(self, hresult: str = "0x80040400", message: str = "QuickBooks found an error when parsing the provided XML text stream."):
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


class SimulatorHTTPError(Exception):
    """The service answered with a non-200 status, a SOAP fault or unparsable XML
    (the real Web Connector reports these as QBWC1012/1041/1042/...)."""

    def __init__(self, method: str, status: int, body: str, reason: str):
        super().__init__(f"{method}: {reason} (HTTP {status})")
        self.method, self.status, self.body, self.reason = method, status, body, reason


def build_envelope(method: str, args: dict[str, Any]) -> bytes:
    """A request envelope byte-compatible in style with the .NET captures."""
    parts = []
    for name in PARAMS[method]:
        v = args.get(name)
        if v is None or v == "":
            parts.append(f"<{name} />")
        else:
            parts.append(f"<{name}>{escape(str(v))}</{name}>")
    body = f'<{method} xmlns="{TNS}">' + "".join(parts) + f"</{method}>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode("utf-8")


def parse_result(method: str, content: bytes) -> Any:
    """``<methodResult>`` value: str, int (receiveResponseXML) or list[str] (authenticate).

    Raises ValueError on a SOAP fault or a missing result element."""
    root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise ValueError("no SOAP Body")
    first = body[0]
    if first.tag == f"{{{SOAP_ENV}}}Fault":
        fs = first.findtext("faultstring") or ""
        raise ValueError(f"SOAP fault: {fs}")
    if first.tag != f"{{{TNS}}}{method}Response":
        raise ValueError(f"unexpected response element {first.tag}")
    res = first.find(f"{{{TNS}}}{method}Result")
    if method == "authenticate":
        return [] if res is None else [(s.text or "") for s in res.findall(f"{{{TNS}}}string")]
    text = "" if res is None else (res.text or "")
    if method == "receiveResponseXML":
        return int(text.strip())
    return text


@dataclass
class Call:
    n: int
    method: str
    args: dict
    result: Any = None
    error: str | None = None


@dataclass
class SimulatorRun:
    calls: list[Call] = field(default_factory=list)
    percents: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # getLastError texts
    auth: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # qbXML handed to QuickBooks
    responses: list[str] = field(default_factory=list)  # qbXML QuickBooks answered
    posted: int = 0  # responses delivered and accepted (receiveResponseXML >= 0)
    noops: int = 0
    close_result: str | None = None
    ended: str = ""  # "closed", "auth:<status>", "crashed", "http_error", "client_version", "max_rounds"

    @property
    def ticket(self) -> str | None:
        return self.auth[0] if self.auth else None

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


class QBWCSimulator:
    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        quickbooks,
        *,
        client_version: str = "2.3.0.215",
        country: str = "US",
        major: int = 13,
        minor: int = 0,
        noop_wait: float = 0.01,
        max_noops: int = 5,
        max_rounds: int = 1000,
        timeout: float = 30.0,
        http: requests.Session | None = None,
    ):
        self.url = url
        self.username = username
        self.password = password
        self.qb = quickbooks
        self.client_version = client_version
        self.country = country
        self.major = major
        self.minor = minor
        self.noop_wait = noop_wait
        self.max_noops = max_noops
        self.max_rounds = max_rounds
        self.timeout = timeout
        self.http = http or requests.Session()
        self._n = 0
        self._run: SimulatorRun | None = None

    # ------------------------------------------------------------------ wire
    def call(self, method: str, **args) -> Any:
        """One SOAP call; records it in the current run's transcript (if any)."""
        self._n += 1
        shown = dict(args)
        if "strPassword" in shown:
            shown["strPassword"] = "***"
        c = Call(self._n, method, shown)
        if self._run is not None:
            self._run.calls.append(c)
        data = build_envelope(method, args)
        r = self.http.post(
            self.url,
            data=data,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{method}"'},
            timeout=self.timeout,
        )
        if r.status_code != 200:
            c.error = f"HTTP {r.status_code}"
            raise SimulatorHTTPError(method, r.status_code, r.text, c.error)
        try:
            c.result = parse_result(method, r.content)
        except (ValueError, etree.XMLSyntaxError) as exc:
            c.error = str(exc)
            raise SimulatorHTTPError(method, r.status_code, r.text, str(exc)) from exc
        return c.result

    # ------------------------------------------------------------------ session
    def run(
        self,
        *,
        crash_after_request: int | None = None,
        connection_error: tuple[str, str] | None = None,
        send_twice_at: int | None = None,
        receive_twice_at: int | None = None,
    ) -> SimulatorRun:
        """One scheduled Web Connector update.

        Fault injection:
        - ``crash_after_request=N``: on round N QuickBooks processes the request
          but the Web Connector dies before receiveResponseXML; no closeConnection.
        - ``connection_error=(hresult, message)``: QuickBooks cannot be opened;
          connectionError is called instead of sendRequestXML.
        - ``send_twice_at=N``: round N's sendRequestXML is repeated (the first
          answer is lost, never processed) before processing the second.
        - ``receive_twice_at=N``: round N's receiveResponseXML is sent twice.
        """
        run = self._run = SimulatorRun()
        try:
            self._session(run, crash_after_request, connection_error, send_twice_at, receive_twice_at)
        except SimulatorHTTPError as exc:
            run.ended = "http_error"
            run.errors.append(str(exc))
        finally:
            self._run = None
        return run

    def _close(self, run: SimulatorRun, ticket: str) -> None:
        run.close_result = self.call("closeConnection", ticket=ticket)
        run.ended = run.ended or "closed"

    def _last_error(self, run: SimulatorRun, ticket: str) -> str:
        e = self.call("getLastError", ticket=ticket)
        run.errors.append(e)
        return e

    def _session(self, run, crash_after_request, connection_error, send_twice_at, receive_twice_at) -> None:
        self.call("serverVersion")
        cv = self.call("clientVersion", strVersion=self.client_version)
        if cv and (cv.startswith("E:") or cv.startswith("O:")):
            run.errors.append(cv)
            run.ended = "client_version"
            return
        run.auth = self.call("authenticate", strUserName=self.username, strPassword=self.password)
        ticket = run.auth[0] if run.auth else ""
        status = run.auth[1] if len(run.auth) > 1 else ""
        if status in ("nvu", "none", "busy"):
            run.ended = f"auth:{status}"
            self._close(run, ticket)
            return
        if connection_error:
            r = self.call("connectionError", ticket=ticket, hresult=connection_error[0], message=connection_error[1])
            run.errors.append(f"connectionError -> {r}")
            self._close(run, ticket)
            return

        company_file = getattr(self.qb, "company_file", "") or status
        first = True
        noops = 0
        for rnd in range(1, self.max_rounds + 1):
            send_args = dict(
                ticket=ticket,
                strHCPResponse=self.qb.hcp_response() if first else "",
                strCompanyFileName=company_file,
                qbXMLCountry=self.country,
                qbXMLMajorVers=self.major,
                qbXMLMinorVers=self.minor,
            )
            req = self.call("sendRequestXML", **send_args)
            first = False
            if send_twice_at == rnd:
                send_args["strHCPResponse"] = ""
                req = self.call("sendRequestXML", **send_args)
            if not req:
                err = self._last_error(run, ticket)
                if err == "NoOp" and noops < self.max_noops:
                    noops += 1
                    run.noops += 1
                    time.sleep(self.noop_wait)
                    continue
                self._close(run, ticket)
                return
            noops = 0
            run.requests.append(req)
            hresult = message = ""
            try:
                resp = self.qb.process(req)
            except Exception as exc:  # noqa: BLE001
                if not hasattr(exc, "hresult"):
                    raise
                resp, hresult, message = "", str(exc.hresult), str(getattr(exc, "message", exc))
            if crash_after_request == rnd:
                run.ended = "crashed"
                return
            run.responses.append(resp)
            rargs = dict(ticket=ticket, response=resp, hresult=hresult, message=message)
            pct = self.call("receiveResponseXML", **rargs)
            if receive_twice_at == rnd:
                pct2 = self.call("receiveResponseXML", **rargs)
                run.errors.append(f"second receiveResponseXML -> {pct2}")
            run.percents.append(pct)
            if pct < 0:
                self._last_error(run, ticket)
                self._close(run, ticket)
                return
            run.posted += 1
            if pct >= 100:
                self._close(run, ticket)
                return
        run.ended = "max_rounds"
