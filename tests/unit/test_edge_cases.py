"""Edge cases found in review that translation alone decides (those that need a database:
tests/integration/test_edge_cases.py; a Web Connector session: tests/e2e/test_edge_cases.py)."""
from lxml import etree

import edi
from connector.settings import Settings
from connector.translate import translate_set
from tests.support.builders import ITEM_SUPPLIERS, ship_notice, x12_file

SUP = ITEM_SUPPLIERS


def test_credit_memo_with_negative_quantities_returns_goods():
    data = x12_file("acme_INV-10045.edi").replace(b"BIG*20261118*INV-10045**PO-7781",
                                                  b"BIG*20261118*CM-1**PO-7781***CR")
    data = data.replace(b"IT1*1*10*EA*12.50", b"IT1*1*-10*EA*12.50").replace(b"IT1*2*4*CA*37.25",
                                                                            b"IT1*2*-4*CA*37.25")
    data = data.replace(b"TDS*28900", b"TDS*-25900").replace(b"SAC*C*D240***1500", b"SAC*C*D240***-1500")
    settings = Settings.model_validate({"suppliers": SUP})
    [t] = [translate_set(settings, ps, ordinal=0, file_sha256="0" * 64) for ps in edi.parse_bytes(data).sets]
    assert t.status == "ready", t.holds
    el = etree.fromstring(t.request_xml)
    assert el.tag == "VendorCreditAddRq"
    lines = [(ln.findtext("Quantity"), ln.findtext("Amount")) for ln in el.iter("ItemLineAdd")]
    assert lines == [("10", "125.00"), ("4", "149.00")]


def test_receipts_turned_off_for_a_supplier():
    settings = Settings.model_validate({"suppliers": {"ACMESUPPLY": {**SUP["ACMESUPPLY"], "item_receipts": False}}})
    [ps] = edi.parse_bytes(ship_notice("PO-1", [("AC-100", 1, "EA")])).sets
    t = translate_set(settings, ps, ordinal=0, file_sha256="0" * 64)
    assert t.status == "rejected" and t.holds[0].code == "receipts_disabled" and t.qbxml is None
