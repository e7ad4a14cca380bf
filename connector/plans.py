"""Typed values a queued request carries from translation to delivery.

A request's qbXML is built once, at translation; what delivery still has to
decide at send time travels beside it as these values (stored as JSON in
``QueuedRequest.meta``, read back only through :meth:`RequestMeta.from_json`):

* ``refs``: the QuickBooks list entries the request names, found from the
  element at build time, never by parsing the stored text again;
* :class:`ModPlan`: an 850 change/cancel, applied once the purchase order's
  TxnID and EditSequence have been read (:class:`PoRead`, one session only);
* :class:`LinkPlan`: an 856's lines and the receipt's header, linked to open
  purchase order lines at send time (:class:`Link`);
* :class:`BillParts`: how far a bill too big for one round trip has got into
  QuickBooks, part by part.

The JSON layout is the one earlier versions wrote (same keys), so a queue
written before an upgrade is read unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal

import qbxml_templates as qx
from qbxml_templates.specs import ItemLine, ItemReceiptSpec

Reference = tuple[str, str]  # (list, FullName): ("Vendor", "Acme Supply")


def _dec(text) -> Decimal | None:
    return None if text is None else Decimal(str(text))


def _text(value) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- 850 changes

@dataclass(frozen=True)
class ModLine:
    item: str
    quantity: Decimal | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    description: str = ""

    def to_json(self) -> dict:
        return {"item": self.item, "quantity": _text(self.quantity), "rate": _text(self.rate),
                "amount": _text(self.amount), "description": self.description}

    @classmethod
    def from_json(cls, d: dict) -> "ModLine":
        return cls(item=d["item"], quantity=_dec(d.get("quantity")), rate=_dec(d.get("rate")),
                   amount=_dec(d.get("amount")), description=d.get("description") or "")


@dataclass(frozen=True)
class PoLineRead:
    """One line of the purchase order as QuickBooks had it when it was read."""

    txn_line_id: str
    item: str
    received: Decimal = Decimal(0)


@dataclass(frozen=True)
class PoRead:
    """The purchase order a change applies to, read in this session (an EditSequence outlives no session)."""

    txn_id: str
    edit_sequence: str
    ticket: str
    lines: tuple[PoLineRead, ...] = ()


@dataclass(frozen=True)
class ModPlan:
    """PurchaseOrderMod for a change (``replace``) or cancellation (``close``) of PO ``ref_number``."""

    ref_number: str
    vendor: str
    action: Literal["close", "replace"]
    memo: str
    lines: tuple[ModLine, ...] = ()

    @property
    def po_key(self) -> tuple[str, str]:
        """Which purchase order: two changes of one key are applied in the order they were received."""
        return self.vendor.lower(), self.ref_number

    def to_json(self) -> dict:
        return {"ref_number": self.ref_number, "vendor": self.vendor, "action": self.action, "memo": self.memo,
                "lines": [ln.to_json() for ln in self.lines]}

    @classmethod
    def from_json(cls, d: dict) -> "ModPlan":
        return cls(ref_number=d["ref_number"], vendor=d["vendor"], action=d["action"], memo=d.get("memo") or "",
                   lines=tuple(ModLine.from_json(x) for x in d.get("lines") or ()))

    def request(self, txn_id: str, edit_sequence: str, existing: tuple[PoLineRead, ...] = (),
                request_id: str | None = None):
        """PurchaseOrderModRq for this plan.

        ``existing`` = the PO's current lines: a replacement keeps each existing line's TxnLineID
        when the item matches (received quantities stay linked) and never drops a line that has
        already been received; other unlisted lines are removed, as QuickBooks does for a Mod
        that lists lines.
        """
        if self.action == "close":
            return qx.purchase_order_mod(txn_id, edit_sequence, request_id, is_manually_closed=True, memo=self.memo)
        left = list(existing)
        lines = []
        for ln in self.lines:
            match = next((e for e in left if e.item.lower() == ln.item.lower()), None)
            if match is not None:
                left.remove(match)
            lines.append({"txn_line_id": match.txn_line_id if match else "-1", "item": ln.item,
                          "description": ln.description or None, "quantity": ln.quantity, "rate": ln.rate,
                          "amount": ln.amount})
        lines += [{"txn_line_id": e.txn_line_id} for e in left if e.received > 0]
        return qx.purchase_order_mod(txn_id, edit_sequence, request_id, memo=self.memo, lines=lines)


# ---------------------------------------------------------------- 856 receipts

@dataclass(frozen=True)
class ReceiptLine:
    """What arrived, in QuickBooks' unit; ``shipped`` is the supplier's count when it was converted."""

    item: str
    vendor_part: str
    quantity: Decimal
    po_number: str = ""
    description: str = ""
    line: str = ""
    shipped: str = ""

    @property
    def name(self) -> str:
        return self.item or self.vendor_part

    def to_json(self) -> dict:
        return {"item": self.item, "vendor_part": self.vendor_part, "quantity": str(self.quantity),
                **({"shipped": self.shipped} if self.shipped else {}), "po_number": self.po_number,
                "description": self.description, "line": self.line}

    @classmethod
    def from_json(cls, d: dict) -> "ReceiptLine":
        return cls(item=d.get("item") or "", vendor_part=d.get("vendor_part") or "", quantity=Decimal(d["quantity"]),
                   po_number=d.get("po_number") or "", description=d.get("description") or "",
                   line=d.get("line") or "", shipped=d.get("shipped") or "")


@dataclass(frozen=True)
class Link:
    """One receipt line's quantity taken from one open purchase order line."""

    po: str
    txn_id: str
    txn_line_id: str
    quantity: Decimal

    def to_json(self) -> dict:
        return {"po": self.po, "txn_id": self.txn_id, "txn_line_id": self.txn_line_id, "quantity": str(self.quantity)}

    @classmethod
    def from_json(cls, d: dict) -> "Link":
        return cls(po=d["po"], txn_id=d["txn_id"], txn_line_id=d["txn_line_id"], quantity=Decimal(d["quantity"]))


