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

Layout: this module holds the processor (``process``, error recovery, the
request dispatch table) and the Python-side inspection (``bills``,
``purchase_orders``, ...); :class:`QuickBooksEmulator` is composed from mixins
by area: ``_lists`` (vendors, accounts, classes, terms, items), ``_transactions``
(bills, credits, receipts, purchase orders), ``_queries``, ``_faults``
(injected errors, cost model) and ``_hcp``; ``_util`` holds the errors,
statuses and small helpers they share; ``company`` the records.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import Callable

from lxml import etree

from ._faults import _FaultsMixin, _Injection
from ._hcp import _HCPMixin
from ._lists import _ListsMixin
from ._queries import _Iterator, _QueriesMixin
from ._transactions import _TransactionsMixin
from ._util import (
    NOT_FOUND_MSG, NOT_PROCESSED_MSG, NOT_RUNNING_HRESULT, NOT_RUNNING_MESSAGE, PARSE_HRESULT,
    PARSE_MESSAGE, STATUS_OK, STATUS_TEXT, WRONG_FILE_HRESULT, WRONG_FILE_MESSAGE,
    QuickBooksConnectionError, QuickBooksError, QuickBooksParseError, _lower, _severity,
    _Status, _sub,
)
from .company import (
    Account, ExpenseLineView, IdFactory, Item, ItemLineView, POLineView, PurchaseOrderView,
    QBClass, SimClock, Terms, Txn, TxnView, Vendor,
)

__all__ = [
    "NOT_FOUND_MSG", "NOT_PROCESSED_MSG", "NOT_RUNNING_HRESULT", "NOT_RUNNING_MESSAGE",
    "PARSE_HRESULT", "PARSE_MESSAGE", "STATUS_OK", "STATUS_TEXT", "WRONG_FILE_HRESULT",
    "WRONG_FILE_MESSAGE", "QuickBooksConnectionError", "QuickBooksEmulator", "QuickBooksError",
    "QuickBooksParseError",
]


@dataclass
class _StoredSet:
    message_set_id: str
    checksum: str
    response: str  # full response document


class QuickBooksEmulator(_ListsMixin, _TransactionsMixin, _QueriesMixin, _FaultsMixin,
                         _HCPMixin):
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
        self.set_seconds: list[float] = []  # each processed message set's simulated seconds, in order
        if seed_defaults:
            self.add_account("Accounts Payable", account_type="AccountsPayable")
            self.add_account("Inventory Asset", account_type="OtherCurrentAsset")
            self.add_account("Cost of Goods Sold", account_type="CostOfGoodsSold")
            self.add_account("Sales", account_type="Income")

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
            self.set_seconds.append(cost)
            if failure is not None:
                raise QuickBooksError(failure[0], failure[1], "after processing")
            self.response_log.append(response)
            return response

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
            "BillMod": self._h_bill_mod,
            "BillQuery": lambda rq, rs: self._h_txn_query(rq, rs, "Bill"),
            "VendorCreditQuery": lambda rq, rs: self._h_txn_query(rq, rs, "VendorCredit"),
            "ItemReceiptQuery": lambda rq, rs: self._h_txn_query(rq, rs, "ItemReceipt"),
            "PurchaseOrderQuery": lambda rq, rs: self._h_txn_query(rq, rs, "PurchaseOrder"),
        }
