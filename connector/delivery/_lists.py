"""QuickBooks' name lists (vendors, accounts, classes, items), kept fresh in spare room of batches.

A request naming an entry QuickBooks does not have would be refused (3140) after it was sent;
with fresh lists it is held before, with the fix in words. Lists are read in the same round trip
as the writes, paged with an iterator where the XSD allows one; a list QuickBooks will not give is
not asked for again for a while. State lives in ``CompanyState.info["refs"]`` per company.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session

import qbxml_templates as qx

from ..store import CompanyState, utcnow
from ._batch import RequestKey, RequestKind

log = structlog.get_logger(__name__)

REF_LISTS = {  # list -> (query builder, iterator allowed by the 13.0 XSD, name field in the Ret)
    "Vendor": ("vendor_query", True, "Name"),
    "Account": ("account_query", False, "FullName"),  # AccountQueryRq/ClassQueryRq take no iterator: read whole
    "Class": ("class_query", False, "FullName"),
    "Item": ("item_query", True, "FullName"),
}
REF_PAGE = 500
MAX_LIST_FAILURES = 3


class NameLists:
    """One company's list state for one unit of work; :meth:`save` writes it back."""

    def __init__(self, s: Session, company: str, refresh_after: float):
        self.s, self.company, self.refresh_after = s, company, refresh_after
        cs = s.get(CompanyState, company)
        self.refs: dict = dict(((cs.info or {}).get("refs") or {}) if cs else {})
        self._names: dict[str, set[str]] | None = None

    def save(self) -> None:
        cs = self.s.get(CompanyState, self.company) or CompanyState(company=self.company, info={})
        cs.info = {**(cs.info or {}), "refs": self.refs}
        self.s.merge(cs)

    # ------------------------------------------------------------ what to read
    def due(self) -> list[str]:
        """Lists to read now: never read, stale, mid-iteration, or older than ``refresh_after``."""
        if not self.refresh_after:
            return []
        now = utcnow()
        due = []
        for name in REF_LISTS:
            r = self.refs.get(name) or {}
            if r.get("disabled_until") and r["disabled_until"] > now.isoformat():
                continue
            at = r.get("refreshed_at")
            if r.get("iterator_id") or r.get("stale") or not at or \
                    (now - datetime.fromisoformat(at)).total_seconds() > self.refresh_after:
                due.append(name)
        return due

    def usable(self) -> bool:
        """Every list read whole and current: missing names can be trusted."""
        return bool(self.refresh_after) and all(
            (self.refs.get(n) or {}).get("refreshed_at") and not (self.refs.get(n) or {}).get("iterator_id")
            and not (self.refs.get(n) or {}).get("stale") for n in REF_LISTS)

    def reading(self) -> bool:
        """A list is being paged through (its iterator dies with the session)."""
        return any((r or {}).get("iterator_id") for r in self.refs.values())

    def names(self) -> dict[str, set[str]]:
        if self._names is None:
            self._names = {k: set((self.refs.get(k) or {}).get("names") or []) for k in REF_LISTS}
        return self._names

    def query(self, list_name: str):
        builder, iterable, field = REF_LISTS[list_name]
        key = str(RequestKey.of(RequestKind.LIST, list_name))
        if not iterable:
            return getattr(qx, builder)(request_id=key, include_ret=["ListID", field])
        state = self.refs.get(list_name) or {}
        kw = {"iterator": "Continue", "iterator_id": state["iterator_id"]} if state.get("iterator_id") else \
            {"iterator": "Start"}
        return getattr(qx, builder)(request_id=key, max_returned=REF_PAGE, include_ret=["ListID", field], **kw)

    # ------------------------------------------------------------ answers
    def read(self, list_name: str, item) -> None:
        """A page of a list (or its failure) came back."""
        if list_name not in REF_LISTS:
            return
        state = dict(self.refs.get(list_name) or {})
        if item.status_code not in (0, 1):  # e.g. an expired iterator: start over next round
            state.pop("iterator_id", None)
            state["stale"] = True
            state["failures"] = state.get("failures", 0) + 1
            if state["failures"] >= MAX_LIST_FAILURES:  # this QuickBooks will not list it: stop asking for a while
                state["disabled_until"] = (utcnow() + timedelta(seconds=max(self.refresh_after, 3600))).isoformat()
                state["failures"] = 0
                log.warning("qbwc.list_unreadable", list=list_name, status_code=item.status_code,
                            message=item.message)
        else:
            field = REF_LISTS[list_name][2]
            names = [] if not state.get("iterator_id") else list(state.get("partial", []))
            names += [(r.findtext(field) or "").lower() for r in (item.rets or [])]
            if item.iterator_remaining:
                state.update(partial=names, iterator_id=item.iterator_id)
            else:
                state = {"names": sorted(set(names)), "refreshed_at": utcnow().isoformat()}
        self.refs[list_name] = state
        self._names = None
        self.save()

    def vendor_added(self, name: str) -> None:
        vendors = self.refs.get("Vendor") or {}
        vendors["names"] = sorted(set(vendors.get("names", [])) | {name.lower()})
        self.refs["Vendor"] = vendors
        self._names = None
        self.save()

    def end_session(self) -> None:
        """An iterator does not outlive its session: a list read halfway is read again next time."""
        for name, r in list(self.refs.items()):
            if (r or {}).get("iterator_id"):
                self.refs[name] = {k: v for k, v in r.items() if k not in ("iterator_id", "partial")} | {"stale": True}
        if self.refs:
            self.save()
