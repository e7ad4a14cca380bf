"""Driving the delivery service with no HTTP and no SOAP: a session is a plain object and QuickBooks'
transport is the emulator's ``process``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

# the tests' three invoices (tests/data/x12) and the QuickBooks names they map to (tests/data/suppliers.yaml)
INVOICES = ("acme_INV-10045.edi", "acme_INV-10046.edi", "globex_G-2026-0311.edi")
ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery", "Discounts Received")
VENDORS = ("Acme Industrial Supply", "Globex Corporation")


@dataclass
class Session:
    """What a Web Connector session is to the core (qbwc_server.contracts.QBSession has these too)."""

    username: str = "clerk"
    ticket: str = "T-1"
    company_file: str = r"C:\QB\Northwind.qbw"
    qbxml_version: str = "13.0"
    company_info: dict = field(default_factory=dict)
    last_error: str = ""
    state: dict = field(default_factory=dict)
    created_at: datetime = field(default_factory=datetime.now)
    expires_at: datetime = field(default_factory=lambda: datetime.now() + timedelta(hours=1))


def drain(service, qb, session: Session, *, rounds: int = 20) -> list[int]:
    """One Web Connector session, the way QBWC runs it: send, process in QuickBooks, receive, until done."""
    percents = []
    for _ in range(rounds):
        xml = service.next_request(session)
        if xml is None:
            break
        percents.append(service.handle_response(session, qb.process(xml)))
    service.close(session)
    return percents


def invoices_queued(config: Path):
    """(settings, store, ingest service): a migrated store on ``config`` with :data:`INVOICES` ingested, queued
    for QuickBooks. The caller disposes of the store."""
    from connector.services import IngestService
    from connector.settings import load_settings
    from connector.store import Store
    from tests.support.builders import x12_file

    settings = load_settings(config)
    store = Store(settings.database_url)
    store.migrate()
    ingest = IngestService(store, settings)
    for name in INVOICES:
        ingest.ingest(x12_file(name), source="inbox", remote_id=name, name=name)
    return settings, store, ingest


def their_quickbooks():
    """An emulated QuickBooks company with the vendors and accounts :data:`INVOICES` are mapped to."""
    from tests.support.builders import make_quickbooks

    return make_quickbooks(vendors=VENDORS, accounts=ACCOUNTS)
