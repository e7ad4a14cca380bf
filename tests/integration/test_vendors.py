"""Vendor reconciliation (connector/vendors.py) on documents made by the ingest service, and mapping /
unmapping suppliers in real files. Name matching alone: unit/test_vendor_matching.py."""
from __future__ import annotations

import difflib

import pytest
import yaml

from connector.services import IngestService
from connector.settings import ConfigError, load_settings
from connector.store import CompanyState, Store
from connector.vendors import map_supplier, quickbooks_vendors, reconcile, suppliers_seen, unmap_supplier
from tests.support import X12_DIR
from tests.support.builders import write_config, x12, x12_file

SUPPLIERS_TEXT = """\
# Our suppliers -> QuickBooks vendors (kept by hand: comments matter)
ACMESUPPLY:
  vendor: Acme Industrial Supply        # required; QuickBooks vendor name
  default_account: Job Materials        # lines no rule matches
  class: Warehouse
  charge_accounts: {D240: Freight and Delivery}
  line_rules:                           # first match wins
    - {vendor_part: AC-220, account: Janitorial Supplies}
    - {description: "pallet jack", account: Equipment Repairs}
    # - {vendor_part: AC-999, account: Tools}   (not yet)

# Globex sends from two ids
GLOBEX-77:
  vendor: 'Globex Corporation'
  default_account: Job Materials
  match: [GLOBEXEDI]
  terms_days: 45
  charge_accounts: {C310: Discounts Received}

# end of the list
"""


@pytest.fixture
def workspace(tmp_path, db_url):
    """A config whose suppliers live in suppliers.yaml (SUPPLIERS_TEXT), a migrated store, the ingest."""
    cfg = write_config(tmp_path, db_url, suppliers={}, suppliers_file="suppliers.yaml")
    (tmp_path / "suppliers.yaml").write_text(SUPPLIERS_TEXT, encoding="utf-8")
    settings = load_settings(cfg)
    store = Store(settings.database_url)
    store.migrate()
    yield cfg, settings, store, IngestService(store, settings)
    store.dispose()


def ingest_all(service: IngestService) -> None:
    for path in sorted(X12_DIR.glob("*.edi")):
        service.ingest(x12_file(path.name), source="inbox", remote_id=path.name, name=path.name)


def hooli(number="HX-1", sender="HOOLIEDI", phone="650-555-0100", name="HOOLI XYZ, INC.") -> bytes:
    return x12("IN", "810", [f"BIG*20261120*{number}**PO-7810", "PER*AD*Accounts Receivable*TE*(650) 555-0199",
                             f"N1*SU*{name}*92*HOOLI", "N3*1 Hacker Way*Building 4", "N4*Palo Alto*CA*94025*US",
                             f"PER*IC*Gavin Belson*TE*{phone}*EM*gavin@hooli.example",
                             "N1*BT*NORTHWIND DISTRIBUTING*92*NWD01", "IT1*1*1*EA*120.00**VN*HX-1",
                             "PER*IC*Not The Seller*TE*999-999-9999", "TDS*12000", "CTT*1"], sender=sender)


def read_vendors(store, company="clerk", names=()):
    with store.session() as s:
        s.merge(CompanyState(company=company, info={"refs": {"Vendor": {
            "names": sorted(n.lower() for n in names), "refreshed_at": "2026-11-30T10:00:00"}}}))


def changed_lines(before: str, after: str) -> list[str]:
    return [ln for ln in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True))
            if ln[:1] in "+-"]


# ---------------------------------------------------------------- suppliers seen

def test_suppliers_seen_in_the_tests_documents(workspace):
    _, _, store, service = workspace
    ingest_all(service)
    service.ingest(hooli(), source="inbox", remote_id="hooli.edi", name="hooli.edi")
    seen = {r["key"]: r for r in suppliers_seen(store)}
    assert set(seen) == {"ACMESUPPLY", "GLOBEX-77", "INITECHEDI", "HOOLIEDI"}
    acme = seen["ACMESUPPLY"]
    # held 2: its purchase order and ship notice need item rules, which the tests' mapping does not have
    assert acme["mapped"] and acme["documents"] == 4 and acme["transaction_sets"] == {"810": 2, "850": 1, "856": 1}
    assert acme["name"] == "ACME INDUSTRIAL SUPPLY" and acme["held"] == 2 and acme["last_seen"]
    assert seen["GLOBEX-77"]["sender_ids"] == ["GLOBEXEDI"] and seen["GLOBEX-77"]["name"] == "GLOBEX CORPORATION"
    initech = seen["INITECHEDI"]
    assert not initech["mapped"] and initech["supplier_id"] is None and initech["held"] == 1
    assert initech["name"] == "INITECH PARTS" and {"INITECHEDI", "INITECH"} <= set(initech["ids"])
    h = seen["HOOLIEDI"]
    assert h["address"] == {"lines": ["1 Hacker Way", "Building 4"], "city": "Palo Alto", "state": "CA",
                            "postal_code": "94025", "country": "US"}
    assert h["contacts"] == [
        {"function": "AD", "name": "Accounts Receivable", "phone": "(650) 555-0199"},
        {"function": "IC", "name": "Gavin Belson", "phone": "650-555-0100", "email": "gavin@hooli.example"}]


