"""qbXML builders: XSD validity, element order, lengths, money, characters."""
from __future__ import annotations

import os
from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from qbxml_templates import (
    BillSpec, ExpenseLine, ItemLine, ItemReceiptSpec, PurchaseOrderLineSpec, PurchaseOrderSpec,
    QbxmlValueError, account_query, bill_add, bill_query, class_query, host_company_preferences,
    item_query, item_receipt_add, item_receipt_query, message_set, purchase_order_add,
    purchase_order_mod, purchase_order_query, terms_query, vendor_add, vendor_credit_add,
    vendor_credit_query, vendor_mod, vendor_query,
)
from tests.support.xsd import validate


# Intuit's XSD for the product and the emulator when it is there; a test that validates against it
# (tests.support.xsd.validate) is skipped when it is not
pytestmark = pytest.mark.usefixtures("xsd_checks")


def _bill(**kw) -> BillSpec:
    base = dict(
        vendor="Acme Supply Co", txn_date=date(2024, 5, 1), ref_number="INV-10045",
        due_date=date(2024, 5, 31), memo="EDI 810 ctrl 000123456",
        external_guid="{6B29FC40-CA47-1067-B31D-00DD010662DA}",
        expense_lines=[ExpenseLine("Freight", D("25"), memo="Freight", class_name="East")],
        item_lines=[ItemLine("WIDGET-01", D("10"), D("4.5"), D("45.00"), description="Widget")],
        ap_account="Accounts Payable", terms="Net 30",
    )
    base.update(kw)
    return BillSpec(**base)


def _valid(*rqs, **kw):
    doc = message_set(list(rqs), **kw)
    errs = validate(doc)
    assert errs == [], (errs, doc)
    return doc


def _children(el):
    return [c.tag for c in el]


def test_bill_add_order_and_validity():
    rq = bill_add(_bill(), request_id="edi-1")
    assert rq.tag == "BillAddRq" and rq.get("requestID") == "edi-1"
    assert _children(rq[0]) == [
        "VendorRef", "APAccountRef", "TxnDate", "DueDate", "RefNumber", "TermsRef", "Memo",
        "ExternalGUID", "ExpenseLineAdd", "ItemLineAdd"]
    assert _children(rq[0].find("ExpenseLineAdd")) == ["AccountRef", "Amount", "Memo", "ClassRef"]
    assert _children(rq[0].find("ItemLineAdd")) == ["ItemRef", "Desc", "Quantity", "Cost", "Amount"]
    _valid(rq)


def test_bill_add_minimal_and_list_id_wins():
    rq = bill_add(BillSpec(vendor="Acme", txn_date=None, ref_number="",
                           vendor_list_id="80000001-1417118624"))
    assert rq.find("BillAdd/VendorRef/ListID").text == "80000001-1417118624"
    assert rq.find("BillAdd/VendorRef/FullName") is None
    assert rq.find("BillAdd/TxnDate") is None and rq.find("BillAdd/RefNumber") is None
    assert rq.get("requestID") is None
    _valid(rq)


def test_vendor_credit_add():
    rq = bill_add(_bill(credit=True, due_date=None, terms=""), request_id="c1")
    assert rq.tag == "VendorCreditAddRq"
    assert _children(rq[0]) == [
        "VendorRef", "APAccountRef", "TxnDate", "RefNumber", "Memo", "ExternalGUID",
        "ExpenseLineAdd", "ItemLineAdd"]
    _valid(rq)
    with pytest.raises(QbxmlValueError):
        bill_add(_bill(credit=True))  # DueDate / TermsRef on a credit
    assert vendor_credit_add(_bill(due_date=None, terms="")).tag == "VendorCreditAddRq"


@pytest.mark.parametrize("field,value", [
    ("ref_number", "X" * 21), ("vendor", "V" * 42), ("memo", "m" * 4096), ("terms", "t" * 32),
])
def test_bill_add_too_long_raises(field, value):
    with pytest.raises(QbxmlValueError) as ei:
        bill_add(_bill(**{field: value}))
    assert "at most" in str(ei.value)


