"""parse_response on real captured envelopes and synthetic responses."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from qbxml_templates import QbxmlParseError, message_set_status, parse_response
from qbxml_templates.schema import validate

NS = {"i": "http://developer.intuit.com/"}


def _response_text(envelope: Path) -> str:
    """What the SOAP layer hands over: the <response> text, already unescaped."""
    root = etree.parse(str(envelope)).getroot()
    resp = root.find(".//i:receiveResponseXML/i:response", NS)
    if len(resp):  # the one capture that carries QBXML as child elements
        return etree.tostring(resp[0], encoding="unicode")
    return resp.text


@pytest.fixture
def envelopes(qbwc_ref_dir):
    return qbwc_ref_dir / "envelopes"


def test_sales_order_batch_codes(envelopes, xsd_dir, monkeypatch):
    monkeypatch.setenv("QBEDI_QBXML_XSD_DIR", str(xsd_dir))
    text = _response_text(envelopes / "receiveResponseXML.sales_order_add_rs_raw.xml")
    assert text.lstrip().startswith("<?xml")
    items = parse_response(text)
    assert [(i.rq_type, i.status_code) for i in items] == [
        ("ItemInventoryQuery", 1), ("ItemInventoryQuery", 1), ("SalesOrderAdd", 0),
        ("SalesOrderAdd", 3140)]
    assert items[0].message == "A query request did not find a matching object in QuickBooks"
    assert items[0].not_found and items[0].ret is None and items[0].rets == []
    so = items[2]
    assert so.ok and so.ret.tag == "SalesOrderRet"
    assert so.ret_text("TxnID") == "4C-1415942229"
    assert items[3].message == (
        'There is an invalid reference to QuickBooks Customer "nononononoImNotThereAlrightDylan" '
        "in the SalesOrder.  QuickBooks error message: Invalid argument.  "
        "The specified record does not exist in the list.")
    assert items[3].severity == "Error" and items[3].ret is None
    assert validate(text) == []


def test_invalid_reference_3140(envelopes):
    text = _response_text(envelopes / "receiveResponseXML.sales_order_add_rs_invalid_record_ref.xml")
    (item,) = parse_response(text)
    assert item.status_code == 3140 and item.severity == "Error" and not item.ok
    assert item.message.startswith('There is an invalid reference to QuickBooks Customer "Joe Smith"')
    assert item.ret is None


def test_invoice_add_and_item_query(envelopes):
    (inv,) = parse_response(_response_text(envelopes / "receiveResponseXML.invoice_add_rs.xml"))
    assert inv.rq_type == "InvoiceAdd" and inv.status_code == 0
    assert inv.ret_text("EditSequence") == "1417118624"
    (q,) = parse_response(_response_text(envelopes / "receiveResponseXML.item_inventory_query_rs_raw.xml"))
    assert q.rq_type == "ItemInventoryQuery" and len(q.rets) > 1
    assert all(r.tag == "ItemInventoryRet" for r in q.rets)


def test_iterator_and_request_id_and_message_set():
    xml = """\ufeff <?xml version="1.0" encoding="windows-1252"?>
<QBXML><QBXMLMsgsRs newMessageSetID="b-1" messageSetStatusCode="0">
 <!-- a comment -->
 <VendorQueryRs requestID="7" statusCode="0" statusSeverity="Info" statusMessage="Status OK"
   retCount="1" iteratorRemainingCount="3" iteratorID="{eb05f701-e727-472f-8ade-6753c4f67a46}">
  <VendorRet><ListID>80000001-1</ListID><Name>Caf\u00e9</Name></VendorRet>
 </VendorQueryRs>
</QBXMLMsgsRs></QBXML>"""
    (item,) = parse_response(xml)
    assert item.request_id == "7" and item.iterator_remaining == 3 and item.ret_count == 1
    assert item.iterator_id == "{eb05f701-e727-472f-8ade-6753c4f67a46}"
    assert item.ret_text("Name") == "Caf\u00e9"
    st = message_set_status(xml)
    assert st.new_message_set_id == "b-1" and st.message_set_status_code == 0
    assert parse_response(xml.encode("utf-8"))[0].request_id == "7"


def test_garbage_raises():
    for bad in ("", "   ", "<html>oops</html>", "<QBXML><QBXMLMsgsRs>", "<QBXML/>"):
        with pytest.raises(QbxmlParseError):
            parse_response(bad)
