"""856 ship notice -> ItemReceiptAdd linked to the open PurchaseOrder lines in QuickBooks."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.store import Document, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from qbwc_server.server import start_in_thread
from tests.support.builders import make_quickbooks, PASSWORD, SUPPLIERS, ship_notice, write_config

SUP = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"],
                      "line_rules": [{"vendor_part": "AC-100", "item": "Hex Bolt 3/8"},
                                     *SUPPLIERS["ACMESUPPLY"]["line_rules"]]}}


@pytest.fixture
def qb(xsd_checks):
    qb = make_quickbooks(classes=(), items=[("Hex Bolt 3/8", "12.50")])
    qb.add_item("Shop Towels", "ItemInventory", cost="37.25", manufacturer_part="AC-220")
    return qb


@pytest.fixture
def rt(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url, suppliers=SUP)))
    yield rt
    rt.close()


def post(rt, qb, data):
    rt.ingest.ingest(data, source="inbox", remote_id="asn.edi", name="asn.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        return QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()


def the_doc(rt):
    with rt.store.session() as s:
        d = s.scalars(select(Document)).one()
        return d, [e.kind for e in audit_trail(s, d.id)]


def test_receipt_links_each_line_to_its_po_line(rt, qb):
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781",
                                  [("Hex Bolt 3/8", 10, "12.50"), ("Shop Towels", 6, "37.25")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 10, "EA"), ("AC-220", 4, "PC")]))  # PC: pieces = each
    doc, trail = the_doc(rt)
    assert doc.status == "posted" and doc.qb_txn_type == "ItemReceipt", (doc.reason, trail)
    assert trail == ["translated", "queued", "linked", "sent", "posted"]
    [receipt] = qb.item_receipts
    assert receipt.ref_number == "ASN-5001" and receipt.vendor == "Acme Industrial Supply"
    assert [(ln.item, ln.quantity, ln.link_txn_id) for ln in receipt.item_lines] == [
        ("Hex Bolt 3/8", Decimal("10"), po_id), ("Shop Towels", Decimal("4"), po_id)]
    [po] = qb.purchase_orders
    assert [(ln.item, ln.received_quantity) for ln in po.lines] == [("Hex Bolt 3/8", 10), ("Shop Towels", 4)]
    assert not po.is_fully_received  # 2 towels still open: a partial receipt
    from connector import views

    page = views.document_detail(rt.store, doc.id)  # the links, as the page's audit trail says them: in words
    [linked] = [e["detail"]["links"] for e in page["trail"] if e["kind"] == "linked"]
    assert linked.startswith(f"PO PO-7781, QuickBooks TxnID {po_id}, its line {po.lines[0].txn_line_id}, quantity 10")
    assert "{'" not in linked


def test_over_receipt_is_held_and_nothing_is_received(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 5, "12.50")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 10, "EA")]))
    doc, _ = the_doc(rt)
    assert doc.status == "held" and doc.reason_code == "over_receipt"
    assert "has only 5 open" in doc.reason
    assert qb.item_receipts == []


def test_a_person_receives_what_is_open_of_an_over_shipment_and_the_rest_is_said(rt, qb):
    """Seen by a clerk: a ship notice held for shipping more than the PO had open had no way forward (Release
    held it again). "Receive what is open" receives the open quantity, linked to the PO, and says what was not
    received; a second one with nothing open stays held."""
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 5, "12.50"),
                                                                          ("Shop Towels", 6, "37.25")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 10, "EA"), ("AC-220", 2, "PC")]))
    doc, _ = the_doc(rt)
    assert (doc.status, doc.reason_code) == ("held", "over_receipt")
    with pytest.raises(ValueError, match="say why"):
        rt.ingest.release(doc.id, receive_open=" ", by="dave")
    out = rt.ingest.release(doc.id, receive_open="5 bolts sent back to the supplier", by="dave")
    assert out.status == "queued"
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    doc, kinds = the_doc(rt)
    assert doc.status == "posted" and "receive_open_chosen" in kinds and "over_shipment_left_out" in kinds
    [receipt] = qb.item_receipts
    assert [(ln.item, ln.quantity, ln.link_txn_id) for ln in receipt.item_lines] == [
        ("Hex Bolt 3/8", Decimal("5"), po_id), ("Shop Towels", Decimal("2"), po_id)]
    with rt.store.session() as s:
        [left] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "over_shipment_left_out"]
        [chosen] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "receive_open_chosen"]
    assert left["message"] == "received what the purchase order has open; not received: 5 x Hex Bolt 3/8 (of 10 shipped)"
    assert doc.parsed["not_received"] == [{"vendor_part": "AC-100", "item": "Hex Bolt 3/8", "quantity": "5"}]
    assert chosen["by"] == "dave" and chosen["reason"] == "5 bolts sent back to the supplier"

    rt.ingest.ingest(ship_notice("PO-7781", [("AC-100", 3, "EA")], number="ASN-5002", ctrl=302), source="inbox",
                     remote_id="asn2.edi", name="asn2.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    with rt.store.session() as s:
        second = s.scalars(select(Document).where(Document.document_number == "ASN-5002")).one()
    assert (second.status, second.reason_code) == ("held", "over_receipt")
    rt.ingest.release(second.id, receive_open="extra bolts", by="dave")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    with rt.store.session() as s:
        second = s.get(Document, second.id)
        assert (second.status, second.reason_code) == ("held", "over_receipt")  # nothing open: nothing to receive
        assert second.reason.startswith("nothing is open on purchase order PO-7781: nothing to receive")
    assert len(qb.item_receipts) == 1
    with pytest.raises(ValueError, match="not a ship notice held for shipping more than is open"):
        rt.ingest.release(doc.id, receive_open="again", by="dave")
    from qbedi.cli import main

    assert main(["release", str(second.id), "--receive-open", "--config", str(rt.settings.source_file)]) == 1
    assert main(["release", "--all", "--receive-open", "--reason", "x", "--config", str(rt.settings.source_file)]) == 2


def test_unknown_po_is_held(rt, qb):
    post(rt, qb, ship_notice("PO-9999", [("AC-100", 1, "EA")]))
    doc, _ = the_doc(rt)
    assert doc.status == "held" and doc.reason_code == "unknown_po" and "PO-9999" in doc.reason
    assert qb.item_receipts == []


def test_second_shipment_only_receives_what_is_still_open(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 6, "EA")], number="ASN-1", ctrl=401))
    rt.ingest.ingest(ship_notice("PO-7781", [("AC-100", 5, "EA")], number="ASN-2", ctrl=402),
                     source="inbox", remote_id="asn2.edi", name="asn2.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    with rt.store.session() as s:
        status = {d.document_number: (d.status, d.reason_code) for d in s.scalars(select(Document))}
    assert status == {"ASN-1": ("posted", None), "ASN-2": ("held", "over_receipt")}
    assert [r.ref_number for r in qb.item_receipts] == ["ASN-1"]


def test_cases_of_an_item_without_a_unit_rule_are_held_not_received_as_each(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Shop Towels", 24, "3.10")])
    post(rt, qb, ship_notice("PO-7781", [("AC-220", 2, "CA")]))
    doc, _ = the_doc(rt)
    assert (doc.status, doc.reason_code) == ("held", "unit_mismatch")
    assert "2 CA of vendor part AC-220, which QuickBooks counts in EA" in doc.reason
    assert "units: {CA: <EA per CA>}" in doc.reason
    assert qb.item_receipts == [] and qb.purchase_orders[0].lines[0].received_quantity == 0


def test_a_dozen_is_received_as_twelve(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 30, "12.50")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 2, "DZ")]))
    doc, _ = the_doc(rt)
    assert doc.status == "posted", doc.reason
    assert qb.purchase_orders[0].lines[0].received_quantity == 24


def test_cases_are_received_as_their_count_when_the_rule_converts(tmp_path, db_url, qb):
    sup = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "line_rules": [
        {"vendor_part": "AC-220", "item": "Shop Towels", "units": {"CA": 12}}]}}
    rt = build_runtime(load_settings(write_config(tmp_path, db_url, suppliers=sup)))
    try:
        qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Shop Towels", 36, "3.10")])
        post(rt, qb, ship_notice("PO-7781", [("AC-220", 2, "CA")]))
        doc, trail = the_doc(rt)
        assert doc.status == "posted", doc.reason
        assert [ln.quantity for ln in qb.item_receipts[0].item_lines] == [24]
        assert qb.purchase_orders[0].lines[0].received_quantity == 24
        with rt.store.session() as s:
            [linked] = [e for e in audit_trail(s, doc.id) if e.kind == "linked"]
        assert linked.detail["links"][0]["quantity"] == "24"
    finally:
        rt.close()


def test_over_receipt_names_the_supplier_unit_only_when_converted(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 30, "12.50")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 3, "DZ")]))
    doc, _ = the_doc(rt)
    assert doc.reason_code == "over_receipt" and doc.reason.startswith("36 (3 DZ) x Hex Bolt 3/8 shipped")


def test_over_receipt_of_a_line_without_a_unit_reads_plainly(rt, qb):
    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 1, "12.50")])
    post(rt, qb, ship_notice("PO-7781", [("AC-100", 2, "")]))  # SN103 left out
    doc, _ = the_doc(rt)
    assert doc.reason_code == "over_receipt" and doc.reason.startswith("2 x Hex Bolt 3/8 shipped"), doc.reason
