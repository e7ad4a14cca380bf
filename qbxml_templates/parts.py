"""A bill too big for one Web Connector round trip, sent in parts.

QuickBooks takes a bill with a BillAdd; more lines are added later with a BillMod that names the
bill (TxnID + EditSequence) and adds lines with ``TxnLineID`` ``-1``. A Mod that touches any line
deletes every line it does not name (Intuit's "Modify, delete and void requests": "any line item not
specifically identified in a modify request will be deleted"), so each BillMod also names every line
the bill already has, by TxnLineID alone (a line named with no other field is kept as it is).

The parts are cut from the whole ``BillAddRq`` built at translation: a line's position is its
place among the add's ``ExpenseLineAdd`` then ``ItemLineAdd`` elements (QuickBooks keeps them in
that order: expense lines, then item lines), so "the first ``n`` lines" means the same in the add,
in each mod and in QuickBooks' answer. Nothing is rebuilt from text: elements are copied.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree

from ._xml import request, sub, text
from .errors import QbxmlValueError

_LINES = ("ExpenseLineAdd", "ItemLineAdd")
_NOT_IN_MOD = {"DataExt", "LinkToTxn"}  # ExpenseLineMod / ItemLineMod have neither


def _body(add_rq: etree._Element) -> etree._Element:
    body = add_rq.find("BillAdd")
    if body is None:
        raise QbxmlValueError("BillAddRq", "only a BillAdd is sent in parts")
    return body


def bill_lines(add_rq: etree._Element) -> list[etree._Element]:
    """The add's lines in QuickBooks' order: expense lines, then item lines."""
    body = _body(add_rq)
    return [*body.iterchildren("ExpenseLineAdd"), *body.iterchildren("ItemLineAdd")]


def splittable(add_rq: etree._Element) -> bool:
    """Can this request go in parts? A BillAdd with more than one line and no purchase order link (a link is
    made by the add; a BillMod line cannot carry one)."""
    body = add_rq.find("BillAdd")
    if body is None or body.find("LinkToTxnID") is not None or body.find("ItemGroupLineAdd") is not None:
        return False
    lines = bill_lines(add_rq)
    return len(lines) > 1 and not any(ln.find("LinkToTxn") is not None for ln in lines)


def bill_add_part(add_rq: etree._Element, stop: int, request_id: str | None = None) -> etree._Element:
    """The BillAddRq with only the first ``stop`` lines (the header, ExternalGUID included, whole)."""
    if stop < 1:
        raise QbxmlValueError("BillAdd", "a part has at least one line")
    part = copy.deepcopy(add_rq)
    body = _body(part)
    for ln in bill_lines(part)[stop:]:
        body.remove(ln)
    if request_id is not None:
        part.set("requestID", request_id)
    return part


def bill_mod_part(add_rq: etree._Element, txn_id: str, edit_sequence: str, *, keep_expense: Sequence[str],
                  keep_items: Sequence[str], start: int, stop: int, request_id: str | None = None) -> etree._Element:
    """BillModRq adding lines ``start`` to ``stop`` (exclusive) of the add to bill ``txn_id``, keeping the
    lines it has (``keep_expense`` and ``keep_items``: their TxnLineIDs, in QuickBooks' order).

    Order (XSD): TxnID, EditSequence, ExpenseLineMod* (kept, then new), ItemLineMod* (kept, then new)."""
    lines = bill_lines(add_rq)
    if not 0 <= start < stop <= len(lines):
        raise QbxmlValueError("BillMod", f"lines {start}..{stop} are not lines of this bill ({len(lines)})")
    new = lines[start:stop]
    rq = request("BillModRq", request_id)
    body = sub(rq, "BillMod")
    text(body, "TxnID", txn_id, max_len=36, field="BillMod/TxnID")
    text(body, "EditSequence", edit_sequence, max_len=16, field="BillMod/EditSequence")
    for kind, keep in (("Expense", keep_expense), ("Item", keep_items)):
        for line_id in keep:
            text(sub(body, f"{kind}LineMod"), "TxnLineID", line_id, max_len=36, field=f"{kind}LineMod/TxnLineID")
        for ln in new:
            if ln.tag != f"{kind}LineAdd":
                continue
            mod = sub(body, f"{kind}LineMod")
            text(mod, "TxnLineID", "-1")
            for child in ln:
                if isinstance(child.tag, str) and child.tag not in _NOT_IN_MOD:
                    mod.append(copy.deepcopy(child))
    return rq


_AFTER_LINK = ("SalesRepRef", "DataExt")  # ItemLineAdd children that come after LinkToTxn (XSD order)


def link_item_lines(add_rq: etree._Element, links: dict[int, tuple[str, str]]) -> etree._Element:
    """A copy of the BillAddRq whose ``ItemLineAdd`` number ``i`` (0-based, among the item lines) is
    linked to purchase order line ``links[i]`` = (TxnID, TxnLineID) with a ``LinkToTxn`` in its XSD place."""
    rq = copy.deepcopy(add_rq)
    items = list(_body(rq).iterchildren("ItemLineAdd"))
    for i, (txn_id, txn_line_id) in links.items():
        line = items[i]
        if line.find("LinkToTxn") is not None:
            raise QbxmlValueError("ItemLineAdd/LinkToTxn", "the line is linked already")
        link = etree.Element("LinkToTxn")
        text(link, "TxnID", txn_id, max_len=36, field="LinkToTxn/TxnID")
        text(link, "TxnLineID", txn_line_id, max_len=36, field="LinkToTxn/TxnLineID")
        after = next((c for c in line if c.tag in _AFTER_LINK), None)
        if after is not None:
            after.addprevious(link)
        else:
            line.append(link)
    return rq