@dataclass(frozen=True)
class LinkPlan:
    """An ItemReceipt to add once its lines are linked to open purchase order lines.

    ``receipt`` is the receipt as translated (header and unlinked lines); linking replaces only
    its lines, so nothing is rebuilt from the XML it produced. ``open_only``: a person chose to receive what
    the purchase orders have open and leave the rest of an over-shipment out (else more shipped than is open
    holds the receipt whole)."""

    po_numbers: tuple[str, ...]
    lines: tuple[ReceiptLine, ...]
    receipt: ItemReceiptSpec
    open_only: bool = False

    def linked(self, item_lines: list[ItemLine]):
        """The ItemReceiptAdd element with these (linked) lines."""
        return qx.item_receipt_add(replace(self.receipt, item_lines=item_lines))

    def to_json(self) -> dict:
        r = self.receipt
        return {"po_numbers": list(self.po_numbers), "lines": [ln.to_json() for ln in self.lines],
                "receipt": {"vendor": r.vendor, "txn_date": r.txn_date.isoformat() if r.txn_date else None,
                            "ref_number": r.ref_number, "memo": r.memo, "external_guid": r.external_guid},
                **({"open_only": True} if self.open_only else {})}

    @classmethod
    def from_json(cls, d: dict) -> "LinkPlan":
        lines = tuple(ReceiptLine.from_json(x) for x in d.get("lines") or ())
        r = d["receipt"]
        receipt = ItemReceiptSpec(vendor=r["vendor"], txn_date=date.fromisoformat(r["txn_date"]) if r.get("txn_date")
                                  else None, ref_number=r.get("ref_number") or "", memo=r.get("memo") or "",
                                  external_guid=r.get("external_guid") or "",
                                  item_lines=[ItemLine(item=ln.name, quantity=ln.quantity, description=ln.description)
                                              for ln in lines])
        return cls(po_numbers=tuple(d.get("po_numbers") or ()), lines=lines, receipt=receipt,
                   open_only=bool(d.get("open_only")))


# ---------------------------------------------------------------- a bill sent in parts

@dataclass(frozen=True)
class BillParts:
    """A bill too big for one Web Connector round trip, posted in parts: a BillAdd with its first lines,
    then BillMods each adding the next lines (``qbxml_templates.parts``).

    Invariant: QuickBooks' bill ``txn_id`` holds our first ``posted`` lines and no other (its TxnLineIDs
    are ``expense_ids`` then ``item_ids``, in QuickBooks' order); ``sending`` lines are in flight
    (0: none). ``reread``: the bill's EditSequence and lines must be read from QuickBooks before the next
    part (someone changed it, or the request was released). No ``txn_id``: nothing is in QuickBooks yet."""

    total: int
    posted: int = 0
    sending: int = 0
    parts: int = 0  # parts QuickBooks has
    txn_id: str = ""
    edit_sequence: str = ""
    expense_ids: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()
    amount: str | None = None  # the bill's AmountDue after the last part
    reread: bool = False
    released: bool = False  # carried over by a person's release: a bill gone from QuickBooks means start again

    @property
    def said(self) -> str:
        """Where it stands, in words (for hold reasons and ``show``)."""
        if not self.txn_id:
            return f"none of its {self.total} lines is in QuickBooks yet"
        amount = f", {self.amount} so far" if self.amount is not None else ""
        return (f"the first {self.posted} of its {self.total} lines are in QuickBooks as bill TxnID {self.txn_id} "
                f"({self.parts} part{'s' if self.parts != 1 else ''}{amount})")

    def to_json(self) -> dict:
        return {"total": self.total, "posted": self.posted, "sending": self.sending, "parts": self.parts,
                "txn_id": self.txn_id, "edit_sequence": self.edit_sequence, "expense_ids": list(self.expense_ids),
                "item_ids": list(self.item_ids), "amount": self.amount, "reread": self.reread,
                "released": self.released}

    @classmethod
    def from_json(cls, d: dict) -> "BillParts":
        return cls(total=int(d["total"]), posted=int(d.get("posted") or 0), sending=int(d.get("sending") or 0),
                   parts=int(d.get("parts") or 0), txn_id=d.get("txn_id") or "",
                   edit_sequence=d.get("edit_sequence") or "", expense_ids=tuple(d.get("expense_ids") or ()),
                   item_ids=tuple(d.get("item_ids") or ()), amount=d.get("amount"), reread=bool(d.get("reread")),
                   released=bool(d.get("released")))


