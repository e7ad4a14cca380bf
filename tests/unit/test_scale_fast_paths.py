"""The fast paths added for translation speed (issue 12) give exactly what the general paths gave."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from qbxml_templates import (
    BillSpec, ExpenseLine, ItemLine, ItemReceiptSpec, PurchaseOrderLineSpec, PurchaseOrderSpec, QbxmlValueError,
    bill_add, item_receipt_add, purchase_order_add, vendor_credit_add,
)
from qbxml_templates._xml import clean_text, text
from qbxml_templates.refs import made, references

_EXPENSE = ExpenseLine(account="Materials", amount=Decimal("1.00"))
_ITEM = ItemLine(item="Widget", quantity=Decimal(1))


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


_NAMES = st.sampled_from(["Acme", "Materials", "Warehouse", "Caf\u00e9 \u2013 North", "A\u00a0B", "Freight", "x" * 31,
                          ""])
_IDS = st.sampled_from(["", "", "80000001-1234567890"])


def _expense():
    return st.builds(ExpenseLine, account=_NAMES.filter(bool), amount=st.just(Decimal("1.00")), class_name=_NAMES,
                     account_list_id=_IDS, class_list_id=_IDS)


def _item():
    return st.builds(ItemLine, item=_NAMES.filter(bool), quantity=st.just(Decimal(1)), class_name=_NAMES,
                     item_list_id=_IDS, class_list_id=_IDS)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["bill", "credit", "po", "receipt"]), vendor=_NAMES.filter(bool), vendor_id=_IDS,
       expense=st.lists(_expense(), max_size=4), items=st.lists(_item(), max_size=4), ap=_NAMES, terms=_NAMES)
def test_the_references_a_builder_makes_are_those_read_off_its_request(kind, vendor, vendor_id, expense, items, ap,
                                                                       terms):
    """refs.made() (what translation keeps) gives what references() reads off the finished request: same
    entries, same order, each once, ListID references left out; nothing is collected outside it."""
    when = date(2026, 12, 1)
    if kind == "po":
        spec = PurchaseOrderSpec(vendor=vendor, txn_date=when, ref_number="PO1", vendor_list_id=vendor_id,
                                 class_name=ap, lines=[PurchaseOrderLineSpec(item=i.item, quantity=Decimal(1),
                                 class_name=i.class_name, item_list_id=i.item_list_id) for i in items or [_ITEM]])
        build = purchase_order_add
    elif kind == "receipt":
        spec = ItemReceiptSpec(vendor=vendor, txn_date=when, ref_number="R1", vendor_list_id=vendor_id, ap_account=ap,
                               item_lines=items, expense_lines=expense or ([] if items else [_EXPENSE]))
        build = item_receipt_add
    else:
        spec = BillSpec(vendor=vendor, txn_date=when, ref_number="INV1", vendor_list_id=vendor_id, ap_account=ap,
                        terms="" if kind == "credit" else terms, credit=kind == "credit", item_lines=items,
                        expense_lines=expense or ([] if items else [_EXPENSE]))
        build = vendor_credit_add if kind == "credit" else bill_add
    with made() as named:
        el = build(spec)
    assert list(named) == references(el)
    build(spec)  # (outside made(): nothing collected, nothing raised)
    assert list(named) == references(el)


def test_only_ref_makes_a_reference_element():
    """refs.made() hears of a reference from ``_xml.ref``: no builder makes a VendorRef, AccountRef, ClassRef or
    ItemRef element any other way (it would be queued without its list entry checked)."""
    import re
    from pathlib import Path

    import qbxml_templates
    from qbxml_templates.refs import REF_TAGS

    root = Path(qbxml_templates.__file__).parent
    made_elsewhere = re.compile(r"""(?:sub|SubElement|Element|makeelement|E)\s*\([^)]*["'](%s)["']"""
                                % "|".join(REF_TAGS))
    sources = [*root.glob("*.py"), root.parent / "connector" / "plans.py", root.parent / "connector" / "translate.py"]
    found = [(p.name, m.group(0)) for p in sources for m in made_elsewhere.finditer(p.read_text(encoding="utf-8"))]
    assert len(sources) > 5 and found == []
    assert made_elsewhere.search('sub(line, "ClassRef")')  # (the pattern finds one)


@settings(max_examples=500, deadline=None)
@given(sha=st.text("0123456789abcdef", min_size=0, max_size=64), ordinal=st.integers(0, 10**7))
def test_external_guid_is_uuid5_written_out(sha, ordinal):
    """connector.translate.external_guid is uuid.uuid5(GUID_NAMESPACE, "<sha>:<ordinal>"), braced, upper case:
    the GUID every document was given before (QuickBooks finds a lost bill by it)."""
    import uuid

    from connector.translate import GUID_NAMESPACE, external_guid

    assert external_guid(sha, ordinal) == "{" + str(uuid.uuid5(GUID_NAMESPACE, f"{sha}:{ordinal}")).upper() + "}"