# ---------------------------------------------------------------- reconcile

def test_reconcile_shows_mapped_unmapped_with_suggestions_and_vendors_nobody_maps_to(workspace):
    _, settings, store, service = workspace
    ingest_all(service)
    service.ingest(hooli(), source="inbox", remote_id="hooli.edi", name="hooli.edi")
    read_vendors(store, names=["Acme Industrial Supply", "Globex Corp", "Initech Parts, Inc.", "Initrode",
                               "Hooli", "Umbrella LLC"])
    assert quickbooks_vendors(store, "clerk")[:2] == ["acme industrial supply", "globex corp"]
    rows = reconcile(settings, store)
    mapped = {r["supplier_id"]: r for r in rows if r["status"] == "mapped"}
    assert mapped["ACMESUPPLY"]["in_quickbooks"] is True and mapped["ACMESUPPLY"]["problem"] is None
    assert mapped["ACMESUPPLY"]["seen"]["documents"] == 4
    globex = mapped["GLOBEX-77"]
    assert globex["in_quickbooks"] is False and "has no vendor 'Globex Corporation'" in globex["problem"]

    unmapped = {r["key"]: r for r in rows if r["status"] == "unmapped"}
    assert set(unmapped) == {"INITECHEDI", "HOOLIEDI"}
    best = unmapped["INITECHEDI"]["suggestions"][0]
    assert best["vendor"] == "initech parts, inc." and best["reason"] == "same name once 'inc.' is dropped"
    assert [s["vendor"] for s in unmapped["INITECHEDI"]["suggestions"]] == ["initech parts, inc."]  # not initrode
    assert unmapped["HOOLIEDI"]["suggestions"] == [
        {"vendor": "hooli", "score": 0.8, "reason": "every word of 'hooli' is in 'HOOLI XYZ, INC.'", "by": "name",
         "company": "clerk"}]

    only = sorted(r["vendor"] for r in rows if r["status"] == "quickbooks_only")
    assert "umbrella llc" in only and "globex corp" in only and "acme industrial supply" not in only


def test_a_shared_phone_number_suggests_the_mapped_suppliers_vendor(workspace):
    _, settings, store, service = workspace
    acme = x12("IN", "810", ["BIG*20261120*INV-9**PO-1", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                             "PER*IC*Wile E*TE*+1 505 555 0142*EM*ar@acme.example", "IT1*1*1*EA*10.00**VN*AC-220",
                             "TDS*1000", "CTT*1"], sender="ACMESUPPLY")
    service.ingest(acme, source="inbox", remote_id="acme.edi", name="acme.edi")
    other = x12("IN", "810", ["BIG*20261121*77**PO-1", "N1*SU*A.C.M.E. WEST*92*ACMEWEST",
                              "PER*IC*Road Runner*TE*505.555.0142", "IT1*1*1*EA*10.00**VN*AC-220", "TDS*1000",
                              "CTT*1"], sender="ACMEWEST", ctrl=302)
    service.ingest(other, source="inbox", remote_id="west.edi", name="west.edi")
    read_vendors(store, names=["Acme Industrial Supply"])
    [row] = [r for r in reconcile(settings, store) if r["status"] == "unmapped"]
    [sug] = row["suggestions"]
    assert sug["vendor"] == "Acme Industrial Supply" and sug["by"] == "phone" and sug["supplier_id"] == "ACMESUPPLY"
    assert sug["reason"] == "same phone number as supplier ACMESUPPLY, mapped to Acme Industrial Supply"


def test_vendor_list_not_read_yet_is_said_not_guessed(workspace):
    _, settings, store, _ = workspace
    rows = reconcile(settings, store)
    assert {r["supplier_id"]: r["in_quickbooks"] for r in rows if r["status"] == "mapped"} == {
        "ACMESUPPLY": None, "GLOBEX-77": None}
    assert "has not been read yet" in rows[0]["problem"]


# ---------------------------------------------------------------- map / unmap in the suppliers file

def test_mapping_a_new_supplier_adds_its_entry_and_keeps_every_other_byte(workspace):
    cfg, _, store, service = workspace
    held = service.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i.edi", name="i.edi")
    sup = cfg.parent / "suppliers.yaml"
    done = map_supplier(cfg, "INITECHEDI", "Initech Parts, Inc.", default_account="Job Materials")
    assert done["created"] and done["file"] == str(sup)
    assert sup.read_text(encoding="utf-8") == SUPPLIERS_TEXT.replace(
        "\n# end of the list\n",
        "\nINITECHEDI:\n  vendor: Initech Parts, Inc.\n  default_account: Job Materials\n\n# end of the list\n")
    loaded = load_settings(cfg).suppliers["INITECHEDI"]
    assert loaded.vendor == "Initech Parts, Inc." and loaded.default_account == "Job Materials"
    # the held invoice goes ahead once released (release reads the files again)
    assert service.release(held.documents[0].document_id).status == "queued"