def test_bill_ref_number_at_limit_ok():
    _valid(bill_add(_bill(ref_number="X" * 20)))


def test_xsd_itself_rejects_21_char_refnumber():
    rq = bill_add(_bill(ref_number="X" * 20))
    rq.find("BillAdd/RefNumber").text = "X" * 21
    assert validate(message_set([rq]))


@pytest.mark.parametrize("amount,text", [
    (D("25"), "25.00"), (D("4.5"), "4.50"), (D("-12.30"), "-12.30"), (D("0"), "0.00"),
    (D("-0.00"), "0.00"), (D("1234567.890000"), "1234567.89"), (7, "7.00"), ("3.1", "3.10"),
])
def test_money_formatting(amount, text):
    rq = bill_add(_bill(expense_lines=[ExpenseLine("Freight", amount)], item_lines=[]))
    assert rq.find("BillAdd/ExpenseLineAdd/Amount").text == text
    _valid(rq)


@pytest.mark.parametrize("amount", [D("1.005"), D("NaN"), "abc", D("1e14")])
def test_money_no_silent_rounding(amount):
    with pytest.raises(QbxmlValueError):
        bill_add(_bill(expense_lines=[ExpenseLine("Freight", amount)], item_lines=[]))


def test_price_and_quantity_formatting():
    rq = bill_add(_bill(expense_lines=[], item_lines=[
        ItemLine("W", quantity=D("2.50000"), cost=D("0.12345"), amount=None)]))
    line = rq.find("BillAdd/ItemLineAdd")
    assert line.findtext("Quantity") == "2.5"
    assert line.findtext("Cost") == "0.12345"
    _valid(rq)
    with pytest.raises(QbxmlValueError):
        bill_add(_bill(item_lines=[ItemLine("W", quantity=D("1.123456"))]))


def test_special_characters_escaped_and_ascii():
    spec = _bill(vendor='Smith & Sons <"Ltd"> \'x\'', memo="Caf\u00e9 \u2013 \u201cquoted\u201d \u00fc\u00df",
                 expense_lines=[ExpenseLine("Freight & Handling", D("1"))], item_lines=[])
    doc = message_set([bill_add(spec)])
    assert doc.isascii()
    assert "&amp;" in doc and "&lt;" in doc and "&#233;" in doc
    _valid(bill_add(spec))
    # round-trip: the parsed text equals the original
    root = etree.fromstring(doc.split("\n", 2)[2].encode())
    assert root.findtext(".//VendorRef/FullName") == 'Smith & Sons <"Ltd"> \'x\''
    assert root.findtext(".//BillAdd/Memo") == "Caf\u00e9 \u2013 \u201cquoted\u201d \u00fc\u00df"


def test_non_cp1252_transliterated_or_rejected():
    rq = bill_add(_bill(memo="\u0141\u00f3d\u017a"))  # Łódź: Ł, ź not in cp1252
    assert rq.findtext("BillAdd/Memo") == "L\u00f3dz"
    with pytest.raises(QbxmlValueError):
        bill_add(_bill(memo="\u4e2d\u6587"))
    with pytest.raises(QbxmlValueError):
        bill_add(_bill(memo="bell\x07"))


def test_item_line_link_to_txn_and_receipt():
    spec = ItemReceiptSpec(
        vendor="Acme", txn_date=date(2024, 5, 2), ref_number="ASN-77", memo="856",
        external_guid="{6B29FC40-CA47-1067-B31D-00DD010662DB}", link_txn_ids=[],
        item_lines=[ItemLine("WIDGET-01", D("10"), link_txn_id="1A-1417118624",
                             link_txn_line_id="1C-1417118624")])
    rq = item_receipt_add(spec, request_id="r1")
    assert _children(rq.find("ItemReceiptAdd/ItemLineAdd")) == ["ItemRef", "Quantity", "LinkToTxn"]
    assert _children(rq.find("ItemReceiptAdd/ItemLineAdd/LinkToTxn")) == ["TxnID", "TxnLineID"]
    _valid(rq)
    whole = item_receipt_add(ItemReceiptSpec(vendor="Acme", txn_date=None, ref_number="R",
                                             link_txn_ids=["1A-1", "2A-1"]))
    assert [e.text for e in whole.iter("LinkToTxnID")] == ["1A-1", "2A-1"]
    _valid(whole)
    with pytest.raises(QbxmlValueError):
        item_receipt_add(ItemReceiptSpec(vendor="Acme", txn_date=None, ref_number="R",
                                         item_lines=[ItemLine("W", link_txn_id="1A-1")]))


