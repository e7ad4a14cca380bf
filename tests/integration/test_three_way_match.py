"""Three-way match: an invoice against the purchase order (850) and the ship notice (856) qbedi holds for it."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.matching import three_way
from connector.services import IngestService
from connector.settings import load_settings
from connector.store import Document, Store, audit_trail
from qbedi.cli import main
from tests.support.builders import ITEM_SUPPLIERS, write_config, x12_file


@pytest.fixture
def world(tmp_path, db_url):
    made = []

    def make(**match):
        suppliers = {k: {**v, "three_way_match": match} for k, v in ITEM_SUPPLIERS.items()} if match else None
        cfg = write_config(tmp_path, db_url, suppliers=suppliers or ITEM_SUPPLIERS)
        settings = load_settings(cfg)
        store = Store(settings.database_url)
        store.migrate()
        made.append(store)
        return cfg, store, IngestService(store, settings)

    yield make
    for s in made:
        s.dispose()


def _in(ingest, name, data):
    ingest.ingest(data, source="inbox", remote_id=name, name=name)


def _invoice(price="37.25", qty="4", number="INV-20001", control=b"000000301"):
    """INV-10045 (PO-7781: 10 EA AC-100 at 12.50, then AC-220) with line 2's quantity and price changed and
    its TDS total made to match (plus the 15.00 freight charge)."""
    total = Decimal("125.00") + Decimal(qty) * Decimal(price) + Decimal("15.00")
    data = x12_file("acme_INV-10045.edi").replace(b"IT1*2*4*CA*37.25", f"IT1*2*{qty}*CA*{price}".encode())
    return (data.replace(b"INV-10045", number.encode()).replace(b"000000101", control)
            .replace(b"TDS*28900", f"TDS*{int(total * 100)}".encode()))


def _doc(store, number) -> Document:
    with store.session() as s:
        return s.scalars(select(Document).where(Document.document_number == number)).one()


def test_an_invoice_that_matches_its_order_and_receipt_goes_ahead(world):
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "asn.edi", x12_file("acme_ASN-5001.edi"))
    _in(ingest, "inv.edi", _invoice())
    assert _doc(store, "INV-20001").status == "queued"


def test_a_price_above_the_order_is_held_with_both_numbers(world):
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "inv.edi", _invoice(price="39.00"))
    doc = _doc(store, "INV-20001")
    assert (doc.status, doc.reason_code) == ("held", "price_variance")
    assert "invoiced at 39.00 each, ordered at 37.25 on PO-7781 (+4.7%), tolerance 0%" in doc.reason


def test_more_than_received_is_held_and_a_tolerance_lets_small_differences_through(world):
    cfg, store, ingest = world(quantity_tolerance_percent="10", price_tolerance_percent="5")
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "asn.edi", x12_file("acme_ASN-5001.edi"))  # 4 CA of AC-220 received, 6 ordered
    _in(ingest, "inv.edi", _invoice(qty="6", price="39.00"))  # price +4.7%: within 5%
    doc = _doc(store, "INV-20001")
    assert (doc.status, doc.reason_code) == ("held", "quantity_variance")
    assert "invoiced 6, received 4 on PO-7781 (ordered 6), tolerance 10%" in doc.reason


def test_a_person_accepts_the_variance_with_a_reason(world, capsys):
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "inv.edi", _invoice(price="39.00"))
    doc = _doc(store, "INV-20001")
    assert main(["release", str(doc.id), "--accept-variance", "--config", str(cfg)]) == 1  # needs a reason
    assert "--reason" in capsys.readouterr().err
    assert main(["release", str(doc.id), "--config", str(cfg)]) == 0  # a plain release: matched again, held
    assert _doc(store, "INV-20001").reason_code == "price_variance"
    assert main(["release", str(doc.id), "--accept-variance", "--reason", "price rise agreed by phone",
                 "--config", str(cfg)]) == 0
    assert _doc(store, "INV-20001").status == "queued"
    with store.session() as s:
        [ev] = [e for e in audit_trail(s, doc.id) if e.kind == "variance_accepted"]
    assert ev.detail["reason"] == "price rise agreed by phone" and "39.00" in ev.detail["variances"]


def test_no_order_in_qbedi_or_matching_off_means_no_match_and_no_hold(world):
    cfg, store, ingest = world(enabled=False)
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "inv.edi", _invoice(price="99.00"))
    assert _doc(store, "INV-20001").status == "queued"  # matching is off for this supplier


def test_three_way_is_pure_and_says_nothing_about_what_it_cannot_compare():
    invoice = {"lines": [{"line_number": "1", "vendor_part": "X-1", "quantity": "5", "unit_price": "2.00",
                          "po_number": "PO-1"},
                         {"line_number": "2", "vendor_part": "NOT-ON-PO", "quantity": "99", "unit_price": "99",
                          "po_number": "PO-1"},
                         {"line_number": "3", "vendor_part": "X-1", "quantity": "99", "unit_price": "99",
                          "po_number": "PO-UNKNOWN"}]}
    orders = {"PO-1": {"lines": [{"vendor_part": "x-1", "quantity": "5", "unit_price": "2.10"}]}}
    assert three_way(invoice, orders, {}) == []  # cheaper than ordered: fine; the others cannot be compared
    [v] = three_way(invoice, orders, {"PO-1": [{"lines": [{"vendor_part": "X-1", "quantity": "3"}]}]},
                    quantity_tolerance_percent=Decimal("50"))
    assert v.code == "quantity_variance" and (v.invoiced, v.expected) == ("5", "3")


def test_an_invoice_repeating_a_part_on_two_lines_and_a_po_named_in_lower_case_are_matched():
    """Seen: an invoice billing 3 + 3 of a part on two lines passed where 4 were left (each line was compared
    alone), and one naming "po-8001" was not matched with PO-8001 at all."""
    orders = {"PO-8001": {"lines": [{"vendor_part": "AC-220", "quantity": "6", "unit_price": "37.25"}]}}
    received = {"PO-8001": [{"lines": [{"vendor_part": "AC-220", "quantity": "6"}]}]}
    billed = {"PO-8001": [{"document_number": "INV-A", "lines": [{"po_number": "PO-8001", "vendor_part": "AC-220",
                                                                  "quantity": "2"}]}]}
    two = {"lines": [{"line_number": str(n), "vendor_part": "ac-220", "quantity": "3", "unit_price": "37.25",
                      "po_number": "po-8001"} for n in (1, 2)]}
    [v] = three_way(two, orders, received, billed)
    assert v.line_number == "2" and v.expected == "1"
    assert "of which 5 already invoiced (INV-A, this invoice's lines above): 1 left" in v.message
    assert three_way({"lines": two["lines"][:1]}, orders, received, billed) == []  # 3 of the 4 left: fine


def test_what_a_person_left_out_of_an_over_shipment_is_not_counted_as_received():
    from connector.matching import po_lines

    notice = {"lines": [{"vendor_part": "AC-100", "quantity": "8"}],
              "not_received": [{"vendor_part": "AC-100", "quantity": "4"}]}
    order = {"lines": [{"vendor_part": "AC-100", "quantity": "10", "description": "bolts"}]}
    [row] = po_lines("PO-1", order, [notice], [])
    assert (row["ordered"], row["received"]) == ("10", "4")
    invoice = {"lines": [{"line_number": "1", "vendor_part": "AC-100", "quantity": "6", "po_number": "PO-1"}]}
    [v] = three_way(invoice, {"PO-1": order}, {"PO-1": [notice]})
    assert "invoiced 6, received 4 on PO-1 (ordered 10)" in v.message


def test_the_web_page_shows_the_variance_and_accepts_it_with_a_reason(world, tmp_path):
    import re

    import yaml

    from connector.passwords import hash_password
    from connector.settings import load_settings as load
    from web import create_app

    cfg, store, ingest = world()
    data = yaml.safe_load(cfg.read_text())
    data["web"] = {"users": [{"username": "carol", "password_hash": hash_password("pw", n=2**4), "role": "clerk"}]}
    cfg.write_text(yaml.safe_dump(data))
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "inv.edi", _invoice(price="39.00"))
    doc = _doc(store, "INV-20001")
    app = create_app(settings=load(cfg), store=store, key=b"k" * 32)
    c = app.test_client()

    def csrf(path):
        return re.search(r'name="csrf" value="([^"]+)"', c.get(path).get_data(as_text=True)).group(1)

    c.post("/login", data={"username": "carol", "password": "pw", "csrf": csrf("/login")})
    page = c.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "charges more than the purchase order" in page and "Accept the variance" in page
    c.post(f"/documents/{doc.id}/release", data={"accept_variance": "1", "reason": "agreed",
                                                 "csrf": csrf(f"/documents/{doc.id}")})
    assert _doc(store, "INV-20001").status == "queued"


def test_goods_are_billed_once_whether_in_one_invoice_or_several(world):
    """Seen by a clerk: a second invoice for goods an earlier one had billed passed the match (each invoice
    was compared alone) and was posted: what other invoices billed of a PO's line is no longer there."""
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))  # 10 EA AC-100, 6 CA AC-220
    _in(ingest, "asn.edi", x12_file("acme_ASN-5001.edi"))  # received 10 EA, 4 CA
    assert _doc(store, "ASN-5001").status == "queued"
    _in(ingest, "inv.edi", x12_file("acme_INV-10045.edi"))  # 10 EA, 4 CA: everything received
    assert _doc(store, "INV-10045").status == "queued"
    _in(ingest, "inv2.edi", _invoice(qty="2"))  # 10 EA and 2 CA more
    doc = _doc(store, "INV-20001")
    assert (doc.status, doc.reason_code) == ("held", "quantity_variance")
    assert ("line 1 (AC-100): invoiced 10, received 10 on PO-7781 (ordered 10), of which 10 already invoiced "
            "(INV-10045): nothing left, tolerance 0%") in doc.reason
    assert "line 2 (AC-220): invoiced 2, received 4 on PO-7781 (ordered 6), of which 4 already invoiced" in doc.reason
    _in(ingest, "credit.edi", _invoice(qty="2", number="CM-1", control=b"000000303")  # a credit frees nothing
        .replace(b"BIG*20261118*CM-1**PO-7781", b"BIG*20261118*CM-1**PO-7781***CR"))
    assert _doc(store, "CM-1").status == "queued"  # (not matched: it bills no goods)
    _in(ingest, "inv3.edi", _invoice(qty="2", number="INV-20003", control=b"000000304"))
    assert _doc(store, "INV-20003").reason_code == "quantity_variance"


