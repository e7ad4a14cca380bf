"""EDI documents -> QuickBooks intents, with holds.

Pure service logic: takes parsed sets (``edi``) and the supplier mappings
(``connector.settings``), returns a :class:`Translation` per set, which is
exactly the ``qbedi translate --json`` document plus the QuickBooks request
to queue. A document that cannot be mapped with certainty is *held* with a
reason code and a message naming the line; nothing is dropped. Checks that
need the database (duplicates) are done by the ingest service.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lxml import etree

import qbxml_templates as qx
from edi.model import Charge, Invoice, Issue, ParsedSet, ProductIds, PurchaseOrder, ShipNotice
from edi.totals import READINGS, charge_reading, sums
from qbxml_templates.refs import made
from qbxml_templates.specs import (
    BillSpec,
    ExpenseLine,
    ItemLine,
    ItemReceiptSpec,
    PurchaseOrderLineSpec,
    PurchaseOrderSpec,
)

from .plans import LinkPlan, ModLine, ModPlan, ReceiptLine, Reference
from .settings import LineRule, Settings, SupplierSettings

CENT = Decimal("0.01")
GUID_NAMESPACE = uuid.UUID("6f1c7f43-2b0e-4c55-9a55-6b1d0c6a9e21")  # qbedi's own, fixed forever
_NAMESPACE_BYTES = GUID_NAMESPACE.bytes
SELLER_PARTIES = ("VN", "SU", "SE", "RE", "RI", "SF", "II")

# codes that reject (envelope) vs hold (content)
HOLD_CODES = {"missing_segment", "invalid_value"}


@dataclass
class Hold:
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass
class Translation:
    """One transaction set, translated. ``status`` follows from what was found: ``rejected`` once
    :meth:`reject` was called, else ``held`` while any hold stands, else ``ready``."""

    ordinal: int
    parsed: ParsedSet
    holds: list[Hold] = field(default_factory=list)
    rejected: bool = False
    supplier_id: str | None = None
    supplier: SupplierSettings | None = None
    request_type: str | None = None  # BillAdd, VendorCreditAdd, PurchaseOrderAdd, ItemReceiptAdd
    request_xml: str | None = None  # the single *Rq element (queued)
    references: tuple[Reference, ...] = ()  # list entries request_xml names, found while building it
    qbxml: str | None = None  # a complete message set, for display / validation
    spec: Any = None
    external_guid: str = ""
    due_date: date | None = None
    json: dict = field(default_factory=dict)
    link_plan: LinkPlan | None = None  # 856: PO numbers + lines to link at send time
    notes: list[str] = field(default_factory=list)  # decisions a reviewer may want to see
    mod_plan: ModPlan | None = None  # 850 change/cancel: what to modify once TxnID + EditSequence are read
    counted: tuple[bool, bool] | None = None  # 810: the total counts (its lines' charges, its own): as the bill does

    @property
    def status(self) -> str:
        return "rejected" if self.rejected else "held" if self.holds else "ready"

    @property
    def document(self):
        return self.parsed.document

    def hold(self, code: str, message: str) -> None:
        self.holds.append(Hold(code, message))

    def reject(self, code: str, message: str) -> None:
        """Kept, never posted, whatever else is found."""
        self.rejected = True
        self.hold(code, message)


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str((value if type(value) is Decimal else Decimal(value)).quantize(CENT))  # (no copy of a Decimal)


def sha256_of(data: bytes) -> str:
    """A file's identity: its dedup key on receipt and the seed of its documents' ExternalGUIDs."""
    return hashlib.sha256(data).hexdigest()


def external_guid(file_sha256: str, ordinal: int) -> str:
    """Stable per document: the same file translated again gets the same GUID, ``uuid.uuid5(GUID_NAMESPACE,
    "<sha256>:<ordinal>")`` in braces and upper case (RFC 4122's name-based SHA-1 UUID, written out here at
    half the cost of uuid5, which builds a UUID object to print it)."""
    h = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{file_sha256}:{ordinal}".encode()).digest()[:16])
    h[6], h[8] = (h[6] & 0x0F) | 0x50, (h[8] & 0x3F) | 0x80  # (version 5; the RFC 4122 variant)
    x = h.hex().upper()
    return f"{{{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}}}"


# ---------------------------------------------------------------- supplier matching

def candidate_ids(ps: ParsedSet) -> list[str]:
    env, doc = ps.envelope, ps.document
    ids = [env.isa_sender_id.strip(), env.gs_sender.strip()]
    if isinstance(doc, PurchaseOrder):  # a PO travels from us to the supplier: the supplier receives it
        ids += [env.isa_receiver_id.strip(), env.gs_receiver.strip()]
    if doc is not None:
        for p in doc.parties:
            if p.code in SELLER_PARTIES and p.id:
                ids.append(p.id.strip())
    return [i for i in ids if i]


def match_supplier(settings: Settings, ps: ParsedSet) -> tuple[str | None, SupplierSettings | None]:
    ids = candidate_ids(ps)
    upper = {i.upper() for i in ids}
    for sid, sup in settings.suppliers.items():
        keys = {sid.upper(), *(m.upper() for m in sup.match)}
        if keys & upper:
            return sid, sup
    return None, None


def match_rule(rules: list[LineRule], products: ProductIds, description: str) -> LineRule | None:
    for r in rules:
        if r.vendor_part and r.vendor_part.upper() == products.vendor_part.upper():
            return r
        if r.buyer_part and r.buyer_part.upper() == products.buyer_part.upper():
            return r
        if r.upc and r.upc == products.upc:
            return r
        if r.description and description and re.search(r.description, description, re.IGNORECASE):
            return r
    return None


# X12 unit codes (element 355) that all mean "one": each, unit, piece
SINGLE_UNITS = frozenset({"EA", "UN", "PC"})
# conversions that hold for any item counted in single units
STANDARD_UNITS = {"DZ": Decimal(12), "GR": Decimal(144)}


def item_units(unit: str, counted_in: str = "EA", units: dict[str, Decimal] | None = None) -> Decimal | None:
    """How many of the item's QuickBooks unit (``counted_in``) one supplier ``unit`` is.

    1 when they agree; a line rule's ``units`` or a standard conversion otherwise; ``None`` when
    nothing converts it: the document is held rather than receiving 2 cases as 2 each (an
    inventory count off by the case size).
    """
    unit = (unit or "").strip().upper() or counted_in
    if unit == counted_in or (unit in SINGLE_UNITS and counted_in in SINGLE_UNITS):
        return Decimal(1)
    if units and unit in units:
        return units[unit]
    if counted_in in SINGLE_UNITS and unit in STANDARD_UNITS:
        return STANDARD_UNITS[unit]
    return None


def rule_units(rule: LineRule | None) -> tuple[str, dict[str, Decimal]]:
    return (rule.unit, rule.units) if rule else ("EA", {})


def hold_unit(t: "Translation", where: str, quantity: Decimal, unit: str, what: str, rule: LineRule | None,
              matched: LineRule | None = None) -> None:
    """Held as unit_mismatch, with the fix in words. ``matched``: an account-only rule that matches the
    line first (a new rule below it would never be reached, so the fix goes into that one)."""
    counted_in, _ = rule_units(rule)
    unit = unit.strip().upper()
    units = f"units: {{{unit}: <{counted_in} per {unit}>}}"
    if rule:
        fix = f"add {units} (or unit: {unit}) to the line rule for {_rule_key(rule)}"
    elif matched is not None:
        fix = (f"the line rule for {_rule_key(matched)} matches it first and names no item: add item: <the "
               f"QuickBooks item> and {units} to that rule (a rule added below it is never reached)")
    else:
        fix = f"add a line rule for it with its item and {units}"
    t.hold("unit_mismatch", f"{where} comes as {quantity} {unit} of {what}, which QuickBooks counts in "
                            f"{counted_in}; {fix}, then release this document")


def _rule_key(rule: LineRule) -> str:
    for name in ("vendor_part", "buyer_part", "upc", "description"):
        if getattr(rule, name):
            return f"{name} {getattr(rule, name)}"
    return "?"  # pragma: no cover - a rule has one of them (settings)


# ---------------------------------------------------------------- json view

def _party_name(doc) -> str:
    p = doc.party(*SELLER_PARTIES) if doc is not None else None
    return p.name if p else ""


def _seller_json(doc) -> dict | None:
    """The selling party as the document names it (N1/N3/N4, its PER contact): kept so a vendor qbedi creates in
    QuickBooks carries the supplier's own name, address and contact, and for vendor reconciliation."""
    p = doc.party(*SELLER_PARTIES) if doc is not None and hasattr(doc, "party") else None
    if p is None:
        return None
    return {"code": p.code, "name": p.name, "id": p.id, "id_qualifier": p.id_qualifier,
            "address_lines": list(p.address_lines), "city": p.city, "state": p.state, "postal_code": p.postal_code,
            "country": p.country, **{k: v for k, v in (("contact", p.contact), ("phone", p.phone),
                                                        ("email", p.email), ("fax", p.fax)) if v}}


