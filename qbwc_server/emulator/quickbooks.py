"""A QuickBooks Desktop stand-in that answers qbXML 13.0 message sets.

We can never run QuickBooks here, so the demo and the end-to-end tests talk to
this class through the same qbXML a real company file would see. Fidelity
rules (sources in ``shared/research/qbwc.md``, cited as §n):

* A document that is not well-formed, lacks ``<?qbxml version?>``, asks for a
  newer qbXML than we support, or fails the qbXML 13.0 XSD is rejected as a
  whole: :class:`QuickBooksParseError` with HRESULT ``0x80040400`` "QuickBooks
  found an error when parsing the provided XML text stream." (§2, §5).
* Each ``*Rq`` gets one ``*Rs`` in request order with ``requestID`` echoed and
  ``statusCode``/``statusSeverity``/``statusMessage`` (§5, §6). Messages follow
  the captured envelopes where one exists (status 1, 3140); other wordings are
  from public integrations quoting QuickBooks (3100, 3200, 3231) or are marked
  UNVERIFIED in :data:`STATUS_TEXT`.
* ``stopOnError``: after the first Error, the remaining requests come back
  3231 "The request has not been processed." (§5). ``rollbackOnError`` is
  accepted by the XSD but reported unsupported by QuickBooks Desktop (§5): we
  treat it like ``stopOnError`` (no rollback) — UNVERIFIED.
* Error recovery (§6, §7; Intuit SDK sample InvoiceAdd.cs / ErrRecovery1-3.xml):
  one stored message set per application. See :meth:`QuickBooksEmulator.process`.
* Every response validates against the XSD (tests check it).
"""
from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import PureWindowsPath
from typing import Callable

from lxml import etree

from .company import (
    ITEM_KINDS, Account, ExpenseLineRec, ExpenseLineView, IdFactory, Item, ItemLineRec,
    ItemLineView, POLineRec, POLineView, PurchaseOrderView, QBClass, Record, SimClock, Terms,
    Txn, TxnView, Vendor, fmt_time,
)

# --------------------------------------------------------------------------- errors

PARSE_HRESULT = "0x80040400"
PARSE_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
NOT_RUNNING_HRESULT = "0x80040408"
NOT_RUNNING_MESSAGE = "Could not start QuickBooks."
WRONG_FILE_HRESULT = "0x80040403"  # UNVERIFIED code for "could not open the company file"
WRONG_FILE_MESSAGE = "Could not open the specified QuickBooks company data file."


class QuickBooksError(Exception):
    """The request processor threw instead of answering (QBWC then passes
    ``hresult``/``message`` to receiveResponseXML or connectionError, §2)."""

    def __init__(self, hresult: str, message: str, detail: str = ""):
        self.hresult = hresult
        self.message = message
        self.detail = detail
        super().__init__(f"{hresult}: {message}" + (f" ({detail})" if detail else ""))


class QuickBooksParseError(QuickBooksError):
    def __init__(self, hresult: str = PARSE_HRESULT, message: str = PARSE_MESSAGE,
                 detail: str = ""):
        super().__init__(hresult, message, detail)


class QuickBooksConnectionError(QuickBooksError):
    """QuickBooks is not running / the company file cannot be opened."""

    def __init__(self, hresult: str = NOT_RUNNING_HRESULT, message: str = NOT_RUNNING_MESSAGE,
                 detail: str = ""):
        super().__init__(hresult, message, detail)


# --------------------------------------------------------------------------- statuses

STATUS_OK = "Status OK"
NOT_FOUND_MSG = "A query request did not find a matching object in QuickBooks"
NOT_PROCESSED_MSG = "The request has not been processed."
# Wordings without a captured QuickBooks original are marked UNVERIFIED.
STATUS_TEXT = {
    0: STATUS_OK,
    1: NOT_FOUND_MSG,
    3170: "There was an error when modifying the record.  QuickBooks error message: "
          "This list has been modified by another user.",  # UNVERIFIED wording
    3175: "There was an error when saving the record.  QuickBooks error message: "
          "The record is in use by another user and could not be locked.",  # UNVERIFIED
    3176: "There was an error when saving the record.  QuickBooks error message: "
          "Failed to acquire the lock on the record.",  # UNVERIFIED
    3180: "There was an error when saving the record.  QuickBooks error message: "
          "This list has been modified by another user.",  # shape per §6 (QPHP)
    3231: NOT_PROCESSED_MSG,
    3250: "This feature is not enabled or not available in this version of QuickBooks.",
}


def _severity(code: int) -> str:
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


class _Status(Exception):
    """Raised inside a handler: answer this request with a status, no Ret."""

    def __init__(self, code: int, message: str | None = None, severity: str | None = None):
        self.code = code
        self.message = message if message is not None else STATUS_TEXT.get(code, "")
        self.severity = severity or _severity(code)
        super().__init__(f"{code}: {self.message}")


def _invalid_ref(list_type: str, value: str, where: str) -> _Status:
    # Real shape (FLW capture): 'There is an invalid reference to QuickBooks Customer
    # "Joe Smith" in the SalesOrder.  QuickBooks error message: Invalid argument.  The
    # specified record does not exist in the list.'  Lines say "in the SalesOrder line."
    return _Status(3140, f'There is an invalid reference to QuickBooks {list_type} "{value}" '
                         f'in the {where}.  QuickBooks error message: Invalid argument.  '
                         f'The specified record does not exist in the list.')


def _not_found_object(value: str) -> _Status:
    # qbXML 3120 shape as commonly reported; UNVERIFIED against a capture.
    return _Status(3120, f'Object "{value}" specified in the request cannot be found.')


def _name_in_use(name: str) -> _Status:
    return _Status(3100, f'The name "{name}" of the list element is already in use.')


def _stale_edit_sequence(seq: str) -> _Status:
    return _Status(3200, f'The provided edit sequence "{seq}" is out-of-date.')


# --------------------------------------------------------------------------- helpers

def _dec(text: str | None) -> Decimal | None:
    if text is None or text.strip() == "":
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise _Status(3020, f'There was an error when converting the amount "{text}".') from None


def _money(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _fmt_amt(d: Decimal) -> str:
    d = _money(d)
    if d == 0:
        d = abs(d)
    return f"{d:.2f}"


def _fmt_num(d: Decimal, min_places: int = 0, max_places: int = 5) -> str:
    d = d.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_UP).normalize()
    exp = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    s = f"{d:.{max(exp, min_places)}f}"
    return s[1:] if s.startswith("-") and Decimal(s) == 0 else s


def _bool(text: str | None) -> bool | None:
    if text is None or text.strip() == "":
        return None
    return text.strip().lower() in ("true", "1")


def _date(text: str | None) -> date | None:
    if text is None or text.strip() == "":
        return None
    return date.fromisoformat(text.strip())