def test_a_ship_notice_that_is_held_received_nothing(world):
    """Seen by a clerk: a ship notice held for shipping more than the PO had open still counted as received,
    and an invoice for all of it passed. Only a ship notice that went ahead counts, and never beyond what was
    ordered."""
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    over = x12_file("acme_ASN-5001.edi").replace(b"SN1**4*CA", b"SN1**8*CA")  # 8 CA of the 6 ordered
    _in(ingest, "asn.edi", over)
    with store.session() as s:  # QuickBooks (at the Web Connector's next session) refused it: held
        from connector import lifecycle

        lifecycle.hold(s, s.get(Document, _doc(store, "ASN-5001").id),
                       [{"code": "qb_error", "message": "8 x AC-220 shipped but PO-7781 has only 6 open"}])
    _in(ingest, "inv.edi", _invoice(qty="6"))  # the 6 ordered, none received
    assert _doc(store, "INV-20001").status == "queued"  # (no received ship notice: up to what was ordered)
    _in(ingest, "inv2.edi", _invoice(qty="8", number="INV-20002", control=b"000000302"))
    doc = _doc(store, "INV-20002")
    assert (doc.status, doc.reason_code) == ("held", "quantity_variance")
    assert "line 2 (AC-220): invoiced 8, ordered 6 on PO-7781, of which 6 already invoiced (INV-20001)" in doc.reason