def test_purchase_order_add():
    spec = PurchaseOrderSpec(
        vendor="Acme", txn_date=date(2024, 4, 1), ref_number="PO-1001",
        expected_date=date(2024, 4, 15), memo="850", vendor_msg="thanks", class_name="East",
        lines=[PurchaseOrderLineSpec("WIDGET-01", D("10"), D("4.5"), D("45"), "Widget",
                                     manufacturer_part="MP-1")])
    rq = purchase_order_add(spec, request_id="po")
    assert _children(rq[0]) == ["VendorRef", "ClassRef", "TxnDate", "RefNumber", "ExpectedDate",
                                "Memo", "VendorMsg", "PurchaseOrderLineAdd"]
    assert _children(rq[0].find("PurchaseOrderLineAdd")) == [
        "ItemRef", "ManufacturerPartNumber", "Desc", "Quantity", "Rate", "Amount"]
    _valid(rq)
    with pytest.raises(QbxmlValueError):
        purchase_order_add(PurchaseOrderSpec("Acme", None, "X" * 12, lines=spec.lines))
    with pytest.raises(QbxmlValueError):
        purchase_order_add(PurchaseOrderSpec("Acme", None, "X", lines=[]))


def test_vendor_add_and_mod():
    rq = vendor_add("Acme Supply Co", request_id="v", company_name="Acme Supply Company",
                    vendor_address={"Addr1": "1 Main St", "City": "Springfield", "State": "IL",
                                    "PostalCode": "62701"},
                    phone="555-1234", email="ap@acme.test", terms="Net 30",
                    account_number="C-99", is_active=True,
                    external_guid="{6B29FC40-CA47-1067-B31D-00DD010662DC}")
    assert _children(rq[0]) == ["Name", "IsActive", "CompanyName", "VendorAddress", "Phone",
                                "Email", "AccountNumber", "TermsRef", "ExternalGUID"]
    _valid(rq)
    with pytest.raises(QbxmlValueError):
        vendor_add("N" * 42)
    with pytest.raises(TypeError):
        vendor_add("X", colour="red")
    mod = vendor_mod("80000001-1417118624", "1417118624", request_id="m", name="Acme Co",
                     phone="555")
    assert _children(mod[0]) == ["ListID", "EditSequence", "Name", "Phone"]
    _valid(mod)


def test_purchase_order_mod():
    rq = purchase_order_mod("1A-1", "1417118624", request_id="pm", is_manually_closed=True,
                            memo="closed by EDI", expected_date=date(2024, 6, 1))
    assert _children(rq[0]) == ["TxnID", "EditSequence", "ExpectedDate", "IsManuallyClosed", "Memo"]
    _valid(rq)


def test_list_queries_validate():
    _valid(
        vendor_query(["Acme", "Beta"], request_id="1"),
        vendor_query(request_id="2", max_returned=50, iterator="Start", active_status="All"),
        vendor_query(request_id="3", max_returned=50, iterator="Continue",
                     iterator_id="{eb05f701-e727-472f-8ade-6753c4f67a46}",
                     include_ret=["ListID", "Name"]),
        vendor_query(request_id="4", name_filter=("StartsWith", "Ac")),
        account_query(["Freight"], request_id="5"),
        account_query(request_id="6", account_types=["Expense", "CostOfGoodsSold"]),
        class_query(request_id="7"),
        item_query(["WIDGET-01"], request_id="8"),
        item_query(list_ids=["80000001-1"], request_id="9"),
        terms_query(request_id="10"),
    )
    with pytest.raises(QbxmlValueError):
        vendor_query(["A"], max_returned=5, request_id="x")
    with pytest.raises(QbxmlValueError):
        vendor_query(request_id="x", iterator="Continue")