def test_changing_a_vendor_changes_that_line_only_and_keeps_its_comment_column(workspace):
    cfg, _, _, _ = workspace
    sup = cfg.parent / "suppliers.yaml"
    done = map_supplier(cfg, "acmesupply", "Acme Supply Co.")
    assert not done["created"] and done["previous_vendor"] == "Acme Industrial Supply"
    after = sup.read_text(encoding="utf-8")
    assert changed_lines(SUPPLIERS_TEXT, after) == [
        "-   vendor: Acme Industrial Supply        # required; QuickBooks vendor name\n",
        "+   vendor: Acme Supply Co.               # required; QuickBooks vendor name\n"]
    map_supplier(cfg, "GLOBEX-77", "Globex: North America", company="clerk")
    assert changed_lines(after, sup.read_text(encoding="utf-8")) == [
        "-   vendor: 'Globex Corporation'\n", "+   vendor: 'Globex: North America'\n", "+   company: clerk\n"]
    assert load_settings(cfg).suppliers["GLOBEX-77"].vendor == "Globex: North America"


def test_a_bad_value_is_refused_and_the_file_is_untouched(workspace):
    cfg, _, _, _ = workspace
    sup = cfg.parent / "suppliers.yaml"
    before = sup.read_bytes()
    with pytest.raises(ConfigError) as e:
        map_supplier(cfg, "GLOBEX-77", "G" * 42)
    assert e.value.file == str(sup) and e.value.key == "GLOBEX-77.vendor" and e.value.line == 14
    assert "at most 41 characters" in e.value.problem
    with pytest.raises(ConfigError) as e:
        map_supplier(cfg, "INITECHEDI", "Initech Parts", company="nobody")
    assert "'nobody' is not one of the Web Connector users (clerk)" in str(e.value)
    with pytest.raises(ConfigError) as e:
        map_supplier(cfg, "INITECHEDI", "Initech Parts", terms_days="soon")
    assert "INITECHEDI.terms_days" in str(e.value)
    assert sup.read_bytes() == before
    assert not [p for p in cfg.parent.iterdir() if p.name.endswith(".tmp")]


def test_unmapping_removes_the_entry_and_keeps_the_comments_around_it(workspace):
    cfg, _, _, _ = workspace
    sup = cfg.parent / "suppliers.yaml"
    done = unmap_supplier(cfg, "ACMESUPPLY")
    assert done["previous_vendor"] == "Acme Industrial Supply"
    after = sup.read_text(encoding="utf-8")
    assert after == SUPPLIERS_TEXT[:SUPPLIERS_TEXT.index("ACMESUPPLY:")] + \
        SUPPLIERS_TEXT[SUPPLIERS_TEXT.index("\n\n# Globex sends") + 1:]
    assert set(load_settings(cfg).suppliers) == {"GLOBEX-77"}
    with pytest.raises(ConfigError, match="no such supplier"):
        unmap_supplier(cfg, "ACMESUPPLY")


def test_suppliers_in_the_config_file_itself(tmp_path, db_url):
    """No suppliers_file: the config's own suppliers: section is edited, before the keys that follow it."""
    cfg = write_config(tmp_path, db_url, logging={"level": "INFO"})
    before = cfg.read_text(encoding="utf-8")
    map_supplier(cfg, "INITECHEDI", "Initech Parts")
    after = cfg.read_text(encoding="utf-8")
    assert [ln for ln in changed_lines(before, after)] == ["+   INITECHEDI:\n", "+     vendor: Initech Parts\n"]
    assert after.index("INITECHEDI:") < after.index("logging:")
    assert load_settings(cfg).suppliers["INITECHEDI"].vendor == "Initech Parts"
    for sid in ("ACMESUPPLY", "GLOBEX-77", "INITECHEDI"):
        unmap_supplier(cfg, sid)
    assert "suppliers: {}\n" in cfg.read_text(encoding="utf-8") and load_settings(cfg).suppliers == {}
    map_supplier(cfg, "ACMESUPPLY", "Acme Industrial Supply")
    assert yaml.safe_load(cfg.read_text())["suppliers"] == {"ACMESUPPLY": {"vendor": "Acme Industrial Supply"}}


def test_an_empty_suppliers_template_and_windows_line_ends(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, suppliers={}, suppliers_file="suppliers.yaml")
    sup = tmp_path / "suppliers.yaml"
    template = "# Your suppliers -> QuickBooks. None is mapped yet.\r\n#\r\n# ACME:\r\n#   vendor: Acme\r\n"
    sup.write_bytes(template.encode())
    map_supplier(cfg, "ACMESUPPLY", "Acme Industrial Supply")
    assert sup.read_bytes() == (template + "ACMESUPPLY:\r\n  vendor: Acme Industrial Supply\r\n").encode()
    map_supplier(cfg, "ACMESUPPLY", "Acme Supply")
    assert sup.read_bytes() == (template + "ACMESUPPLY:\r\n  vendor: Acme Supply\r\n").encode()