def _other_ids(line: dict, products) -> dict:
    """A line's JSON given the product ids other than the vendor's part number, when the supplier sent them
    (a clerk hands them to the admin who writes a line rule by ``upc`` or ``buyer_part``)."""
    if products.upc:
        line["upc"] = products.upc
    if products.buyer_part:
        line["buyer_part"] = products.buyer_part
    return line


def part_words(products) -> str:
    """How a line's product is named in a message: its vendor part number, else the other ids it has."""
    if products.vendor_part:
        return f"vendor part {products.vendor_part}"
    said = [f"{what} {value}" for what, value in (("UPC", products.upc), ("buyer part", products.buyer_part)) if value]
    return ", ".join(said) or "no part number"


def document_json(t: Translation, file_name: str) -> dict:
    ps, doc = t.parsed, t.parsed.document
    env = ps.envelope
    out: dict[str, Any] = {
        "file": file_name,
        "transaction_set": env.transaction_set,
        "version": env.version,
        "interchange_control": env.interchange_control,
        "group_control": env.group_control,
        "set_control": env.set_control,
        "sender_id": env.isa_sender_id.strip() or env.gs_sender.strip(),
        "document_number": getattr(doc, "number", "") or "",
        "document_date": doc.date.isoformat() if doc is not None and doc.date else None,
        "due_date": t.due_date.isoformat() if t.due_date else None,
        "supplier": {"id": t.supplier_id, "name": t.supplier.vendor if t.supplier else _party_name(doc) or None},
        "seller": _seller_json(doc),
        "currency": getattr(doc, "currency", "USD") or "USD",
        "total": None,
        "credit": bool(getattr(doc, "credit", False)),
        "lines": [],
        "charges": [],
        "status": t.status,
        "holds": [h.as_dict() for h in t.holds],
        "qbxml": t.qbxml,
        "notes": list(t.notes),
    }
    if isinstance(doc, Invoice):
        out["total"] = money(doc.total) if doc.total is not None else money(_invoice_sum(doc))
        out["lines"] = [_other_ids(
            {"line_number": ln.line_number, "quantity": str(ln.quantity), "unit": ln.unit,
             "unit_price": str(ln.unit_price), "amount": money(ln.amount),
             "vendor_part": ln.products.vendor_part, "description": ln.description,
             "po_number": ln.po_number or doc.po_number}, ln.products)
            for ln in doc.lines
        ]
        out["charges"] = _invoice_charges_json(doc, t)
    elif isinstance(doc, PurchaseOrder):
        total = doc.total if doc.total is not None else sum((ln.amount or Decimal(0) for ln in doc.lines), Decimal(0))
        out["total"] = money(total)
        out["lines"] = [_other_ids(
            {"line_number": ln.line_number, "quantity": str(ln.quantity), "unit": ln.unit,
             "unit_price": None if ln.unit_price is None else str(ln.unit_price), "amount": money(ln.amount),
             "vendor_part": ln.products.vendor_part, "description": ln.description, "po_number": doc.number},
            ln.products) for ln in doc.lines
        ]
        out["charges"] = [{**_charge_json(c), "line": None, "counted": True} for c in doc.charges]
    elif isinstance(doc, ShipNotice):
        out["lines"] = [_other_ids(
            {"line_number": it.line_number, "quantity": str(it.quantity), "unit": it.unit, "unit_price": None,
             "amount": None, "vendor_part": it.products.vendor_part, "description": it.description,
             "po_number": it.po_number}, it.products)
            for it in doc.items
        ]
        out["po_numbers"] = list(doc.po_numbers)
    return out


