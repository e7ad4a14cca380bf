"""QuickBooks name lists read with the writes; missing references held before sending; vendor auto-create."""
import pytest
from sqlalchemy import select

import connector.delivery._lists as lists
from connector.store import CompanyState, Document
from fakes.qbwc_simulator import QBWCSimulator
from fakes.quickbooks import QuickBooksEmulator
from qbwc_server.server import start_in_thread
from tests.support.builders import PASSWORD, runtime_for, x12_file


class Recording:
    def __init__(self, qb):
        self.qb, self.requests, self.company_file = qb, [], qb.company_file

    def hcp_response(self):
        return self.qb.hcp_response()

    def process(self, xml):
        self.requests.append(xml)
        return self.qb.process(xml)


@pytest.fixture
def qb(xsd_checks):
    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    qb.add_vendor("Acme Industrial Supply")
    for a in ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery",
              "Discounts Received"):
        qb.add_account(a, "Expense")
    qb.add_class("Warehouse")
    return qb


make_rt = runtime_for


def session(rt, qb):
    rec = Recording(qb)
    with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
        QBWCSimulator(server.url, "clerk", PASSWORD, rec).run()
    return rec.requests


def ingest(rt, name):
    rt.ingest.ingest(x12_file(name), source="inbox", remote_id=name, name=name)


def status(rt):
    with rt.store.session() as s:
        return {d.document_number: (d.status, d.reason_code, d.reason) for d in s.scalars(select(Document))}


def test_lists_are_read_in_the_same_round_trip_as_the_writes(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    ingest(rt, "acme_INV-10045.edi")
    [first, *_] = session(rt, qb)
    for rq in ("VendorQueryRq", "AccountQueryRq", "ClassQueryRq", "ItemQueryRq", "BillAddRq"):
        assert rq in first
    with rt.store.session() as s:
        refs = s.get(CompanyState, "clerk").info["refs"]
    assert "acme industrial supply" in refs["Vendor"]["names"] and "job materials" in refs["Account"]["names"]
    rt.close()


def test_missing_vendor_is_held_before_sending_after_one_reread(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    ingest(rt, "acme_INV-10045.edi")
    session(rt, qb)  # lists now known
    ingest(rt, "globex_G-2026-0311.edi")  # Globex is not a vendor in this company file
    requests = session(rt, qb)
    assert not any("G-2026-0311" in r for r in requests)  # never sent to QuickBooks
    assert sum("VendorQueryRq" in r for r in requests) == 1  # the list was re-read once before deciding
    st, code, reason = status(rt)["G-2026-0311"]
    assert (st, code) == ("held", "qb_missing_reference") and 'Vendor "Globex Corporation"' in reason
    rt.close()


def test_vendor_added_in_quickbooks_meanwhile_is_found_on_reread(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url)
    ingest(rt, "acme_INV-10045.edi")
    session(rt, qb)
    qb.add_vendor("Globex Corporation")  # the bookkeeper adds it after our last read
    ingest(rt, "globex_G-2026-0311.edi")
    session(rt, qb)
    assert status(rt)["G-2026-0311"][0] == "posted"
    rt.close()


def test_auto_create_vendor_adds_it_right_before_the_bill(tmp_path, db_url, qb):
    rt = make_rt(tmp_path, db_url, auto_create_vendors=True)
    ingest(rt, "acme_INV-10045.edi")
    session(rt, qb)
    ingest(rt, "globex_G-2026-0311.edi")
    requests = session(rt, qb)
    [sent] = [r for r in requests if "G-2026-0311" in r]
    assert sent.index("VendorAddRq") < sent.index("BillAddRq")
    vendor = qb.vendor("Globex Corporation")
    assert vendor is not None
    # it carries what the EDI says of the supplier: its number where QuickBooks keeps one, its own name
    assert vendor.fields["AccountNumber"].text == "GLOBEX-77"
    assert vendor.fields["CompanyName"].text == "GLOBEX CORPORATION"
    assert "Created by qbedi from EDI (supplier GLOBEX-77" in vendor.fields["Notes"].text
    assert status(rt)["G-2026-0311"][0] == "posted"
    rt.close()


def test_auto_create_vendors_turned_on_in_the_config_counts_without_a_restart(tmp_path, db_url, qb):
    """Seen: turning auto_create_vendors on in qbedi.yaml did nothing until `qbedi run` was restarted; a release
    and a Web Connector session held the invoice again as qb_missing_reference."""
    import time

    import yaml

    rt = make_rt(tmp_path, db_url)
    ingest(rt, "acme_INV-10045.edi")
    session(rt, qb)
    ingest(rt, "globex_G-2026-0311.edi")
    session(rt, qb)
    assert status(rt)["G-2026-0311"][:2] == ("held", "qb_missing_reference")
    cfg = tmp_path / "qbedi.yaml"
    raw = yaml.safe_load(cfg.read_text())
    raw["web_connector"]["auto_create_vendors"] = True
    time.sleep(1.1)  # (the config is looked at at most once a second)
    cfg.write_text(yaml.safe_dump(raw))
    with rt.store.session() as s:
        held = s.scalars(select(Document.id).where(Document.document_number == "G-2026-0311")).one()
    rt.ingest.release(held, by="carol")
    session(rt, qb)
    assert status(rt)["G-2026-0311"][0] == "posted" and qb.vendor("Globex Corporation") is not None
    rt.close()


def test_a_created_vendor_gets_the_suppliers_address_from_the_edi():
    from types import SimpleNamespace

    from connector.delivery._building import _new_vendor_fields

    doc = SimpleNamespace(supplier_id="ACMESUPPLY", parsed={
        "document_number": "INV-1", "seller": {"name": "ACME INDUSTRIAL SUPPLY", "id": "ACMESUPPLY",
                                               "address_lines": ["100 Industrial Way", "Dock 4"], "city": "Toledo",
                                               "state": "OH", "postal_code": "43604-1234-EXTRA", "country": "US",
                                               "contact": "Dana Reyes", "phone": "419-555-0142",
                                               "email": "ar@acme.example"}})
    fields = _new_vendor_fields(SimpleNamespace(document=doc))
    assert fields["vendor_address"] == {"Addr1": "ACME INDUSTRIAL SUPPLY", "Addr2": "100 Industrial Way",
                                        "Addr3": "Dock 4", "City": "Toledo", "State": "OH",
                                        "PostalCode": "43604-1234-EX", "Country": "US"}  # cut to 13
    assert fields["account_number"] == "ACMESUPPLY" and fields["company_name"] == "ACME INDUSTRIAL SUPPLY"
    assert (fields["contact"], fields["phone"], fields["email"]) == ("Dana Reyes", "419-555-0142", "ar@acme.example")
    assert "fax" not in fields


def test_long_lists_are_read_with_iterators(tmp_path, db_url, qb, monkeypatch):
    monkeypatch.setattr(lists, "REF_PAGE", 2)
    for n in range(5):
        qb.add_vendor(f"Vendor {n}")
    rt = make_rt(tmp_path, db_url)
    ingest(rt, "acme_INV-10045.edi")
    requests = session(rt, qb)
    assert any('iterator="Continue"' in r for r in requests)
    with rt.store.session() as s:
        vendors = s.get(CompanyState, "clerk").info["refs"]["Vendor"]
    assert len(vendors["names"]) == 6 and "iterator_id" not in vendors
    rt.close()