def test_txn_queries_validate():
    bq = bill_query("Acme Supply Co", "INV-10045", request_id="b", include_line_items=True)
    assert _children(bq) == ["EntityFilter", "RefNumberRangeFilter", "IncludeLineItems"]
    assert bq.findtext("RefNumberRangeFilter/FromRefNumber") == "INV-10045"
    assert bq.findtext("RefNumberRangeFilter/ToRefNumber") == "INV-10045"
    _valid(
        bq,
        bill_query(ref_numbers=["INV-1"], request_id="b2"),
        bill_query(vendor_list_id="80000001-1", request_id="b3", max_returned=10,
                   iterator="Start", txn_date_from=date(2024, 1, 1), paid_status="All"),
        vendor_credit_query("Acme", "CM-1", request_id="c"),
        purchase_order_query(["PO-1001"], request_id="p"),
        purchase_order_query(vendor="Acme", request_id="p2"),
        item_receipt_query("Acme", "ASN-77", request_id="i"),
        item_receipt_query(txn_ids=["1A-1"], request_id="i2"),
    )
    with pytest.raises(QbxmlValueError):
        purchase_order_query(["PO-1"], vendor="Acme")
    with pytest.raises(QbxmlValueError):
        bill_query("Acme", ref_numbers=["INV-1"])


def test_host_company_preferences():
    doc = _valid(*host_company_preferences(), on_error="continueOnError")
    assert "<HostQueryRq/><CompanyQueryRq/><PreferencesQueryRq/>" in doc


def test_message_set_shape():
    doc = message_set([vendor_query(["A"], request_id="1")], on_error="stopOnError",
                      new_message_set_id="batch-42")
    lines = doc.split("\n")
    assert lines[0] == '<?xml version="1.0" encoding="utf-8"?>'
    assert lines[1] == '<?qbxml version="13.0"?>'
    root = etree.fromstring(lines[2].encode())
    msgs = root.find("QBXMLMsgsRq")
    assert msgs.get("onError") == "stopOnError" and msgs.get("newMessageSetID") == "batch-42"
    with pytest.raises(QbxmlValueError):
        message_set([], new_message_set_id="x" * 25)
    with pytest.raises(QbxmlValueError):
        message_set([], on_error="ignore")
    _valid(old_message_set_id="batch-42")  # empty recovery message set is valid
    assert '<?qbxml version="12.0"?>' in message_set([], version="12.0")


def test_message_set_copies_requests():
    rq = vendor_query(["A"], request_id="1")
    message_set([rq])
    message_set([rq])
    assert rq.getparent() is None


def test_message_set_can_take_the_requests_instead_of_copying_them():
    rq = vendor_query(["A"], request_id="1")
    copied = message_set([rq])
    moved = message_set([rq], copy=False)
    assert moved == copied
    assert rq.getparent() is not None and rq.getparent().tag == "QBXMLMsgsRq"


@pytest.mark.parametrize("amount,message", [(D("1.005"), "more than 2 decimals"), (D("1e14"), "too large"),
                                            ("abc", "not a number")])
def test_a_bad_line_amount_names_the_line_it_is_on(amount, message):
    with pytest.raises(QbxmlValueError) as e:
        bill_add(_bill(expense_lines=[ExpenseLine("Freight", amount)], item_lines=[]))
    assert e.value.field == "BillAdd/ExpenseLineAdd/Amount" and message in str(e.value)
    with pytest.raises(QbxmlValueError) as e:
        bill_add(_bill(expense_lines=[], item_lines=[ItemLine("W", amount=amount)]))
    assert e.value.field == "BillAdd/ItemLineAdd/Amount"