def _charge_json(c: Charge) -> dict:
    return {"code": c.code, "description": c.description, "amount": money(c.amount)}


def _invoice_charges_json(inv: Invoice, t: Translation) -> list[dict]:
    """An invoice's charges, its lines' first (each with its ``line``), then its own (``line`` None); ``counted``
    False for those the total does not count: the ones a sender gives twice, per line and for the invoice
    (:func:`edi.totals.charge_reading`, as the bill was built, or would be)."""
    if not inv.charges and not any(ln.charges for ln in inv.lines):
        return []
    use_line, use_summary = t.counted or (charge_reading(inv, t.supplier.total_tolerance if t.supplier else Decimal(0))
                                          or READINGS[0])[:2]
    return [{**_charge_json(c), "line": ln.line_number, "counted": use_line} for ln in inv.lines for c in ln.charges] + \
        [{**_charge_json(c), "line": None, "counted": use_summary} for c in inv.charges]


def _invoice_sum(inv: Invoice) -> Decimal:
    """Lines and every charge (the lines', the invoice's)."""
    lines, line_sac, summary_sac, _ = sums(inv)
    return lines + line_sac + summary_sac


# ---------------------------------------------------------------- translation

def _issue_holds(t: Translation, issues: list[Issue]) -> None:
    for i in issues:
        if i.severity != "error":
            continue
        where = f" ({i.segment}{'' if i.position is None else f' at segment {i.position}'})" if i.segment else ""
        t.hold(i.code if i.code in HOLD_CODES else "invalid_value", i.message + where)


