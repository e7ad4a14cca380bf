"""Driving the delivery service with no HTTP and no SOAP: a session is a plain object and QuickBooks'
transport is the emulator's ``process``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


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
