"""The fast paths added for translation speed (issue 12) give exactly what the general paths gave."""
from __future__ import annotations

import pytest
from lxml import etree

from qbxml_templates import QbxmlValueError
from qbxml_templates._xml import clean_text, text
from qbxml_templates.refs import references


@pytest.mark.parametrize("value", ["plain ascii", "Caf\u00e9 \u2013 ok", "tab\there", "A\u00a0B", 12, "x" * 50])
def test_clean_text_is_the_same_on_the_fast_path(value):
    assert clean_text(value, "f") == clean_text(str(value) + "", "f")


def test_text_checks_length_and_control_characters_on_the_fast_path():
    parent = etree.Element("P")
    assert text(parent, "Memo", "ok").text == "ok"
    with pytest.raises(QbxmlValueError, match="P/Memo"):
        text(parent, "Memo", "x" * 5, max_len=4)
    with pytest.raises(QbxmlValueError):
        text(parent, "Memo", "bell\x07")


def test_references_in_order_once_each_and_not_by_list_id():
    el = etree.fromstring("<BillAddRq><BillAdd><VendorRef><FullName>Acme</FullName></VendorRef>"
                          "<ExpenseLineAdd><AccountRef><FullName>Materials</FullName></AccountRef>"
                          "<ClassRef><ListID>80000001-1</ListID></ClassRef></ExpenseLineAdd>"
                          "<ExpenseLineAdd><AccountRef><FullName>Materials</FullName></AccountRef>"
                          "<ClassRef><FullName>Warehouse</FullName></ClassRef></ExpenseLineAdd>"
                          "</BillAdd></BillAddRq>")
    assert references(el) == [("Vendor", "Acme"), ("Account", "Materials"), ("Class", "Warehouse")]