MAX_NET_DAYS = 3650


def due_date_for(inv: Invoice, sup: SupplierSettings | None) -> date | None:
    for terms in inv.terms:
        if terms.net_due_date:
            return terms.net_due_date
    base = inv.date
    if base is not None:
        for terms in inv.terms:
            if terms.net_days is not None and 0 <= terms.net_days <= MAX_NET_DAYS:
                return base + timedelta(days=terms.net_days)
        if sup is not None and sup.terms_days is not None:
            return base + timedelta(days=sup.terms_days)
    return None


def _memo(ps: ParsedSet, kind: str, number: str) -> str:
    env = ps.envelope
    return (f"EDI {env.transaction_set} {kind} {number} from {env.isa_sender_id.strip() or env.gs_sender} "
            f"(ISA {env.interchange_control} GS {env.group_control} ST {env.set_control})")


def translate_set(settings: Settings, ps: ParsedSet, *, ordinal: int, file_sha256: str, file_name: str = "",
                  qbxml_version: str = "13.0") -> Translation:
    t = Translation(ordinal=ordinal, parsed=ps)
    t.external_guid = external_guid(file_sha256, ordinal)
    doc = ps.document
    if ps.rejected:
        for i in ps.rejected:
            t.reject(i.code, i.message)
    elif doc is None:
        t.reject("unsupported_transaction",
               f"transaction set {ps.envelope.transaction_set or '?'} is not translated into QuickBooks "
               "(qbedi posts 810, 850 and 856); the file is kept")
    else:
        t.supplier_id, t.supplier = match_supplier(settings, ps)
        issues = doc.issues
        if isinstance(doc, PurchaseOrder) and (doc.purpose or "").strip() in PO_CANCEL:
            issues = [i for i in issues if not (i.code == "missing_segment" and i.segment == "PO1")]
        _issue_holds(t, issues)
        if t.supplier is None:
            ids = ", ".join(dict.fromkeys(candidate_ids(ps))) or "none"
            t.hold("unknown_supplier",
                   f"no supplier mapping matches this document (ids seen: {ids}); add one to the suppliers "
                   "configuration, then release the document")
        else:
            if t.supplier.archived:
                t.hold("supplier_archived",
                       f"supplier {t.supplier_id} is archived (archived: true in its mapping): a person decides. "
                       "If it supplies again, remove archived and release the document; otherwise dismiss it")
            cur = (doc.currency or "USD").upper() if hasattr(doc, "currency") else "USD"
            if cur != t.supplier.currency:
                t.hold("unsupported_currency",
                       f"document currency {cur} but supplier {t.supplier_id} is configured for {t.supplier.currency}")
            builder = {Invoice: _bill, PurchaseOrder: _purchase_order, ShipNotice: _item_receipt}[type(doc)]
            if isinstance(doc, ShipNotice) and not t.supplier.item_receipts:
                t.reject("receipts_disabled", f"item receipts are turned off for supplier {t.supplier_id} "
                                            "(item_receipts: false); the ship notice is kept, not posted")
                builder = None
            if builder is not None:
                builder(t, doc, t.supplier)
    if t.status == "ready" and t.spec is not None:
        _render(t, qbxml_version)
    if isinstance(doc, Invoice) and t.due_date is None:
        t.due_date = due_date_for(doc, t.supplier)
    t.json = document_json(t, file_name)
    return t


