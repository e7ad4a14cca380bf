"""QuickBooks emulator: adds, queries, status codes, EditSequence, iterators."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from fakes.quickbooks import (
    QuickBooksConnectionError, QuickBooksEmulator, QuickBooksParseError, SimClock,
)
from fakes.quickbooks.company import FIXED_START
from qbxml_templates import (
    BillSpec, ExpenseLine, ItemLine, PurchaseOrderLineSpec, PurchaseOrderSpec, account_query,
    bill_add, bill_query, class_query, host_company_preferences, item_query, message_set,
    parse_response, purchase_order_add, purchase_order_mod, purchase_order_query, terms_query,
    vendor_add, vendor_credit_query, vendor_mod, vendor_query,
)
from tests.support.xsd import validate

GUID = "{6B29FC40-CA47-1067-B31D-00DD010662DA}"


# Intuit's XSD for the product and the emulator when it is there; a test that validates against it
# (tests.support.xsd.validate) is skipped when it is not
pytestmark = pytest.mark.usefixtures("xsd_checks")


@pytest.fixture
def qb() -> QuickBooksEmulator:
    q = QuickBooksEmulator(clock=SimClock(FIXED_START))
    q.add_terms("Net 30", 30)
    q.add_vendor("Acme Supply Co", terms="Net 30")
    q.add_vendor("Beta Parts")
    q.add_account("Freight")
    q.add_account("Office Supplies")
    q.add_class("East")
    q.add_item("WIDGET-01", cost="4.50", description="Widget")
    q.add_item("SVC-INSTALL", kind="ItemService", account="Office Supplies", cost="80")
    return q


def run(qb: QuickBooksEmulator, *rqs, **kw):
    """Process, check the response validates, return parsed items."""
    resp = qb.process(message_set(list(rqs), **kw))
    assert validate(resp) == [], resp
    return parse_response(resp)


def bill(**kw) -> BillSpec:
    base = dict(vendor="Acme Supply Co", txn_date=date(2024, 5, 1), ref_number="INV-10045",
                memo="EDI 810", external_guid=GUID,
                expense_lines=[ExpenseLine("Freight", D("25.00"), class_name="East")],
                item_lines=[ItemLine("WIDGET-01", D("10"), D("4.50"))])
    base.update(kw)
    return BillSpec(**base)


def test_bill_add_ok_and_recorded(qb):
    (r,) = run(qb, bill_add(bill(), "b1"))
    assert (r.request_id, r.rq_type, r.status_code, r.severity, r.message) == (
        "b1", "BillAdd", 0, "Info", "Status OK")
    ret = r.ret
    assert ret.tag == "BillRet"
    assert ret.findtext("ExternalGUID") == GUID
    assert ret.findtext("AmountDue") == "70.00"
    assert ret.findtext("DueDate") == "2024-05-31"  # vendor terms Net 30
    assert ret.findtext("VendorRef/FullName") == "Acme Supply Co"
    assert ret.findtext("APAccountRef/FullName") == "Accounts Payable"
    txn_id = ret.findtext("TxnID")
    assert txn_id.split("-")[0].isalnum() and txn_id.split("-")[1].isdigit()
    (b,) = qb.bills
    assert b.txn_id == txn_id and b.vendor == "Acme Supply Co" and b.ref_number == "INV-10045"
    assert b.external_guid == GUID and b.amount_due == D("70.00") and b.memo == "EDI 810"
    assert [(ln.account, ln.class_name, ln.amount) for ln in b.expense_lines] == [
        ("Freight", "East", D("25.00"))]
    assert b.item_lines[0].item == "WIDGET-01" and b.item_lines[0].amount == D("45.00")
    assert qb.find_bills(vendor="acme supply co", ref_number="inv-10045") == [b]
    assert qb.item("WIDGET-01").quantity_on_hand == D("10")


def test_ids_and_txn_numbers(qb):
    r1, r2 = run(qb, bill_add(bill(ref_number="A"), "1"), bill_add(bill(ref_number="B"), "2"))
    assert r1.ret.findtext("TxnID") != r2.ret.findtext("TxnID")
    assert int(r2.ret.findtext("TxnNumber")) == int(r1.ret.findtext("TxnNumber")) + 1
    line_ids = [e.text for e in r1.ret.iter("TxnLineID")]
    assert len(set(line_ids)) == 2
    vid = qb.vendor("Acme Supply Co").list_id
    assert vid.startswith("80000") and len(vid.split("-")[0]) == 8


def test_vendor_credit_add(qb):
    (r,) = run(qb, bill_add(bill(credit=True, ref_number="CM-1"), "c"))
    assert r.rq_type == "VendorCreditAdd" and r.status_code == 0
    assert r.ret.tag == "VendorCreditRet" and r.ret.findtext("CreditAmount") == "70.00"
    assert qb.vendor_credits[0].ref_number == "CM-1"
    (q,) = run(qb, vendor_credit_query("Acme Supply Co", "CM-1", request_id="q"))
    assert q.status_code == 0 and len(q.rets) == 1


@pytest.mark.parametrize("spec,kind,name,where", [
    (dict(vendor="Nobody Inc"), "Vendor", "Nobody Inc", "Bill"),
    (dict(expense_lines=[ExpenseLine("Nope", D("1"))]), "Account", "Nope", "Bill line"),
    (dict(expense_lines=[ExpenseLine("Freight", D("1"), class_name="West")]), "Class", "West",
     "Bill line"),
    (dict(item_lines=[ItemLine("NO-ITEM", D("1"), D("1"))]), "Item", "NO-ITEM", "Bill line"),
    (dict(terms="Net 99"), "Terms", "Net 99", "Bill"),
])
def test_invalid_reference_3140(qb, spec, kind, name, where):
    (r,) = run(qb, bill_add(bill(**spec), "x"))
    assert r.status_code == 3140 and r.severity == "Error" and r.ret is None
    assert r.message == (
        f'There is an invalid reference to QuickBooks {kind} "{name}" in the {where}.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist "
        "in the list.")
    assert qb.bills == []  # nothing half-written
    assert qb.item("WIDGET-01").quantity_on_hand == 0


def test_vendor_ref_by_list_id(qb):
    vid = qb.vendor("Beta Parts").list_id
    (r,) = run(qb, bill_add(bill(vendor="ignored", vendor_list_id=vid), "x"))
    assert r.status_code == 0 and r.ret.findtext("VendorRef/FullName") == "Beta Parts"
    (r,) = run(qb, bill_add(bill(vendor_list_id="80000099-1714572000"), "y"))
    assert r.status_code == 3140 and '"80000099-1714572000"' in r.message


def test_query_not_found_status_1(qb):
    items = run(qb, vendor_query(["Nobody"], request_id="1"),
                bill_query("Acme Supply Co", "NOPE", request_id="2"),
                purchase_order_query(["PO-404"], request_id="3"))
    for it in items:
        assert it.status_code == 1 and it.severity == "Info" and it.rets == []
        assert it.message == "A query request did not find a matching object in QuickBooks"


def test_partial_found_is_warning_500(qb):
    (r,) = run(qb, vendor_query(["Acme Supply Co", "Nobody"], request_id="1"))
    assert r.status_code == 500 and r.severity == "Warn" and len(r.rets) == 1
    assert '"Nobody"' in r.message


def test_vendor_add_duplicate_3100(qb):
    ok, dup = run(qb, vendor_add("Gamma LLC", "1", phone="555-0100",
                                 vendor_address={"Addr1": "1 Main", "City": "Springfield"}),
                  vendor_add("gamma llc", "2"))
    assert ok.status_code == 0 and ok.ret.findtext("Phone") == "555-0100"
    assert ok.ret.findtext("VendorAddress/City") == "Springfield"
    assert dup.status_code == 3100
    assert dup.message == 'The name "gamma llc" of the list element is already in use.'


def test_vendor_mod_edit_sequence(qb):
    (q,) = run(qb, vendor_query(["Beta Parts"], request_id="q"))
    list_id, seq = q.ret_text("ListID"), q.ret_text("EditSequence")
    qb.clock.advance(5)
    (m,) = run(qb, vendor_mod(list_id, seq, "m", phone="555-1"))
    assert m.status_code == 0 and m.ret.findtext("Phone") == "555-1"
    new_seq = m.ret.findtext("EditSequence")
    assert int(new_seq) > int(seq)
    assert m.ret.findtext("TimeModified") != m.ret.findtext("TimeCreated")
    # stale sequence -> 3200
    (stale,) = run(qb, vendor_mod(list_id, seq, "m2", phone="555-2"))
    assert stale.status_code == 3200
    assert stale.message == f'The provided edit sequence "{seq}" is out-of-date.'
    # unknown ListID -> 3120
    (nf,) = run(qb, vendor_mod("80000099-1", new_seq, "m3", phone="1"))
    assert nf.status_code == 3120 and "80000099-1" in nf.message
    # rename onto an existing name -> 3100
    (dup,) = run(qb, vendor_mod(list_id, new_seq, "m4", name="Acme Supply Co"))
    assert dup.status_code == 3100


def test_edit_sequence_monotonic_within_one_second(qb):
    vid = qb.vendor("Beta Parts").list_id
    seqs = [qb.vendor("Beta Parts").edit_sequence]
    for i in range(3):
        (m,) = run(qb, vendor_mod(vid, seqs[-1], str(i), phone=f"55{i}"))
        assert m.status_code == 0
        seqs.append(m.ret.findtext("EditSequence"))
    assert [int(s) for s in seqs] == sorted(int(s) for s in seqs)
    assert len(set(seqs)) == 4


def test_concurrent_edit_causes_3200(qb):
    (q,) = run(qb, vendor_query(["Beta Parts"], request_id="q"))
    list_id, seq = q.ret_text("ListID"), q.ret_text("EditSequence")
    new = qb.concurrent_edit(list_id, "Vendor")
    assert new != seq
    (m,) = run(qb, vendor_mod(list_id, seq, "m", phone="1"))
    assert m.status_code == 3200
    (m,) = run(qb, vendor_mod(list_id, new, "m", phone="1"))
    assert m.status_code == 0


def test_list_ids_repeat_across_lists(qb):
    # ListIDs are unique within a list type only (research §7)
    with pytest.raises(ValueError):
        qb.concurrent_edit(qb.vendor("Acme Supply Co").list_id)


def test_purchase_order_add_query_mod(qb):
    spec = PurchaseOrderSpec("Acme Supply Co", date(2024, 4, 1), "PO-1001",
                             lines=[PurchaseOrderLineSpec("WIDGET-01", D("10"), D("4.50"))])
    (a,) = run(qb, purchase_order_add(spec, "p"))
    assert a.status_code == 0 and a.ret.findtext("TotalAmount") == "45.00"
    assert a.ret.find("PurchaseOrderLineRet/TxnLineID") is not None
    assert qb.item("WIDGET-01").quantity_on_order == D("10")
    txn_id, seq = a.ret_text("TxnID"), a.ret_text("EditSequence")
    (m,) = run(qb, purchase_order_mod(txn_id, seq, "pm", memo="changed",
                                      expected_date=date(2024, 6, 1)))
    assert m.status_code == 0 and m.ret.findtext("Memo") == "changed"
    assert m.ret.findtext("ExpectedDate") == "2024-06-01"
    assert len(m.ret.findall("PurchaseOrderLineRet")) == 1  # header-only mod keeps lines
    (stale,) = run(qb, purchase_order_mod(txn_id, seq, "pm2", memo="again"))
    assert stale.status_code == 3200
    (nf,) = run(qb, purchase_order_mod("FFFF-1", seq, "pm3", memo="x"))
    assert nf.status_code == 3120


def test_po_mod_close(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-7", [("WIDGET-01", 5, "4.50")])
    po = qb.purchase_order(po_id)
    (m,) = run(qb, purchase_order_mod(po_id, po.edit_sequence, "c", is_manually_closed=True))
    assert m.status_code == 0 and m.ret.findtext("IsManuallyClosed") == "true"
    assert m.ret.findtext("IsFullyReceived") == "true"
    assert qb.purchase_order(po_id).is_manually_closed


def test_list_queries_and_filters(qb):
    qb.add_vendor("Old Vendor", is_active=False)
    items = run(qb, vendor_query(request_id="all-active"),
                vendor_query(request_id="all", active_status="All"),
                vendor_query(request_id="nf", name_filter=("StartsWith", "ac")),
                account_query(request_id="exp", account_types=["Expense"]),
                class_query(request_id="c"), item_query(request_id="i"),
                terms_query(request_id="t"),
                vendor_query(request_id="ir", include_ret=["ListID", "Name"]))
    by = {i.request_id: i for i in items}
    assert {r.findtext("Name") for r in by["all-active"].rets} == {"Acme Supply Co", "Beta Parts"}
    assert len(by["all"].rets) == 3
    assert [r.findtext("Name") for r in by["nf"].rets] == ["Acme Supply Co"]
    assert {r.findtext("Name") for r in by["exp"].rets} == {"Freight", "Office Supplies"}
    assert by["c"].ret.tag == "ClassRet"
    assert {r.tag for r in by["i"].rets} == {"ItemInventoryRet", "ItemServiceRet"}
    assert by["t"].ret.tag == "StandardTermsRet" and by["t"].ret.findtext("StdDueDays") == "30"
    assert [c.tag for c in by["ir"].ret] == ["ListID", "Name"]
    assert by["all"].ret_count == 3


def test_max_returned(qb):
    (r,) = run(qb, account_query(request_id="1", max_returned=2))
    assert len(r.rets) == 2 and r.iterator_id is None


def test_iterators(qb):
    for i in range(7):
        qb.add_vendor(f"V{i:02d}")
    (first,) = run(qb, vendor_query(request_id="1", max_returned=3, iterator="Start"))
    assert len(first.rets) == 3 and first.iterator_remaining == 6 and first.iterator_id
    seen = [r.findtext("Name") for r in first.rets]
    it_id = first.iterator_id
    while True:
        (nxt,) = run(qb, vendor_query(request_id="n", max_returned=3, iterator="Continue",
                                      iterator_id=it_id))
        assert nxt.status_code == 0 and nxt.iterator_id == it_id
        seen += [r.findtext("Name") for r in nxt.rets]
        if nxt.iterator_remaining == 0:
            break
    assert len(seen) == 9 == len(set(seen))
    (gone,) = run(qb, vendor_query(request_id="g", max_returned=3, iterator="Continue",
                                   iterator_id=it_id))
    assert gone.status_code != 0 and gone.severity == "Error"


def test_bill_query_iterator(qb):
    run(qb, *[bill_add(bill(ref_number=f"INV-{i}"), str(i)) for i in range(5)])
    (a,) = run(qb, bill_query(request_id="a", max_returned=2, iterator="Start"))
    assert len(a.rets) == 2 and a.iterator_remaining == 3
    (b,) = run(qb, bill_query(request_id="b", max_returned=2, iterator="Continue",
                              iterator_id=a.iterator_id))
    assert len(b.rets) == 2 and b.iterator_remaining == 1


def test_bill_query_filters(qb):
    run(qb, bill_add(bill(ref_number="INV-1"), "1"),
        bill_add(bill(ref_number="INV-2", vendor="Beta Parts"), "2"),
        bill_add(bill(ref_number="10", txn_date=date(2024, 6, 1)), "3"))
    items = run(qb, bill_query("Acme Supply Co", "INV-1", request_id="ef"),
                bill_query("Beta Parts", "INV-1", request_id="other-vendor"),
                bill_query(ref_numbers=["inv-2"], request_id="ref-ci"),
                bill_query(request_id="dates", txn_date_from=date(2024, 5, 15)),
                bill_query("Acme Supply Co", request_id="lines", include_line_items=True),
                bill_query("Acme Supply Co", request_id="nolines"))
    by = {i.request_id: i for i in items}
    assert [r.findtext("RefNumber") for r in by["ef"].rets] == ["INV-1"]
    assert by["other-vendor"].status_code == 1
    assert [r.findtext("RefNumber") for r in by["ref-ci"].rets] == ["INV-2"]
    assert [r.findtext("RefNumber") for r in by["dates"].rets] == ["10"]
    assert by["lines"].ret.find("ExpenseLineRet") is not None
    assert by["nolines"].ret.find("ExpenseLineRet") is None


def test_stop_on_error_3231(qb):
    items = run(qb, bill_add(bill(vendor="Nobody"), "1"), bill_add(bill(), "2"),
                vendor_query(["Acme Supply Co"], request_id="3"), on_error="stopOnError")
    assert [(i.request_id, i.status_code) for i in items] == [("1", 3140), ("2", 3231),
                                                               ("3", 3231)]
    assert items[1].message == "The request has not been processed."
    assert qb.bills == []


def test_continue_on_error(qb):
    items = run(qb, bill_add(bill(vendor="Nobody"), "1"), bill_add(bill(), "2"),
                on_error="continueOnError")
    assert [i.status_code for i in items] == [3140, 0]
    assert len(qb.bills) == 1


def test_status_1_does_not_stop(qb):
    items = run(qb, vendor_query(["Nobody"], request_id="1"), bill_add(bill(), "2"),
                on_error="stopOnError")
    assert [i.status_code for i in items] == [1, 0]


def test_unsupported_request_is_status_not_crash(qb):
    rq = etree.Element("CustomerQueryRq", requestID="u")
    items = run(qb, rq, vendor_query(["Acme Supply Co"], request_id="v"))
    assert items[0].rq_type == "CustomerQuery" and items[0].status_code == 3250
    assert items[0].severity == "Error" and items[1].status_code == 0


def test_parse_errors_reject_whole_document(qb, xsd_dir):
    bad = (xsd_dir / "selftest" / "bad_BillAddRq_element_order.xml").read_text()
    with pytest.raises(QuickBooksParseError) as ei:
        qb.process(bad)
    assert ei.value.hresult == "0x80040400"
    assert ei.value.message == "QuickBooks found an error when parsing the provided XML text stream."
    with pytest.raises(QuickBooksParseError):
        qb.process("<QBXML><QBXMLMsgsRq onError='stopOnError'>")
    doc = message_set([bill_add(bill(), "1")])
    with pytest.raises(QuickBooksParseError):
        qb.process(doc.replace('<?qbxml version="13.0"?>', ""))
    with pytest.raises(QuickBooksParseError):
        qb.process(doc.replace('<?qbxml version="13.0"?>', '<?qbxml version="14.0"?>'))
    assert qb.bills == []
    # an older version is fine
    assert parse_response(qb.process(doc.replace('version="13.0"?>', 'version="12.0"?>')))[0].ok


def test_selftest_good_documents_processed(qb, xsd_dir):
    for f in sorted((xsd_dir / "selftest").glob("good_*.xml")):
        resp = qb.process(f.read_text())
        assert validate(resp) == [], f.name
        assert parse_response(resp)


def test_injected_fault(qb):
    qb.inject(status_code=3175, rq_type="BillAdd", times=1)
    (a,) = run(qb, bill_add(bill(), "1"))
    assert a.status_code == 3175 and a.severity == "Error" and a.ret is None
    assert qb.bills == []
    (b,) = run(qb, bill_add(bill(), "2"))
    assert b.status_code == 0 and len(qb.bills) == 1


def test_closed_quickbooks(qb):
    qb.closed = True
    with pytest.raises(QuickBooksConnectionError) as ei:
        qb.process(message_set([vendor_query(["A"], request_id="1")]))
    assert ei.value.hresult == "0x80040408" and ei.value.message == "Could not start QuickBooks."
    with pytest.raises(QuickBooksConnectionError):
        qb.begin_session()
    qb.closed = False
    qb.begin_session("c:\\company.qbw")
    with pytest.raises(QuickBooksConnectionError):
        qb.begin_session("C:\\Other.qbw")


def test_hcp_response(qb):
    hcp = qb.hcp_response()
    assert validate(hcp) == []
    items = parse_response(hcp)
    assert [i.rq_type for i in items] == ["HostQuery", "CompanyQuery", "PreferencesQuery"]
    host = items[0].ret
    assert host.findtext("ProductName") == "QuickBooks Enterprise Solutions 23.0"
    assert host.findtext("Country") == "US"
    versions = [e.text for e in host.findall("SupportedQBXMLVersion")]
    assert versions[-1] == "13.0" and "2.0" in versions
    assert items[1].ret.findtext("CompanyName") == "Company"
    # the same answers through process()
    resp = qb.process(message_set(host_company_preferences()))
    assert [i.status_code for i in parse_response(resp)] == [0, 0, 0]


def test_special_characters_round_trip(qb):
    (r,) = run(qb, vendor_add('Smith & Sons <"Caf\u00e9">', "1"))
    assert r.status_code == 0 and r.ret.findtext("Name") == 'Smith & Sons <"Caf\u00e9">'
    (b,) = run(qb, bill_add(bill(vendor='Smith & Sons <"Caf\u00e9">', memo="\u00fcber & co"), "2"))
    assert b.status_code == 0 and qb.bills[0].memo == "\u00fcber & co"


def test_cost_model_and_clock(qb):
    doc = message_set([bill_add(bill(), "1")])
    base = qb.cost_of(doc)
    qb.processing_time("BillAdd", per_line_seconds=1.5, base_seconds=2.0)
    assert qb.cost_of(doc) == pytest.approx(2.0 + 2 * 1.5)
    t0 = qb.clock.now()
    qb.process(doc)
    assert (qb.clock.now() - t0).total_seconds() == pytest.approx(5.0)
    assert base > 0


def test_po_line_mod_replaces_line_set(qb):
    po_id = qb.add_purchase_order("Acme Supply Co", "PO-9", [("WIDGET-01", 10, "4.50"),
                                                             ("WIDGET-01", 2, "4.50")])
    po = qb.purchase_order(po_id)
    keep = po.lines[0].txn_line_id
    rq = purchase_order_mod(po_id, po.edit_sequence, "lm", lines=[
        {"txn_line_id": keep, "quantity": D("8")},
        {"txn_line_id": "-1", "item": "SVC-INSTALL", "quantity": D("1"), "rate": D("80")},
    ])
    (m,) = run(qb, rq)
    assert m.status_code == 0
    rets = m.ret.findall("PurchaseOrderLineRet")
    assert [(r.findtext("ItemRef/FullName"), r.findtext("Quantity"), r.findtext("Amount"))
            for r in rets] == [("WIDGET-01", "8", "36.00"), ("SVC-INSTALL", "1", "80.00")]
    assert rets[0].findtext("TxnLineID") == keep
    assert m.ret.findtext("TotalAmount") == "116.00"
    assert qb.item("WIDGET-01").quantity_on_order == D("8")
    (bad,) = run(qb, purchase_order_mod(po_id, m.ret_text("EditSequence"), "x",
                                        lines=[{"txn_line_id": "FFFF-1", "quantity": 1}]))
    assert bad.status_code == 3120


def test_response_data_include_none(qb):
    doc = message_set([vendor_query(["Acme Supply Co"], request_id="1")])
    doc = doc.replace('onError="continueOnError"',
                      'onError="continueOnError" responseData="includeNone"')
    resp = qb.process(doc)
    assert validate(resp) == []
    (r,) = parse_response(resp)
    assert r.status_code == 0 and r.rets == []


def test_seeding_is_idempotent_by_name(qb):
    ap = qb.add_account("Accounts Payable", "AccountsPayable")  # pre-seeded
    assert ap == qb.add_account("accounts payable", "AccountsPayable")
    with pytest.raises(ValueError):
        qb.add_account("Accounts Payable", "Expense")
    assert qb.add_vendor("Acme Supply Co") == qb.vendor("Acme Supply Co").list_id
    assert len(qb.vendors) == 2


def test_default_clock_follows_local_time():
    from datetime import datetime
    q = QuickBooksEmulator()
    before = datetime.now().astimezone().replace(microsecond=0)
    t = q.clock.now()
    assert t.tzinfo is not None and abs((t - before).total_seconds()) < 5
    q.clock.advance(60)
    assert (q.clock.now() - t).total_seconds() >= 60


def test_inject_failure_before_and_after_processing(qb):
    from fakes.quickbooks import QuickBooksError
    doc = message_set([bill_add(bill(), "1")])
    qb.inject_failure()
    with pytest.raises(QuickBooksError) as ei:
        qb.process(doc)
    assert ei.value.hresult == "0x80040402" and qb.bills == []
    qb.inject_failure("0x80040402", "boom", after_processing=True)
    with pytest.raises(QuickBooksError):
        qb.process(doc)
    assert len(qb.bills) == 1  # committed although no answer came back
    assert parse_response(qb.process(doc))[0].status_code == 0
    assert len(qb.bills) == 2


def test_po_number_auto_assigned(qb):
    spec = PurchaseOrderSpec("Acme Supply Co", date(2024, 4, 1), "",
                             lines=[PurchaseOrderLineSpec("WIDGET-01", D("1"), D("4.50"))])
    a, b = run(qb, purchase_order_add(spec, "1"), purchase_order_add(spec, "2"))
    assert (a.ret.findtext("RefNumber"), b.ret.findtext("RefNumber")) == ("1", "2")


def test_iterators_end_with_session(qb):
    for i in range(4):
        qb.add_vendor(f"V{i}")
    (first,) = run(qb, vendor_query(request_id="1", max_returned=2, iterator="Start"))
    qb.end_session()
    (nxt,) = run(qb, vendor_query(request_id="2", max_returned=2, iterator="Continue",
                                  iterator_id=first.iterator_id))
    assert nxt.status_code != 0


# ---------------------------------------------------------------- BillMod: lines named are kept, unnamed deleted

def test_bill_mod_keeps_named_lines_adds_new_ones_and_deletes_the_rest():
    from qbxml_templates import bill_add_part, bill_mod_part
    from tests.support.builders import make_quickbooks

    qb = make_quickbooks(vendors=("Acme Industrial Supply",), accounts=("Job Materials",))
    spec = BillSpec(vendor="Acme Industrial Supply", ref_number="B-1", txn_date=date(2026, 1, 5),
                    expense_lines=[ExpenseLine("Job Materials", D(n), memo=f"L{n}") for n in (1, 2, 3, 4)])
    whole = bill_add(spec, request_id="1")
    first = etree.fromstring(qb.process(message_set([bill_add_part(whole, 2, "1")])))
    ret = first.find(".//BillRet")
    ids = [x.findtext("TxnLineID") for x in ret.findall("ExpenseLineRet")]
    seq = ret.findtext("EditSequence")
    qb.processing_time("BillMod", per_line_seconds=1.0, base_seconds=0.0)
    mod = message_set([bill_mod_part(whole, ret.findtext("TxnID"), seq, keep_expense=ids, keep_items=[],
                                     start=2, stop=4, request_id="2")])
    assert qb.cost_of(mod) == pytest.approx(2 + 2 * qb.kept_line_share)  # new lines whole, kept ones a share
    qb.process(mod)
    [bill] = qb.bills
    assert [ln.memo for ln in bill.lines] == ["L1", "L2", "L3", "L4"] and bill.amount_due == D(10)
    assert [ln.txn_line_id for ln in bill.lines][:2] == ids
    # the same change again: its EditSequence is stale now (3200), nothing is added twice
    again = etree.fromstring(qb.process(mod)).find(".//BillModRs")
    assert again.get("statusCode") == "3200" and len(qb.bills[0].lines) == 4
    # a Mod naming only the first line deletes the three others, as QuickBooks does
    only = message_set([bill_mod_part(whole, bill.txn_id, qb.bills[0].edit_sequence, keep_expense=ids[:1],
                                      keep_items=[], start=3, stop=4, request_id="3")])
    qb.process(only)
    assert [ln.memo for ln in qb.bills[0].lines] == ["L1", "L4"] and qb.bills[0].amount_due == D(5)
