"""Checks against QuickBooks without posting anything: the QuickBooks side of "test connection" and the
dry run of everything pending.

Both read what the Web Connector last told qbedi (``company_state``: the company file QuickBooks had open,
its product and qbXML versions, and the vendor / account / class / item name lists delivery keeps fresh).
Nothing here sends anything; a check that needs fresher lists asks for them
(:func:`connector.control.request_sync` with ``refresh_lists``) and the next Web Connector session reads
them, read-only. A name is "missing" only when its list was read whole and is current; otherwise it is
"not known yet", never guessed.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .plans import RequestMeta
from .settings import Settings
from .status import PENDING_REQUEST, DocStatus, RqState
from .store import CompanyState, Document, Store

LISTS = ("Vendor", "Account", "Class", "Item")
PENDING_DOCS = (DocStatus.AWAITING_APPROVAL, DocStatus.QUEUED)


def mapped_names(settings: Settings) -> dict[str, dict[tuple[str, str], list[str]]]:
    """company -> (list, name) -> where the mapping uses it ("supplier ACME: vendor", ...)."""
    out: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    for sid, sup in settings.suppliers.items():
        used = out[settings.company_for(sup)]
        used[("Vendor", sup.vendor)].append(f"supplier {sid}: vendor")
        if sup.default_account:
            used[("Account", sup.default_account)].append(f"supplier {sid}: default_account")
        if sup.class_:
            used[("Class", sup.class_)].append(f"supplier {sid}: class")
        if sup.charge_account:
            used[("Account", sup.charge_account)].append(f"supplier {sid}: charge_account")
        for code, account in sup.charge_accounts.items():
            used[("Account", account)].append(f"supplier {sid}: charge_accounts.{code}")
        for n, rule in enumerate(sup.line_rules, 1):
            for kind, name in (("Account", rule.account), ("Class", rule.class_), ("Item", rule.item)):
                if name:
                    used[(kind, name)].append(f"supplier {sid}: line rule {n} {kind.lower()}")
    return {company: dict(names) for company, names in out.items()}


class _Lists:
    """One company's last-read lists: ``known(list, name)`` is True / False / None (not read, or stale)."""

    def __init__(self, info: dict):
        self.refs = (info or {}).get("refs") or {}

    def state(self, name: str) -> dict:
        r = self.refs.get(name) or {}
        current = bool(r.get("refreshed_at")) and not r.get("stale") and not r.get("iterator_id")
        return {"read_at": r.get("refreshed_at"), "entries": len(r.get("names") or []), "current": current}

    def known(self, list_name: str, name: str) -> bool | None:
        r = self.refs.get(list_name) or {}
        if not r.get("refreshed_at") or r.get("iterator_id"):
            return None
        found = name.lower() in set(r.get("names") or [])
        return True if found else (None if r.get("stale") else False)


def quickbooks_check(store: Store, settings: Settings) -> list[dict]:
    """Per Web Connector user: the company file (configured, and open at the last session), QuickBooks'
    product and qbXML versions, each name list (when read, how many entries), and every name the mapping
    uses with whether QuickBooks has it (``missing`` / ``unknown`` with where it is used)."""
    used = mapped_names(settings)
    with store.session() as s:
        states = {c.company: c for c in s.scalars(select(CompanyState))}
    out = []
    for user in settings.web_connector.users:
        cs = states.get(user.username)
        info = dict(cs.info or {}) if cs is not None else {}
        lists = _Lists(info)
        missing, unknown = [], []
        for (kind, name), where in sorted(used.get(user.username, {}).items()):
            known = lists.known(kind, name)
            entry = {"list": kind, "name": name, "used_by": where}
            if known is False:
                missing.append(entry)
            elif known is None:
                unknown.append(entry)
        mismatch = info.get("file_mismatch")
        contact = cs.last_contact if cs is not None else None
        problems = []
        if contact is None:
            problems.append("the Web Connector has not connected yet")
        if mismatch:
            problems.append(f"QuickBooks had '{mismatch['open']}' open, not '{mismatch['configured']}'")
        problems += [f"{m['list'].lower()} {m['name']!r} is not in QuickBooks ({'; '.join(m['used_by'])})"
                     for m in missing]
        out.append({
            "company": user.username, "company_file": user.company_file or "(whichever QuickBooks has open)",
            "open_company_file": info.get("company_file_name") or info.get("company_file"),
            "product": info.get("product"), "qbxml_version": info.get("qbxml_version"),
            "max_qbxml_version": info.get("max_qbxml_version"),
            "last_contact": contact.isoformat(timespec="seconds") if isinstance(contact, datetime) else None,
            "lists": {name: lists.state(name) for name in LISTS}, "missing": missing, "unknown": unknown,
            "file_mismatch": mismatch, "ok": not problems and not unknown, "problems": problems,
        })
    return out


def dry_run(store: Store, settings: Settings, *, limit: int | None = 500) -> list[dict]:
    """What the next Web Connector sessions would post, posting nothing: every document awaiting approval
    or queued, its request, amount and company, each QuickBooks name it uses checked against the lists
    (``would``: ``post``, ``hold`` with the missing names, ``wait`` for approval / unread lists)."""
    with store.session() as s:
        states = {c.company: _Lists(c.info or {}) for c in s.scalars(select(CompanyState))}
        q = (select(Document).where(Document.status.in_(PENDING_DOCS)).order_by(Document.id)
             .options(selectinload(Document.requests)))
        if limit is not None:
            q = q.limit(limit)
        out = []
        for d in s.scalars(q):
            rq = next((r for r in reversed(d.requests) if r.state in (*PENDING_REQUEST, RqState.AWAITING)), None)
            meta = RequestMeta.from_json(rq.meta) if rq is not None else RequestMeta()
            lists = states.get(d.company or "", _Lists({}))
            refs = [{"list": k, "name": n, "in_quickbooks": lists.known(k, n)} for k, n in (meta.refs or ())]
            missing = [r for r in refs if r["in_quickbooks"] is False]
            if missing:
                would = "hold: " + "; ".join(f"{r['list'].lower()} {r['name']!r} is not in QuickBooks" for r in missing)
            elif d.status == DocStatus.AWAITING_APPROVAL:
                would = "wait: approval"
            elif any(r["in_quickbooks"] is None for r in refs):
                would = "post (names not checked: QuickBooks' lists not read yet)"
            else:
                would = "post"
            out.append({"id": d.id, "supplier": d.supplier_id, "transaction_set": d.transaction_set,
                        "document_number": d.document_number, "total": None if d.total is None else str(d.total),
                        "status": d.status, "company": d.company, "request": rq.request_type if rq else None,
                        "vendor": rq.vendor if rq else None, "references": refs, "would": would})
        return out


def flagged_posted(store: Store, *, limit: int = 200) -> list[dict]:
    """Posted documents whose transaction reconciliation found deleted or changed in QuickBooks."""
    with store.session() as s:
        q = (select(Document).where(Document.status == DocStatus.POSTED,
                                    Document.reason_code.in_(("qb_deleted", "qb_changed")))
             .order_by(Document.id).limit(limit))
        return [{"id": d.id, "supplier": d.supplier_id, "transaction_set": d.transaction_set,
                 "document_number": d.document_number, "qb_txn_id": d.qb_txn_id,
                 "qb_amount": None if d.qb_amount is None else str(d.qb_amount), "company": d.company,
                 "reason_code": d.reason_code, "reason": d.reason} for d in s.scalars(q)]