def _render(t: Translation, version: str) -> None:
    """The request, built once: its text is what is queued, its references are those its builder made
    (:func:`qbxml_templates.refs.made`: what reading them off the element gives)."""
    try:
        with made() as named:
            if t.mod_plan is not None:
                el = t.mod_plan.request("(TxnID read at send time)", "0")
            elif isinstance(t.spec, BillSpec):
                el = qx.bill_add(t.spec)
            elif isinstance(t.spec, PurchaseOrderSpec):
                el = qx.purchase_order_add(t.spec)
            else:
                el = qx.item_receipt_add(t.spec)
    except qx.QbxmlValueError as e:
        t.hold("invalid_value", str(e))
        return
    t.references = tuple(named)
    t.qbxml = qx.message_set([el], version=version, copy=False)  # (el moves into the message set's tree)
    t.request_xml = _request_text(t.qbxml, el)


def _request_text(message_set: str, el) -> str:
    """The request's own text (what is queued): as lxml wrote it inside ``message_set`` when that is all
    ASCII as written (no character reference: then the ASCII and the Unicode serialisations are the same
    characters), else serialised again as Unicode (the queued text keeps its characters)."""
    start = message_set.find(f"<{el.tag}", message_set.find("<QBXMLMsgsRq"))
    end = message_set.rfind("</QBXMLMsgsRq>")
    own = message_set[start:end] if 0 <= start < end else ""
    if own and "&#" not in own:
        return own
    return etree.tostring(el, encoding="unicode", with_tail=False)


def _account_for_charge(sup: SupplierSettings, c: Charge) -> str | None:
    return sup.charge_accounts.get(c.code) or sup.charge_account or sup.default_account


def _bill(t: Translation, inv: Invoice, sup: SupplierSettings) -> None:
    t.request_type = "VendorCreditAdd" if inv.credit else "BillAdd"
    if not inv.lines:
        t.hold("missing_segment", "the invoice has no IT1 lines")
    # a VendorCredit carries positive amounts; some senders send the credit memo's amounts negative
    sign = Decimal(-1) if inv.credit and _invoice_sum(inv) < 0 else Decimal(1)
    expense, items = _bill_lines(t, inv, sup, sign)
    reading = charge_reading(inv, sup.total_tolerance)
    use_line, use_summary, use_tax = reading or READINGS[0]
    t.counted = use_line, use_summary
    for ln in inv.lines:
        for c in ln.charges if use_line else []:
            _charge_line(t, sup, c, expense, sign, f"line {ln.line_number} ")
    for c in inv.charges if use_summary else []:
        _charge_line(t, sup, c, expense, sign, "")
    for c in (getattr(inv, "taxes", []) or []) if use_tax else []:
        _charge_line(t, sup, Charge("T", "TAX", c.amount, c.description or f"tax {c.code}"), expense, sign, "")
    computed = _invoice_sum(inv)
    if inv.total is None:
        t.hold("missing_segment", "TDS (total invoice amount) is missing")
    elif reading is None:
        t.hold("total_mismatch",
               f"lines and charges add up to {money(computed)} but TDS says {money(inv.total)}: the total is "
               f"{money(abs(inv.total - computed))} {'more' if inv.total > computed else 'less'} than the lines "
               f"(tolerance {money(sup.total_tolerance)})")
    elif reading != READINGS[0]:
        parts = ("line charges", "summary charges", "TXI taxes")
        t.notes.append("TDS matches the lines + " + " + ".join(p for p, u in zip(parts, reading) if u)
                       + "; the other charge segments repeat them and are not posted twice")
    if not inv.number:
        t.hold("missing_segment", "BIG02 (invoice number) is missing")
    for terms in inv.terms:
        if terms.net_days is not None and not 0 <= terms.net_days <= MAX_NET_DAYS:
            t.hold("invalid_value", f"ITD07 net days {terms.net_days} is not a plausible payment term")
    t.due_date = due_date_for(inv, sup)
    t.spec = BillSpec(
        vendor=sup.vendor, txn_date=inv.date, ref_number=inv.number, due_date=None if inv.credit else t.due_date,
        memo=_memo(t.parsed, "credit memo" if inv.credit else "invoice", inv.number),
        external_guid=t.external_guid, expense_lines=expense, item_lines=items, credit=inv.credit,
    )