def test_what_was_received_beyond_the_order_is_not_billed_without_a_person(world):
    cfg, store, ingest = world()
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "asn.edi", x12_file("acme_ASN-5001.edi").replace(b"SN1**4*CA", b"SN1**8*CA"))
    assert _doc(store, "ASN-5001").status == "queued"  # (QuickBooks has not answered yet)
    _in(ingest, "inv.edi", _invoice(qty="8"))
    doc = _doc(store, "INV-20001")
    assert (doc.status, doc.reason_code) == ("held", "quantity_variance")
    assert "line 2 (AC-220): invoiced 8, ordered 6 on PO-7781 (received 8), tolerance 0%" in doc.reason


def test_each_document_shows_its_purchase_order_ordered_received_and_invoiced(world):
    """Seen by a clerk: an invoice's page never named its PO, a ship notice's neither, and a PO's page listed
    nothing received or billed against it: the match could not be checked by eye."""
    import re

    import yaml

    from connector.passwords import hash_password
    from connector.settings import load_settings as load
    from web import create_app

    cfg, store, ingest = world()
    data = yaml.safe_load(cfg.read_text())
    data["web"] = {"users": [{"username": "carol", "password_hash": hash_password("pw", n=2**4), "role": "clerk"}]}
    cfg.write_text(yaml.safe_dump(data))
    _in(ingest, "po.edi", x12_file("acme_PO-7781.edi"))
    _in(ingest, "asn.edi", x12_file("acme_ASN-5001.edi"))
    _in(ingest, "inv.edi", x12_file("acme_INV-10045.edi"))
    _in(ingest, "inv2.edi", _invoice(qty="2"))  # held: 4 of the 4 received already invoiced
    app = create_app(settings=load(cfg), store=store, key=b"k" * 32)
    c = app.test_client()
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "carol", "password": "pw", "csrf": token})
    po, asn, inv, held = (_doc(store, n).id for n in ("PO-7781", "ASN-5001", "INV-10045", "INV-20001"))

    def rows(page):
        return [re.sub(r"<[^>]+>", "|", r).replace("||", "|").strip("|") for r in
                re.findall(r"<tr><td>AC-[^\n]*?</tr>", page)]

    for doc_id in (po, asn, inv, held):
        page = c.get(f"/documents/{doc_id}").get_data(as_text=True)
        assert "<h2>Purchase order PO-7781</h2>" in page, doc_id
        assert f'href="/documents/{po}">#{po} PO-7781</a>' in page and f'href="/documents/{asn}">#{asn} ASN-5001</a>' in page
        assert f'href="/documents/{inv}">#{inv} INV-10045</a>' in page and f"#{held} INV-20001</a>" not in page
        assert rows(page) == ["AC-100|HEX BOLT 3/8 BOX OF 100|10|10|10", "AC-220||6|4|4"], (doc_id, rows(page))
    assert "this one neither" in c.get(f"/documents/{held}").get_data(as_text=True)
    orphan = _invoice(number="INV-30001", control=b"000000309").replace(b"PO-7781", b"PO-0000")
    _in(ingest, "inv3.edi", orphan)
    page = c.get(f"/documents/{_doc(store, 'INV-30001').id}").get_data(as_text=True)
    assert "qbedi has no purchase order PO-0000 from this supplier" in page
