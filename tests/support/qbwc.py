"""Web Connector doubles for the qbwc tests: an in-memory WorkProvider, a fake QuickBooks for the
simulator, and a live waitress server (``Live``; the ``live`` fixture in tests/e2e/conftest.py)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from connector.passwords import hash_password
from fakes.qbwc_simulator import QuickBooksError
from qbwc_server.contracts import QBSession, WebConnectorUser
from qbwc_server.server import start_in_thread
from qbwc_server.sessions import LoginThrottle, SessionManager
from qbwc_server.soap import make_wsgi_app

PASSWORD = "s3cret-pw"
# cheap scrypt parameters so tests stay fast (verify_password reads them from the hash)
FAST = dict(n=2**4, r=8, p=1)


def bill_rq(n: int, *, fail: bool = False) -> str:
    ref = f"INV-{n}" + ("-FAIL" if fail else "")
    return (
        '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?>'
        '<QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<BillAddRq requestID="{n}"><BillAdd><VendorRef><FullName>Acme &amp; Sons</FullName></VendorRef>'
        f"<RefNumber>{ref}</RefNumber></BillAdd></BillAddRq>"
        "</QBXMLMsgsRq></QBXML>"
    )


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


class InMemoryProvider:
    """Queue of qbXML requests per user name; records every callback."""

    def __init__(self, queues: dict[str, list[str]] | None = None):
        self.queues: dict[str, list[str]] = {k: list(v) for k, v in (queues or {}).items()}
        self.lock = threading.Lock()
        self.posted: list[tuple[str, str]] = []  # (request, response)
        self.failures: list[tuple[str, str, str | None]] = []  # (hresult, message, in-flight request)
        self.recovered: list[str] = []  # in-flight requests whose outcome is unknown
        self.closed: list[str] = []
        self.raise_in: set[str] = set()  # callback names that should raise
        self.noop_rounds = 0  # ask for NoOp this many times before serving

    def _maybe_raise(self, name):
        if name in self.raise_in:
            raise RuntimeError(f"boom in {name}\nsecond line")

    def has_work(self, user: WebConnectorUser) -> bool:
        self._maybe_raise("has_work")
        return bool(self.queues.get(user.username)) or self.noop_rounds > 0

    def next_request(self, session: QBSession) -> str | None:
        self._maybe_raise("next_request")
        if self.noop_rounds > 0:
            self.noop_rounds -= 1
            session.state["noop"] = True
            return None
        q = self.queues.get(session.username) or []
        if not q:
            return None
        req = q.pop(0)
        session.state["inflight"] = req
        session.state.setdefault("total", len(q) + 1 + session.state.get("done", 0))
        return req

    def handle_response(self, session: QBSession, response_xml: str) -> int:
        self._maybe_raise("handle_response")
        req = session.state.pop("inflight", None)
        self.posted.append((req, response_xml))
        session.state["done"] = session.state.get("done", 0) + 1
        session.state["summary"] = f"{session.state['done']} documents posted"
        left = len(self.queues.get(session.username) or [])
        if not left:
            return 100
        return int(100 * session.state["done"] / (session.state["done"] + left))

    def handle_failure(self, session: QBSession, hresult: str, message: str) -> None:
        self._maybe_raise("handle_failure")
        req = session.state.pop("inflight", None)
        self.failures.append((hresult, message, req))
        if req is not None:
            self.recovered.append(req)

    def close(self, session: QBSession) -> None:
        self._maybe_raise("close")
        req = session.state.pop("inflight", None)
        if req is not None:
            self.recovered.append(req)
        self.closed.append(session.ticket)


HCP = """<?xml version="1.0" ?>
<QBXML><QBXMLMsgsRs>
<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<HostRet><ProductName>QuickBooks Enterprise Solutions 22.0</ProductName><MajorVersion>32</MajorVersion>
<MinorVersion>0</MinorVersion><Country>US</Country>
<SupportedQBXMLVersion>1.0</SupportedQBXMLVersion><SupportedQBXMLVersion>12.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>13.0</SupportedQBXMLVersion><SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>
<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>MultiUser</QBFileMode></HostRet>
</HostQueryRs>
<CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>Widgets &amp; Co</CompanyName>
<DataExtRet><OwnerID>{57F3B9B1-86F1-4fcc-B1EE-566DE1813D20}</OwnerID><DataExtName>FileID</DataExtName>
<DataExtType>STR255TYPE</DataExtType><DataExtValue>{90A44FB5-33D9-4815-AC85-BC87A7E7D1EB}</DataExtValue></DataExtRet>
</CompanyRet></CompanyQueryRs>
</QBXMLMsgsRs></QBXML>"""


class FakeQuickBooks:
    company_file = r"C:\Users\Public\Documents\Intuit\QuickBooks\Widgets.qbw"

    def __init__(self, hcp: str = HCP):
        self.hcp = hcp
        self.processed: list[str] = []

    def hcp_response(self) -> str:
        return self.hcp

    def process(self, request_xml: str) -> str:
        if "-FAIL" in request_xml:
            raise QuickBooksError("0x80040400", "QuickBooks found an error when parsing the provided XML text stream.")
        self.processed.append(request_xml)
        n = len(self.processed)
        return (
            '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n'
            f'<BillAddRs requestID="{n}" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
            f"<BillRet><TxnID>{n}-1417118624</TxnID></BillRet></BillAddRs>\n"
            "</QBXMLMsgsRs>\n</QBXML>\n"
        )


def make_users(**company_files) -> dict[str, WebConnectorUser]:
    users = {}
    for name, cf in (company_files or {"alice": "", "bob": r"C:\QB\Bob.qbw", "carol": r"c:\qb\BOB.qbw"}).items():
        users[name] = WebConnectorUser(name, hash_password(PASSWORD, **FAST), company_file=cf)
    return users


class Live:
    def __init__(self, provider=None, users=None, clock=None, **kw):
        self.clock = clock or Clock()
        self.provider = provider or InMemoryProvider()
        self.users = users or make_users()
        throttle = LoginThrottle(clock=self.clock, max_failures_per_user=3)
        self.sessions = SessionManager(ttl=timedelta(minutes=30), clock=self.clock, throttle=throttle)
        kw.setdefault("server_version", "qbedi test")
        self.app = make_wsgi_app(self.provider, self.users, sessions=self.sessions, **kw)
        self.server = start_in_thread(self.app)
        self.url = self.server.url

    def stop(self):
        self.server.stop()