def _bill_lines(t: Translation, inv: Invoice, sup: SupplierSettings, sign: Decimal):
    """The IT1 lines: item lines for lines a rule maps to a QuickBooks item, expense lines for the rest."""
    expense: list[ExpenseLine] = []
    items: list[ItemLine] = []
    for ln in inv.lines:
        rule = match_rule(sup.line_rules, ln.products, ln.description)
        part, text = ln.products.vendor_part, ln.description
        memo = (f"{part} {text}" if part and text else part or text or "")[:4095]  # (a join of a genexpr: 4x)
        if rule and rule.item:
            per = item_units(ln.unit, *rule_units(rule))
            if per is None:
                hold_unit(t, f"line {ln.line_number}", ln.quantity, ln.unit, rule.item, rule)
                continue
            # converted: quantity in QuickBooks' unit and the supplier's amount; QuickBooks derives the cost
            items.append(ItemLine(item=rule.item, quantity=ln.quantity * per * sign,
                                  cost=ln.unit_price if per == 1 else None, amount=ln.amount * sign,
                                  description=ln.description, class_name=rule.class_ or sup.class_ or ""))
        else:
            account = (rule.account if rule else None) or sup.default_account
            if not account:
                t.hold("unmapped_line",
                       f"line {ln.line_number} ({part_words(ln.products)}, "
                       f"{ln.description or 'no description'}) matches no line rule and supplier "
                       f"{t.supplier_id} has no default_account")
                continue
            expense.append(ExpenseLine(account=account, amount=ln.amount * sign, memo=memo,
                                       class_name=(rule.class_ if rule and rule.class_ else sup.class_) or ""))
    return expense, items


def _charge_line(t: Translation, sup: SupplierSettings, c: Charge, expense: list[ExpenseLine], sign: Decimal,
                 where: str) -> None:
    if not c.amount:
        return
    account = _account_for_charge(sup, c)
    if not account:
        t.hold("unmapped_line", f"{where}charge {f'{c.code} {c.description}'.strip()} ({money(c.amount)}) has no account: "
                                f"add charge_accounts.{c.code} for supplier {t.supplier_id}")
        return
    kind = "allowance" if c.amount < 0 else "charge"
    expense.append(ExpenseLine(account=account, amount=c.amount * sign,
                               memo=f"{where}{kind} {c.code} {c.description}".strip()[:4095],
                               class_name=sup.class_ or ""))


PO_CANCEL, PO_CHANGE = ("01", "03"), ("04", "05")  # BEG01: cancellation / change, replace


