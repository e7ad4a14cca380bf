"""qbXML request builders (qbXML 13.0).

Every builder returns an lxml element (``<XxxRq>``) whose children follow the
exact ``xsd:sequence`` order of ``qbxml130.xsd`` / ``qbxmlops130.xsd``; the
tests validate every builder's output against the real XSD. Maximum lengths
quoted below come from the XSD ``maxLength`` facets; exceeding one raises
:class:`~qbxml_templates.errors.QbxmlValueError` (never a silent cut).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from lxml import etree

from ._xml import (
    _SubElement, fmt_amount, fmt_bool, fmt_date, fmt_guid, fmt_price, fmt_qty, ref, request, sub, text,
)
from .errors import QbxmlValueError
from .specs import (
    BillSpec, ExpenseLine, ItemLine, ItemReceiptSpec, PurchaseOrderLineSpec, PurchaseOrderSpec,
)

# FullName maxima of the *Ref elements (XSD: VendorListRef 41, AccountRef/ClassRef 159,
# TermsRef 31; ItemRef FullName is an unrestricted STRTYPE (31 per level, enforced by QB)).
VENDOR_NAME_MAX = 41
ACCOUNT_NAME_MAX = 159
CLASS_NAME_MAX = 159
TERMS_NAME_MAX = 31
ITEM_NAME_MAX = None

ON_ERROR_VALUES = ("stopOnError", "continueOnError", "rollbackOnError")


def _as_list(v: Any) -> list:
    if v is None:
        return []
    if isinstance(v, (str, bytes)):
        return [v]
    return list(v)


# --------------------------------------------------------------------------- lines

def _expense_line_add(parent: etree._Element, line: ExpenseLine, where: str) -> None:
    el = _SubElement(parent, "ExpenseLineAdd")
    ref(el, "AccountRef", line.account, line.account_list_id, max_len=ACCOUNT_NAME_MAX)
    if line.amount is not None:  # (fmt_amount's text is plain ASCII: no check left for text())
        _SubElement(el, "Amount").text = fmt_amount(line.amount, "ExpenseLineAdd/Amount", where)
    text(el, "Memo", line.memo, max_len=4095, where=where)
    ref(el, "ClassRef", line.class_name, line.class_list_id, max_len=CLASS_NAME_MAX)


def _item_line_add(parent: etree._Element, line: ItemLine, where: str) -> None:
    el = sub(parent, "ItemLineAdd")
    ref(el, "ItemRef", line.item, getattr(line, "item_list_id", ""), max_len=ITEM_NAME_MAX)
    text(el, "Desc", line.description, max_len=4095, where=where)
    if line.quantity is not None:
        text(el, "Quantity", fmt_qty(line.quantity, f"{where}/ItemLineAdd/Quantity"))
    text(el, "UnitOfMeasure", line.unit, max_len=31, field=f"{where}/ItemLineAdd/UnitOfMeasure")
    if line.cost is not None:
        text(el, "Cost", fmt_price(line.cost, f"{where}/ItemLineAdd/Cost"))
    if line.amount is not None:
        text(el, "Amount", fmt_amount(line.amount, "ItemLineAdd/Amount", where))
    ref(el, "ClassRef", line.class_name, getattr(line, "class_list_id", ""),
        max_len=CLASS_NAME_MAX)
    if line.link_txn_id or line.link_txn_line_id:
        if not (line.link_txn_id and line.link_txn_line_id):
            raise QbxmlValueError(f"{where}/ItemLineAdd/LinkToTxn",
                                  "needs both TxnID and TxnLineID")
        link = sub(el, "LinkToTxn")
        text(link, "TxnID", line.link_txn_id, max_len=36)
        text(link, "TxnLineID", line.link_txn_line_id, max_len=36)


# --------------------------------------------------------------------------- adds

def bill_add(spec: BillSpec, request_id: str | None = None) -> etree._Element:
    """``BillAddRq`` (or ``VendorCreditAddRq`` when ``spec.credit``).

    BillAdd order (XSD): VendorRef, VendorAddress, APAccountRef, TxnDate, DueDate,
    RefNumber(20), TermsRef, Memo(4095), IsTaxIncluded, SalesTaxCodeRef,
    ExchangeRate, ExternalGUID, LinkToTxnID*, ExpenseLineAdd*, ItemLineAdd*.
    VendorCreditAdd has the same minus DueDate, TermsRef and LinkToTxnID.
    """
    credit = bool(spec.credit)
    kind = "VendorCreditAdd" if credit else "BillAdd"
    if credit and (spec.due_date or spec.terms):
        raise QbxmlValueError(f"{kind}", "a vendor credit has no DueDate/TermsRef")
    if credit and getattr(spec, "link_txn_ids", None):
        raise QbxmlValueError(f"{kind}", "a vendor credit cannot link to a purchase order")
    rq = request(f"{kind}Rq", request_id)
    body = sub(rq, kind)
    if not (spec.vendor or spec.vendor_list_id):
        raise QbxmlValueError(f"{kind}/VendorRef", "vendor is required")
    ref(body, "VendorRef", spec.vendor, spec.vendor_list_id, max_len=VENDOR_NAME_MAX)
    ref(body, "APAccountRef", spec.ap_account, getattr(spec, "ap_account_list_id", ""),
        max_len=ACCOUNT_NAME_MAX)
    text(body, "TxnDate", fmt_date(spec.txn_date, f"{kind}/TxnDate"))
    if not credit:
        text(body, "DueDate", fmt_date(spec.due_date, f"{kind}/DueDate"))
    text(body, "RefNumber", spec.ref_number, max_len=20, field=f"{kind}/RefNumber")
    if not credit:
        ref(body, "TermsRef", spec.terms, getattr(spec, "terms_list_id", ""),
            max_len=TERMS_NAME_MAX)
    text(body, "Memo", spec.memo, max_len=4095, field=f"{kind}/Memo")
    text(body, "ExternalGUID", fmt_guid(spec.external_guid, f"{kind}/ExternalGUID"))
    if not credit:
        for txn_id in getattr(spec, "link_txn_ids", None) or []:
            text(body, "LinkToTxnID", txn_id, max_len=36, field=f"{kind}/LinkToTxnID")
    for line in spec.expense_lines:
        _expense_line_add(body, line, kind)
    for line in spec.item_lines:
        _item_line_add(body, line, kind)
    return rq


def vendor_credit_add(spec: BillSpec, request_id: str | None = None) -> etree._Element:
    """Same as ``bill_add`` with ``credit`` forced on."""
    if not spec.credit:
        from dataclasses import replace
        spec = replace(spec, credit=True)
    return bill_add(spec, request_id)


def _po_line_add(parent: etree._Element, line: PurchaseOrderLineSpec) -> None:
    el = sub(parent, "PurchaseOrderLineAdd")
    ref(el, "ItemRef", line.item, getattr(line, "item_list_id", ""), max_len=ITEM_NAME_MAX)
    text(el, "ManufacturerPartNumber", line.manufacturer_part, max_len=31,
         field="PurchaseOrderLineAdd/ManufacturerPartNumber")
    text(el, "Desc", line.description, max_len=4095, field="PurchaseOrderLineAdd/Desc")
    if line.quantity is not None:
        text(el, "Quantity", fmt_qty(line.quantity, "PurchaseOrderLineAdd/Quantity"))
    if line.rate is not None:
        text(el, "Rate", fmt_price(line.rate, "PurchaseOrderLineAdd/Rate"))
    ref(el, "ClassRef", line.class_name, "", max_len=CLASS_NAME_MAX)
    if line.amount is not None:
        text(el, "Amount", fmt_amount(line.amount, "PurchaseOrderLineAdd/Amount"))


def purchase_order_add(spec: PurchaseOrderSpec, request_id: str | None = None) -> etree._Element:
    """``PurchaseOrderAddRq``. RefNumber max 11 (XSD); at least one line (XSD)."""
    if not spec.lines:
        raise QbxmlValueError("PurchaseOrderAdd", "a purchase order needs at least one line")
    rq = request("PurchaseOrderAddRq", request_id)
    body = sub(rq, "PurchaseOrderAdd")
    ref(body, "VendorRef", spec.vendor, getattr(spec, "vendor_list_id", ""),
        max_len=VENDOR_NAME_MAX)
    ref(body, "ClassRef", spec.class_name, "", max_len=CLASS_NAME_MAX)
    text(body, "TxnDate", fmt_date(spec.txn_date, "PurchaseOrderAdd/TxnDate"))
    text(body, "RefNumber", spec.ref_number, max_len=11, field="PurchaseOrderAdd/RefNumber")
    text(body, "ExpectedDate", fmt_date(spec.expected_date, "PurchaseOrderAdd/ExpectedDate"))
    text(body, "Memo", spec.memo, max_len=4095, field="PurchaseOrderAdd/Memo")
    text(body, "VendorMsg", spec.vendor_msg, max_len=99, field="PurchaseOrderAdd/VendorMsg")
    text(body, "ExternalGUID", fmt_guid(spec.external_guid, "PurchaseOrderAdd/ExternalGUID"))
    for line in spec.lines:
        _po_line_add(body, line)
    return rq


def item_receipt_add(spec: ItemReceiptSpec, request_id: str | None = None) -> etree._Element:
    """``ItemReceiptAddRq``: VendorRef, APAccountRef, TxnDate, RefNumber(20), Memo,
    ExternalGUID, LinkToTxnID* (whole PO), ExpenseLineAdd*, ItemLineAdd* (with
    LinkToTxn TxnID/TxnLineID for line-level PO links)."""
    rq = request("ItemReceiptAddRq", request_id)
    body = sub(rq, "ItemReceiptAdd")
    vendor_list_id = getattr(spec, "vendor_list_id", "")
    if not (spec.vendor or vendor_list_id):
        raise QbxmlValueError("ItemReceiptAdd/VendorRef", "vendor is required")
    ref(body, "VendorRef", spec.vendor, vendor_list_id, max_len=VENDOR_NAME_MAX)
    ref(body, "APAccountRef", getattr(spec, "ap_account", ""), "", max_len=ACCOUNT_NAME_MAX)
    text(body, "TxnDate", fmt_date(spec.txn_date, "ItemReceiptAdd/TxnDate"))
    text(body, "RefNumber", spec.ref_number, max_len=20, field="ItemReceiptAdd/RefNumber")
    text(body, "Memo", spec.memo, max_len=4095, field="ItemReceiptAdd/Memo")
    text(body, "ExternalGUID", fmt_guid(spec.external_guid, "ItemReceiptAdd/ExternalGUID"))
    for txn_id in spec.link_txn_ids:
        text(body, "LinkToTxnID", txn_id, max_len=36, field="ItemReceiptAdd/LinkToTxnID")
    for line in spec.expense_lines:
        _expense_line_add(body, line, "ItemReceiptAdd")
    for line in spec.item_lines:
        _item_line_add(body, line, "ItemReceiptAdd")
    return rq


# VendorAdd / VendorMod optional fields, in XSD order, with max lengths.
_ADDRESS_FIELDS = (("Addr1", 41), ("Addr2", 41), ("Addr3", 41), ("Addr4", 41), ("Addr5", 41),
                   ("City", 31), ("State", 21), ("PostalCode", 13), ("Country", 31),
                   ("Note", 41))
# (python kwarg, element, kind, max_len); kind: text|bool|ref|address|amount|guid
_VENDOR_FIELDS = (
    ("is_active", "IsActive", "bool", None),
    ("class_name", "ClassRef", "ref", CLASS_NAME_MAX),
    ("company_name", "CompanyName", "text", 41),
    ("salutation", "Salutation", "text", 15),
    ("first_name", "FirstName", "text", 25),
    ("middle_name", "MiddleName", "text", 5),
    ("last_name", "LastName", "text", 25),
    ("job_title", "JobTitle", "text", 41),
    ("vendor_address", "VendorAddress", "address", None),
    ("ship_address", "ShipAddress", "address", None),
    ("phone", "Phone", "text", 21),
    ("mobile", "Mobile", "text", 21),
    ("pager", "Pager", "text", 21),
    ("alt_phone", "AltPhone", "text", 21),
    ("fax", "Fax", "text", 21),
    ("email", "Email", "text", 1023),
    ("cc", "Cc", "text", 1023),
    ("contact", "Contact", "text", 41),
    ("alt_contact", "AltContact", "text", 41),
    ("name_on_check", "NameOnCheck", "text", 41),
    ("account_number", "AccountNumber", "text", 99),
    ("notes", "Notes", "text", 4095),
    ("vendor_type", "VendorTypeRef", "ref", 159),
    ("terms", "TermsRef", "ref", TERMS_NAME_MAX),
    ("credit_limit", "CreditLimit", "amount", None),
    ("vendor_tax_ident", "VendorTaxIdent", "text", 15),
    ("is_vendor_eligible_for_1099", "IsVendorEligibleFor1099", "bool", None),
    ("external_guid", "ExternalGUID", "guid", None),  # VendorAdd only
)
_VENDOR_ADD_ONLY = {"external_guid"}


def _vendor_fields(body: etree._Element, kind: str, fields: Mapping[str, Any]) -> None:
    known = {f[0] for f in _VENDOR_FIELDS}
    unknown = set(fields) - known
    if kind == "VendorMod":
        unknown |= set(fields) & _VENDOR_ADD_ONLY
    if unknown:
        raise TypeError(f"{kind}: unsupported field(s) {sorted(unknown)}")
    for key, tag, typ, max_len in _VENDOR_FIELDS:
        if key not in fields or fields[key] is None:
            continue
        v = fields[key]
        where = f"{kind}/{tag}"
        if typ == "text":
            text(body, tag, v, max_len=max_len, field=where)
        elif typ == "bool":
            text(body, tag, fmt_bool(bool(v)))
        elif typ == "ref":
            ref(body, tag, v, "", max_len=max_len)
        elif typ == "amount":
            text(body, tag, fmt_amount(v, where))
        elif typ == "guid":
            text(body, tag, fmt_guid(v, where))
        elif typ == "address":
            if not isinstance(v, Mapping):
                raise QbxmlValueError(where, "address must be a mapping of Addr1..Note")
            bad = set(v) - {a for a, _ in _ADDRESS_FIELDS}
            if bad:
                raise QbxmlValueError(where, f"unknown address parts {sorted(bad)}")
            addr = sub(body, tag)
            for part, plen in _ADDRESS_FIELDS:
                text(addr, part, v.get(part), max_len=plen, field=f"{where}/{part}")


def vendor_add(name: str, request_id: str | None = None, **fields: Any) -> etree._Element:
    """``VendorAddRq``: Name (max 41) plus optional fields as snake_case kwargs:
    is_active, class_name, company_name, salutation, first_name, middle_name,
    last_name, job_title, vendor_address / ship_address (dict Addr1..Addr5, City,
    State, PostalCode, Country, Note), phone, mobile, pager, alt_phone, fax, email,
    cc, contact, alt_contact, name_on_check, account_number, notes, vendor_type,
    terms, credit_limit, vendor_tax_ident, is_vendor_eligible_for_1099, external_guid.
    """
    rq = request("VendorAddRq", request_id)
    body = sub(rq, "VendorAdd")
    if not name:
        raise QbxmlValueError("VendorAdd/Name", "name is required")
    if ":" in name:
        raise QbxmlValueError("VendorAdd/Name", "vendor names cannot contain ':'", name)
    text(body, "Name", name, max_len=41, field="VendorAdd/Name")
    _vendor_fields(body, "VendorAdd", fields)
    return rq


def vendor_mod(list_id: str, edit_sequence: str, request_id: str | None = None, *,
               name: str | None = None, **fields: Any) -> etree._Element:
    """``VendorModRq``: ListID, EditSequence, then the fields to change (as vendor_add)."""
    rq = request("VendorModRq", request_id)
    body = sub(rq, "VendorMod")
    text(body, "ListID", list_id, max_len=36, field="VendorMod/ListID")
    text(body, "EditSequence", edit_sequence, max_len=16, field="VendorMod/EditSequence")
    if name is not None:
        text(body, "Name", name, max_len=41, field="VendorMod/Name")
    _vendor_fields(body, "VendorMod", fields)
    return rq


def purchase_order_mod(txn_id: str, edit_sequence: str, request_id: str | None = None, *,
                       vendor: str | None = None, vendor_list_id: str | None = None,
                       class_name: str | None = None, txn_date: date | None = None,
                       ref_number: str | None = None, due_date: date | None = None,
                       expected_date: date | None = None,
                       is_manually_closed: bool | None = None, memo: str | None = None,
                       vendor_msg: str | None = None,
                       lines: list[Mapping[str, Any]] | None = None) -> etree._Element:
    """``PurchaseOrderModRq``. Without ``lines`` only header fields change (no
    ``PurchaseOrderLineMod`` is sent, so QuickBooks keeps the lines). With ``lines``
    the listed lines become the PO's whole line set (IREF: unlisted lines are
    deleted): each mapping has ``txn_line_id`` ("-1" = new line) and optionally
    item, description, quantity, rate, class_name, amount, is_manually_closed."""
    rq = request("PurchaseOrderModRq", request_id)
    body = sub(rq, "PurchaseOrderMod")
    text(body, "TxnID", txn_id, max_len=36, field="PurchaseOrderMod/TxnID")
    text(body, "EditSequence", edit_sequence, max_len=16, field="PurchaseOrderMod/EditSequence")
    if vendor or vendor_list_id:
        ref(body, "VendorRef", vendor or "", vendor_list_id or "", max_len=VENDOR_NAME_MAX)
    if class_name:
        ref(body, "ClassRef", class_name, "", max_len=CLASS_NAME_MAX)
    text(body, "TxnDate", fmt_date(txn_date, "PurchaseOrderMod/TxnDate"))
    text(body, "RefNumber", ref_number, max_len=11, field="PurchaseOrderMod/RefNumber")
    text(body, "DueDate", fmt_date(due_date, "PurchaseOrderMod/DueDate"))
    text(body, "ExpectedDate", fmt_date(expected_date, "PurchaseOrderMod/ExpectedDate"))
    if is_manually_closed is not None:
        text(body, "IsManuallyClosed", fmt_bool(is_manually_closed))
    text(body, "Memo", memo, max_len=4095, field="PurchaseOrderMod/Memo")
    text(body, "VendorMsg", vendor_msg, max_len=99, field="PurchaseOrderMod/VendorMsg")
    known = {"txn_line_id", "item", "item_list_id", "description", "quantity", "rate",
             "class_name", "amount", "is_manually_closed"}
    for ln in lines or []:
        bad = set(ln) - known
        if bad:
            raise TypeError(f"PurchaseOrderLineMod: unsupported field(s) {sorted(bad)}")
        if not ln.get("txn_line_id"):
            raise QbxmlValueError("PurchaseOrderLineMod/TxnLineID", "required ('-1' for a new line)")
        el = sub(body, "PurchaseOrderLineMod")
        text(el, "TxnLineID", ln["txn_line_id"], max_len=36)
        ref(el, "ItemRef", ln.get("item", ""), ln.get("item_list_id", ""))
        text(el, "Desc", ln.get("description"), max_len=4095,
             field="PurchaseOrderLineMod/Desc")
        if ln.get("quantity") is not None:
            text(el, "Quantity", fmt_qty(ln["quantity"], "PurchaseOrderLineMod/Quantity"))
        if ln.get("rate") is not None:
            text(el, "Rate", fmt_price(ln["rate"], "PurchaseOrderLineMod/Rate"))
        ref(el, "ClassRef", ln.get("class_name", ""), "", max_len=CLASS_NAME_MAX)
        if ln.get("amount") is not None:
            text(el, "Amount", fmt_amount(ln["amount"], "PurchaseOrderLineMod/Amount"))
        if ln.get("is_manually_closed") is not None:
            text(el, "IsManuallyClosed", fmt_bool(ln["is_manually_closed"]))
    return rq


# --------------------------------------------------------------------------- queries

def _iter_attrs(rq: etree._Element, iterator: str | None, iterator_id: str | None) -> None:
    if iterator is None:
        if iterator_id:
            raise QbxmlValueError(rq.tag, "iteratorID needs iterator='Continue'")
        return
    if iterator not in ("Start", "Continue", "Stop"):
        raise QbxmlValueError(f"{rq.tag}@iterator", f"must be Start/Continue/Stop, not {iterator!r}")
    rq.set("iterator", iterator)
    if iterator == "Start":
        if iterator_id:
            raise QbxmlValueError(rq.tag, "iterator='Start' takes no iteratorID")
    else:
        if not iterator_id:
            raise QbxmlValueError(rq.tag, f"iterator={iterator!r} needs iteratorID")
        rq.set("iteratorID", iterator_id)


def _max_returned(parent: etree._Element, max_returned: int | None) -> None:
    if max_returned is not None:
        if int(max_returned) < 1:
            raise QbxmlValueError(f"{parent.tag}/MaxReturned", "must be >= 1")
        text(parent, "MaxReturned", str(int(max_returned)))


def _include_ret(parent: etree._Element, include_ret: Iterable[str] | None) -> None:
    for name in _as_list(include_ret):
        text(parent, "IncludeRetElement", name, max_len=50)


def _list_query(rq_name: str, names: Any, *, list_ids: Any, request_id: str | None,
                max_returned: int | None, iterator: str | None, iterator_id: str | None,
                include_ret: Any, active_status: str | None, name_filter: tuple | None,
                extra_filters: list[tuple[str, Any]] | None = None, owner_id: bool = False,
                iterable: bool = True) -> etree._Element:
    rq = request(rq_name, request_id)
    if iterable:
        _iter_attrs(rq, iterator, iterator_id)
    elif iterator:
        raise QbxmlValueError(rq_name, "this query does not support iterators")
    names = _as_list(names)
    list_ids = _as_list(list_ids)
    if names and list_ids:
        raise QbxmlValueError(rq_name, "ListID and FullName are mutually exclusive (XSD choice)")
    if (names or list_ids) and (max_returned or active_status or name_filter or extra_filters):
        raise QbxmlValueError(rq_name, "ListID/FullName cannot be combined with filters (XSD choice)")
    for lid in list_ids:
        text(rq, "ListID", lid, max_len=36)
    for n in names:
        text(rq, "FullName", n)
    _max_returned(rq, max_returned)
    if active_status:
        if active_status not in ("ActiveOnly", "InactiveOnly", "All"):
            raise QbxmlValueError(f"{rq_name}/ActiveStatus", f"bad value {active_status!r}")
        text(rq, "ActiveStatus", active_status)
    if name_filter:
        criterion, value = name_filter
        if criterion not in ("StartsWith", "Contains", "EndsWith"):
            raise QbxmlValueError(f"{rq_name}/NameFilter", f"bad MatchCriterion {criterion!r}")
        nf = sub(rq, "NameFilter")
        text(nf, "MatchCriterion", criterion)
        text(nf, "Name", value)
    for tag, value in extra_filters or []:
        for v in _as_list(value):
            text(rq, tag, v)
    _include_ret(rq, include_ret)
    if owner_id:
        text(rq, "OwnerID", "0")
    return rq


def vendor_query(names: Any = None, *, request_id: str | None = None,
                 list_ids: Any = None, max_returned: int | None = None,
                 iterator: str | None = None, iterator_id: str | None = None,
                 include_ret: Any = None, active_status: str | None = None,
                 name_filter: tuple[str, str] | None = None) -> etree._Element:
    """``VendorQueryRq`` by FullName(s) / ListID(s), or filtered (MaxReturned,
    ActiveStatus, NameFilter=(MatchCriterion, Name)). FullName/ListID exclude filters."""
    return _list_query("VendorQueryRq", names, list_ids=list_ids, request_id=request_id,
                       max_returned=max_returned, iterator=iterator, iterator_id=iterator_id,
                       include_ret=include_ret, active_status=active_status,
                       name_filter=name_filter)


_ACCOUNT_TYPES = ("AccountsPayable", "AccountsReceivable", "Bank", "CostOfGoodsSold",
                  "CreditCard", "Equity", "Expense", "FixedAsset", "Income", "LongTermLiability",
                  "NonPosting", "OtherAsset", "OtherCurrentAsset", "OtherCurrentLiability",
                  "OtherExpense", "OtherIncome")


def account_query(names: Any = None, *, request_id: str | None = None, list_ids: Any = None,
                  max_returned: int | None = None, iterator: str | None = None,
                  iterator_id: str | None = None, include_ret: Any = None,
                  active_status: str | None = None, name_filter: tuple[str, str] | None = None,
                  account_types: Any = None) -> etree._Element:
    """``AccountQueryRq``; ``account_types`` adds AccountType filters (e.g. "Expense")."""
    types = _as_list(account_types)
    for t in types:
        if t not in _ACCOUNT_TYPES:
            raise QbxmlValueError("AccountQueryRq/AccountType", f"unknown account type {t!r}")
    return _list_query("AccountQueryRq", names, list_ids=list_ids, request_id=request_id,
                       max_returned=max_returned, iterator=iterator, iterator_id=iterator_id,
                       include_ret=include_ret, active_status=active_status,
                       name_filter=name_filter,
                       extra_filters=[("AccountType", types)] if types else None)


def class_query(names: Any = None, *, request_id: str | None = None, list_ids: Any = None,
                max_returned: int | None = None, iterator: str | None = None,
                iterator_id: str | None = None, include_ret: Any = None,
                active_status: str | None = None,
                name_filter: tuple[str, str] | None = None) -> etree._Element:
    """``ClassQueryRq`` (ListQuery group: no OwnerID)."""
    return _list_query("ClassQueryRq", names, list_ids=list_ids, request_id=request_id,
                       max_returned=max_returned, iterator=iterator, iterator_id=iterator_id,
                       include_ret=include_ret, active_status=active_status,
                       name_filter=name_filter)


def item_query(names: Any = None, *, request_id: str | None = None, list_ids: Any = None,
               max_returned: int | None = None, iterator: str | None = None,
               iterator_id: str | None = None, include_ret: Any = None,
               active_status: str | None = None,
               name_filter: tuple[str, str] | None = None) -> etree._Element:
    """``ItemQueryRq`` (all item kinds; answers Item*Ret of the matching kind)."""
    return _list_query("ItemQueryRq", names, list_ids=list_ids, request_id=request_id,
                       max_returned=max_returned, iterator=iterator, iterator_id=iterator_id,
                       include_ret=include_ret, active_status=active_status,
                       name_filter=name_filter)


def terms_query(names: Any = None, *, request_id: str | None = None, list_ids: Any = None,
                max_returned: int | None = None, include_ret: Any = None,
                active_status: str | None = None) -> etree._Element:
    """``TermsQueryRq`` (no iterator attribute in the XSD)."""
    return _list_query("TermsQueryRq", names, list_ids=list_ids, request_id=request_id,
                       max_returned=max_returned, iterator=None, iterator_id=None,
                       include_ret=include_ret, active_status=active_status, name_filter=None,
                       iterable=False)


def _entity_filter(parent: etree._Element, vendor: str | None, vendor_list_id: str | None) -> None:
    if vendor or vendor_list_id:
        ef = sub(parent, "EntityFilter")
        if vendor_list_id:
            text(ef, "ListID", vendor_list_id, max_len=36)
        else:
            text(ef, "FullName", vendor)


def _txn_query(rq_name: str, *, txn_ids: Any, ref_numbers: Any, vendor: str | None,
               vendor_list_id: str | None, ref_number: str | None,
               ref_number_range: tuple[str | None, str | None] | None,
               txn_date_from: date | None, txn_date_to: date | None,
               max_returned: int | None, request_id: str | None, iterator: str | None,
               iterator_id: str | None, include_line_items: bool | None,
               include_linked_txns: bool | None, include_ret: Any,
               paid_status: str | None = None) -> etree._Element:
    rq = request(rq_name, request_id)
    _iter_attrs(rq, iterator, iterator_id)
    txn_ids = _as_list(txn_ids)
    ref_numbers = _as_list(ref_numbers)
    filters = any(x is not None and x != "" for x in
                  (vendor, vendor_list_id, ref_number, ref_number_range, txn_date_from,
                   txn_date_to, max_returned, paid_status))
    if sum(bool(x) for x in (txn_ids, ref_numbers, filters)) > 1:
        raise QbxmlValueError(
            rq_name, "TxnID, RefNumber and the filter branch (EntityFilter, RefNumberRangeFilter, "
                     "dates, MaxReturned) are mutually exclusive (XSD choice)")
    for tid in txn_ids:
        text(rq, "TxnID", tid, max_len=36)
    for rn in ref_numbers:
        text(rq, "RefNumber", rn)
    _max_returned(rq, max_returned)
    if txn_date_from or txn_date_to:
        f = sub(rq, "TxnDateRangeFilter")
        text(f, "FromTxnDate", fmt_date(txn_date_from, "FromTxnDate"))
        text(f, "ToTxnDate", fmt_date(txn_date_to, "ToTxnDate"))
    _entity_filter(rq, vendor, vendor_list_id)
    if ref_number is not None and ref_number_range is not None:
        raise QbxmlValueError(rq_name, "ref_number and ref_number_range are exclusive")
    if ref_number is not None and ref_number != "":
        ref_number_range = (ref_number, ref_number)
    if ref_number_range is not None:
        f = sub(rq, "RefNumberRangeFilter")
        text(f, "FromRefNumber", ref_number_range[0])
        text(f, "ToRefNumber", ref_number_range[1])
    if paid_status:
        if paid_status not in ("All", "PaidOnly", "NotPaidOnly"):
            raise QbxmlValueError(f"{rq_name}/PaidStatus", f"bad value {paid_status!r}")
        text(rq, "PaidStatus", paid_status)
    if include_line_items is not None:
        text(rq, "IncludeLineItems", fmt_bool(include_line_items))
    if include_linked_txns is not None:
        text(rq, "IncludeLinkedTxns", fmt_bool(include_linked_txns))
    _include_ret(rq, include_ret)
    return rq


def bill_query(vendor: str | None = None, ref_number: str | None = None, *,
               request_id: str | None = None, vendor_list_id: str | None = None,
               txn_ids: Any = None, ref_numbers: Any = None,
               ref_number_range: tuple[str | None, str | None] | None = None,
               txn_date_from: date | None = None, txn_date_to: date | None = None,
               paid_status: str | None = None, max_returned: int | None = None,
               iterator: str | None = None, iterator_id: str | None = None,
               include_line_items: bool = False, include_linked_txns: bool | None = None,
               include_ret: Any = None) -> etree._Element:
    """``BillQueryRq``. ``vendor`` + ``ref_number`` -> EntityFilter + RefNumberRangeFilter
    (From=To=ref). For an exact RefNumber query without a vendor pass ``ref_numbers``
    (XSD: RefNumber and the filter branch are mutually exclusive)."""
    return _txn_query("BillQueryRq", txn_ids=txn_ids, ref_numbers=ref_numbers, vendor=vendor,
                      vendor_list_id=vendor_list_id, ref_number=ref_number,
                      ref_number_range=ref_number_range, txn_date_from=txn_date_from,
                      txn_date_to=txn_date_to, max_returned=max_returned,
                      request_id=request_id, iterator=iterator, iterator_id=iterator_id,
                      include_line_items=include_line_items,
                      include_linked_txns=include_linked_txns, include_ret=include_ret,
                      paid_status=paid_status)


def vendor_credit_query(vendor: str | None = None, ref_number: str | None = None, *,
                        request_id: str | None = None, vendor_list_id: str | None = None,
                        txn_ids: Any = None, ref_numbers: Any = None,
                        ref_number_range: tuple[str | None, str | None] | None = None,
                        txn_date_from: date | None = None, txn_date_to: date | None = None,
                        max_returned: int | None = None, iterator: str | None = None,
                        iterator_id: str | None = None, include_line_items: bool = False,
                        include_linked_txns: bool | None = None,
                        include_ret: Any = None) -> etree._Element:
    """``VendorCreditQueryRq``; same shape as :func:`bill_query` (no PaidStatus)."""
    return _txn_query("VendorCreditQueryRq", txn_ids=txn_ids, ref_numbers=ref_numbers,
                      vendor=vendor, vendor_list_id=vendor_list_id, ref_number=ref_number,
                      ref_number_range=ref_number_range, txn_date_from=txn_date_from,
                      txn_date_to=txn_date_to, max_returned=max_returned,
                      request_id=request_id, iterator=iterator, iterator_id=iterator_id,
                      include_line_items=include_line_items,
                      include_linked_txns=include_linked_txns, include_ret=include_ret)


def purchase_order_query(ref_numbers: Any = None, vendor: str | None = None, *,
                         request_id: str | None = None, vendor_list_id: str | None = None,
                         txn_ids: Any = None,
                         ref_number_range: tuple[str | None, str | None] | None = None,
                         txn_date_from: date | None = None, txn_date_to: date | None = None,
                         max_returned: int | None = None, iterator: str | None = None,
                         iterator_id: str | None = None, include_line_items: bool = True,
                         include_linked_txns: bool = True,
                         include_ret: Any = None) -> etree._Element:
    """``PurchaseOrderQueryRq``. ``ref_numbers`` (exact RefNumber list) cannot be combined
    with ``vendor`` (filter branch); with a vendor, use ``ref_number_range``."""
    return _txn_query("PurchaseOrderQueryRq", txn_ids=txn_ids, ref_numbers=ref_numbers,
                      vendor=vendor, vendor_list_id=vendor_list_id, ref_number=None,
                      ref_number_range=ref_number_range, txn_date_from=txn_date_from,
                      txn_date_to=txn_date_to, max_returned=max_returned,
                      request_id=request_id, iterator=iterator, iterator_id=iterator_id,
                      include_line_items=include_line_items,
                      include_linked_txns=include_linked_txns, include_ret=include_ret)


def item_receipt_query(vendor: str | None = None, ref_number: str | None = None, *,
                       request_id: str | None = None, vendor_list_id: str | None = None,
                       txn_ids: Any = None, ref_numbers: Any = None,
                       ref_number_range: tuple[str | None, str | None] | None = None,
                       txn_date_from: date | None = None, txn_date_to: date | None = None,
                       max_returned: int | None = None, iterator: str | None = None,
                       iterator_id: str | None = None, include_line_items: bool = True,
                       include_linked_txns: bool | None = True,
                       include_ret: Any = None) -> etree._Element:
    """``ItemReceiptQueryRq``; same shape as :func:`bill_query`."""
    return _txn_query("ItemReceiptQueryRq", txn_ids=txn_ids, ref_numbers=ref_numbers,
                      vendor=vendor, vendor_list_id=vendor_list_id, ref_number=ref_number,
                      ref_number_range=ref_number_range, txn_date_from=txn_date_from,
                      txn_date_to=txn_date_to, max_returned=max_returned,
                      request_id=request_id, iterator=iterator, iterator_id=iterator_id,
                      include_line_items=include_line_items,
                      include_linked_txns=include_linked_txns, include_ret=include_ret)


def host_company_preferences(request_id_prefix: str | None = None) -> list[etree._Element]:
    """``[HostQueryRq, CompanyQueryRq, PreferencesQueryRq]`` — what QBWC itself sends
    to produce ``strHCPResponse`` (PG10). Wrap with :func:`message_set`."""
    p = request_id_prefix
    return [request("HostQueryRq", f"{p}host" if p else None),
            request("CompanyQueryRq", f"{p}company" if p else None),
            request("PreferencesQueryRq", f"{p}prefs" if p else None)]


# --------------------------------------------------------------------------- message set

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


def message_set(requests: list[etree._Element], *, on_error: str = "continueOnError",
                version: str = "13.0", new_message_set_id: str | None = None,
                old_message_set_id: str | None = None, copy: bool = True) -> str:
    """A complete qbXML request document as text.

    ``<?xml version="1.0" encoding="utf-8"?>`` + ``<?qbxml version="13.0"?>`` +
    ``<QBXML><QBXMLMsgsRq onError=...>requests</QBXMLMsgsRq></QBXML>``.
    The body is serialised as ASCII (non-ASCII -> numeric character references),
    which is also valid UTF-8. The request elements are deep-copied, or with ``copy=False`` moved into
    the message set (cheaper; the caller gives them up: they then belong to the set's tree).
    ``old_message_set_id`` is for error recovery (research §7): normally sent with
    no requests. MessageSetIDs are limited to 24 characters (status 9004).
    """
    if on_error not in ON_ERROR_VALUES:
        raise QbxmlValueError("QBXMLMsgsRq@onError", f"must be one of {ON_ERROR_VALUES}")
    if not isinstance(version, str) or not all(p.isdigit() for p in version.split(".")) \
            or version.count(".") != 1:
        raise QbxmlValueError("qbxml version", f"bad version {version!r}")
    root = etree.Element("QBXML")
    msgs = sub(root, "QBXMLMsgsRq")
    for attr, value in (("newMessageSetID", new_message_set_id),
                        ("oldMessageSetID", old_message_set_id)):
        if value:
            if len(value) > 24:
                raise QbxmlValueError(f"QBXMLMsgsRq@{attr}", "at most 24 characters (9004)")
            msgs.set(attr, value)
    msgs.set("onError", on_error)
    from copy import deepcopy
    for rq in requests:
        if not (isinstance(rq.tag, str) and rq.tag.endswith("Rq")):
            raise QbxmlValueError("QBXMLMsgsRq", f"not a request element: {rq.tag!r}")
        msgs.append(deepcopy(rq) if copy else rq)
    body = etree.tostring(root, encoding="unicode")  # (the same characters as the ASCII one when all ASCII)
    if not body.isascii():
        body = etree.tostring(root, encoding="us-ascii").decode("ascii")
    return f'{XML_DECLARATION}\n<?qbxml version="{version}"?>\n{body}'
