"""The SOAP layer against a live waitress server: zeep clients generated from
the reference WSDLs, and raw captured envelopes."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from qbwc_server.soap import NOOP, STALE_TICKET
from tests.support.qbwc import HCP, PASSWORD, Clock, InMemoryProvider, bill_rq

TNS = "http://developer.intuit.com/"
WSDLS = {
    "QBWebConnectorSvc.wsdl": "{http://developer.intuit.com/}QBWebConnectorSvcSoap",
    "QBWebConnectorSvc.quickbooks-php.wsdl": "{http://developer.intuit.com/}QBWebConnectorSvcSoap",
    "TroubleshootWebServiceFS.wsdl": "{http://developer.intuit.com/}TroubleshootWebServiceFSSoap",
}


def zclient(qbwc_ref_dir: Path, wsdl: str, url: str):
    client = zeep.Client(str(qbwc_ref_dir / wsdl), transport=Transport(timeout=10, operation_timeout=10))
    return client.create_service(WSDLS[wsdl], url)


def auth(svc, user="alice", pw=PASSWORD) -> list[str]:
    r = svc.authenticate(strUserName=user, strPassword=pw)
    items = r if isinstance(r, list) else (r.string if r is not None else [])
    return [x or "" for x in items]


def send(svc, ticket, hcp="", major=13, minor=0):
    return svc.sendRequestXML(
        ticket=ticket,
        strHCPResponse=hcp,
        strCompanyFileName=r"C:\QB\Widgets.qbw",
        qbXMLCountry="US",
        qbXMLMajorVers=major,
        qbXMLMinorVers=minor,
    )


def post_raw(url: str, method: str, body: bytes | str) -> requests.Response:
    return requests.post(
        url,
        data=body if isinstance(body, bytes) else body.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{method}"'},
        timeout=10,
    )


# ------------------------------------------------------------------ every method, every WSDL
@pytest.mark.parametrize("wsdl", ["QBWebConnectorSvc.wsdl", "TroubleshootWebServiceFS.wsdl"])
def test_full_conversation_via_zeep(live, qbwc_ref_dir, wsdl):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, wsdl, lv.url)
    if wsdl.startswith("Troubleshoot"):
        assert svc.serverVersion() == "qbedi test"
        assert svc.clientVersion(strVersion="2.3.0.215") in ("", None)
    ticket, company = auth(svc)
    assert len(ticket) == 36 and company in ("", None)
    req = send(svc, ticket, hcp=HCP)
    assert req == bill_rq(1)  # escaped on the wire, identical text after parsing
    assert svc.receiveResponseXML(ticket=ticket, response="<QBXML/>", hresult="", message="") == 50
    assert send(svc, ticket) == bill_rq(2)
    assert svc.receiveResponseXML(ticket=ticket, response="<QBXML/>", hresult="", message="") == 100
    assert svc.closeConnection(ticket=ticket) == "OK: 2 documents posted"
    assert len(prov.posted) == 2 and prov.closed == [ticket]
    # session info recorded from the HCP response and version negotiated
    assert svc.getLastError(ticket=ticket)  # closed ticket still answers without fault


def test_quickbooks_php_wsdl_serverversion_with_param(live, qbwc_ref_dir):
    lv = live()
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.quickbooks-php.wsdl", lv.url)
    assert svc.serverVersion(strVersion="x") == "qbedi test"
    assert svc.clientVersion(strVersion="2.3.0.215") in ("", None)


def test_remaining_methods_via_zeep_raw(live):
    """Methods no reference WSDL declares (interactive mode) + connectionError."""
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    from fakes.qbwc_simulator import QBWCSimulator

    sim = QBWCSimulator(lv.url, "alice", PASSWORD, None)
    t = sim.call("authenticate", strUserName="alice", strPassword=PASSWORD)[0]
    assert sim.call("getInteractiveURL", wcTicket=t, sessionID="abc") == ""
    assert sim.call("interactiveDone", wcTicket=t) == "Done"
    assert "not used" in sim.call("interactiveRejected", wcTicket=t, reason="user said no")
    assert sim.call("connectionError", ticket=t, hresult="0x80040408", message="Could not start QuickBooks.") == "done"
    err = sim.call("getLastError", ticket=t)
    assert "0x80040408" in err and "open QuickBooks" in err
    assert prov.failures == [("0x80040408", "Could not start QuickBooks.", None)]
    assert sim.call("closeConnection", ticket=t).startswith("Finished with errors")


# ------------------------------------------------------------------ authenticate
def test_authenticate_nvu_none_busy_ok(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)], "bob": [bill_rq(2)], "carol": [bill_rq(3)]})
    lv = live(provider=prov, none_wait_seconds=300)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    bad = auth(svc, pw="wrong")
    assert bad[1] == "nvu" and len(bad) == 2
    assert "Invalid user name or password" in svc.getLastError(ticket=bad[0])
    assert auth(svc, user="nobody")[1] == "nvu"
    ok = auth(svc, user="bob")
    assert ok[1] == r"C:\QB\Bob.qbw"
    busy = auth(svc, user="carol")  # same company file (other case), bob's session still open
    assert busy[1] == "busy"
    assert svc.getLastError(ticket=busy[0]).startswith("Busy")
    prov.queues["alice"] = []
    none = auth(svc)
    assert none[1:] == ["none", "300"]
    assert svc.closeConnection(ticket=none[0]) == "OK: nothing queued for QuickBooks"
    # after bob closes, a new session is allowed
    svc.closeConnection(ticket=ok[0])
    assert auth(svc, user="carol")[1] == r"c:\qb\BOB.qbw"


def test_busy_ends_when_first_session_expires(live, qbwc_ref_dir):
    prov = InMemoryProvider({"bob": [bill_rq(1)], "carol": [bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t1 = auth(svc, user="bob")[0]
    assert send(svc, t1) == bill_rq(1)  # in flight, then bob's QBWC vanishes
    assert auth(svc, user="carol")[1] == "busy"
    lv.clock.advance(minutes=31)
    t2, cf = auth(svc, user="carol")
    assert cf == r"c:\qb\BOB.qbw"
    # the expired session was closed through the provider, in-flight work recovered
    assert prov.closed == [t1] and prov.recovered == [bill_rq(1)]
    assert send(svc, t2) == bill_rq(2)


def test_same_user_login_supersedes_dead_session(live, qbwc_ref_dir):
    """QBWC crashed mid-session and runs again: no "busy" for 30 minutes; the old
    session is closed through the provider so its in-flight work is recovered."""
    prov = InMemoryProvider({"bob": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t1 = auth(svc, user="bob")[0]
    assert send(svc, t1) == bill_rq(1)
    lv.clock.advance(minutes=2)
    t2, cf = auth(svc, user="bob")
    assert cf == r"C:\QB\Bob.qbw" and t2 != t1
    assert prov.closed == [t1] and prov.recovered == [bill_rq(1)]
    assert svc.receiveResponseXML(ticket=t1, response="<QBXML/>", hresult="", message="") == -1
    assert "replaced" in svc.getLastError(ticket=t1)
    assert send(svc, t2) == bill_rq(2)


def test_expired_ticket_every_method(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "TroubleshootWebServiceFS.wsdl", lv.url)
    t = auth(svc)[0]
    lv.clock.advance(minutes=45)
    assert send(svc, t) in ("", None)
    assert svc.getLastError(ticket=t) == STALE_TICKET
    assert svc.receiveResponseXML(ticket=t, response="<QBXML/>", hresult="", message="") == -1
    assert svc.connectionError(ticket=t, hresult="", message="") == "done"
    assert svc.closeConnection(ticket=t)
    for unknown in ("", "not-a-ticket"):
        assert send(svc, unknown) in ("", None)
        assert svc.getLastError(ticket=unknown) == STALE_TICKET
        assert svc.receiveResponseXML(ticket=unknown, response="", hresult="", message="") == -1
    assert prov.posted == []


def test_sliding_expiry_keeps_active_session(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    for _ in range(2):
        lv.clock.advance(minutes=20)
        assert send(svc, t)
        lv.clock.advance(minutes=20)
        assert svc.receiveResponseXML(ticket=t, response="<QBXML/>", hresult="", message="") >= 50


def test_login_throttling(live, qbwc_ref_dir):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}))
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    for _ in range(3):
        assert auth(svc, pw="nope")[1] == "nvu"
    locked = auth(svc)  # right password, but locked out
    assert locked[1] == "nvu"
    assert "Too many failed logins" in svc.getLastError(ticket=locked[0])
    lv.clock.advance(seconds=61)
    # lockout over; three more failures lock again, twice as long (exponential)
    for _ in range(3):
        assert auth(svc, pw="nope")[1] == "nvu"
    lv.clock.advance(seconds=61)
    assert auth(svc)[1] == "nvu"
    lv.clock.advance(seconds=61)
    ok = auth(svc)
    assert ok[1] == ""
    svc.closeConnection(ticket=ok[0])
    # a success resets the counters
    for _ in range(2):
        auth(svc, pw="nope")
    assert auth(svc)[1] == ""


def test_throttle_other_user_unaffected_and_unknown_names_lock_nobody(live, qbwc_ref_dir):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)], "bob": [bill_rq(2)]}))
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    for _ in range(3):
        auth(svc, pw="nope")
    assert auth(svc)[1] == "nvu"  # alice, from this address, is locked
    ticket, company = auth(svc, user="bob")[:2]
    assert company == r"C:\QB\Bob.qbw"  # per-user lockout only hits alice
    svc.closeConnection(ticket=ticket)
    for i in range(25):  # guessing user names from the same address
        auth(svc, user=f"guess{i}", pw="nope")
    assert auth(svc, user="bob")[1] == r"C:\QB\Bob.qbw"  # nobody was locked out by unknown names


def _behind_proxy(qbwc_ref_dir, url, forwarded_for: str):
    """A zeep client whose calls arrive through a reverse proxy that says who the caller is."""
    client = zeep.Client(str(qbwc_ref_dir / "QBWebConnectorSvc.wsdl"), transport=Transport(timeout=10))
    client.transport.session.headers["X-Forwarded-For"] = forwarded_for
    return client.create_service(WSDLS["QBWebConnectorSvc.wsdl"], url)


def test_behind_a_trusted_proxy_each_caller_is_throttled_on_its_own(live, qbwc_ref_dir):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}), trusted_proxies=["127.0.0.1/32"])
    attacker = _behind_proxy(qbwc_ref_dir, lv.url, "203.0.113.7")
    for _ in range(5):
        auth(attacker, pw="nope")
    assert auth(attacker)[1] == "nvu"  # locked, even with the right password
    real = _behind_proxy(qbwc_ref_dir, lv.url, "198.51.100.20, 127.0.0.1")  # the client, then a trusted hop
    assert auth(real)[1] == ""  # in: alice works on whatever company QuickBooks has open


def test_an_untrusted_caller_cannot_pick_its_address(live, qbwc_ref_dir):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}))  # no trusted proxy: the header is ignored
    for n in range(5):
        auth(_behind_proxy(qbwc_ref_dir, lv.url, f"203.0.113.{n}"), pw="nope")
    assert auth(_behind_proxy(qbwc_ref_dir, lv.url, "198.51.100.20"))[1] == "nvu"


def test_client_version_minimum(live, qbwc_ref_dir):
    lv = live(min_client_version="2.1.0.30")
    svc = zclient(qbwc_ref_dir, "TroubleshootWebServiceFS.wsdl", lv.url)
    assert svc.clientVersion(strVersion="2.0.1.5") == "O:2.1.0.30"
    assert svc.clientVersion(strVersion="2.3.0.215") in ("", None)


# ------------------------------------------------------------------ sendRequestXML semantics
def test_company_info_and_version_negotiation(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    lv.users["alice"].qbxml_version = "16.0"
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    send(svc, t, hcp=HCP, major=14, minor=0)
    s = lv.sessions.get(t)
    assert s.qbxml_version == "14.0"  # min(user 16.0, processor 14.0, company max 16.0)
    info = s.company_info
    assert info["company_name"] == "Widgets & Co"
    assert info["product"].startswith("QuickBooks Enterprise")
    assert info["country"] == "US" and info["max_qbxml_version"] == "16.0"
    assert info["file_id"] == "{90A44FB5-33D9-4815-AC85-BC87A7E7D1EB}"
    assert info["company_file_name"] == r"C:\QB\Widgets.qbw"


def test_noop_then_work_then_done(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    prov.noop_rounds = 2
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    for _ in range(2):
        assert send(svc, t) in ("", None)  # never "NoOp" from sendRequestXML
        assert svc.getLastError(ticket=t) == NOOP
    assert send(svc, t) == bill_rq(1)
    assert svc.receiveResponseXML(ticket=t, response="<QBXML/>", hresult="", message="") == 100
    # nothing left: "" and a short status, not NoOp
    assert send(svc, t) in ("", None)
    assert svc.getLastError(ticket=t) == "OK: 1 documents posted"


def test_noop_is_bounded(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    prov.noop_rounds = 100
    lv = live(provider=prov, max_noop_rounds=3)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    answers = []
    for _ in range(5):
        send(svc, t)
        answers.append(svc.getLastError(ticket=t))
    assert answers[:3] == [NOOP] * 3 and NOOP not in answers[3:]


def test_out_of_sequence_send_twice_recovers_inflight(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    assert send(svc, t) == bill_rq(1)
    assert send(svc, t) == bill_rq(2)  # bill 1's outcome unknown: handed to the provider, not re-sent
    assert prov.failures and "Out of sequence" in prov.failures[0][1]
    assert prov.recovered == [bill_rq(1)]
    # receive without an outstanding request
    assert svc.receiveResponseXML(ticket=t, response="<QBXML/>", hresult="", message="") == 100
    assert svc.receiveResponseXML(ticket=t, response="<QBXML/>", hresult="", message="") == -1
    assert "Out of sequence" in svc.getLastError(ticket=t)


def test_receive_with_hresult(live, qbwc_ref_dir):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    send(svc, t)
    msg = "QuickBooks found an error when parsing the provided XML text stream."
    assert svc.receiveResponseXML(ticket=t, response="", hresult="0x80040400", message=msg) == -1
    err = svc.getLastError(ticket=t)
    assert err.startswith("QuickBooks error 0x80040400") and "not posted" in err
    assert prov.failures == [("0x80040400", msg, bill_rq(1))]
    assert svc.closeConnection(ticket=t).startswith("Finished with errors")


@pytest.mark.parametrize("where", ["has_work", "next_request", "handle_response", "handle_failure", "close"])
def test_provider_exceptions_do_not_leak(live, where):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    prov.raise_in.add(where)
    from fakes.qbwc_simulator import QBWCSimulator

    sim = QBWCSimulator(lv.url, "alice", PASSWORD, None)
    bodies = []
    orig = sim.http.post

    def spy(*a, **kw):
        r = orig(*a, **kw)
        bodies.append(r.text)
        assert r.status_code == 200
        return r

    sim.http.post = spy
    a = sim.call("authenticate", strUserName="alice", strPassword=PASSWORD)
    t = a[0]
    if where == "has_work":
        assert a[1] == "none"
        assert "internal error" in sim.call("getLastError", ticket=t)
    else:
        req = sim.call("sendRequestXML", ticket=t, strHCPResponse=HCP, strCompanyFileName="", qbXMLCountry="US",
                       qbXMLMajorVers=13, qbXMLMinorVers=0)
        if where == "next_request":
            assert req == ""
            err = sim.call("getLastError", ticket=t)
            assert "internal error in next_request: RuntimeError: boom in next_request second line" in err
        else:
            hres = "0x80040400" if where == "handle_failure" else ""
            pct = sim.call("receiveResponseXML", ticket=t, response="<QBXML/>", hresult=hres, message="m")
            assert pct == (-1 if where in ("handle_response", "handle_failure") else 100)
        sim.call("closeConnection", ticket=t)
    for b in bodies:
        assert "Traceback" not in b and "File \"" not in b and "Fault" not in b


# ------------------------------------------------------------------ raw wire format
ENVELOPES = [
    "receiveResponseXML.invoice_add_rs.xml",
    "receiveResponseXML.item_inventory_query_rs_raw.xml",
    "receiveResponseXML.sales_order_add_rs_raw.xml",
]


@pytest.mark.parametrize("name", ENVELOPES)
def test_captured_envelopes(live, qbwc_ref_dir, name):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    svc = zclient(qbwc_ref_dir, "QBWebConnectorSvc.wsdl", lv.url)
    t = auth(svc)[0]
    send(svc, t)
    raw = (qbwc_ref_dir / "envelopes" / name).read_bytes()
    old = re.search(rb"<ticket>([^<]*)</ticket>", raw).group(1)
    r = post_raw(lv.url, "receiveResponseXML", raw.replace(old, t.encode()))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(r.content)
    res = root.find(f".//{{{TNS}}}receiveResponseXMLResult")
    assert res is not None and res.text == "50"
    # the provider got the qbXML text, unescaped, declaration included
    got = prov.posted[0][1]
    sent = etree.fromstring(raw).find(f".//{{{TNS}}}response").text
    assert got == sent  # byte-for-byte the text QBWC sent (whitespace, declaration, entities)
    assert got.startswith('<?xml version="1.0" ?>') and "<QBXMLMsgsRs>" in got
    etree.fromstring(got.encode("utf-8"))  # well-formed qbXML


def test_captured_envelope_stale_ticket_is_not_a_fault(live, qbwc_ref_dir):
    lv = live()
    raw = (qbwc_ref_dir / "envelopes" / "receiveResponseXML.invoice_add_rs.xml").read_bytes()
    r = post_raw(lv.url, "receiveResponseXML", raw)
    assert r.status_code == 200 and b"Fault" not in r.content
    assert etree.fromstring(r.content).find(f".//{{{TNS}}}receiveResponseXMLResult").text == "-1"


def test_response_envelope_shape(live):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}))
    from fakes.qbwc_simulator import build_envelope

    r = post_raw(lv.url, "authenticate", build_envelope("authenticate", {"strUserName": "alice", "strPassword": PASSWORD}))
    root = etree.fromstring(r.content)
    resp = root.find(f".//{{{TNS}}}authenticateResponse")
    result = resp.find(f"{{{TNS}}}authenticateResult")
    assert [c.tag for c in result] == [f"{{{TNS}}}string"] * 2
    # qbXML travels escaped, not as child elements
    t = result[0].text
    r = post_raw(lv.url, "sendRequestXML", build_envelope("sendRequestXML", dict(
        ticket=t, strHCPResponse="", strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0)))
    assert b"&lt;QBXML&gt;" in r.content and b"Acme &amp;amp; Sons" in r.content


def test_garbage_and_wsdl_and_health(live):
    lv = live()
    r = post_raw(lv.url, "authenticate", b"<<<not xml")
    assert r.status_code in (200, 400, 500) and b"Traceback" not in r.content and b'File "' not in r.content
    w = requests.get(lv.url + "?wsdl", timeout=10)
    assert w.status_code == 200
    wsdl = etree.fromstring(w.content)
    ops = {o.get("name") for o in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert {"serverVersion", "clientVersion", "authenticate", "sendRequestXML", "receiveResponseXML",
            "connectionError", "getLastError", "closeConnection", "getInteractiveURL", "interactiveDone",
            "interactiveRejected"} <= ops
    assert wsdl.get("targetNamespace") == TNS
    base = lv.server.base_url
    assert requests.get(base + "/health", timeout=5).status_code == 200
    assert requests.get(base + "/support", timeout=5).status_code == 200
    assert requests.get(base + "/nope", timeout=5).status_code == 404


def test_password_never_logged(live, capsys):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}))
    from fakes.qbwc_simulator import QBWCSimulator

    sim = QBWCSimulator(lv.url, "alice", "wrong-" + PASSWORD, None)
    sim.call("authenticate", strUserName="alice", strPassword="wrong-" + PASSWORD)
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
