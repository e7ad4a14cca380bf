"""In-memory QuickBooks company: list records, transactions, identifiers.

Identifier shapes follow real QuickBooks Desktop output (captured envelopes in
``shared/reference/qbwc/envelopes``): ListID ``80000027-1415713663`` (hex
counter, dash, creation time as Unix seconds), TxnID / TxnLineID
``C5-1417118624`` (one hex counter shared by transactions and their lines —
the InvoiceRet capture has TxnID C5 and its first line C7), EditSequence the
Unix time of the last modification (the capture's EditSequence equals the
TimeModified instant). ListIDs are unique within a list type, not across
lists (research §7), so each list type has its own counter here.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal


class SimClock:
    """The emulator's clock; it never sleeps.

    ``SimClock(start)`` is a fully simulated clock starting at ``start`` (tests:
    deterministic). ``SimClock()`` follows the machine's local time (QuickBooks
    reports local time with its offset, e.g. ``2014-11-27T18:03:44-02:00``) plus
    all simulated processing time spent so far, so it stays monotonic and ahead of
    the wall clock by exactly the simulated QuickBooks work.
    """

    def __init__(self, start: datetime | None = None):
        if start is not None and start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware")
        self._fixed = start
        self._offset = timedelta(0)
        self._last: datetime | None = None

    def now(self) -> datetime:
        if self._fixed is not None:
            return self._fixed + self._offset
        t = datetime.now().astimezone().replace(microsecond=0) + self._offset
        if self._last is not None and t < self._last:
            t = self._last  # wall clock stepped back: never go backwards
        self._last = t
        return t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += timedelta(seconds=seconds)

    def today(self) -> date:
        return self.now().date()


FIXED_START = datetime(2024, 5, 1, 9, 0, 0, tzinfo=timezone(timedelta(hours=-5)))


def fmt_time(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


class IdFactory:
    def __init__(self, clock: SimClock):
        self.clock = clock
        self._list_counters: dict[str, itertools.count] = {}
        self._txn_counter = itertools.count(0x10)
        self._txn_number = itertools.count(1)

    def _stamp(self) -> int:
        return int(self.clock.now().timestamp())

    def list_id(self, list_type: str) -> str:
        c = self._list_counters.setdefault(list_type, itertools.count(0x80000001))
        return f"{next(c):08X}-{self._stamp()}"

    def txn_id(self) -> str:
        return f"{next(self._txn_counter):X}-{self._stamp()}"

    def txn_number(self) -> int:
        return next(self._txn_number)


@dataclass
class Record:
    """Common part of every list element and transaction."""

    id: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str

    def touch(self, now: datetime) -> None:
        """A modification: new TimeModified, new (strictly increasing) EditSequence."""
        self.time_modified = now
        self.edit_sequence = str(max(int(self.edit_sequence) + 1, int(now.timestamp())))


@dataclass
class Vendor(Record):
    name: str = ""
    is_active: bool = True
    # other VendorAdd/VendorMod children, kept as (tag -> lxml element copy)
    fields: dict = field(default_factory=dict)
    balance: Decimal = Decimal("0")

    @property
    def list_id(self) -> str:
        return self.id


@dataclass
class Account(Record):
    name: str = ""
    account_type: str = "Expense"
    account_number: str = ""
    is_active: bool = True
    description: str = ""
    balance: Decimal = Decimal("0")

    @property
    def list_id(self) -> str:
        return self.id


@dataclass
class QBClass(Record):
    name: str = ""
    is_active: bool = True

    @property
    def list_id(self) -> str:
        return self.id


@dataclass
class Terms(Record):
    name: str = ""
    due_days: int = 30
    discount_days: int | None = None
    discount_pct: Decimal | None = None
    is_active: bool = True

    @property
    def list_id(self) -> str:
        return self.id


ITEM_KINDS = ("ItemInventory", "ItemNonInventory", "ItemService")


@dataclass
class Item(Record):
    name: str = ""
    kind: str = "ItemInventory"
    is_active: bool = True
    description: str = ""  # PurchaseDesc / SalesOrPurchase Desc
    purchase_cost: Decimal = Decimal("0")
    sales_price: Decimal = Decimal("0")
    manufacturer_part: str = ""
    account_list_id: str = ""  # non-inventory/service: SalesOrPurchase AccountRef
    income_account_list_id: str = ""
    cogs_account_list_id: str = ""
    asset_account_list_id: str = ""
    quantity_on_hand: Decimal = Decimal("0")
    quantity_on_order: Decimal = Decimal("0")

    @property
    def list_id(self) -> str:
        return self.id


@dataclass
class ExpenseLineRec:
    txn_line_id: str
    account_list_id: str = ""
    amount: Decimal | None = None
    memo: str = ""
    class_list_id: str = ""


@dataclass
class ItemLineRec:
    txn_line_id: str
    item_list_id: str = ""
    description: str = ""
    quantity: Decimal | None = None
    unit: str = ""
    cost: Decimal | None = None
    amount: Decimal | None = None
    class_list_id: str = ""
    link_txn_id: str = ""  # PO TxnID this line receives/bills against
    link_txn_line_id: str = ""


@dataclass
class POLineRec:
    txn_line_id: str
    item_list_id: str = ""
    manufacturer_part: str = ""
    description: str = ""
    quantity: Decimal | None = None
    unit: str = ""
    rate: Decimal | None = None
    class_list_id: str = ""
    amount: Decimal | None = None
    received_quantity: Decimal = Decimal("0")
    billed_quantity: Decimal = Decimal("0")
    is_manually_closed: bool = False

    @property
    def unbilled_quantity(self) -> Decimal:
        if self.quantity is None:
            return Decimal("0")
        return max(self.quantity - self.billed_quantity, Decimal("0"))

    @property
    def is_fully_received(self) -> bool:
        if self.is_manually_closed:
            return True
        if self.quantity is None:
            return self.received_quantity > 0
        return self.received_quantity >= self.quantity


@dataclass
class Txn(Record):
    """Bill, VendorCredit, ItemReceipt or PurchaseOrder (``kind``)."""

    kind: str = "Bill"
    txn_number: int = 0
    vendor_list_id: str = ""
    ap_account_list_id: str = ""
    txn_date: date | None = None
    due_date: date | None = None
    ref_number: str = ""
    terms_list_id: str = ""
    memo: str = ""
    external_guid: str = ""
    expense_lines: list[ExpenseLineRec] = field(default_factory=list)
    item_lines: list[ItemLineRec] = field(default_factory=list)
    # PurchaseOrder only
    po_lines: list[POLineRec] = field(default_factory=list)
    class_list_id: str = ""
    expected_date: date | None = None
    vendor_msg: str = ""
    is_manually_closed: bool = False
    # TxnIDs of transactions linked to this one (both directions)
    linked_txn_ids: list[str] = field(default_factory=list)

    @property
    def txn_id(self) -> str:
        return self.id

    @property
    def total(self) -> Decimal:
        lines = [ln.amount for ln in self.expense_lines] + [ln.amount for ln in self.item_lines] \
            + [ln.amount for ln in self.po_lines]
        return sum((a for a in lines if a is not None), Decimal("0.00")).quantize(Decimal("0.01"))

    @property
    def is_fully_received(self) -> bool:
        return self.is_manually_closed or all(ln.is_fully_received for ln in self.po_lines)


# ------------------------------------------------------------------ inspection views

@dataclass
class ExpenseLineView:
    txn_line_id: str
    account: str
    amount: Decimal | None
    memo: str
    class_name: str


@dataclass
class ItemLineView:
    txn_line_id: str
    item: str
    description: str
    quantity: Decimal | None
    cost: Decimal | None
    amount: Decimal | None
    class_name: str
    link_txn_id: str
    link_txn_line_id: str


@dataclass
class TxnView:
    """Plain snapshot of a Bill / VendorCredit / ItemReceipt for test inspection."""

    kind: str
    txn_id: str
    txn_number: int
    edit_sequence: str
    vendor: str
    vendor_list_id: str
    ref_number: str
    txn_date: date | None
    due_date: date | None
    memo: str
    external_guid: str
    ap_account: str
    terms: str
    expense_lines: list[ExpenseLineView]
    item_lines: list[ItemLineView]
    amount_due: Decimal  # Bill AmountDue / VendorCredit CreditAmount / receipt TotalAmount
    linked_txn_ids: list[str]
    time_created: datetime
    time_modified: datetime

    @property
    def lines(self) -> list:
        return [*self.expense_lines, *self.item_lines]


@dataclass
class POLineView:
    txn_line_id: str
    item: str
    description: str
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal | None
    received_quantity: Decimal
    unbilled_quantity: Decimal
    is_fully_received: bool
    is_manually_closed: bool


@dataclass
class PurchaseOrderView:
    txn_id: str
    txn_number: int
    edit_sequence: str
    vendor: str
    vendor_list_id: str
    ref_number: str
    txn_date: date | None
    expected_date: date | None
    memo: str
    vendor_msg: str
    external_guid: str
    is_manually_closed: bool
    is_fully_received: bool
    total_amount: Decimal
    lines: list[POLineView]
    linked_txn_ids: list[str]