# ---------------------------------------------------------------- the request's working data

@dataclass(frozen=True)
class RequestMeta:
    """Everything delivery knows about a queued request besides its qbXML. Immutable: a change is
    ``replace(meta, ...)`` written back whole (``lifecycle.set_meta``)."""

    refs: tuple[Reference, ...] | None = None  # None: not known (a change or a receipt: found at send time)
    mod_plan: ModPlan | None = None
    link_plan: LinkPlan | None = None
    linked: bool = False
    links: tuple[Link, ...] = ()
    po_read: PoRead | None = None
    not_before: str | None = None  # ISO time: a transient QuickBooks error asked us to wait
    ref_rechecks: int = 0
    ref_recheck: bool = False
    verify_tries: int = 0
    parts: BillParts | None = None  # a bill posted in parts, once its first part is planned
    bill_pos: tuple[str, ...] = ()  # a bill whose item lines are linked to these purchase orders' open lines

    @property
    def waits_for_link(self) -> bool:
        return self.link_plan is not None and not self.linked

    @property
    def waits_for_bill_link(self) -> bool:
        return bool(self.bill_pos) and not self.linked

    def to_json(self) -> dict:
        out: dict = {}
        if self.refs is not None:
            out["refs"] = [list(r) for r in self.refs]
        if self.mod_plan is not None:
            out["mod_plan"] = self.mod_plan.to_json()
        if self.link_plan is not None:
            out["link_plan"] = self.link_plan.to_json()
            out["linked"] = self.linked
        if self.bill_pos:
            out["bill_pos"] = list(self.bill_pos)
            out["linked"] = self.linked
        if self.links:
            out["links"] = [ln.to_json() for ln in self.links]
        if self.po_read is not None:
            out.update(txn_id=self.po_read.txn_id, edit_sequence=self.po_read.edit_sequence,
                       read_ticket=self.po_read.ticket,
                       lines=[{"txn_line_id": ln.txn_line_id, "item": ln.item, "received": str(ln.received)}
                              for ln in self.po_read.lines])
        if self.not_before:
            out["not_before"] = self.not_before
        if self.ref_rechecks:
            out["ref_rechecks"] = self.ref_rechecks
        if self.ref_recheck:
            out["ref_recheck"] = True
        if self.verify_tries:
            out["verify_tries"] = self.verify_tries
        if self.parts is not None:
            out["parts"] = self.parts.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict | None) -> "RequestMeta":
        d = d or {}
        read = None
        if d.get("edit_sequence") and d.get("txn_id"):
            read = PoRead(txn_id=d["txn_id"], edit_sequence=d["edit_sequence"], ticket=d.get("read_ticket") or "",
                          lines=tuple(PoLineRead(txn_line_id=ln.get("txn_line_id") or "", item=ln.get("item") or "",
                                                 received=Decimal(ln.get("received") or 0))
                                      for ln in d.get("lines") or ()))
        return cls(refs=tuple((k, n) for k, n in d["refs"]) if "refs" in d else None,
                   mod_plan=ModPlan.from_json(d["mod_plan"]) if d.get("mod_plan") else None,
                   link_plan=LinkPlan.from_json(d["link_plan"]) if d.get("link_plan") else None,
                   linked=bool(d.get("linked")), links=tuple(Link.from_json(x) for x in d.get("links") or ()),
                   po_read=read, not_before=d.get("not_before"), ref_rechecks=int(d.get("ref_rechecks") or 0),
                   ref_recheck=bool(d.get("ref_recheck")), verify_tries=int(d.get("verify_tries") or 0),
                   parts=BillParts.from_json(d["parts"]) if d.get("parts") else None,
                   bill_pos=tuple(d.get("bill_pos") or ()))
