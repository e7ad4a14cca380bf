"""The typed values one Web Connector round trip is made of: request keys, the batch in flight,
and what a session has done so far."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class RequestKind(StrEnum):
    """What a request in a message set is for; its value prefixes the qbXML ``requestID``."""

    LIST = "r:"  # "r:Vendor": a page of a QuickBooks name list
    VERIFY = "v"  # "v42": a query for request 42, whose answer was lost
    LINK_READ = "p"  # "p42": the purchase orders request 42 (an ItemReceipt) links to
    MOD_READ = "q"  # "q42": the purchase order request 42 (a change) applies to
    VENDOR = "a"  # "a42": VendorAdd for a vendor request 42 names
    RECONCILE = "k"  # "k42": is posted request 42's transaction still in QuickBooks, at the posted amount?
    BILL_READ = "b"  # "b42": the bill request 42 is adding lines to in parts, read again before the next part
    QUEUED = ""  # "42": queued request 42 itself


@dataclass(frozen=True)
class RequestKey:
    """A qbXML ``requestID``: which kind of request, for which queued request (or name list)."""

    kind: RequestKind
    target: str

    @classmethod
    def of(cls, kind: RequestKind, target: int | str) -> "RequestKey":
        return cls(kind, str(target))

    @classmethod
    def parse(cls, text: str | None) -> "RequestKey | None":
        """The key QuickBooks echoed back; None for anything we did not send (a number is ASCII digits as
        ``str(int)`` writes them, at most 18: not "²", "٢١", "01" or 5,000 digits)."""
        text = text or ""
        for kind in RequestKind:
            rest = text[len(kind.value):]
            if text.startswith(kind.value) and rest and (kind is RequestKind.LIST or _as_sent(rest)):
                return cls(kind, rest)
        return None

    @property
    def request_id(self) -> int:
        return int(self.target)

    def __str__(self) -> str:
        return self.kind.value + self.target


def _as_sent(number: str) -> bool:
    return number.isascii() and number.isdigit() and len(number) <= 18 and (number[0] != "0" or number == "0")


@dataclass
class Load:
    """How many requests and lines of one type a batch holds (what the cost model learns from)."""

    requests: int = 0
    lines: int = 0
    kept: int = 0  # lines a Mod names only to keep them (a bill sent in parts)


@dataclass
class Batch:
    """One message set in flight. ``requests`` were marked sent before it left; ``verify`` are lost
    answers being looked up; ``lookups`` are requests whose purchase orders are read first."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])
    requests: list[int] = field(default_factory=list)
    verify: list[int] = field(default_factory=list)
    lookups: list[int] = field(default_factory=list)
    predicted: float = 0.0  # seconds of QuickBooks time
    sent_at: float | None = None  # the service's clock when the message set was handed over
    load: dict[str, Load] = field(default_factory=dict)
    receipt_pos: set[str] = field(default_factory=set)  # purchase orders a receipt of this batch reads
    vendors: list[int] = field(default_factory=list)  # requests whose missing vendor is added first
    lists: list[str] = field(default_factory=list)  # name lists read
    checks: list[int] = field(default_factory=list)  # posted requests whose transaction is looked up (reconcile)

    @property
    def size(self) -> int:
        return len(self.requests) + len(self.verify) + len(self.lookups)

    def expects(self, key: RequestKey) -> bool:
        """Did this batch send a request with this key? An answer may touch only what its own batch
        sent: a Web Connector cannot name another company's (or another batch's) requests."""
        if key.kind is RequestKind.LIST:
            return key.target in self.lists
        sent = {RequestKind.QUEUED: self.requests, RequestKind.VERIFY: self.verify,
                RequestKind.LINK_READ: self.lookups, RequestKind.MOD_READ: self.lookups,
                RequestKind.BILL_READ: self.lookups,
                RequestKind.VENDOR: self.vendors, RequestKind.RECONCILE: self.checks}[key.kind]
        return key.request_id in sent

    def carries(self, request_type: str, lines: int, kept: int = 0) -> None:
        load = self.load.setdefault(request_type, Load())
        load.requests += 1
        load.lines += lines
        load.kept += kept

    def unanswered(self, seen: set[str]) -> "Batch":
        """What QuickBooks gave no answer for."""
        return Batch(id=self.id, requests=[r for r in self.requests if str(r) not in seen],
                     verify=[v for v in self.verify if str(RequestKey.of(RequestKind.VERIFY, v)) not in seen])


@dataclass
class Progress:
    """What one Web Connector session has done (kept in the session's ``state``)."""

    processed: int = 0  # requests that reached an end this session: posted, held or failed
    posted: int = 0
    held: int = 0
    failed: int = 0
    solo: bool = False  # QuickBooks could not parse a message set: one request at a time from now on
    checked: int = 0  # posted transactions looked up this session (reconciliation; bounded per session)
    batch: Batch | None = None

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.processed += 1

    def summary(self, waiting: int) -> str:
        return f"{self.posted} posted, {self.held} held, {self.failed} failed, {waiting} waiting"
