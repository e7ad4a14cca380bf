"""Queries: the shared query machinery and the transaction queries.

Exact lookups (ListID / FullName / TxnID / RefNumber, status 500 when some are
missing), filters (dates, names, entity, account, RefNumber), MaxReturned,
IncludeRetElement, and iterators (Start / Continue / Stop). The list queries'
handler is in :mod:`fakes.quickbooks._lists`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from lxml import etree

from ._util import _bool, _date, _lower, _Status


@dataclass
class _Iterator:
    rq_type: str
    ids: list[str]
    position: int
    page_size: int | None


class _QueriesMixin:
    """Queries part of :class:`~fakes.quickbooks.emulator.QuickBooksEmulator`."""

    # ================================================================= query machinery

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