def _purchase_order(t: Translation, po: PurchaseOrder, sup: SupplierSettings) -> None:
    purpose = (po.purpose or "00").strip()
    t.request_type = "PurchaseOrderAdd"
    if purpose in PO_CANCEL or purpose in PO_CHANGE:
        t.request_type = "PurchaseOrderMod"
    lines = []
    if not po.lines and purpose not in PO_CANCEL:
        t.hold("missing_segment", "the purchase order has no PO1 lines")
    for ln in po.lines:
        rule = match_rule(sup.line_rules, ln.products, ln.description)
        if not (rule and rule.item):
            t.hold("unmapped_line",
                   f"line {ln.line_number} (vendor part {ln.products.vendor_part or '-'}, buyer part "
                   f"{ln.products.buyer_part or '-'}) matches no line rule with a QuickBooks item")
            continue
        per = Decimal(1) if ln.quantity is None else item_units(ln.unit, *rule_units(rule))
        if per is None:
            hold_unit(t, f"line {ln.line_number}", ln.quantity, ln.unit, rule.item, rule)
            continue
        converted = per != 1 and ln.unit_price is not None
        # converted: quantity in QuickBooks' unit and the supplier's extension (exact to the cent); the
        # rate follows from them (a rounded rate would change the amount)
        lines.append(PurchaseOrderLineSpec(
            item=rule.item, quantity=ln.quantity * per if per != 1 else ln.quantity,
            rate=None if converted else ln.unit_price,
            amount=(ln.amount if ln.amount is not None else (ln.quantity * ln.unit_price).quantize(CENT))
            if converted else None,
            description=ln.description, class_name=rule.class_ or sup.class_ or "",
            manufacturer_part=ln.products.vendor_part))
    t.spec = PurchaseOrderSpec(vendor=sup.vendor, txn_date=po.date, ref_number=po.number,
                               memo=_memo(t.parsed, "purchase order", po.number), external_guid=t.external_guid,
                               lines=lines)
    if t.request_type == "PurchaseOrderMod":
        # a Mod needs the PO's TxnID and current EditSequence: read at send time, one round trip before
        t.mod_plan = ModPlan(
            ref_number=po.number, vendor=sup.vendor, action="close" if purpose in PO_CANCEL else "replace",
            memo=_memo(t.parsed, "purchase order change" if purpose in PO_CHANGE else "purchase order cancellation",
                       po.number),
            lines=tuple(ModLine(item=ln.item, quantity=ln.quantity, rate=ln.rate, amount=ln.amount,
                                description=ln.description) for ln in lines))


def _item_receipt(t: Translation, asn: ShipNotice, sup: SupplierSettings) -> None:
    """856 -> an ItemReceipt *intent*: what arrived, for which PO, by item or vendor part.

    The lines are linked to open PurchaseOrder lines at send time (delivery
    reads the POs from QuickBooks in the round trip before the add),
    so the PO's received quantities are never older than one round trip.
    """
    t.request_type = "ItemReceiptAdd"
    plan = []
    if not asn.items:
        t.hold("missing_segment", "the ship notice has no items (HL*I with SN1)")
    if not asn.po_numbers and not any(it.po_number for it in asn.items):
        t.hold("missing_segment", "the ship notice names no purchase order (PRF01)")
    for n, it in enumerate(asn.items, 1):
        label = it.line_number or str(n)  # (LIN01 is optional: its place among the items then)
        rule = match_rule(sup.line_rules, it.products, it.description)
        item = rule.item if rule and rule.item else ""
        if not item and not it.products.vendor_part:
            t.hold("unmapped_line",
                   f"item {label} for PO {it.po_number or '?'} ({part_words(it.products)}) has no vendor part and "
                   "matches no line rule with a QuickBooks item")
            continue
        if it.quantity is None or it.quantity <= 0:
            t.hold("invalid_value", f"item {label} ships quantity {it.quantity}")
            continue
        item_rule = rule if item else None  # matched by vendor part at send time: counted in EA
        per = item_units(it.unit, *rule_units(item_rule))
        if per is None:
            hold_unit(t, f"item {label} for PO {it.po_number or '?'}", it.quantity, it.unit,
                      item or f"vendor part {it.products.vendor_part}", item_rule, matched=rule)
            continue
        plan.append(ReceiptLine(
            item=item, vendor_part=it.products.vendor_part, quantity=it.quantity * per,
            shipped=f"{it.quantity} {it.unit}" if per != 1 else "",  # as the supplier counted, when converted
            po_number=it.po_number or (asn.po_numbers[0] if len(asn.po_numbers) == 1 else ""),
            description=it.description, line=it.line_number))
    t.spec = ItemReceiptSpec(vendor=sup.vendor, txn_date=asn.date, ref_number=asn.number,
                             memo=_memo(t.parsed, "ship notice", asn.number) +
                             (f" PO {', '.join(asn.po_numbers)}" if asn.po_numbers else ""),
                             external_guid=t.external_guid,
                             item_lines=[ItemLine(item=p.name, quantity=p.quantity, description=p.description)
                                         for p in plan])
    t.link_plan = LinkPlan(po_numbers=tuple(dict.fromkeys([*asn.po_numbers, *(p.po_number for p in plan
                                                                                if p.po_number)])),
                           lines=tuple(plan), receipt=t.spec)
