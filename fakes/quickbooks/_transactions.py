"""The emulated company's purchasing transactions.

BillAdd, BillMod, VendorCreditAdd, ItemReceiptAdd, PurchaseOrderAdd and
PurchaseOrderMod: header, expense and item lines, linking to purchase order
lines (received / billed quantities, QuantityOnOrder / QuantityOnHand), and the
transaction ``*Ret`` elements with their lines and LinkedTxn.
"""
from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from ._util import (
    _bool, _date, _dec, _fmt_amt, _fmt_num, _money, _not_found_object, _opt,
    _stale_edit_sequence, _Status, _sub,
)
from .company import Account, ExpenseLineRec, ItemLineRec, POLineRec, Txn, fmt_time

_TXN_LABEL = {"Bill": "Bill", "VendorCredit": "VendorCredit", "ItemReceipt": "ItemReceipt",
              "PurchaseOrder": "PurchaseOrder"}


class _TransactionsMixin:
    """Transactions part of :class:`~fakes.quickbooks.emulator.QuickBooksEmulator`."""

    # ================================================================= seeding

    def delete_transaction(self, txn_id: str) -> None:
        """Someone deletes a transaction in QuickBooks' own window (what reconciliation must notice): a
        later query by its TxnID answers status 1, as QuickBooks does."""
        with self._lock:
            del self.txns[txn_id]

    def change_expense_amount(self, txn_id: str, line: int, amount) -> None:
        """Someone edits a bill's expense line amount in QuickBooks (its AmountDue follows)."""
        from decimal import Decimal

        with self._lock:
            self.txns[txn_id].expense_lines[line].amount = Decimal(str(amount))

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
        for el in body.findall("ExpenseLineAdd"):
            t.expense_lines.append(self._expense_line(el, f"{t.kind} line"))

    def _expense_line(self, el: etree._Element, where: str) -> ExpenseLineRec:
        """A new expense line from an ExpenseLineAdd (or an ExpenseLineMod adding a line)."""
        acct = self._resolve(el.find("AccountRef"), self.accounts, "Account", where)
        cls = self._resolve(el.find("ClassRef"), self.classes, "Class", where)
        amount = _dec(el.findtext("Amount"))
        if acct is None and amount:
            raise _Status(3140, f'There is an invalid reference to QuickBooks Account "" in '
                                f'the {where}.  QuickBooks error message: Invalid argument.  '
                                f'The specified record does not exist in the list.')
        return ExpenseLineRec(
            txn_line_id=self.ids.txn_id(), account_list_id=acct.id if acct else "",
            amount=_money(amount) if amount is not None else None,
            memo=el.findtext("Memo") or "", class_list_id=cls.id if cls else "")

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
                    # a bill against a PO line receives what no item receipt has (QuickBooks' Enter Bills
                    # from a PO): the line counts it received too, and the PO closes once all is received
                    fresh = max(Decimal(0), min(qty, pl.billed_quantity + qty - pl.received_quantity))
                    pl.billed_quantity += qty
                    pl.received_quantity += fresh
                    if item.kind == "ItemInventory":
                        item.quantity_on_hand += fresh
                        if pl.quantity is not None:
                            item.quantity_on_order -= min(fresh, max(pl.quantity - (pl.received_quantity - fresh),
                                                                     Decimal(0)))
                linked_pos[po.id] = po
                if kind == "Bill":
                    continue  # received above, as far as it was not already
            if kind in ("ItemReceipt", "Bill") and item.kind == "ItemInventory" and ln.quantity:
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

    def _h_bill_mod(self, rq, rs):
        """BillMod: header fields, and lines by the documented rule for transaction mods: a request that
        names any line (ExpenseLineMod / ItemLineMod / Clear*Lines) replaces the bill's lines with the ones
        it names; a named line with only its TxnLineID is kept as it is, TxnLineID -1 adds a line, and every
        line not named is deleted (Intuit: "any line item not specifically identified in a modify request
        will be deleted"). Nothing changes unless the whole request is valid."""
        body = rq.find("BillMod")
        bill = self._to_modify(body, "Bill")
        where = "Bill"
        changes: dict = {}
        if body.find("VendorRef") is not None:
            changes["vendor_list_id"] = self._resolve(body.find("VendorRef"), self.vendors, "Vendor", where).id
        for tag, attr, conv in (("TxnDate", "txn_date", _date), ("DueDate", "due_date", _date),
                                ("RefNumber", "ref_number", str), ("Memo", "memo", str)):
            el = body.find(tag)
            if el is not None:
                changes[attr] = conv(el.text or "")
        touches_lines = any(body.find(tag) is not None for tag in
                            ("ClearExpenseLines", "ExpenseLineMod", "ClearItemLines", "ItemLineMod"))
        if body.find("ItemGroupLineMod") is not None:
            raise _Status(3250)
        expense, items = bill.expense_lines, bill.item_lines
        if touches_lines:
            existing_exp = {ln.txn_line_id: ln for ln in bill.expense_lines}
            existing_item = {ln.txn_line_id: ln for ln in bill.item_lines}
            expense, items = [], []
            for el in body.findall("ExpenseLineMod"):
                line_id = el.findtext("TxnLineID") or ""
                if line_id == "-1":
                    expense.append(self._expense_line(el, f"{where} line"))
                    continue
                if line_id not in existing_exp:
                    raise _not_found_object(line_id)
                ln = copy.deepcopy(existing_exp.pop(line_id))
                if el.find("AccountRef") is not None:
                    ln.account_list_id = self._resolve(el.find("AccountRef"), self.accounts, "Account",
                                                       f"{where} line").id
                if el.find("Amount") is not None:
                    ln.amount = _money(_dec(el.findtext("Amount")))
                if el.find("Memo") is not None:
                    ln.memo = el.findtext("Memo") or ""
                if el.find("ClassRef") is not None:
                    c = self._resolve(el.find("ClassRef"), self.classes, "Class", f"{where} line")
                    ln.class_list_id = c.id if c else ""
                expense.append(ln)
            for el in body.findall("ItemLineMod"):
                line_id = el.findtext("TxnLineID") or ""
                if line_id == "-1":
                    items.append(self._item_line(el, bill, None, None))
                    continue
                if line_id not in existing_item:
                    raise _not_found_object(line_id)
                ln = copy.deepcopy(existing_item.pop(line_id))
                for tag, attr in (("Desc", "description"), ("UnitOfMeasure", "unit")):
                    if el.find(tag) is not None:
                        setattr(ln, attr, el.findtext(tag) or "")
                for tag, attr in (("Quantity", "quantity"), ("Cost", "cost")):
                    if el.find(tag) is not None:
                        setattr(ln, attr, _dec(el.findtext(tag)))
                if el.find("Amount") is not None:
                    ln.amount = _money(_dec(el.findtext("Amount")))
                items.append(ln)
            if any(ln.link_txn_id for ln in existing_item.values()):
                raise _Status(3250, "This emulator does not delete bill lines linked to a purchase order.")
        # --- commit (nothing above mutated the company) ---
        for attr, value in changes.items():
            setattr(bill, attr, value)
        if touches_lines:
            kept = {ln.txn_line_id for ln in items}
            for ln in bill.item_lines:  # deleted inventory lines take their quantity back out
                if ln.txn_line_id not in kept and ln.quantity and self.items[ln.item_list_id].kind == "ItemInventory":
                    self.items[ln.item_list_id].quantity_on_hand -= ln.quantity
            before = {ln.txn_line_id for ln in bill.item_lines}
            for ln in items:
                if ln.txn_line_id not in before and ln.quantity and self.items[ln.item_list_id].kind == "ItemInventory":
                    self.items[ln.item_list_id].quantity_on_hand += ln.quantity
            bill.expense_lines, bill.item_lines = expense, items
        bill.touch(self.clock.now())
        rs.append(self._txn_ret(bill, include_lines=True, include_linked=True))

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

    def _to_modify(self, body: etree._Element, kind: str) -> Txn:
        """The transaction a Mod names (3120 when there is none of that kind), at the EditSequence it
        names (3200 otherwise)."""
        txn_id = body.findtext("TxnID") or ""
        txn = self.txns.get(txn_id)
        if txn is None or txn.kind != kind:
            raise _not_found_object(txn_id)
        seq = body.findtext("EditSequence") or ""
        if seq != txn.edit_sequence:
            raise _stale_edit_sequence(seq)
        return txn

    def _h_po_mod(self, rq, rs):
        body = rq.find("PurchaseOrderMod")
        po = self._to_modify(body, "PurchaseOrder")
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
