"""The seam between the SOAP layer and the work behind it.

``qbwc_server.soap`` speaks Intuit's Web Connector contract (envelopes,
tickets, return conventions) and delegates every decision about *work* to a
:class:`WorkProvider`. The real provider (``connector.delivery.DeliveryService``) reads the
durable queue; tests may use a small in-memory one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass
class WebConnectorUser:
    username: str
    password_hash: str  # see connector.passwords
    company_file: str = ""  # "" = whatever company QuickBooks has open
    qbxml_version: str = "13.0"  # highest version we will send for this user


@dataclass
class QBSession:
    """One Web Connector conversation, from authenticate to closeConnection."""

    ticket: str
    username: str
    company_file: str
    created_at: datetime
    expires_at: datetime
    qbxml_version: str = "13.0"  # negotiated on the first sendRequestXML
    company_info: dict = field(default_factory=dict)  # from strHCPResponse
    last_error: str = ""
    expecting: str = "send"  # "send" (sendRequestXML next) or "receive"
    closed: bool = False
    # free space for the provider (in-flight batch ids, iterator ids, timings)
    state: dict = field(default_factory=dict)


class WorkProvider(Protocol):
    def has_work(self, user: WebConnectorUser) -> bool:
        """Is anything queued for this user's company (decides authenticate's "none")."""

    def next_request(self, session: QBSession) -> str | None:
        """qbXML request message set to run now, or None when nothing is left."""

    def handle_response(self, session: QBSession, response_xml: str) -> int:
        """Record QuickBooks' answer; return percent done (0-100) for QBWC."""

    def handle_failure(self, session: QBSession, hresult: str, message: str) -> None:
        """QuickBooks could not run the last request (hresult/message set, or
        connectionError). Nothing in flight may be lost or blindly re-sent."""

    def close(self, session: QBSession) -> None:
        """Session over: in-flight work whose answer never came stays recoverable."""

    # optional: ``login_refused(username, reason, remote_addr)`` - a configured user's login was refused
    # ("bad" password, or "locked" by throttling); a provider may record it for its admin


class SessionRegistry(Protocol):
    """Where sessions are shared between processes on one database (optional: without it a ticket is
    known only to the process that issued it). ``connector.tickets.SharedSessions`` is the real one."""

    def claim(self, *, ticket: str, username: str, company_file: str, qbxml_version: str) -> None:
        """This ticket is now the user's current session."""

    def is_current(self, username: str, ticket: str) -> bool:
        """Is this still the user's current session (not replaced by a login elsewhere)?"""

    def find(self, ticket: str) -> dict | None:
        """A live session issued elsewhere: {ticket, username, company_file, qbxml_version}, else None."""

    def seen(self, username: str, ticket: str) -> None:
        """The session is in use (keeps it live for the other processes)."""

    def release(self, username: str, ticket: str) -> None:
        """The session closed."""