def _sub(parent: etree._Element, tag: str, text: object = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _opt(parent: etree._Element, tag: str, value: object) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    _sub(parent, tag, value)


def _lower(s: str) -> str:
    return s.casefold()


@dataclass
class _Iterator:
    rq_type: str
    ids: list[str]
    position: int
    page_size: int | None


@dataclass
class _StoredSet:
    message_set_id: str
    checksum: str
    response: str  # full response document


@dataclass
class _Injection:
    status_code: int
    rq_type: str | None
    remaining: int
    message: str | None


_LIST_TYPE_LABEL = {"Vendor": "Vendor", "Account": "Account", "Class": "Class",
                    "Item": "Item", "Terms": "Terms"}
_TXN_LABEL = {"Bill": "Bill", "VendorCredit": "VendorCredit", "ItemReceipt": "ItemReceipt",
              "PurchaseOrder": "PurchaseOrder"}

# VendorRet children after Name/IsActive, in XSD order, that we keep verbatim from
# VendorAdd/VendorMod (Ref elements are re-rendered with ListID + FullName).
_VENDOR_RET_ORDER = (
    "ClassRef", "IsTaxAgency", "CompanyName", "Salutation", "FirstName", "MiddleName",
    "LastName", "Suffix", "JobTitle", "VendorAddress", "VendorAddressBlock", "ShipAddress",
    "Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact",
    "NameOnCheck", "AccountNumber", "Notes", "VendorTypeRef", "TermsRef", "CreditLimit",
    "VendorTaxIdent", "IsVendorEligibleFor1099", "Balance", "BillingRateRef", "ExternalGUID",
    "SalesTaxCodeRef", "SalesTaxCountry", "IsSalesTaxAgency", "SalesTaxReturnRef",
    "TaxRegistrationNumber", "ReportingPeriod", "IsTaxTrackedOnPurchases",
    "TaxOnPurchasesAccountRef", "IsTaxTrackedOnSales", "TaxOnSalesAccountRef", "IsTaxOnTax",
    "PrefillAccountRef", "CurrencyRef",
)
_VENDOR_KEEP = set(_VENDOR_RET_ORDER) - {"IsTaxAgency", "VendorAddressBlock", "Balance"}
_VENDOR_ADD_ONLY = {"ExternalGUID"}


class QuickBooksEmulator:
    """An in-memory QuickBooks Desktop company answering qbXML.

    Thread-safe: every public method takes one re-entrant lock (the SOAP server
    calls :meth:`process` from its own thread).
    """

    def __init__(self, company_file: str = "C:\\Company.qbw", country: str = "US",
                 qbxml_version: tuple[int, int] = (13, 0),
                 product: str = "QuickBooks Enterprise Solutions 23.0", *,
                 company_name: str | None = None, validate: bool | None = None,
                 clock: SimClock | None = None, xsd_dir: str | None = None,
                 seed_defaults: bool = True, app_name: str = "qbedi"):
        self._lock = threading.RLock()
        self.company_file = company_file
        self.country = country
        self.qbxml_version = tuple(qbxml_version)
        self.product = product
        self.company_name = company_name or PureWindowsPath(company_file).stem or "My Company"
        self.clock = clock or SimClock()
        self.ids = IdFactory(self.clock)
        self.closed = False
        self.xsd_dir = xsd_dir
        self._validate = validate  # None: validate when the XSD can be found
        self._schema = None
        self.app_name = app_name
        self.vendors: dict[str, Vendor] = {}
        self.accounts: dict[str, Account] = {}
        self.classes: dict[str, QBClass] = {}
        self.items: dict[str, Item] = {}
        self.terms: dict[str, Terms] = {}
        self.txns: dict[str, Txn] = {}
        self._iterators: dict[str, _Iterator] = {}
        self._stored: dict[str, _StoredSet] = {}
        self._injections: list[_Injection] = []
        self._failures: list[tuple[str, str, bool]] = []
        self._base_cost: dict[str, float] = {}
        self._line_cost: dict[str, float] = {}
        self.default_base_seconds = 0.2
        self.default_per_line_seconds = 0.02
        self.real_time = False  # True: process() really sleeps cost_of(...) seconds
        self.request_log: list[str] = []
        self.response_log: list[str] = []
        self.elapsed_seconds = 0.0
        if seed_defaults:
            self.add_account("Accounts Payable", account_type="AccountsPayable")
            self.add_account("Inventory Asset", account_type="OtherCurrentAsset")
            self.add_account("Cost of Goods Sold", account_type="CostOfGoodsSold")
            self.add_account("Sales", account_type="Income")

    # ================================================================= seeding

    def _new_record(self, cls, list_type: str, **kw):
        now = self.clock.now()
        rid = self.ids.list_id(list_type) if list_type else self.ids.txn_id()
        return cls(id=rid, time_created=now, time_modified=now,
                   edit_sequence=str(int(now.timestamp())), **kw)

    def _name_taken(self, table: dict, name: str, except_id: str | None = None) -> bool:
        return any(_lower(r.name) == _lower(name) and r.id != except_id for r in table.values())

    def add_vendor(self, name: str, *, is_active: bool = True, company_name: str = "",
                   terms: str = "", **text_fields: str) -> str:
        """Seed a vendor; returns its ListID. ``text_fields`` are VendorRet element
        names with text values (e.g. ``Phone="555"``)."""
        with self._lock:
            existing = self._find_by_name(self.vendors, name)
            if existing is not None:
                return existing.id  # seeding is idempotent by name
            v = self._new_record(Vendor, "Vendor", name=name, is_active=is_active)
            if company_name:
                v.fields["CompanyName"] = self._text_el("CompanyName", company_name)
            if terms:
                t = self._find_by_name(self.terms, terms)
                if t is None:
                    raise ValueError(f"no terms {terms!r}")
                v.fields["TermsRef"] = self._ref_el("TermsRef", t.id)
            for tag, value in text_fields.items():
                if tag not in _VENDOR_KEEP:
                    raise ValueError(f"unsupported vendor field {tag}")
                v.fields[tag] = self._text_el(tag, value)
            self.vendors[v.id] = v
            return v.id

    def add_account(self, name: str, account_type: str = "Expense", *, account_number: str = "",
                    description: str = "", is_active: bool = True) -> str:
        with self._lock:
            existing = self._find_by_name(self.accounts, name)
            if existing is not None:
                if existing.account_type != account_type:
                    raise ValueError(f"account {name!r} exists as {existing.account_type}")
                return existing.id  # e.g. the pre-seeded "Accounts Payable"
            a = self._new_record(Account, "Account", name=name, account_type=account_type,
                                 account_number=account_number, description=description,
                                 is_active=is_active)
            self.accounts[a.id] = a
            return a.id

    def add_class(self, name: str, *, is_active: bool = True) -> str:
        with self._lock:
            existing = self._find_by_name(self.classes, name)
            if existing is not None:
                return existing.id
            c = self._new_record(QBClass, "Class", name=name, is_active=is_active)
            self.classes[c.id] = c
            return c.id

    def add_terms(self, name: str, due_days: int = 30, *, discount_days: int | None = None,
                  discount_pct: Decimal | None = None) -> str:
        with self._lock:
            existing = self._find_by_name(self.terms, name)
            if existing is not None:
                return existing.id
            t = self._new_record(Terms, "Terms", name=name, due_days=due_days,
                                 discount_days=discount_days, discount_pct=discount_pct)
            self.terms[t.id] = t
            return t.id

    def add_item(self, name: str, kind: str = "ItemInventory", *, cost: Decimal | str = "0",
                 price: Decimal | str = "0", description: str = "", account: str = "",
                 manufacturer_part: str = "", quantity_on_hand: Decimal | str = "0",
                 is_active: bool = True) -> str:
        """Seed an item. Inventory items post to Inventory Asset / COGS / Sales;
        non-inventory and service items post to ``account`` (default "Cost of Goods Sold")."""
        with self._lock:
            if kind not in ITEM_KINDS:
                raise ValueError(f"kind must be one of {ITEM_KINDS}")
            existing = self._find_by_name(self.items, name)
            if existing is not None:
                if existing.kind != kind:
                    raise ValueError(f"item {name!r} exists as {existing.kind}")
                return existing.id
            if len(name) > 31:
                raise ValueError("item names are limited to 31 characters")
            it = self._new_record(Item, "Item", name=name, kind=kind, is_active=is_active,
                                  description=description, purchase_cost=Decimal(str(cost)),
                                  sales_price=Decimal(str(price)),
                                  manufacturer_part=manufacturer_part,
                                  quantity_on_hand=Decimal(str(quantity_on_hand)))
            by_name = {_lower(a.name): a.id for a in self.accounts.values()}
            if kind == "ItemInventory":
                it.asset_account_list_id = by_name.get("inventory asset", "")
                it.cogs_account_list_id = by_name.get("cost of goods sold", "")
                it.income_account_list_id = by_name.get("sales", "")
            else:
                acct = self._find_by_name(self.accounts, account or "Cost of Goods Sold")
                if acct is None:
                    raise ValueError(f"no account {account!r}")
                it.account_list_id = acct.id
            self.items[it.id] = it
            return it.id

    def add_purchase_order(self, vendor: str, ref_number: str, lines: list[tuple], *,
                           txn_date: date | None = None, expected_date: date | None = None,
                           memo: str = "") -> str:
        """Seed a purchase order; ``lines`` = [(item, qty, rate), ...]. Returns TxnID."""
        with self._lock:
            v = self._find_by_name(self.vendors, vendor)
            if v is None:
                raise ValueError(f"no vendor {vendor!r}")
            po = self._new_txn("PurchaseOrder", v.id, txn_date)
            po.ref_number, po.expected_date, po.memo = ref_number, expected_date, memo
            for item, qty, rate in lines:
                it = self._find_by_name(self.items, item)
                if it is None:
                    raise ValueError(f"no item {item!r}")
                q, r = Decimal(str(qty)), Decimal(str(rate))
                po.po_lines.append(POLineRec(txn_line_id=self.ids.txn_id(), item_list_id=it.id,
                                             manufacturer_part=it.manufacturer_part,
                                             description=it.description, quantity=q, rate=r,
                                             amount=_money(q * r)))
            self._commit_po(po)
            return po.id

    # ================================================================= inspection

    def _name_of(self, table: dict, list_id: str) -> str:
        r = table.get(list_id)
        return r.name if r else ""

    def _txn_view(self, t: Txn) -> TxnView:
        return TxnView(
            kind=t.kind, txn_id=t.id, txn_number=t.txn_number, edit_sequence=t.edit_sequence,
            vendor=self._name_of(self.vendors, t.vendor_list_id), vendor_list_id=t.vendor_list_id,
            ref_number=t.ref_number, txn_date=t.txn_date, due_date=t.due_date, memo=t.memo,
            external_guid=t.external_guid,
            ap_account=self._name_of(self.accounts, t.ap_account_list_id),
            terms=self._name_of(self.terms, t.terms_list_id),
            expense_lines=[ExpenseLineView(ln.txn_line_id,
                                           self._name_of(self.accounts, ln.account_list_id),
                                           ln.amount, ln.memo,
                                           self._name_of(self.classes, ln.class_list_id))
                           for ln in t.expense_lines],
            item_lines=[ItemLineView(ln.txn_line_id, self._name_of(self.items, ln.item_list_id),
                                     ln.description, ln.quantity, ln.cost, ln.amount,
                                     self._name_of(self.classes, ln.class_list_id),
                                     ln.link_txn_id, ln.link_txn_line_id)
                        for ln in t.item_lines],
            amount_due=t.total, linked_txn_ids=list(t.linked_txn_ids),
            time_created=t.time_created, time_modified=t.time_modified)

    def _po_view(self, t: Txn) -> PurchaseOrderView:
        return PurchaseOrderView(
            txn_id=t.id, txn_number=t.txn_number, edit_sequence=t.edit_sequence,
            vendor=self._name_of(self.vendors, t.vendor_list_id), vendor_list_id=t.vendor_list_id,
            ref_number=t.ref_number, txn_date=t.txn_date, expected_date=t.expected_date,
            memo=t.memo, vendor_msg=t.vendor_msg, external_guid=t.external_guid,
            is_manually_closed=t.is_manually_closed, is_fully_received=t.is_fully_received,
            total_amount=t.total,
            lines=[POLineView(ln.txn_line_id, self._name_of(self.items, ln.item_list_id),
                              ln.description, ln.quantity, ln.rate, ln.amount,
                              ln.received_quantity, ln.unbilled_quantity, ln.is_fully_received,
                              ln.is_manually_closed) for ln in t.po_lines],
            linked_txn_ids=list(t.linked_txn_ids))

    def _views(self, kind: str) -> list:
        with self._lock:
            txns = [t for t in self.txns.values() if t.kind == kind]
            return [self._po_view(t) if kind == "PurchaseOrder" else self._txn_view(t)
                    for t in txns]

    @property
    def bills(self) -> list[TxnView]:
        return self._views("Bill")

    @property
    def vendor_credits(self) -> list[TxnView]:
        return self._views("VendorCredit")

    @property
    def item_receipts(self) -> list[TxnView]:
        return self._views("ItemReceipt")

    @property
    def purchase_orders(self) -> list[PurchaseOrderView]:
        return self._views("PurchaseOrder")

    def find_bills(self, vendor: str | None = None, ref_number: str | None = None) -> list[TxnView]:
        return [b for b in self.bills
                if (vendor is None or _lower(b.vendor) == _lower(vendor))
                and (ref_number is None or _lower(b.ref_number) == _lower(ref_number))]

    def vendor(self, name_or_id: str) -> Vendor | None:
        with self._lock:
            return copy.deepcopy(self.vendors.get(name_or_id)
                                 or self._find_by_name(self.vendors, name_or_id))

    def item(self, name_or_id: str) -> Item | None:
        with self._lock:
            return copy.deepcopy(self.items.get(name_or_id)
                                 or self._find_by_name(self.items, name_or_id))

    def purchase_order(self, txn_id_or_ref: str) -> PurchaseOrderView | None:
        for po in self.purchase_orders:
            if po.txn_id == txn_id_or_ref or po.ref_number == txn_id_or_ref:
                return po
        return None

    # ================================================================= faults

    def processing_time(self, rq_type: str, per_line_seconds: float,
                        base_seconds: float | None = None) -> None:
        """Cost model for ``rq_type`` (e.g. "BillAdd" or "BillAddRq"): base + per line."""
        with self._lock:
            key = rq_type.removesuffix("Rq")
            self._line_cost[key] = per_line_seconds
            if base_seconds is not None:
                self._base_cost[key] = base_seconds

    def cost_of(self, request_xml: str) -> float:
        """Simulated QuickBooks processing seconds for a request document (no sleeping)."""
        try:
            root = self._parse_root(request_xml)
        except QuickBooksParseError:
            return self.default_base_seconds
        msgs = root.find("QBXMLMsgsRq")
        if msgs is None:
            return self.default_base_seconds
        total = 0.0
        for rq in msgs:
            if not isinstance(rq.tag, str):
                continue
            key = rq.tag.removesuffix("Rq")
            body = rq[0] if len(rq) else rq
            lines = sum(1 for c in body if isinstance(c.tag, str) and c.tag.endswith("LineAdd"))
            lines += sum(1 for c in body if isinstance(c.tag, str) and c.tag == "LinkToTxnID")
            total += self._base_cost.get(key, self.default_base_seconds)
            total += lines * self._line_cost.get(key, self.default_per_line_seconds)
        return total

    def inject(self, status_code: int = 3175, rq_type: str | None = "BillAdd", times: int = 1,
               message: str | None = None) -> None:
        """The next ``times`` requests of ``rq_type`` (None = any) fail with
        ``status_code`` and change nothing (e.g. 3175 record in use, 3170, 3180)."""
        with self._lock:
            self._injections.append(_Injection(status_code, rq_type.removesuffix("Rq")
                                               if rq_type else None, times, message))

    def inject_failure(self, hresult: str = "0x80040402",
                       message: str = "Unexpected error. Check the qbsdklog.txt file for "
                                      "possible additional information.",
                       *, after_processing: bool = False, times: int = 1) -> None:
        """The next ``times`` calls of :meth:`process` raise :class:`QuickBooksError`
        (what QBWC reports as ``hresult``/``message`` in receiveResponseXML, §2).
        ``after_processing=True``: the requests were applied first (QuickBooks
        committed, then failed to answer) — the nasty case for exactly-once."""
        with self._lock:
            self._failures.extend([(hresult, message, after_processing)] * times)

    def concurrent_edit(self, record_id: str, list_type: str | None = None) -> str:
        """Another user edits ListID/TxnID ``record_id`` now: EditSequence and
        TimeModified change. ListIDs repeat across list types, so pass
        ``list_type`` ("Vendor", "Account", "Class", "Item", "Terms") when ambiguous.
        Returns the new EditSequence."""
        with self._lock:
            if list_type:
                rec = getattr(self, self._LIST_TABLES[list_type]).get(record_id)
            else:
                hits = [t[record_id] for t in (self.vendors, self.accounts, self.classes,
                                               self.items, self.terms, self.txns)
                        if record_id in t]
                if len(hits) > 1:
                    raise ValueError(f"{record_id} exists in several lists; pass list_type")
                rec = hits[0] if hits else None
            if rec is None:
                raise KeyError(record_id)
            self.clock.advance(1)
            rec.touch(self.clock.now())
            return rec.edit_sequence

    def begin_session(self, company_file: str = "") -> None:
        """What QBWC's OpenConnection/BeginSession would hit: raises
        :class:`QuickBooksConnectionError` when closed or another file is asked for."""
        with self._lock:
            if self.closed:
                raise QuickBooksConnectionError()
            if company_file and _lower(company_file) != _lower(self.company_file):
                raise QuickBooksConnectionError(WRONG_FILE_HRESULT, WRONG_FILE_MESSAGE,
                                                company_file)

    def end_session(self) -> None:
        """QBWC's EndSession: iterators die with the session (research §8 assumption)."""
        with self._lock:
            self._iterators.clear()

    def connection_error(self) -> QuickBooksConnectionError:
        return QuickBooksConnectionError()

    # ================================================================= HCP

    @property
    def host_major_version(self) -> int:
        m = re.search(r"(\d+)\.\d+\s*$", self.product)
        if m:
            return int(m.group(1)) + 10  # Enterprise 23.0 == QuickBooks 2023 == version 33
        m = re.search(r"20(\d\d)", self.product)
        return int(m.group(1)) + 10 if m else 33

    def supported_versions(self) -> list[str]:
        major, minor = self.qbxml_version
        all_versions = ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0",
                        "8.0", "9.0", "10.0", "11.0", "12.0", "13.0", "14.0", "15.0", "16.0"]
        out = []
        for v in all_versions:
            a, b = (int(x) for x in v.split("."))
            if (a, b) <= (major, minor):
                out.append(v)
        return out

    def hcp_response(self) -> str:
        """HostQueryRs + CompanyQueryRs + PreferencesQueryRs: ``strHCPResponse`` of the
        first sendRequestXML of a QBWC session (§2)."""
        with self._lock:
            root = etree.Element("QBXML")
            msgs = _sub(root, "QBXMLMsgsRs")
            for tag, fn in (("HostQuery", self._host_ret), ("CompanyQuery", self._company_ret),
                            ("PreferencesQuery", self._preferences_ret)):
                rs = self._rs(tag, None, 0)
                rs.append(fn())
                msgs.append(rs)
            return self._serialize(root)

    def _host_ret(self) -> etree._Element:
        r = etree.Element("HostRet")
        _sub(r, "ProductName", self.product)
        _sub(r, "MajorVersion", self.host_major_version)
        _sub(r, "MinorVersion", 0)
        _sub(r, "Country", self.country)
        for v in self.supported_versions():
            _sub(r, "SupportedQBXMLVersion", v)
        _sub(r, "IsAutomaticLogin", "false")
        _sub(r, "QBFileMode", "SingleUser")
        return r

    def _company_ret(self) -> etree._Element:
        r = etree.Element("CompanyRet")
        _sub(r, "IsSampleCompany", "false")
        _sub(r, "CompanyName", self.company_name[:59])
        _sub(r, "LegalCompanyName", self.company_name[:59])
        return r

    def _preferences_ret(self) -> etree._Element:
        r = etree.Element("PreferencesRet")
        a = _sub(r, "AccountingPreferences")
        for tag, v in (("IsUsingAccountNumbers", "false"), ("IsRequiringAccounts", "true"),
                       ("IsUsingClassTracking", "true"), ("IsUsingAuditTrail", "true"),
                       ("IsAssigningJournalEntryNumbers", "true")):
            _sub(a, tag, v)
        p = _sub(r, "PurchasesAndVendorsPreferences")
        _sub(p, "IsUsingInventory", "true")
        _sub(p, "DaysBillsAreDue", 10)
        _sub(p, "IsAutomaticallyUsingDiscounts", "false")
        return r

    # ================================================================= processing

    def _schema_or_none(self):
        if self._validate is False:
            return None
        if self._schema is None:
            try:
                from qbxml_templates.schema import load_schema
                self._schema = load_schema(self.xsd_dir)
            except Exception:  # SchemaUnavailable or import problems
                if self._validate:
                    raise
                self._validate = False
                return None
        return self._schema

    def _parse_root(self, request_xml: str | bytes) -> etree._Element:
        if isinstance(request_xml, str):
            text = request_xml.lstrip("\ufeff \t\r\n")
            if text.startswith("<?xml"):
                end = text.find("?>")
                text = text[end + 2:] if end >= 0 else text
            data = text.encode("utf-8")
        else:
            data = request_xml
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        try:
            return etree.fromstring(data, parser)
        except (etree.XMLSyntaxError, ValueError) as e:
            raise QuickBooksParseError(detail=f"not well-formed: {e}") from None

    def _check_document(self, root: etree._Element) -> None:
        from qbxml_templates.schema import qbxml_pi_version
        version = qbxml_pi_version(root.getroottree())
        if version is None:
            raise QuickBooksParseError(detail='missing <?qbxml version="x.y"?>')
        if version > self.qbxml_version:
            raise QuickBooksParseError(
                detail=f"qbXML {version[0]}.{version[1]} is newer than supported "
                       f"{self.qbxml_version[0]}.{self.qbxml_version[1]}")
        if root.tag != "QBXML" or root.find("QBXMLMsgsRq") is None:
            raise QuickBooksParseError(detail="no QBXML/QBXMLMsgsRq")
        schema = self._schema_or_none()
        if schema is not None and not schema.validate(root.getroottree()):
            errs = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
            raise QuickBooksParseError(detail=errs)
        msgs = root.find("QBXMLMsgsRq")
        if msgs.get("onError") not in ("stopOnError", "continueOnError", "rollbackOnError"):
            raise QuickBooksParseError(detail="onError missing or invalid")

    def process(self, request_xml: str | bytes, *, app_name: str | None = None) -> str:
        """Answer one qbXML request document like QuickBooks' ProcessRequest.

        Error recovery (one stored message set per ``app_name``):

        * ``newMessageSetID`` on a set we process: its response is stored under that
          ID (replacing the previous one) and echoed on ``QBXMLMsgsRs``.
        * a resend with the stored ``newMessageSetID`` and identical content: the
          stored response comes back, nothing is re-posted; different content:
          ``messageSetStatusCode`` 9001 (invalid checksum), nothing processed.
        * ``oldMessageSetID`` equal to the stored ID: the stored response is returned
          with ``messageSetStatusCode="0"``; requests in the set are not processed.
          Without ``newMessageSetID`` the stored status is cleared afterwards (Intuit
          sample ErrRecovery3.xml "delete session status"); with old==new it is kept
          (ErrRecovery2.xml "checking a session status").
        * ``oldMessageSetID`` not matching: 600 when no newMessageSetID is given
          (nothing processed); 9002 when nothing is stored at all; with a
          newMessageSetID the set is processed as new.
        * any MessageSetID longer than 24 characters: 9004, nothing processed.
        """
        with self._lock:
            if self.closed:
                raise QuickBooksConnectionError()
            app = app_name or self.app_name
            text = request_xml.decode("utf-8", "replace") if isinstance(request_xml, bytes) \
                else request_xml
            self.request_log.append(text)
            root = self._parse_root(request_xml)
            self._check_document(root)
            cost = self.cost_of(text)
            msgs = root.find("QBXMLMsgsRq")
            new_id = msgs.get("newMessageSetID")
            old_id = msgs.get("oldMessageSetID")
            body = b"".join(etree.tostring(c) for c in msgs if isinstance(c.tag, str))
            checksum = hashlib.sha256(body).hexdigest()

            failure = self._failures.pop(0) if self._failures else None
            if failure is not None and not failure[2]:
                raise QuickBooksError(failure[0], failure[1])
            response = self._recovery(app, new_id, old_id, checksum)
            if response is None:
                out = etree.Element("QBXML")
                rs_msgs = _sub(out, "QBXMLMsgsRs")
                if new_id:
                    rs_msgs.set("newMessageSetID", new_id)
                self._run_requests(msgs, rs_msgs)
                response = self._serialize(out)
                if new_id:
                    self._stored[app] = _StoredSet(new_id, checksum, response)
            self._spend(cost)
            if failure is not None:
                raise QuickBooksError(failure[0], failure[1], "after processing")
            self.response_log.append(response)
            return response

    def _spend(self, cost: float) -> None:
        self.elapsed_seconds += cost
        self.clock.advance(cost)
        if self.real_time and cost > 0:
            time.sleep(cost)

    def _status_only(self, code: int, new_id: str | None) -> str:
        out = etree.Element("QBXML")
        rs_msgs = _sub(out, "QBXMLMsgsRs")
        if new_id and len(new_id) <= 24:
            rs_msgs.set("newMessageSetID", new_id)
        rs_msgs.set("messageSetStatusCode", str(code))
        return self._serialize(out)

    def _recovery(self, app: str, new_id: str | None, old_id: str | None,
                  checksum: str) -> str | None:
        if (new_id and len(new_id) > 24) or (old_id and len(old_id) > 24):
            return self._status_only(9004, None)
        stored = self._stored.get(app)
        if old_id:
            if stored is None:
                if not new_id:
                    return self._status_only(9002, None)
                return None
            if stored.message_set_id != old_id:
                return None if new_id else self._status_only(600, None)
            doc = etree.fromstring(stored.response.split("?>", 1)[1].encode("utf-8"))
            rs_msgs = doc.find("QBXMLMsgsRs")
            rs_msgs.attrib.clear()
            rs_msgs.set("newMessageSetID", stored.message_set_id)
            rs_msgs.set("messageSetStatusCode", "0")
            if not new_id:
                del self._stored[app]
            return self._serialize(doc)
        if new_id and stored is not None and stored.message_set_id == new_id:
            if stored.checksum != checksum:
                return self._status_only(9001, new_id)
            return stored.response
        return None

    def _run_requests(self, msgs: etree._Element, rs_msgs: etree._Element) -> None:
        on_error = msgs.get("onError")
        stop = on_error in ("stopOnError", "rollbackOnError")
        failed = False
        for rq in msgs:
            if not isinstance(rq.tag, str):
                continue
            rq_type = rq.tag.removesuffix("Rq")
            request_id = rq.get("requestID")
            if failed and stop:
                rs_msgs.append(self._rs(rq_type, request_id, 3231))
                continue
            rs = self._rs(rq_type, request_id, 0)  # detached until the handler succeeds
            try:
                self._check_injection(rq_type)
                handler = self._handlers().get(rq_type)
                if handler is None:
                    raise _Status(3250)
                handler(rq, rs)
                if msgs.get("responseData") == "includeNone":
                    for child in list(rs):  # status only, no *Ret (OPS13 responseData)
                        rs.remove(child)
                rs_msgs.append(rs)
            except _Status as st:
                rs_msgs.append(self._rs(rq_type, request_id, st.code, st.message, st.severity))
                if st.severity == "Error":
                    failed = True

    def _check_injection(self, rq_type: str) -> None:
        for inj in self._injections:
            if inj.remaining > 0 and (inj.rq_type is None or inj.rq_type == rq_type):
                inj.remaining -= 1
                self._injections = [i for i in self._injections if i.remaining > 0]
                raise _Status(inj.status_code, inj.message)

    @staticmethod
    def _rs(rq_type: str, request_id: str | None, code: int, message: str | None = None,
            severity: str | None = None) -> etree._Element:
        rs = etree.Element(f"{rq_type}Rs")
        if request_id is not None:
            rs.set("requestID", request_id)
        rs.set("statusCode", str(code))
        rs.set("statusSeverity", severity or _severity(code))
        rs.set("statusMessage", message if message is not None else STATUS_TEXT.get(code, ""))
        return rs

    def _serialize(self, root: etree._Element) -> str:
        # Real responses start '<?xml version="1.0" ?>' (captured envelopes).
        return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode")

    def _handlers(self) -> dict[str, Callable]:
        return {
            "HostQuery": lambda rq, rs: rs.append(self._host_ret()),
            "CompanyQuery": lambda rq, rs: rs.append(self._company_ret()),
            "PreferencesQuery": lambda rq, rs: rs.append(self._preferences_ret()),
            "VendorAdd": self._h_vendor_add,
            "VendorMod": self._h_vendor_mod,
            "VendorQuery": lambda rq, rs: self._h_list_query(rq, rs, "Vendor"),
            "AccountQuery": lambda rq, rs: self._h_list_query(rq, rs, "Account"),
            "ClassQuery": lambda rq, rs: self._h_list_query(rq, rs, "Class"),
            "ItemQuery": lambda rq, rs: self._h_list_query(rq, rs, "Item"),
            "TermsQuery": lambda rq, rs: self._h_list_query(rq, rs, "Terms"),
            "BillAdd": lambda rq, rs: self._h_bill_add(rq, rs, "Bill"),
            "VendorCreditAdd": lambda rq, rs: self._h_bill_add(rq, rs, "VendorCredit"),
            "ItemReceiptAdd": lambda rq, rs: self._h_bill_add(rq, rs, "ItemReceipt"),
            "PurchaseOrderAdd": self._h_po_add,
            "PurchaseOrderMod": self._h_po_mod,
            "BillQuery": lambda rq, rs: self._h_txn_query(rq, rs, "Bill"),
            "VendorCreditQuery": lambda rq, rs: self._h_txn_query(rq, rs, "VendorCredit"),
            "ItemReceiptQuery": lambda rq, rs: self._h_txn_query(rq, rs, "ItemReceipt"),
            "PurchaseOrderQuery": lambda rq, rs: self._h_txn_query(rq, rs, "PurchaseOrder"),
        }

    # ================================================================= lookups

    @staticmethod
    def _find_by_name(table: dict, name: str):
        key = _lower(name)
        for r in table.values():
            if _lower(r.name) == key:
                return r
        return None

    def _full_name(self, r) -> str:
        return r.name

    def _resolve(self, ref: etree._Element | None, table: dict, list_type: str,
                 where: str):
        """Resolve a *Ref (ListID wins, else FullName, case-insensitive)."""
        if ref is None:
            return None
        list_id = ref.findtext("ListID")
        full_name = ref.findtext("FullName")
        if list_id:
            r = table.get(list_id)
            if r is None:
                raise _invalid_ref(list_type, list_id, where)
            return r
        if full_name:
            r = self._find_by_name(table, full_name)
            if r is None:
                raise _invalid_ref(list_type, full_name, where)
            return r
        return None

    def _table_for_tag(self, tag: str) -> dict:
        if tag in ("VendorRef", "PrefVendorRef"):
            return self.vendors
        if tag.endswith("AccountRef"):
            return self.accounts
        if tag == "ClassRef":
            return self.classes
        if tag == "ItemRef":
            return self.items
        if tag == "TermsRef":
            return self.terms
        return {}

    def _ref_el(self, tag: str, list_id: str) -> etree._Element:
        el = etree.Element(tag)
        rec = self._table_for_tag(tag).get(list_id)
        _sub(el, "ListID", list_id)
        if rec is not None:
            _sub(el, "FullName", self._full_name(rec))
        return el

    @staticmethod
    def _text_el(tag: str, value: str) -> etree._Element:
        el = etree.Element(tag)
        el.text = value
        return el

    def _append_ref(self, parent: etree._Element, tag: str, list_id: str) -> None:
        if list_id:
            parent.append(self._ref_el(tag, list_id))

    # ================================================================= list Rets

    def _list_core(self, el: etree._Element, r: Record) -> None:
        _sub(el, "ListID", r.id)
        _sub(el, "TimeCreated", fmt_time(r.time_created))
        _sub(el, "TimeModified", fmt_time(r.time_modified))
        _sub(el, "EditSequence", r.edit_sequence)

    def _vendor_ret(self, v: Vendor) -> etree._Element:
        el = etree.Element("VendorRet")
        self._list_core(el, v)
        _sub(el, "Name", v.name)
        _sub(el, "IsActive", "true" if v.is_active else "false")
        for tag in _VENDOR_RET_ORDER:
            if tag == "IsTaxAgency":
                continue
            if tag == "Balance":
                _sub(el, "Balance", _fmt_amt(self._vendor_balance(v)))
                continue
            f = v.fields.get(tag)
            if f is None:
                continue
            if tag.endswith("Ref") and f.findtext("ListID"):
                el.append(self._ref_el(tag, f.findtext("ListID")))
            else:
                el.append(copy.deepcopy(f))
        return el

    def _vendor_balance(self, v: Vendor) -> Decimal:
        total = Decimal("0")
        for t in self.txns.values():
            if t.vendor_list_id != v.id:
                continue
            if t.kind == "Bill":
                total += t.total
            elif t.kind == "VendorCredit":
                total -= t.total
        return total

    def _account_ret(self, a: Account) -> etree._Element:
        el = etree.Element("AccountRet")
        self._list_core(el, a)
        _sub(el, "Name", a.name)
        _sub(el, "FullName", a.name)
        _sub(el, "IsActive", "true" if a.is_active else "false")
        _sub(el, "Sublevel", 0)
        _sub(el, "AccountType", a.account_type)
        _opt(el, "AccountNumber", a.account_number)
        _opt(el, "Desc", a.description)
        bal = self._account_balance(a)
        _sub(el, "Balance", _fmt_amt(bal))
        _sub(el, "TotalBalance", _fmt_amt(bal))
        return el

    def _account_balance(self, a: Account) -> Decimal:
        if a.account_type == "AccountsPayable":
            total = Decimal("0")
            for t in self.txns.values():
                if t.ap_account_list_id == a.id and t.kind in ("Bill", "VendorCredit"):
                    total += t.total if t.kind == "Bill" else -t.total
            return total
        return a.balance

    def _class_ret(self, c: QBClass) -> etree._Element:
        el = etree.Element("ClassRet")
        self._list_core(el, c)
        _sub(el, "Name", c.name)
        _sub(el, "FullName", c.name)
        _sub(el, "IsActive", "true" if c.is_active else "false")
        _sub(el, "Sublevel", 0)
        return el

    def _terms_ret(self, t: Terms) -> etree._Element:
        el = etree.Element("StandardTermsRet")
        self._list_core(el, t)
        _sub(el, "Name", t.name)
        _sub(el, "IsActive", "true" if t.is_active else "false")
        _sub(el, "StdDueDays", t.due_days)
        if t.discount_days is not None:
            _sub(el, "StdDiscountDays", t.discount_days)
        if t.discount_pct is not None:
            _sub(el, "DiscountPct", _fmt_num(t.discount_pct))
        return el

    def _item_ret(self, it: Item) -> etree._Element:
        el = etree.Element(f"{it.kind}Ret")
        self._list_core(el, it)
        _sub(el, "Name", it.name)
        _sub(el, "FullName", it.name)
        _sub(el, "IsActive", "true" if it.is_active else "false")
        _sub(el, "Sublevel", 0)
        if it.kind == "ItemInventory":
            _opt(el, "ManufacturerPartNumber", it.manufacturer_part)
            _opt(el, "SalesDesc", it.description)
            _sub(el, "SalesPrice", _fmt_num(it.sales_price, 2))
            self._append_ref(el, "IncomeAccountRef", it.income_account_list_id)
            _opt(el, "PurchaseDesc", it.description)
            _sub(el, "PurchaseCost", _fmt_num(it.purchase_cost, 2))
            self._append_ref(el, "COGSAccountRef", it.cogs_account_list_id)
            self._append_ref(el, "AssetAccountRef", it.asset_account_list_id)
            _sub(el, "QuantityOnHand", _fmt_num(it.quantity_on_hand))
            _sub(el, "AverageCost", _fmt_num(it.purchase_cost, 2))
            _sub(el, "QuantityOnOrder", _fmt_num(it.quantity_on_order))
            _sub(el, "QuantityOnSalesOrder", "0")
        else:
            if it.kind == "ItemNonInventory":
                _opt(el, "ManufacturerPartNumber", it.manufacturer_part)
            sp = _sub(el, "SalesOrPurchase")
            _opt(sp, "Desc", it.description)
            _sub(sp, "Price", _fmt_num(it.purchase_cost, 2))
            self._append_ref(sp, "AccountRef", it.account_list_id)
        return el

    # ================================================================= list queries

    _LIST_TABLES = {"Vendor": "vendors", "Account": "accounts", "Class": "classes",
                    "Item": "items", "Terms": "terms"}

    def _list_ret(self, kind: str, r) -> etree._Element:
        return {"Vendor": self._vendor_ret, "Account": self._account_ret,
                "Class": self._class_ret, "Item": self._item_ret,
                "Terms": self._terms_ret}[kind](r)

    def _h_list_query(self, rq: etree._Element, rs: etree._Element, kind: str):
        table: dict = getattr(self, self._LIST_TABLES[kind])
        it = self._iterator_step(rq, rs)
        if it is not None:
            ids, remaining, iterator_id = it
            return self._emit_query(rs, [table[i] for i in ids if i in table],
                                    lambda r: self._list_ret(kind, r), rq, remaining,
                                    iterator_id)
        list_ids = [e.text or "" for e in rq.findall("ListID")]
        names = [e.text or "" for e in rq.findall("FullName")]
        if list_ids or names:
            found, missing = [], []
            for lid in list_ids:
                (found.append(table[lid]) if lid in table else missing.append(lid))
            for n in names:
                r = self._find_by_name(table, n)
                (found.append(r) if r is not None else missing.append(n))
            if not found:
                raise _Status(1)
            self._emit_query(rs, found, lambda r: self._list_ret(kind, r), rq)
            if missing:
                self._partial(rs, missing)
            return None
        records = list(table.values())
        status = rq.findtext("ActiveStatus") or "ActiveOnly"
        if status == "ActiveOnly":
            records = [r for r in records if r.is_active]
        elif status == "InactiveOnly":
            records = [r for r in records if not r.is_active]
        from_mod, to_mod = rq.findtext("FromModifiedDate"), rq.findtext("ToModifiedDate")
        records = [r for r in records if self._in_dt_range(r.time_modified, from_mod, to_mod)]
        nf = rq.find("NameFilter")
        if nf is not None:
            crit, val = nf.findtext("MatchCriterion"), _lower(nf.findtext("Name") or "")
            records = [r for r in records if self._match(_lower(r.name), crit, val)]
        nrf = rq.find("NameRangeFilter")
        if nrf is not None:
            lo, hi = _lower(nrf.findtext("FromName") or ""), nrf.findtext("ToName")
            records = [r for r in records if _lower(r.name) >= lo
                       and (hi is None or _lower(r.name) <= _lower(hi))]
        types = [e.text for e in rq.findall("AccountType")]
        if kind == "Account" and types:
            records = [r for r in records if r.account_type in types]
        records.sort(key=lambda r: _lower(r.name))
        return self._finish_filtered(rq, rs, records, lambda r: self._list_ret(kind, r))

    def _partial(self, rs: etree._Element, missing: list[str]) -> None:
        # ISC 500: "some objects in the query could not be found" (warning); wording
        # as commonly reported, UNVERIFIED.
        rs.set("statusCode", "500")
        rs.set("statusSeverity", "Warn")
        rs.set("statusMessage", "The query request has not been fully completed. There was a "
                                f'required element ("{missing[0]}") that could not be found in '
                                "QuickBooks.")

    @staticmethod
    def _match(value: str, crit: str | None, needle: str) -> bool:
        if crit == "StartsWith":
            return value.startswith(needle)
        if crit == "EndsWith":
            return value.endswith(needle)
        return needle in value

    @staticmethod
    def _in_dt_range(dt: datetime, lo: str | None, hi: str | None) -> bool:
        def parse(s: str, end: bool) -> datetime:
            s = s.strip()
            if "T" not in s:
                d = datetime.fromisoformat(s)
                d = d.replace(tzinfo=dt.tzinfo)
                return d + timedelta(days=1) - timedelta(microseconds=1) if end else d
            v = datetime.fromisoformat(s)
            return v if v.tzinfo else v.replace(tzinfo=dt.tzinfo)
        if lo and dt < parse(lo, False):
            return False
        if hi and dt > parse(hi, True):
            return False
        return True

    def _finish_filtered(self, rq, rs, records: list, render: Callable):
        max_ret = rq.findtext("MaxReturned")
        page = int(max_ret) if max_ret else None
        iterator = rq.get("iterator")
        if iterator == "Start":
            ids = [r.id for r in records]
            iterator_id = "{" + str(uuid.uuid4()) + "}"
            first, rest = (ids[:page], ids[page:]) if page else (ids, [])
            if rest:
                self._iterators[iterator_id] = _Iterator(rq.tag, ids, len(first), page)
            chosen = [r for r in records if r.id in set(first)]
            if not chosen:
                raise _Status(1)
            return self._emit_query(rs, chosen, render, rq, len(rest), iterator_id)
        if page is not None:
            records = records[:page]
        return self._emit_query(rs, records, render, rq)

    def _iterator_step(self, rq: etree._Element, rs: etree._Element):
        """For iterator="Continue"/"Stop": (ids, remaining, iteratorID) or raises."""
        mode = rq.get("iterator")
        if mode not in ("Continue", "Stop"):
            return None
        iterator_id = rq.get("iteratorID") or ""
        it = self._iterators.get(iterator_id)
        if it is None or it.rq_type != rq.tag:
            # UNVERIFIED code/wording for an unknown or expired iterator.
            raise _Status(3120, f'Object "{iterator_id}" specified in the request cannot be '
                                f'found.  The iterator has expired or does not exist.')
        if mode == "Stop":
            del self._iterators[iterator_id]
            return [], 0, iterator_id
        max_ret = rq.findtext("MaxReturned")
        page = int(max_ret) if max_ret else it.page_size
        end = len(it.ids) if page is None else it.position + page
        ids = it.ids[it.position:end]
        it.position = min(end, len(it.ids))
        remaining = len(it.ids) - it.position
        if remaining == 0:
            del self._iterators[iterator_id]
        return ids, remaining, iterator_id

    def _emit_query(self, rs, records, render, rq, remaining: int | None = None,
                    iterator_id: str | None = None):
        include = [e.text for e in rq.findall("IncludeRetElement") if e.text]
        for r in records:
            ret = render(r)
            if include:
                for child in list(ret):
                    if child.tag not in include:
                        ret.remove(child)
            rs.append(ret)
        rs.set("retCount", str(len(records)))
        if iterator_id is not None:
            rs.set("iteratorRemainingCount", str(remaining or 0))
            rs.set("iteratorID", iterator_id)
        if not records and iterator_id is None:
            raise _Status(1)
        return None

    # ================================================================= vendor add/mod

    def _vendor_fields_from(self, body: etree._Element, where: str, add: bool) -> dict:
        fields: dict = {}
        for child in body:
            tag = child.tag
            if tag in ("Name", "IsActive", "ListID", "EditSequence"):
                continue
            if tag in ("OpenBalance", "OpenBalanceDate", "Contacts", "ContactsMod",
                       "AdditionalNotes", "AdditionalNotesMod", "AdditionalContactRef"):
                continue  # not modelled by the emulator
            if tag not in _VENDOR_KEEP:
                continue
            if tag == "TermsRef":
                t = self._resolve(child, self.terms, "Terms", where)
                fields[tag] = self._ref_el(tag, t.id)
            elif tag == "ClassRef":
                c = self._resolve(child, self.classes, "Class", where)
                fields[tag] = self._ref_el(tag, c.id)
            elif tag.endswith("AccountRef"):
                a = self._resolve(child, self.accounts, "Account", where)
                fields[tag] = self._ref_el(tag, a.id)
            else:
                fields[tag] = copy.deepcopy(child)
        return fields

    def _h_vendor_add(self, rq, rs):
        body = rq.find("VendorAdd")
        name = body.findtext("Name") or ""
        if self._name_taken(self.vendors, name):
            raise _name_in_use(name)
        fields = self._vendor_fields_from(body, "Vendor", add=True)
        v = self._new_record(Vendor, "Vendor", name=name,
                             is_active=_bool(body.findtext("IsActive")) is not False)
        v.fields = fields
        self.vendors[v.id] = v
        rs.append(self._vendor_ret(v))

    def _h_vendor_mod(self, rq, rs):
        body = rq.find("VendorMod")
        list_id = body.findtext("ListID") or ""
        v = self.vendors.get(list_id)
        if v is None:
            raise _not_found_object(list_id)
        seq = body.findtext("EditSequence") or ""
        if seq != v.edit_sequence:
            raise _stale_edit_sequence(seq)
        name = body.findtext("Name")
        if name is not None and self._name_taken(self.vendors, name, except_id=v.id):
            raise _name_in_use(name)
        fields = self._vendor_fields_from(body, "Vendor", add=False)
        if name is not None:
            v.name = name
        active = _bool(body.findtext("IsActive"))
        if active is not None:
            v.is_active = active
        v.fields.update(fields)
        v.touch(self.clock.now())
        rs.append(self._vendor_ret(v))

    # ================================================================= transactions

    def _new_txn(self, kind: str, vendor_list_id: str, txn_date: date | None) -> Txn:
        now = self.clock.now()
        t = Txn(id=self.ids.txn_id(), time_created=now, time_modified=now,
                edit_sequence=str(int(now.timestamp())), kind=kind,
                vendor_list_id=vendor_list_id, txn_date=txn_date or self.clock.today())
        return t

    def _commit_po(self, po: Txn) -> None:
        po.txn_number = self.ids.txn_number()
        for ln in po.po_lines:
            it = self.items.get(ln.item_list_id)
            if it is not None and it.kind == "ItemInventory" and ln.quantity:
                it.quantity_on_order += ln.quantity
        self.txns[po.id] = po

    def _default_ap(self) -> Account | None:
        for a in self.accounts.values():
            if a.account_type == "AccountsPayable":
                return a
        return None

    def _txn_header(self, body: etree._Element, kind: str) -> Txn:
        where = kind
        vendor = self._resolve(body.find("VendorRef"), self.vendors, "Vendor", where)
        if vendor is None:
            raise _Status(3140, f'There is an invalid reference to QuickBooks Vendor "" in the '
                                f'{where}.  QuickBooks error message: Invalid argument.  The '
                                f'specified record does not exist in the list.')
        t = self._new_txn(kind, vendor.id, _date(body.findtext("TxnDate")))
        ap_el = body.find("APAccountRef")
        if kind != "PurchaseOrder":
            ap = self._resolve(ap_el, self.accounts, "Account", where) if ap_el is not None \
                else self._default_ap()
            if ap is not None:
                if ap.account_type != "AccountsPayable":
                    raise _Status(3140, f'There is an invalid reference to QuickBooks Account '
                                        f'"{ap.name}" in the {where}.  QuickBooks error message: '
                                        f'The account must be an Accounts Payable account.')
                t.ap_account_list_id = ap.id
        t.ref_number = body.findtext("RefNumber") or ""
        t.memo = body.findtext("Memo") or ""
        t.external_guid = body.findtext("ExternalGUID") or ""
        terms_el = body.find("TermsRef")
        terms = self._resolve(terms_el, self.terms, "Terms", where) if terms_el is not None \
            else None
        if kind == "Bill":
            if terms is None and "TermsRef" in vendor.fields:
                terms = self.terms.get(vendor.fields["TermsRef"].findtext("ListID") or "")
            t.terms_list_id = terms.id if terms else ""
            due = _date(body.findtext("DueDate"))
            if due is None:
                days = terms.due_days if terms else 10  # PreferencesRet DaysBillsAreDue
                due = t.txn_date + timedelta(days=days)
            t.due_date = due
        elif kind == "PurchaseOrder":
            t.terms_list_id = terms.id if terms else ""
            t.due_date = _date(body.findtext("DueDate"))
        return t

    def _expense_lines(self, body: etree._Element, t: Txn) -> None:
        where = f"{t.kind} line"
        for el in body.findall("ExpenseLineAdd"):
            acct = self._resolve(el.find("AccountRef"), self.accounts, "Account", where)
            cls = self._resolve(el.find("ClassRef"), self.classes, "Class", where)
            amount = _dec(el.findtext("Amount"))
            if acct is None and amount:
                raise _Status(3140, f'There is an invalid reference to QuickBooks Account "" in '
                                    f'the {where}.  QuickBooks error message: Invalid argument.  '
                                    f'The specified record does not exist in the list.')
            t.expense_lines.append(ExpenseLineRec(
                txn_line_id=self.ids.txn_id(), account_list_id=acct.id if acct else "",
                amount=_money(amount) if amount is not None else None,
                memo=el.findtext("Memo") or "", class_list_id=cls.id if cls else ""))

    def _item_line(self, el: etree._Element, t: Txn, po_line: POLineRec | None,
                   po: Txn | None) -> ItemLineRec:
        where = f"{t.kind} line"
        item = self._resolve(el.find("ItemRef"), self.items, "Item", where)
        if item is None and po_line is not None:
            item = self.items.get(po_line.item_list_id)
        if item is None:
            raise _Status(3140, f'There is an invalid reference to QuickBooks Item "" in the '
                                f'{where}.  QuickBooks error message: Invalid argument.  The '
                                f'specified record does not exist in the list.')
        if po_line is not None and item.id != po_line.item_list_id:
            # UNVERIFIED wording: the linked PO line is for a different item.
            raise _Status(3210, f'The item "{item.name}" does not match the item on the linked '
                                f'purchase order line "{po_line.txn_line_id}".')
        cls = self._resolve(el.find("ClassRef"), self.classes, "Class", where)
        qty = _dec(el.findtext("Quantity"))
        cost = _dec(el.findtext("Cost"))
        amount = _dec(el.findtext("Amount"))
        if po_line is not None:
            if qty is None:
                qty = self._open_qty(po_line, t.kind)
            if cost is None and amount is None:
                cost = po_line.rate
        if cost is None:
            if amount is not None and qty:
                cost = (amount / qty).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
            else:
                cost = item.purchase_cost
        if amount is None:
            amount = _money((qty if qty is not None else Decimal(1)) * cost)
        return ItemLineRec(
            txn_line_id=self.ids.txn_id(), item_list_id=item.id,
            description=el.findtext("Desc") or (po_line.description if po_line else "")
            or item.description,
            quantity=qty, unit=el.findtext("UnitOfMeasure") or "", cost=cost,
            amount=_money(amount), class_list_id=cls.id if cls else "",
            link_txn_id=po.id if po else "", link_txn_line_id=po_line.txn_line_id if po_line else "")

    @staticmethod
    def _open_qty(po_line: POLineRec, kind: str) -> Decimal:
        q = po_line.quantity or Decimal(0)
        done = po_line.received_quantity if kind == "ItemReceipt" else po_line.billed_quantity
        return max(q - done, Decimal(0))

    def _linkable_po(self, txn_id: str, vendor_list_id: str) -> Txn:
        po = self.txns.get(txn_id)
        if po is None or po.kind != "PurchaseOrder":
            raise _not_found_object(txn_id)
        if po.vendor_list_id != vendor_list_id:
            # UNVERIFIED wording; QuickBooks only offers the vendor's own open POs.
            raise _Status(3210, f'The transaction "{txn_id}" cannot be linked: it belongs to '
                                f'another vendor.')
        if po.is_manually_closed:
            raise _Status(3210, f'The transaction "{txn_id}" cannot be linked: the purchase '
                                f'order is closed.')
        return po

    def _h_bill_add(self, rq, rs, kind: str):
        body = rq.find(f"{kind}Add")
        t = self._txn_header(body, kind)
        links: list[tuple[Txn, POLineRec, float]] = []
        self._expense_lines(body, t)
        # whole-PO links (BillAdd / ItemReceiptAdd LinkToTxnID): pull open lines
        for link in body.findall("LinkToTxnID"):
            po = self._linkable_po(link.text or "", t.vendor_list_id)
            for pl in po.po_lines:
                if pl.is_manually_closed:
                    continue
                open_qty = self._open_qty(pl, kind)
                if open_qty <= 0:
                    continue
                el = etree.Element("ItemLineAdd")
                _sub(el, "Quantity", _fmt_num(open_qty))
                t.item_lines.append(self._item_line(el, t, pl, po))
        for el in body.findall("ItemLineAdd"):
            lt = el.find("LinkToTxn")
            po = pl = None
            if lt is not None:
                if kind == "VendorCredit":
                    raise _Status(3210, "A vendor credit cannot be linked to a purchase order.")
                po = self._linkable_po(lt.findtext("TxnID") or "", t.vendor_list_id)
                line_id = lt.findtext("TxnLineID") or ""
                pl = next((x for x in po.po_lines if x.txn_line_id == line_id), None)
                if pl is None:
                    raise _not_found_object(line_id)
                if pl.is_manually_closed:
                    raise _Status(3210, f'The purchase order line "{line_id}" is closed.')
            t.item_lines.append(self._item_line(el, t, pl, po))
        if body.find("ItemGroupLineAdd") is not None:
            raise _Status(3250)
        # --- commit (nothing above mutated the company) ---
        t.txn_number = self.ids.txn_number() if kind != "ItemReceipt" else self.ids.txn_number()
        linked_pos: dict[str, Txn] = {}
        for ln in t.item_lines:
            item = self.items[ln.item_list_id]
            if ln.link_txn_id:
                po = self.txns[ln.link_txn_id]
                pl = next(x for x in po.po_lines if x.txn_line_id == ln.link_txn_line_id)
                qty = ln.quantity or Decimal(0)
                if kind == "ItemReceipt":
                    # Over-receipt is allowed (QuickBooks lets you receive more than
                    # ordered; the line then shows as received in full).
                    before = pl.received_quantity
                    pl.received_quantity += qty
                    if item.kind == "ItemInventory" and pl.quantity is not None:
                        was_open = max(pl.quantity - before, Decimal(0))
                        item.quantity_on_order -= min(qty, was_open)
                else:
                    pl.billed_quantity += qty
                linked_pos[po.id] = po
            if kind in ("ItemReceipt", "Bill") and item.kind == "ItemInventory" \
                    and ln.quantity and not (kind == "Bill" and self._already_received(ln)):
                item.quantity_on_hand += ln.quantity
            elif kind == "VendorCredit" and item.kind == "ItemInventory" and ln.quantity:
                item.quantity_on_hand -= ln.quantity
        now = self.clock.now()
        for po in linked_pos.values():
            po.linked_txn_ids.append(t.id)
            t.linked_txn_ids.append(po.id)
            po.touch(now)
        self.txns[t.id] = t
        rs.append(self._txn_ret(t, include_lines=True, include_linked=True))

    def _already_received(self, ln: ItemLineRec) -> bool:
        """A bill line linked to a PO line that an item receipt already brought in."""
        if not ln.link_txn_id:
            return False
        po = self.txns.get(ln.link_txn_id)
        pl = next((x for x in po.po_lines if x.txn_line_id == ln.link_txn_line_id), None)
        return pl is not None and pl.received_quantity > 0

    def _h_po_add(self, rq, rs):
        body = rq.find("PurchaseOrderAdd")
        t = self._txn_header(body, "PurchaseOrder")
        where = "PurchaseOrder line"
        cls = self._resolve(body.find("ClassRef"), self.classes, "Class", "PurchaseOrder")
        t.class_list_id = cls.id if cls else ""
        if body.find("RefNumber") is None:
            t.ref_number = self._next_po_number()  # QuickBooks fills in the next P.O. No.
        t.expected_date = _date(body.findtext("ExpectedDate"))
        t.vendor_msg = body.findtext("VendorMsg") or ""
        if body.find("PurchaseOrderLineGroupAdd") is not None:
            raise _Status(3250)
        for el in body.findall("PurchaseOrderLineAdd"):
            item = self._resolve(el.find("ItemRef"), self.items, "Item", where)
            lcls = self._resolve(el.find("ClassRef"), self.classes, "Class", where)
            qty, rate, amount = (_dec(el.findtext("Quantity")), _dec(el.findtext("Rate")),
                                 _dec(el.findtext("Amount")))
            if rate is None:
                rate = (amount / qty) if (amount is not None and qty) else \
                    (item.purchase_cost if item else None)
            if amount is None and rate is not None:
                amount = (qty if qty is not None else Decimal(1)) * rate
            t.po_lines.append(POLineRec(
                txn_line_id=self.ids.txn_id(), item_list_id=item.id if item else "",
                manufacturer_part=el.findtext("ManufacturerPartNumber") or (item.manufacturer_part if item else ""),
                description=el.findtext("Desc") or (item.description if item else ""),
                quantity=qty, unit=el.findtext("UnitOfMeasure") or "", rate=rate,
                class_list_id=lcls.id if lcls else "",
                amount=_money(amount) if amount is not None else None))
        self._commit_po(t)
        rs.append(self._txn_ret(t, include_lines=True, include_linked=True))

    def _next_po_number(self) -> str:
        nums = [int(t.ref_number) for t in self.txns.values()
                if t.kind == "PurchaseOrder" and t.ref_number.isdigit()]
        return str(max(nums, default=0) + 1)

    def _h_po_mod(self, rq, rs):
        body = rq.find("PurchaseOrderMod")
        txn_id = body.findtext("TxnID") or ""
        po = self.txns.get(txn_id)
        if po is None or po.kind != "PurchaseOrder":
            raise _not_found_object(txn_id)
        seq = body.findtext("EditSequence") or ""
        if seq != po.edit_sequence:
            raise _stale_edit_sequence(seq)
        where = "PurchaseOrder"
        changes: dict = {}
        if body.find("VendorRef") is not None:
            changes["vendor_list_id"] = self._resolve(body.find("VendorRef"), self.vendors,
                                                      "Vendor", where).id
        if body.find("ClassRef") is not None:
            c = self._resolve(body.find("ClassRef"), self.classes, "Class", where)
            changes["class_list_id"] = c.id if c else ""
        if body.find("TermsRef") is not None:
            tm = self._resolve(body.find("TermsRef"), self.terms, "Terms", where)
            changes["terms_list_id"] = tm.id if tm else ""
        for tag, attr, conv in (("TxnDate", "txn_date", _date), ("RefNumber", "ref_number", str),
                                ("DueDate", "due_date", _date),
                                ("ExpectedDate", "expected_date", _date),
                                ("IsManuallyClosed", "is_manually_closed", _bool),
                                ("Memo", "memo", str), ("VendorMsg", "vendor_msg", str)):
            el = body.find(tag)
            if el is not None:
                changes[attr] = conv(el.text or "")
        new_lines = None
        if body.find("PurchaseOrderLineMod") is not None:
            new_lines = self._po_line_mods(body, po)
        if body.find("PurchaseOrderLineGroupMod") is not None:
            raise _Status(3250)
        # commit
        for attr, value in changes.items():
            setattr(po, attr, value)
        if new_lines is not None:
            self._apply_po_lines(po, new_lines)
        if changes.get("is_manually_closed"):
            for ln in po.po_lines:
                ln.is_manually_closed = True
        po.touch(self.clock.now())
        rs.append(self._txn_ret(po, include_lines=True, include_linked=True))

    def _po_line_mods(self, body: etree._Element, po: Txn) -> list[POLineRec]:
        """IREF: a Mod listing lines replaces the line set; unlisted lines are deleted,
        TxnLineID -1 adds a line."""
        where = "PurchaseOrder line"
        existing = {ln.txn_line_id: ln for ln in po.po_lines}
        out: list[POLineRec] = []
        for el in body.findall("PurchaseOrderLineMod"):
            line_id = el.findtext("TxnLineID") or ""
            if line_id == "-1":
                ln = POLineRec(txn_line_id=self.ids.txn_id())
            elif line_id in existing:
                ln = copy.deepcopy(existing[line_id])
            else:
                raise _not_found_object(line_id)
            if el.find("ItemRef") is not None:
                ln.item_list_id = self._resolve(el.find("ItemRef"), self.items, "Item", where).id
            if el.find("Desc") is not None:
                ln.description = el.findtext("Desc") or ""
            if el.find("Quantity") is not None:
                ln.quantity = _dec(el.findtext("Quantity"))
            if el.find("Rate") is not None:
                ln.rate = _dec(el.findtext("Rate"))
            if el.find("ClassRef") is not None:
                c = self._resolve(el.find("ClassRef"), self.classes, "Class", where)
                ln.class_list_id = c.id if c else ""
            if el.find("Amount") is not None:
                ln.amount = _money(_dec(el.findtext("Amount")))
            elif el.find("Quantity") is not None or el.find("Rate") is not None:
                if ln.rate is not None:
                    ln.amount = _money((ln.quantity or Decimal(1)) * ln.rate)
            if el.find("IsManuallyClosed") is not None:
                ln.is_manually_closed = bool(_bool(el.findtext("IsManuallyClosed")))
            out.append(ln)
        return out

    def _apply_po_lines(self, po: Txn, new_lines: list[POLineRec]) -> None:
        def on_order(lines):
            totals: dict[str, Decimal] = {}
            for ln in lines:
                if ln.quantity and not ln.is_manually_closed:
                    totals[ln.item_list_id] = totals.get(ln.item_list_id, Decimal(0)) + max(
                        ln.quantity - ln.received_quantity, Decimal(0))
            return totals
        before, after = on_order(po.po_lines), on_order(new_lines)
        for item_id in set(before) | set(after):
            it = self.items.get(item_id)
            if it is not None and it.kind == "ItemInventory":
                it.quantity_on_order += after.get(item_id, Decimal(0)) - before.get(item_id,
                                                                                   Decimal(0))
        po.po_lines = new_lines

    # ================================================================= txn Rets

    def _txn_core(self, el: etree._Element, t: Txn) -> None:
        _sub(el, "TxnID", t.id)
        _sub(el, "TimeCreated", fmt_time(t.time_created))
        _sub(el, "TimeModified", fmt_time(t.time_modified))
        _sub(el, "EditSequence", t.edit_sequence)
        _sub(el, "TxnNumber", t.txn_number)

    def _linked_txn_els(self, t: Txn) -> list[etree._Element]:
        out = []
        for other_id in t.linked_txn_ids:
            o = self.txns.get(other_id)
            if o is None:
                continue
            lk = etree.Element("LinkedTxn")
            _sub(lk, "TxnID", o.id)
            _sub(lk, "TxnType", o.kind)
            _sub(lk, "TxnDate", o.txn_date.isoformat())
            _opt(lk, "RefNumber", o.ref_number[:20])
            _sub(lk, "LinkType", "QUANTYPE")
            # amount of the lines of the receipt/bill linked to this PO (or vice versa)
            src, po = (o, t) if t.kind == "PurchaseOrder" else (t, o)
            amt = sum((ln.amount or Decimal(0) for ln in src.item_lines
                       if ln.link_txn_id == po.id), Decimal(0))
            _sub(lk, "Amount", _fmt_amt(amt if t.kind == "PurchaseOrder" else -amt))
            out.append(lk)
        return out

    def _expense_line_ret(self, ln: ExpenseLineRec) -> etree._Element:
        el = etree.Element("ExpenseLineRet")
        _sub(el, "TxnLineID", ln.txn_line_id)
        self._append_ref(el, "AccountRef", ln.account_list_id)
        if ln.amount is not None:
            _sub(el, "Amount", _fmt_amt(ln.amount))
        _opt(el, "Memo", ln.memo)
        self._append_ref(el, "ClassRef", ln.class_list_id)
        return el

    def _item_line_ret(self, ln: ItemLineRec) -> etree._Element:
        el = etree.Element("ItemLineRet")
        _sub(el, "TxnLineID", ln.txn_line_id)
        self._append_ref(el, "ItemRef", ln.item_list_id)
        _opt(el, "Desc", ln.description)
        if ln.quantity is not None:
            _sub(el, "Quantity", _fmt_num(ln.quantity))
        _opt(el, "UnitOfMeasure", ln.unit)
        if ln.cost is not None:
            _sub(el, "Cost", _fmt_num(ln.cost, 2))
        if ln.amount is not None:
            _sub(el, "Amount", _fmt_amt(ln.amount))
        self._append_ref(el, "ClassRef", ln.class_list_id)
        return el

    def _po_line_ret(self, ln: POLineRec) -> etree._Element:
        el = etree.Element("PurchaseOrderLineRet")
        _sub(el, "TxnLineID", ln.txn_line_id)
        self._append_ref(el, "ItemRef", ln.item_list_id)
        _opt(el, "ManufacturerPartNumber", ln.manufacturer_part)
        _opt(el, "Desc", ln.description)
        if ln.quantity is not None:
            _sub(el, "Quantity", _fmt_num(ln.quantity))
        _opt(el, "UnitOfMeasure", ln.unit)
        if ln.rate is not None:
            _sub(el, "Rate", _fmt_num(ln.rate, 2))
        self._append_ref(el, "ClassRef", ln.class_list_id)
        if ln.amount is not None:
            _sub(el, "Amount", _fmt_amt(ln.amount))
        _sub(el, "ReceivedQuantity", _fmt_num(ln.received_quantity))
        _sub(el, "UnbilledQuantity", _fmt_num(ln.unbilled_quantity))
        _sub(el, "IsBilled", "true" if ln.quantity is not None
             and ln.billed_quantity >= ln.quantity else "false")
        _sub(el, "IsManuallyClosed", "true" if ln.is_manually_closed else "false")
        return el

    def _txn_ret(self, t: Txn, include_lines: bool, include_linked: bool) -> etree._Element:
        el = etree.Element(f"{t.kind}Ret")
        self._txn_core(el, t)
        self._append_ref(el, "VendorRef", t.vendor_list_id)
        total = t.total
        if t.kind == "PurchaseOrder":
            self._append_ref(el, "ClassRef", t.class_list_id)
            _opt(el, "TxnDate", t.txn_date)
            _opt(el, "RefNumber", t.ref_number)
            self._append_ref(el, "TermsRef", t.terms_list_id)
            _opt(el, "DueDate", t.due_date)
            _opt(el, "ExpectedDate", t.expected_date)
            _sub(el, "TotalAmount", _fmt_amt(total))
            _sub(el, "IsManuallyClosed", "true" if t.is_manually_closed else "false")
            _sub(el, "IsFullyReceived", "true" if t.is_fully_received else "false")
            _opt(el, "Memo", t.memo)
            _opt(el, "VendorMsg", t.vendor_msg)
            _opt(el, "ExternalGUID", t.external_guid)
            if include_linked:
                el.extend(self._linked_txn_els(t))
            if include_lines:
                el.extend(self._po_line_ret(ln) for ln in t.po_lines)
            return el
        self._append_ref(el, "APAccountRef", t.ap_account_list_id)
        _opt(el, "TxnDate", t.txn_date)
        if t.kind == "Bill":
            _opt(el, "DueDate", t.due_date)
            _sub(el, "AmountDue", _fmt_amt(total))
        elif t.kind == "VendorCredit":
            _sub(el, "CreditAmount", _fmt_amt(total))
        else:
            _sub(el, "TotalAmount", _fmt_amt(total))
        _opt(el, "RefNumber", t.ref_number)
        if t.kind == "Bill":
            self._append_ref(el, "TermsRef", t.terms_list_id)
        _opt(el, "Memo", t.memo)
        if t.kind == "Bill":
            _sub(el, "IsPaid", "false")
        _opt(el, "ExternalGUID", t.external_guid)
        if include_linked:
            el.extend(self._linked_txn_els(t))
        if include_lines:
            el.extend(self._expense_line_ret(ln) for ln in t.expense_lines)
            el.extend(self._item_line_ret(ln) for ln in t.item_lines)
        if t.kind in ("Bill", "VendorCredit"):
            _sub(el, "OpenAmount", _fmt_amt(total))
        return el

    # ================================================================= txn queries

    def _h_txn_query(self, rq, rs, kind: str):
        include_lines = bool(_bool(rq.findtext("IncludeLineItems")))
        include_linked = bool(_bool(rq.findtext("IncludeLinkedTxns")))

        def render(t):
            return self._txn_ret(t, include_lines, include_linked)

        it = self._iterator_step(rq, rs)
        if it is not None:
            ids, remaining, iterator_id = it
            return self._emit_query(rs, [self.txns[i] for i in ids if i in self.txns], render,
                                    rq, remaining, iterator_id)
        txns = [t for t in self.txns.values() if t.kind == kind]
        txn_ids = [e.text or "" for e in rq.findall("TxnID")]
        refs = [e.text or "" for e in rq.findall("RefNumber")]
        refs_cs = [e.text or "" for e in rq.findall("RefNumberCaseSensitive")]
        if txn_ids:
            found = [self.txns[i] for i in txn_ids if i in self.txns
                     and self.txns[i].kind == kind]
            missing = [i for i in txn_ids if i not in self.txns or self.txns[i].kind != kind]
            if not found:
                raise _Status(1)
            self._emit_query(rs, found, render, rq)
            if missing:
                self._partial(rs, missing)
            return None
        if refs or refs_cs:
            wanted = {_lower(r) for r in refs}
            found = [t for t in txns if _lower(t.ref_number) in wanted or t.ref_number in refs_cs]
            found.sort(key=lambda t: (t.txn_date, t.txn_number))
            return self._emit_query(rs, found, render, rq)
        # filter branch
        dr = rq.find("TxnDateRangeFilter")
        if dr is not None:
            macro = dr.findtext("DateMacro")
            if macro:
                raise _Status(3250, "DateMacro filters are not supported by the emulator.")
            lo, hi = _date(dr.findtext("FromTxnDate")), _date(dr.findtext("ToTxnDate"))
            txns = [t for t in txns if (lo is None or t.txn_date >= lo)
                    and (hi is None or t.txn_date <= hi)]
        mr = rq.find("ModifiedDateRangeFilter")
        if mr is not None:
            lo_s, hi_s = mr.findtext("FromModifiedDate"), mr.findtext("ToModifiedDate")
            txns = [t for t in txns if self._in_dt_range(t.time_modified, lo_s, hi_s)]
        ef = rq.find("EntityFilter")
        if ef is not None:
            ids = {e.text for e in ef.findall("ListID")} | \
                  {e.text for e in ef.findall("ListIDWithChildren")}
            names = {_lower(e.text or "") for e in ef.findall("FullName")} | \
                    {_lower(e.text or "") for e in ef.findall("FullNameWithChildren")}
            txns = [t for t in txns if t.vendor_list_id in ids
                    or _lower(self._name_of(self.vendors, t.vendor_list_id)) in names]
        af = rq.find("AccountFilter")
        if af is not None:
            aids = {e.text for e in af.findall("ListID")} | \
                   {a.id for a in self.accounts.values()
                    if _lower(a.name) in {_lower(e.text or "") for e in af.findall("FullName")}}
            txns = [t for t in txns if t.ap_account_list_id in aids
                    or any(ln.account_list_id in aids for ln in t.expense_lines)]
        rf = rq.find("RefNumberFilter")
        if rf is not None:
            crit, val = rf.findtext("MatchCriterion"), _lower(rf.findtext("RefNumber") or "")
            txns = [t for t in txns if self._match(_lower(t.ref_number), crit, val)]
        rrf = rq.find("RefNumberRangeFilter")
        if rrf is not None:
            lo_r, hi_r = rrf.findtext("FromRefNumber"), rrf.findtext("ToRefNumber")
            txns = [t for t in txns if self._ref_in_range(t.ref_number, lo_r, hi_r)]
        paid = rq.findtext("PaidStatus")
        if paid == "PaidOnly":
            txns = []  # the emulator records no bill payments
        txns.sort(key=lambda t: (t.txn_date, t.txn_number))
        return self._finish_filtered(rq, rs, txns, render)

    @staticmethod
    def _ref_in_range(ref: str, lo: str | None, hi: str | None) -> bool:
        def key(s: str):
            s = s.strip()
            return (0, int(s), "") if s.isdigit() else (1, 0, _lower(s))
        k = key(ref)
        if lo is not None and lo != "" and k < key(lo):
            return False
        if hi is not None and hi != "" and k > key(hi):
            return False
        return True
