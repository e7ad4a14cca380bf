"""Emulator: PO -> ItemReceipt -> Bill linking, received quantities, over-receipt."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from fakes.quickbooks import QuickBooksEmulator
from fakes.quickbooks.company import FIXED_START, SimClock
from qbxml_templates import (
    BillSpec, ItemLine, ItemReceiptSpec, bill_add, item_receipt_add, item_receipt_query,
    message_set, parse_response, purchase_order_query,
)
from tests.support.xsd import validate


# Intuit's XSD for the product and the emulator when it is there; a test that validates against it
# (tests.support.xsd.validate) is skipped when it is not
pytestmark = pytest.mark.usefixtures("xsd_checks")


@pytest.fixture
def qb():
    q = QuickBooksEmulator(clock=SimClock(FIXED_START))
    q.add_vendor("Acme Supply Co")
    q.add_vendor("Beta Parts")
    q.add_item("WIDGET-01", cost="4.50")
    q.add_item("GADGET-02", cost="10")
    return q


def run(qb, *rqs, **kw):
    resp = qb.process(message_set(list(rqs), **kw))
    assert validate(resp) == [], resp
    return parse_response(resp)


def po_lines(qb, po_id):
    (r,) = run(qb, purchase_order_query(txn_ids=[po_id], request_id="q"))
    return {ln.findtext("ItemRef/FullName"): ln for ln in r.ret.findall("PurchaseOrderLineRet")}, r.ret


def receipt(lines, link_ids=(), vendor="Acme Supply Co", ref="ASN-1"):
    return ItemReceiptSpec(vendor=vendor, txn_date=date(2024, 5, 2), ref_number=ref,
                           link_txn_ids=list(link_ids), item_lines=lines)


def test_line_level_receipt_updates_po(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-1", [("WIDGET-01", 10, "4.50"),
                                                             ("GADGET-02", 5, "10")])
    lines, _ = po_lines(qb, po_id)
    w = lines["WIDGET-01"].findtext("TxnLineID")
    (r,) = run(qb, item_receipt_add(receipt([ItemLine("WIDGET-01", D("4"), link_txn_id=po_id,
                                                      link_txn_line_id=w)]), "r1"))
    assert r.status_code == 0 and r.ret.tag == "ItemReceiptRet"
    assert r.ret.findtext("ItemLineRet/Cost") == "4.50"  # PO rate carried over
    assert r.ret.findtext("TotalAmount") == "18.00"
    linked = r.ret.find("LinkedTxn")
    assert linked.findtext("TxnID") == po_id and linked.findtext("TxnType") == "PurchaseOrder"
    lines, po = po_lines(qb, po_id)
    assert lines["WIDGET-01"].findtext("ReceivedQuantity") == "4"
    assert lines["GADGET-02"].findtext("ReceivedQuantity") == "0"
    assert po.findtext("IsFullyReceived") == "false"
    assert po.find("LinkedTxn/TxnType").text == "ItemReceipt"
    item = qb.item("WIDGET-01")
    assert item.quantity_on_hand == D("4") and item.quantity_on_order == D("6")
    view = qb.purchase_order(po_id)
    assert view.lines[0].received_quantity == D("4") and not view.is_fully_received
    assert qb.item_receipts[0].item_lines[0].link_txn_line_id == w


def test_whole_po_link_receives_open_lines(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-2", [("WIDGET-01", 10, "4.50"),
                                                             ("GADGET-02", 5, "10")])
    lines, _ = po_lines(qb, po_id)
    w = lines["WIDGET-01"].findtext("TxnLineID")
    run(qb, item_receipt_add(receipt([ItemLine("WIDGET-01", D("3"), link_txn_id=po_id,
                                               link_txn_line_id=w)]), "a"))
    (r,) = run(qb, item_receipt_add(receipt([], link_ids=[po_id], ref="ASN-2"), "b"))
    assert r.status_code == 0
    got = {ln.findtext("ItemRef/FullName"): ln.findtext("Quantity")
           for ln in r.ret.findall("ItemLineRet")}
    assert got == {"WIDGET-01": "7", "GADGET-02": "5"}
    _, po = po_lines(qb, po_id)
    assert po.findtext("IsFullyReceived") == "true"
    assert qb.item("WIDGET-01").quantity_on_order == 0


def test_over_receipt_allowed(qb):
    """Choice: QuickBooks lets you receive more than ordered; ReceivedQuantity exceeds
    Quantity and the line counts as received in full. On-order never goes negative."""
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-3", [("WIDGET-01", 10, "4.50")])
    lines, _ = po_lines(qb, po_id)
    w = lines["WIDGET-01"].findtext("TxnLineID")
    (r,) = run(qb, item_receipt_add(receipt([ItemLine("WIDGET-01", D("12"), link_txn_id=po_id,
                                                      link_txn_line_id=w)]), "r"))
    assert r.status_code == 0
    lines, po = po_lines(qb, po_id)
    assert lines["WIDGET-01"].findtext("ReceivedQuantity") == "12"
    assert po.findtext("IsFullyReceived") == "true"
    assert qb.item("WIDGET-01").quantity_on_order == 0
    assert qb.item("WIDGET-01").quantity_on_hand == 12


def test_link_errors(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-4", [("WIDGET-01", 10, "4.50")])
    lines, _ = po_lines(qb, po_id)
    w = lines["WIDGET-01"].findtext("TxnLineID")
    bad_txn, bad_line, other_vendor, wrong_item = run(
        qb,
        item_receipt_add(receipt([ItemLine("WIDGET-01", D("1"), link_txn_id="FFF-1",
                                           link_txn_line_id=w)]), "1"),
        item_receipt_add(receipt([ItemLine("WIDGET-01", D("1"), link_txn_id=po_id,
                                           link_txn_line_id="FFF-2")]), "2"),
        item_receipt_add(receipt([ItemLine("WIDGET-01", D("1"), link_txn_id=po_id,
                                           link_txn_line_id=w)], vendor="Beta Parts"), "3"),
        item_receipt_add(receipt([ItemLine("GADGET-02", D("1"), link_txn_id=po_id,
                                           link_txn_line_id=w)]), "4"))
    assert bad_txn.status_code == 3120 and "FFF-1" in bad_txn.message
    assert bad_line.status_code == 3120 and "FFF-2" in bad_line.message
    assert other_vendor.status_code == 3210
    assert wrong_item.status_code == 3210
    assert qb.item_receipts == []
    assert qb.purchase_order(po_id).lines[0].received_quantity == 0


def test_closed_po_cannot_be_linked(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-5", [("WIDGET-01", 10, "4.50")])
    from qbxml_templates import purchase_order_mod
    (m,) = run(qb, purchase_order_mod(po_id, qb.purchase_order(po_id).edit_sequence, "c",
                                      is_manually_closed=True))
    assert m.status_code == 0
    (r,) = run(qb, item_receipt_add(receipt([], link_ids=[po_id]), "r"))
    assert r.status_code == 3210


def test_bill_linked_to_po_after_receipt(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-6", [("WIDGET-01", 10, "4.50")])
    lines, _ = po_lines(qb, po_id)
    w = lines["WIDGET-01"].findtext("TxnLineID")
    run(qb, item_receipt_add(receipt([ItemLine("WIDGET-01", D("10"), link_txn_id=po_id,
                                               link_txn_line_id=w)]), "r"))
    spec = BillSpec(vendor="Acme Supply Co", txn_date=date(2024, 5, 3), ref_number="INV-6",
                    item_lines=[ItemLine("WIDGET-01", D("10"), link_txn_id=po_id,
                                         link_txn_line_id=w)])
    (b,) = run(qb, bill_add(spec, "b"))
    assert b.status_code == 0 and b.ret.findtext("AmountDue") == "45.00"
    assert b.ret.find("LinkedTxn/TxnID").text == po_id
    lines, _ = po_lines(qb, po_id)
    assert lines["WIDGET-01"].findtext("IsBilled") == "true"
    assert lines["WIDGET-01"].findtext("UnbilledQuantity") == "0"
    assert qb.item("WIDGET-01").quantity_on_hand == 10  # not counted twice


def test_item_receipt_query(qb):
    run(qb, item_receipt_add(receipt([ItemLine("WIDGET-01", D("2"), D("4.50"))]), "r"))
    (q,) = run(qb, item_receipt_query("Acme Supply Co", "ASN-1", request_id="q"))
    assert q.status_code == 0 and q.ret.find("ItemLineRet") is not None
    (q2,) = run(qb, item_receipt_query("Beta Parts", "ASN-1", request_id="q2"))
    assert q2.status_code == 1


def test_kitchen_sink_every_response_validates(qb):
    """Every Ret shape the emulator produces, with its optional parts, validates."""
    from qbxml_templates import (
        account_query, bill_query, class_query, item_query, purchase_order_add,
        terms_query, vendor_add, vendor_credit_query, vendor_query,
    )
    from qbxml_templates import ExpenseLine, PurchaseOrderLineSpec, PurchaseOrderSpec
    qb.add_terms("Net 15", 15, discount_days=5, discount_pct=D("2"))
    qb.add_class("East")
    qb.add_account("Freight", account_number="6100", description="Inbound freight")
    qb.add_item("NONINV", kind="ItemNonInventory", account="Freight", description="misc")
    qb.add_item("SVC", kind="ItemService", account="Freight")
    run(qb, vendor_add("Full Vendor", "v", company_name="Full Vendor Inc", first_name="Ann",
                       last_name="Lee", vendor_address={"Addr1": "1 Main", "City": "X",
                                                        "State": "IL", "PostalCode": "60601",
                                                        "Country": "US", "Note": "n"},
                       ship_address={"Addr1": "2 Dock"}, phone="1", fax="2", email="a@b.c",
                       contact="Ann", name_on_check="Full Vendor", account_number="77",
                       notes="notes", terms="Net 15", credit_limit=D("1000"),
                       vendor_tax_ident="12-3456789", is_vendor_eligible_for_1099=True,
                       class_name="East", external_guid="{6B29FC40-CA47-1067-B31D-00DD010662DA}"))
    (po,) = run(qb, purchase_order_add(PurchaseOrderSpec(
        "Full Vendor", date(2024, 4, 1), "PO-77", expected_date=date(2024, 4, 9), memo="m",
        vendor_msg="thanks", class_name="East",
        external_guid="{6B29FC40-CA47-1067-B31D-00DD010662DB}",
        lines=[PurchaseOrderLineSpec("WIDGET-01", D("3"), D("4.5"), class_name="East",
                                     manufacturer_part="MP", description="w"),
               PurchaseOrderLineSpec("NONINV", D("1"), D("9.99"))]), "po"))
    po_id = po.ret_text("TxnID")
    run(qb, item_receipt_add(receipt([], link_ids=[po_id], vendor="Full Vendor"), "ir"))
    spec = BillSpec(vendor="Full Vendor", txn_date=date(2024, 4, 10), ref_number="FV-1",
                    terms="Net 15", memo="b", link_txn_ids=[po_id],
                    expense_lines=[ExpenseLine("Freight", D("5"), memo="f", class_name="East")],
                    item_lines=[ItemLine("SVC", D("2"), D("50"), class_name="East",
                                         description="labour")])
    run(qb, bill_add(spec, "b"))
    run(qb, bill_add(BillSpec(vendor="Full Vendor", txn_date=date(2024, 4, 11),
                              ref_number="CR-1", credit=True,
                              expense_lines=[ExpenseLine("Freight", D("1"))]), "c"))
    items = run(qb, vendor_query(["Full Vendor"], request_id="1"),
                account_query(request_id="2"), class_query(request_id="3"),
                item_query(request_id="4"), terms_query(request_id="5"),
                bill_query("Full Vendor", request_id="6", include_line_items=True,
                           include_linked_txns=True),
                vendor_credit_query("Full Vendor", request_id="7", include_line_items=True),
                purchase_order_query(vendor="Full Vendor", request_id="8"),
                item_receipt_query("Full Vendor", request_id="9"))
    assert all(i.status_code == 0 for i in items), [(i.request_id, i.message) for i in items]
    bill_ret = items[5].ret
    assert bill_ret.find("LinkedTxn/TxnType").text == "PurchaseOrder"
    assert bill_ret.findtext("TermsRef/FullName") == "Net 15"
    assert bill_ret.findtext("DueDate") == "2024-04-25"
    po_ret = items[7].ret
    assert {e.findtext("TxnType") for e in po_ret.findall("LinkedTxn")} == {"ItemReceipt", "Bill"}
    # bill 13.50 + 9.99 (PO lines pulled in) + 5 + 100, minus credit 1
    assert items[0].ret.findtext("Balance") == "127.49"
    for resp in qb.response_log:
        assert validate(resp) == []
