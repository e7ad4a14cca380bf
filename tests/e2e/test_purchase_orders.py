"""850 -> PurchaseOrderAdd; 850 change/cancel -> PurchaseOrderMod with a fresh EditSequence."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.store import Document, audit_trail
from fakes.qbwc_simulator import QBWCSimulator
from qbwc_server.server import start_in_thread
from tests.support.builders import make_quickbooks, PASSWORD, SUPPLIERS, write_config, x12

SUP = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "line_rules": [
    {"vendor_part": "AC-100", "item": "Hex Bolt 3/8"}, {"vendor_part": "AC-220", "item": "Shop Towels"},
    {"vendor_part": "GX-5", "item": "Nitrile Gloves"}]}}


def po850(purpose: str, lines: list[tuple[str, int, str]], ctrl: int, number="PO-7781") -> bytes:
    body = [f"BEG*{purpose}*SA*{number}**20261115", "N1*SE*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY"]
    body += [f"PO1*{i}*{q}*EA*{p}**VN*{part}" for i, (part, q, p) in enumerate(lines, 1)]
    body.append(f"CTT*{len(lines)}")
    return x12("PO", "850", body, ctrl=ctrl)


@pytest.fixture
def qb(xsd_checks):
    return make_quickbooks(items=[("Hex Bolt 3/8", "12.50"), ("Shop Towels", "37.25"), ("Nitrile Gloves", "1.15")])


@pytest.fixture
def rt(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url, suppliers=SUP)))
    yield rt
    rt.close()


def drain(rt, qb, *files):
    for n, data in enumerate(files):
        rt.ingest.ingest(data, source="inbox", remote_id=f"f{n}", name=f"f{n}.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        return QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()


def trail(rt, number_status=None):
    with rt.store.session() as s:
        return {(d.document_number, d.id): (d.status, d.reason_code, [e.kind for e in audit_trail(s, d.id)])
                for d in s.scalars(select(Document).order_by(Document.id))}


def test_original_850_adds_a_purchase_order(rt, qb):
    drain(rt, qb, po850("00", [("AC-100", 10, "12.50"), ("AC-220", 6, "37.25")], 501))
    [po] = qb.purchase_orders
    assert po.ref_number == "PO-7781" and po.vendor == "Acme Industrial Supply"
    assert [(ln.item, ln.quantity, ln.rate) for ln in po.lines] == [
        ("Hex Bolt 3/8", Decimal("10"), Decimal("12.50")), ("Shop Towels", Decimal("6"), Decimal("37.25"))]
    assert po.total_amount == Decimal("348.50")


def test_cancellation_closes_the_po_with_its_current_edit_sequence(rt, qb):
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    drain(rt, qb, po850("01", [], 502))
    assert qb.purchase_order(po_id).is_manually_closed
    [(status, reason, kinds)] = trail(rt).values()
    assert status == "posted" and kinds == ["translated", "queued", "read", "sent", "posted"]


def test_replacement_keeps_line_ids_adds_new_lines_and_drops_the_rest(rt, qb):
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781",
                                  [("Hex Bolt 3/8", 10, "12.50"), ("Shop Towels", 6, "37.25")])
    bolt_line = qb.purchase_order(po_id).lines[0].txn_line_id
    drain(rt, qb, po850("05", [("AC-100", 12, "12.00"), ("GX-5", 100, "1.15")], 503))
    po = qb.purchase_order(po_id)
    assert [(ln.item, ln.quantity, ln.rate) for ln in po.lines] == [
        ("Hex Bolt 3/8", Decimal("12"), Decimal("12.00")), ("Nitrile Gloves", Decimal("100"), Decimal("1.15"))]
    assert po.lines[0].txn_line_id == bolt_line  # modified in place, not deleted and re-added


class EditedByAnotherUser:
    """QuickBooks where a clerk saves the PO right after each of our reads (``times`` times)."""

    def __init__(self, qb, txn_id, times):
        self.qb, self.txn_id, self.times = qb, txn_id, times
        self.company_file = qb.company_file

    def hcp_response(self):
        return self.qb.hcp_response()

    def process(self, xml):
        out = self.qb.process(xml)
        if "PurchaseOrderQueryRq" in xml and self.times > 0:
            self.times -= 1
            self.qb.concurrent_edit(self.txn_id)
        return out


def test_stale_edit_sequence_is_reread_and_retried(rt, qb):
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    rt.ingest.ingest(po850("01", [], 504), source="inbox", remote_id="c", name="c.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, EditedByAnotherUser(qb, po_id, times=1)).run()
    assert qb.purchase_order(po_id).is_manually_closed
    [(status, _, kinds)] = trail(rt).values()
    assert status == "posted"
    assert kinds == ["translated", "queued", "read", "sent", "stale_edit_sequence", "read", "sent", "posted"]


def test_endless_concurrent_edits_end_in_a_hold(rt, qb):
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    rt.ingest.ingest(po850("01", [], 505), source="inbox", remote_id="c", name="c.edi")
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, EditedByAnotherUser(qb, po_id, times=99)).run()
    assert not qb.purchase_order(po_id).is_manually_closed
    [(status, reason, kinds)] = trail(rt).values()
    assert (status, reason) == ("held", "edit_conflict") and kinds.count("sent") == 3


def test_change_for_a_po_quickbooks_does_not_have_is_held(rt, qb):
    drain(rt, qb, po850("01", [], 506, number="PO-404"))
    [(status, reason, _)] = trail(rt).values()
    assert (status, reason) == ("held", "unknown_po")


def test_change_waits_for_the_original_in_the_same_session(rt, qb):
    drain(rt, qb, po850("00", [("AC-100", 10, "12.50")], 507), po850("01", [], 508))
    [po] = qb.purchase_orders
    assert po.is_manually_closed
    assert [s for s, _, _ in trail(rt).values()] == ["posted", "posted"]


def test_two_changes_to_one_po_apply_in_order_when_the_first_must_wait(rt, qb):
    """Change 1 meets 'record in use' (3175) and waits; change 2 must not overtake it, or change 1
    (older) would be applied last and QuickBooks would end with the superseded quantities."""
    from connector.store import QueuedRequest

    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    qb.inject(3175, "PurchaseOrderMod", times=1)
    first = drain(rt, qb, po850("05", [("AC-100", 12, "12.50")], 509), po850("05", [("AC-100", 20, "12.50")], 510))
    assert first.ended == "closed"
    assert qb.purchase_order(po_id).lines[0].quantity == Decimal("10")  # neither applied yet: the second waits
    statuses = [s for s, _, _ in trail(rt).values()]
    assert statuses == ["queued", "queued"]
    with rt.store.session() as s:  # the retry's wait (5 s) is over
        for rq in s.scalars(select(QueuedRequest)):
            rq.meta = {k: v for k, v in (rq.meta or {}).items() if k != "not_before"}
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert qb.purchase_order(po_id).lines[0].quantity == Decimal("20")  # the newer change is the one that stays
    kinds = [k for _, _, k in trail(rt).values()]
    assert [k.count("posted") for k in kinds] == [1, 1]
    assert kinds[0].count("retry") == 1 and "retry" not in kinds[1]


class LosesFirstChange:
    """QuickBooks that applies the first PurchaseOrderMod and then fails to answer (QBWC reports an error)."""

    def __init__(self, qb):
        self.qb, self.company_file, self.lost = qb, qb.company_file, False

    def hcp_response(self):
        return self.qb.hcp_response()

    def process(self, xml):
        from fakes.qbwc_simulator import QuickBooksError

        out = self.qb.process(xml)
        if "PurchaseOrderModRq" in xml and not self.lost:
            self.lost = True
            raise QuickBooksError("0x80040402", "Unexpected error")
        return out


def test_a_later_change_waits_while_a_lost_change_is_reread(rt, qb):
    """Change 1's answer is lost (QuickBooks applied it); change 2 arrives before the next run. Change 1
    is re-read and re-applied first, then change 2: QuickBooks ends with change 2."""
    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    rt.ingest.ingest(po850("05", [("AC-100", 12, "12.50")], 511), source="inbox", remote_id="f1", name="f1.edi")
    flaky = LosesFirstChange(qb)
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, flaky).run()  # ends on the error
        assert flaky.lost and qb.purchase_order(po_id).lines[0].quantity == Decimal("12")
        rt.ingest.ingest(po850("05", [("AC-100", 20, "12.50")], 512), source="inbox", remote_id="f2",
                         name="f2.edi")
        QBWCSimulator(server.url, "clerk", PASSWORD, flaky).run()  # the next scheduled run
    assert qb.purchase_order(po_id).lines[0].quantity == Decimal("20")
    kinds = [k for _, _, k in trail(rt).values()]
    assert [k.count("posted") for k in kinds] == [1, 1]
    assert "answer_lost" in kinds[0] and "reread" in kinds[0]


def test_releasing_a_change_after_a_later_change_went_ahead_holds_it_as_superseded(rt, qb):
    from connector.store import DocStatus, QueuedRequest, RqState

    po_id = qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    rt.ingest.ingest(po850("05", [("AC-100", 12, "12.50")], 513), source="inbox", remote_id="f1", name="f1.edi")
    with rt.store.session() as s:  # held for review (as an edit conflict would leave it)
        doc = s.scalars(select(Document)).one()
        doc.status, doc.reason_code, doc.reason = DocStatus.HELD, "edit_conflict", "kept changing"
        s.scalars(select(QueuedRequest)).one().state = RqState.HELD
        first = doc.id
    drain(rt, qb, po850("05", [("AC-100", 20, "12.50")], 514))
    assert qb.purchase_order(po_id).lines[0].quantity == Decimal("20")
    out = rt.ingest.release(first)
    assert out.status == "held" and out.translation.holds[0].code == "superseded"
    assert "changed again by document" in out.translation.holds[0].message
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, qb).run()
    assert qb.purchase_order(po_id).lines[0].quantity == Decimal("20")  # the newer change stays


def test_releasing_a_change_after_a_later_change_was_entered_by_hand_holds_it_as_superseded(rt, qb):
    from connector.store import DocStatus, QueuedRequest, RqState

    qb.add_purchase_order("Acme Industrial Supply", "PO-7781", [("Hex Bolt 3/8", 10, "12.50")])
    for n, qty in enumerate((12, 20)):
        rt.ingest.ingest(po850("05", [("AC-100", qty, "12.50")], 515 + n), source="inbox", remote_id=f"g{n}",
                         name=f"g{n}.edi")
    with rt.store.session() as s:  # the first is held; the second was dismissed: entered in QuickBooks by hand
        first, second = s.scalars(select(Document).order_by(Document.id)).all()
        first.status, first.reason_code, second.status = DocStatus.HELD, "edit_conflict", DocStatus.DISMISSED
        for rq in s.scalars(select(QueuedRequest)):
            rq.state = RqState.HELD
        first_id = first.id
    out = rt.ingest.release(first_id)
    assert out.status == "held" and out.translation.holds[0].code == "superseded"


# ---------------------------------------------------------------- invoices linked to their purchase order

def invoice810(lines: list[tuple[str, int, str]], ctrl: int, number="INV-9001", po="PO-7781") -> bytes:
    body = [f"BIG*20261120*{number}**{po}", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY"]
    body += [f"IT1*{i}*{q}*EA*{p}**VN*{part}" for i, (part, q, p) in enumerate(lines, 1)]
    total = sum(Decimal(q) * Decimal(p) for _, q, p in lines)
    body += [f"TDS*{int(total * 100)}", f"CTT*{len(lines)}"]
    return x12("IN", "810", body, ctrl=ctrl)


def test_an_invoice_for_a_po_is_linked_to_its_lines_and_the_po_closes_in_quickbooks(rt, qb):
    lines = [("AC-100", 10, "12.50"), ("AC-220", 6, "37.25")]
    drain(rt, qb, po850("00", lines, 511))
    [po] = qb.purchase_orders
    assert not po.is_fully_received
    drain(rt, qb, invoice810(lines, 512))
    [bill] = qb.bills
    assert [(ln.item, ln.quantity, ln.link_txn_id) for ln in bill.item_lines] == [
        ("Hex Bolt 3/8", Decimal(10), po.txn_id), ("Shop Towels", Decimal(6), po.txn_id)]
    assert [ln.link_txn_line_id for ln in bill.item_lines] == [ln.txn_line_id for ln in po.lines]
    assert po.txn_id in bill.linked_txn_ids and bill.amount_due == Decimal("348.50")
    po = qb.purchase_order(po.txn_id)
    assert po.is_fully_received and all(ln.unbilled_quantity == 0 for ln in po.lines)  # closed in QuickBooks
    invoice = next(v for (n, _), v in trail(rt).items() if n == "INV-9001")
    assert invoice[0] == "posted" and "linked" in invoice[2] and "link_dropped" not in invoice[2]
    with rt.store.session() as s:
        doc = s.scalars(select(Document).where(Document.document_number == "INV-9001")).one()
        [linked] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "linked"]
        [posted] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "posted"]
    assert (linked["lines_linked"], linked["purchase_orders"], linked["unlinked"]) == (2, ["PO-7781"], [])
    assert linked["message"] == "2 item lines linked to purchase order PO-7781"
    assert posted["txn_id"] == bill.txn_id


def test_a_partial_invoice_links_what_it_bills_and_leaves_the_po_open(rt, qb):
    drain(rt, qb, po850("00", [("AC-100", 10, "12.50"), ("AC-220", 6, "37.25")], 521))
    drain(rt, qb, invoice810([("AC-100", 4, "12.50")], 522))
    [po], [bill] = qb.purchase_orders, qb.bills
    assert bill.item_lines[0].link_txn_line_id == po.lines[0].txn_line_id
    assert [ln.unbilled_quantity for ln in po.lines] == [Decimal(6), Decimal(6)] and not po.is_fully_received
    from connector import views

    with rt.store.session() as s:
        first = s.scalar(select(Document.id).where(Document.document_number == "INV-9001"))
    page = views.document_detail(rt.store, first)  # its audit trail as the page shows it: in words
    said = [f"{k} {v}" for e in page["trail"] for k, v in e["detail"].items()]
    assert "message 1 item line linked to purchase order PO-7781" in said
    assert not any("{'" in x or "True" in x or "False" in x for x in said), said
    drain(rt, qb, invoice810([("AC-100", 10, "12.50")], 523, number="INV-9002"))  # more than the 6 left
    with rt.store.session() as s:  # the three-way match holds it first (10 ordered, 4 billed by INV-9001)
        doc = s.scalars(select(Document).where(Document.document_number == "INV-9002")).one()
        assert (doc.status, doc.reason_code) == ("held", "quantity_variance") and "6 left" in doc.reason
    rt.ingest.release(doc.id, accept_variance="the supplier will credit the 4 extra", by="carol")
    drain(rt, qb)  # accepted by a person: posted, unlinked where nothing is left to link, and said so
    with rt.store.session() as s:
        [skipped] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "link_skipped"]
    assert "PO stays open for them" in skipped["message"] and "Hex Bolt 3/8 x 10 (6 left unbilled on the PO)" in \
        skipped["message"]


def test_an_invoice_whose_po_quickbooks_does_not_have_is_posted_unlinked_and_says_so(rt, qb):
    drain(rt, qb, invoice810([("AC-100", 10, "12.50")], 531, po="PO-0000"))
    [bill] = qb.bills
    assert bill.item_lines[0].link_txn_id == "" and bill.linked_txn_ids == []
    [(status, _, kinds)] = trail(rt).values()
    assert status == "posted" and "link_skipped" in kinds
    with rt.store.session() as s:
        [skipped] = [e.detail for e in audit_trail(s, s.scalars(select(Document.id)).one()) if e.kind == "link_skipped"]
    assert skipped["message"] == "QuickBooks has no open purchase order PO-0000 of Acme Industrial Supply"


def test_link_to_po_false_never_links(tmp_path, db_url, qb):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url, suppliers={
        "ACMESUPPLY": {**SUP["ACMESUPPLY"], "link_to_po": False}})))
    try:
        lines = [("AC-100", 10, "12.50")]
        drain(rt, qb, po850("00", lines, 541), invoice810(lines, 542))
        [bill] = qb.bills
        assert bill.item_lines[0].link_txn_id == "" and not qb.purchase_orders[0].is_fully_received
        assert all("linked" not in kinds for _, _, kinds in trail(rt).values())
    finally:
        rt.close()


def test_an_invoice_too_big_for_one_round_trip_goes_in_parts_unlinked_and_says_so(rt, qb):
    drain(rt, qb, po850("00", [("AC-100", 300, "1.00")], 551),
          invoice810([("AC-100", 1, "1.00")] * 300, 552))  # 1.5 + 300 x 0.25 s predicted: over the 45 s budget
    [bill] = qb.bills
    assert len(bill.item_lines) == 300 and all(ln.link_txn_id == "" for ln in bill.item_lines)
    invoice = next(v for (n, _), v in trail(rt).items() if n == "INV-9001")
    assert invoice[0] == "posted" and "link_skipped" in invoice[2] and "posted_part" in invoice[2]
    with rt.store.session() as s:
        doc = s.scalars(select(Document).where(Document.document_number == "INV-9001")).one()
        [skipped] = [e.detail for e in audit_trail(s, doc.id) if e.kind == "link_skipped"]
    assert "too big for one Web Connector round trip" in skipped["message"]