def test_list_id_fields_win_and_bill_links():
    spec = _bill(ap_account_list_id="80000001-1", terms_list_id="80000002-1",
                 link_txn_ids=["1A-1417118624"],
                 expense_lines=[ExpenseLine("Freight", D("1"), account_list_id="80000003-1",
                                            class_list_id="80000004-1")],
                 item_lines=[ItemLine("W", D("1"), item_list_id="80000005-1")])
    rq = bill_add(spec)
    b = rq.find("BillAdd")
    assert b.findtext("APAccountRef/ListID") == "80000001-1"
    assert b.findtext("TermsRef/ListID") == "80000002-1"
    assert b.findtext("ExpenseLineAdd/AccountRef/ListID") == "80000003-1"
    assert b.findtext("ExpenseLineAdd/ClassRef/ListID") == "80000004-1"
    assert b.findtext("ItemLineAdd/ItemRef/ListID") == "80000005-1"
    assert _children(b)[7:10] == ["ExternalGUID", "LinkToTxnID", "ExpenseLineAdd"]
    _valid(rq)


def test_purchase_order_mod_lines_validate():
    rq = purchase_order_mod("1A-1", "1", "pm", lines=[
        {"txn_line_id": "1C-1", "quantity": D("8")},
        {"txn_line_id": "-1", "item": "W", "quantity": D("1"), "rate": D("2.5"),
         "is_manually_closed": False}])
    _valid(rq)
    with pytest.raises(TypeError):
        purchase_order_mod("1A-1", "1", lines=[{"txn_line_id": "1", "colour": "red"}])


# ---------------------------------------------------------------- a bill sent in parts (qbxml_templates.parts)

def _big_bill(expense: int, items: int):
    return bill_add(_bill(expense_lines=[ExpenseLine("Freight", D(n + 1), memo=f"E{n}") for n in range(expense)],
                          item_lines=[ItemLine("WIDGET-01", D(1), D(n + 1), D(n + 1), description=f"I{n}")
                                      for n in range(items)]), request_id="7")


def test_a_bill_add_part_keeps_the_header_and_the_first_lines_in_order():
    from qbxml_templates import bill_add_part, bill_lines

    whole = _big_bill(3, 2)
    part = bill_add_part(whole, 4, "7")
    assert [ln.findtext("Memo") or ln.findtext("Desc") for ln in bill_lines(part)] == ["E0", "E1", "E2", "I0"]
    assert part[0].findtext("ExternalGUID") == whole[0].findtext("ExternalGUID")
    assert len(bill_lines(whole)) == 5  # the whole is not changed
    _valid(part)


def test_a_bill_mod_part_names_every_kept_line_then_adds_the_next_ones():
    from qbxml_templates import bill_mod_part

    mod = bill_mod_part(_big_bill(3, 2), "TX-1", "1700000000", keep_expense=["L1", "L2"], keep_items=[],
                        start=2, stop=5, request_id="7")
    body = mod[0]
    assert _children(body) == ["TxnID", "EditSequence", "ExpenseLineMod", "ExpenseLineMod", "ExpenseLineMod",
                               "ItemLineMod", "ItemLineMod"]
    assert [m.findtext("TxnLineID") for m in body][2:] == ["L1", "L2", "-1", "-1", "-1"]
    assert _children(body[2]) == ["TxnLineID"]  # kept as it is
    assert _children(body[4]) == ["TxnLineID", "AccountRef", "Amount", "Memo"]
    assert _children(body[5]) == ["TxnLineID", "ItemRef", "Desc", "Quantity", "Cost", "Amount"]
    _valid(mod)
    with pytest.raises(QbxmlValueError):
        bill_mod_part(_big_bill(3, 2), "TX-1", "1", keep_expense=[], keep_items=[], start=4, stop=9)


def test_only_an_unlinked_bill_of_several_lines_goes_in_parts():
    from qbxml_templates import splittable

    assert splittable(_big_bill(2, 0)) and not splittable(_big_bill(1, 0))
    linked = bill_add(_bill(item_lines=[ItemLine("W", D(1), D(1), D(1), link_txn_id="T", link_txn_line_id="L"),
                                        ItemLine("W", D(1), D(1), D(1))]))
    assert not splittable(linked) and not splittable(vendor_credit_add(_bill(due_date=None, terms="")))
