"""The emulated company's lists: vendors, accounts, classes, terms, items.

Seeding helpers (``add_vendor`` ... ``add_item``), *Ref resolution and
rendering, the list ``*Ret`` elements, VendorAdd/VendorMod and the list
queries (VendorQuery, AccountQuery, ClassQuery, ItemQuery, TermsQuery).
"""
from __future__ import annotations

import copy
from decimal import Decimal

from lxml import etree

from ._util import (
    _bool, _fmt_amt, _fmt_num, _invalid_ref, _lower, _name_in_use, _not_found_object, _opt,
    _stale_edit_sequence, _Status, _sub,
)
from .company import ITEM_KINDS, Account, Item, QBClass, Record, Terms, Vendor, fmt_time

_LIST_TYPE_LABEL = {"Vendor": "Vendor", "Account": "Account", "Class": "Class",
                    "Item": "Item", "Terms": "Terms"}

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


class _ListsMixin:
    """Lists part of :class:`~fakes.quickbooks.emulator.QuickBooksEmulator`."""

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
