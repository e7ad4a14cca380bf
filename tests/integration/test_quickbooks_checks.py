"""The QuickBooks side of test-connection and the dry run: what QuickBooks last told qbedi, every mapped
name checked against its lists, what would be posted; nothing is sent."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from connector.checks import dry_run, mapped_names, quickbooks_check
from connector.delivery import DeliveryService
from connector.services import IngestService
from connector.settings import load_settings
from connector.store import QueuedRequest, Store, SyncRequest
from qbedi.cli import main
from tests.support.builders import SUPPLIERS, make_quickbooks, write_config, x12_file
from tests.support.delivery import Session, drain

ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Freight and Delivery", "Equipment Repairs")


@pytest.fixture
def world(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, auto_post=False)
    settings = load_settings(cfg)
    store = Store(settings.database_url)
    store.migrate()
    yield cfg, settings, store, IngestService(store, settings), DeliveryService(store, settings)
    store.dispose()


def test_mapped_names_say_where_each_is_used():
    from connector.settings import Settings

    names = mapped_names(Settings.model_validate({"suppliers": SUPPLIERS}))["default"]
    assert names[("Vendor", "Acme Industrial Supply")] == ["supplier ACMESUPPLY: vendor"]
    assert "supplier ACMESUPPLY: line rule 1 account" in names[("Account", "Janitorial Supplies")]
    assert "supplier GLOBEX-77: charge_accounts.C310" in names[("Account", "Discounts Received")]


def test_before_any_session_nothing_is_called_missing(world):
    cfg, settings, store, ingest, delivery = world
    [check] = quickbooks_check(store, settings)
    assert check["ok"] is False and check["missing"] == [] and check["unknown"]  # not known yet, never guessed
    assert check["problems"] == ["the Web Connector has not connected yet"]


def test_a_name_quickbooks_does_not_have_is_named_with_where_it_is_used(world):
    cfg, settings, store, ingest, delivery = world
    ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a", name="a.edi")
    qb = make_quickbooks(accounts=("Job Materials", "Freight and Delivery", "Equipment Repairs"))  # no Janitorial
    drain(delivery, qb, Session(company_info={"company_file_name": r"C:\QB\Northwind.qbw"}))  # reads the lists
    assert qb.bills == []  # awaiting approval: the session only read
    [check] = quickbooks_check(store, settings)
    assert check["lists"]["Account"]["entries"] >= 3 and check["lists"]["Vendor"]["read_at"]
    missing = {(m["list"], m["name"]) for m in check["missing"]}
    assert ("Account", "Janitorial Supplies") in missing and ("Vendor", "Globex Corporation") in missing
    assert any("Janitorial Supplies" in p and "line rule 1" in p for p in check["problems"])
    assert check["ok"] is False and check["last_contact"]

    [doc] = dry_run(store, settings)
    assert doc["would"].startswith("hold: ") and "Janitorial Supplies" in doc["would"]
    assert {(r["list"], r["name"], r["in_quickbooks"]) for r in doc["references"]} >= {
        ("Vendor", "Acme Industrial Supply", True), ("Account", "Janitorial Supplies", False)}
    with store.session() as s:  # a dry run posts nothing and changes nothing
        assert s.scalar(select(func.count()).select_from(QueuedRequest).where(QueuedRequest.state == "awaiting")) == 1


def test_all_names_present_says_ok_and_the_dry_run_says_post_after_approval(world):
    cfg, settings, store, ingest, delivery = world
    ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a", name="a.edi")
    qb = make_quickbooks(vendors=("Acme Industrial Supply", "Globex Corporation"),
                         accounts=(*ACCOUNTS, "Discounts Received"))
    drain(delivery, qb, Session())
    [check] = quickbooks_check(store, settings)
    assert check["ok"] and check["missing"] == [] and check["unknown"] == []
    [doc] = dry_run(store, settings)
    assert doc["would"] == "wait: approval"
    ingest.approve(doc["id"], by="pat")
    assert dry_run(store, settings)[0]["would"] == "post"


def test_the_cli_twins(world, capsys):
    cfg, settings, store, ingest, delivery = world
    ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a", name="a.edi")
    capsys.readouterr()
    assert main(["dry-run", "--json", "--config", str(cfg)]) == 0
    [doc] = json.loads(capsys.readouterr().out)["documents"]
    assert "lists not read yet" in doc["would"] or doc["would"] == "wait: approval"
    assert main(["test-connection", "--json", "--refresh-lists", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["quickbooks_check"][0]["company"] == "clerk"
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SyncRequest)) == 1  # lists read again next session
    assert main(["test-connection", "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "QuickBooks via clerk: NEEDS A LOOK" in text and "has not connected yet" in text
