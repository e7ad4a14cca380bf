"""QuickBooks-side intents: what we want QuickBooks to record.

Translation (connector) fills these from EDI documents and supplier mappings;
the builders in this package turn them into qbXML elements, in the element
order the qbXML 13.0 XSD demands. References are by FullName unless a ListID
is known (``*_list_id`` fields win when set).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass
class ExpenseLine:
    account: str  # AccountRef FullName
    amount: Decimal
    memo: str = ""
    class_name: str = ""  # ClassRef FullName ("" = none)
    account_list_id: str = ""  # AccountRef ListID (wins over ``account`` when set)
    class_list_id: str = ""  # ClassRef ListID (wins over ``class_name`` when set)


@dataclass
class ItemLine:
    item: str  # ItemRef FullName
    quantity: Decimal | None = None
    cost: Decimal | None = None  # unit cost
    amount: Decimal | None = None
    description: str = ""
    class_name: str = ""
    unit: str = ""  # UnitOfMeasure (only when the company uses UoM)
    link_txn_id: str = ""  # LinkToTxn/TxnID (PO) for receipts/bills
    link_txn_line_id: str = ""  # LinkToTxn/TxnLineID
    item_list_id: str = ""  # ItemRef ListID (wins over ``item`` when set)
    class_list_id: str = ""  # ClassRef ListID (wins over ``class_name`` when set)


@dataclass
class BillSpec:
    """BillAdd (or VendorCreditAdd when ``credit`` is True)."""

    vendor: str
    txn_date: date | None
    ref_number: str  # <= 20 chars (XSD); longer is held upstream, never cut silently
    due_date: date | None = None  # BillAdd only
    memo: str = ""
    external_guid: str = ""  # {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}
    expense_lines: list[ExpenseLine] = field(default_factory=list)
    item_lines: list[ItemLine] = field(default_factory=list)
    credit: bool = False
    vendor_list_id: str = ""
    ap_account: str = ""
    terms: str = ""  # TermsRef FullName, BillAdd only
    ap_account_list_id: str = ""  # APAccountRef ListID (wins over ``ap_account``)
    terms_list_id: str = ""  # TermsRef ListID (wins over ``terms``), BillAdd only
    link_txn_ids: list[str] = field(default_factory=list)  # BillAdd LinkToTxnID (whole PO)


@dataclass
class PurchaseOrderLineSpec:
    item: str
    quantity: Decimal | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    description: str = ""
    class_name: str = ""
    manufacturer_part: str = ""
    item_list_id: str = ""  # ItemRef ListID (wins over ``item`` when set)


@dataclass
class PurchaseOrderSpec:
    vendor: str
    txn_date: date | None
    ref_number: str  # <= 11 chars for PurchaseOrderAdd RefNumber (XSD)
    expected_date: date | None = None
    memo: str = ""
    external_guid: str = ""
    vendor_msg: str = ""
    lines: list[PurchaseOrderLineSpec] = field(default_factory=list)
    class_name: str = ""
    vendor_list_id: str = ""  # VendorRef ListID (wins over ``vendor`` when set)


@dataclass
class ItemReceiptSpec:
    vendor: str
    txn_date: date | None
    ref_number: str
    memo: str = ""
    external_guid: str = ""
    link_txn_ids: list[str] = field(default_factory=list)  # whole-PO links (LinkToTxnID)
    item_lines: list[ItemLine] = field(default_factory=list)
    expense_lines: list[ExpenseLine] = field(default_factory=list)
    vendor_list_id: str = ""  # VendorRef ListID (wins over ``vendor`` when set)
    ap_account: str = ""  # APAccountRef FullName ("" = QuickBooks' default A/P)
