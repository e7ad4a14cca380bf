"""Web Connector messages without a server: the simulator's envelopes and result parsing, and the SOAP
layer reading QuickBooks' HostQuery/CompanyQuery answer (over a live socket: tests/e2e/test_qbwc_*.py)."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from fakes.qbwc_simulator import PARAMS, build_envelope, parse_result
from qbwc_server.soap import parse_hcp_response
from tests.support.qbwc import HCP


def test_envelope_matches_captured_style(qbwc_ref_dir: Path):
    captured = (qbwc_ref_dir / "envelopes" / "receiveResponseXML.invoice_add_rs.xml").read_bytes()
    root = etree.fromstring(captured)
    body = root[0][0]
    args = {c.tag.split("}")[1]: (c.text or "") for c in body}
    ours = build_envelope("receiveResponseXML", args)
    # byte-identical apart from the line breaks the capture keeps inside <response>
    assert ours == captured.rstrip(b"\r\n")
    assert list(args) == list(PARAMS["receiveResponseXML"])


def test_parse_result_fault():
    fault = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
             b"<s:Fault><faultcode>s:Server</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>")
    try:
        parse_result("getLastError", fault)
    except ValueError as e:
        assert "SOAP fault" in str(e)
    else:  # pragma: no cover
        raise AssertionError("fault not detected")


def test_parse_hcp_tolerates_garbage():
    assert parse_hcp_response("") == {}
    assert "parse_error" in parse_hcp_response("<<not xml") or parse_hcp_response("<<not xml") == {}
    info = parse_hcp_response(HCP.replace("<SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>", ""))
    assert info["max_qbxml_version"] == "13.0"
