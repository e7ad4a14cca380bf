"""Vendor reconciliation: the suppliers seen in EDI beside QuickBooks' vendor list, suggested matches with
the reason in words, and mapping / unmapping a supplier in the suppliers file.

Invariants:

- Reading (:func:`suppliers_seen`, :func:`quickbooks_vendors`, :func:`reconcile`) changes nothing. What a
  supplier's documents say about it comes from its latest document: the seller's name and N3/N4 address
  from the stored ``edi_document.parsed["seller"]``; its ids (ISA06, GS02, N1) and PER contacts, which the
  stored JSON does not carry, from that document's raw file read again (one file per supplier, never one
  per document).
- QuickBooks' vendor names are the ones qbedi last read through the Web Connector
  (``CompanyState.info["refs"]["Vendor"]``, kept by ``connector/delivery/_lists.py``, in lower case);
  "not in QuickBooks" is only said when that list was read whole, else "not read yet".
- Writing (:func:`map_supplier`, :func:`unmap_supplier`) edits the text of the file where the supplier lives
  (``suppliers_file``, or the config's ``suppliers:`` section): ruamel.yaml (round-trip mode) says where each
  key and value is, and only the lines that change are touched, so comments, order, spacing and quoting
  stay byte for byte. The result is loaded with :func:`connector.settings.load_settings` from a temporary
  copy before the real file is replaced (a temporary file, then ``os.replace``); a result that does not
  load leaves the file untouched and raises :class:`~connector.settings.ConfigError` naming the real file.
"""
from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from sqlalchemy import func, select

import edi
from edi.common import PER_NUMBERS

from . import raw
from .settings import ConfigError, Settings, load_settings
from .status import DocStatus
from .store import CompanyState, Document, ReceivedFile, Store
from .translate import SELLER_PARTIES, candidate_ids

# words that say what kind of company it is, not which one ("Acme Inc." is "Acme")
SUFFIXES = frozenset({"inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "corp", "corporation", "co",
                      "company", "plc", "gmbh", "ag", "sa", "sarl", "bv", "nv", "pty", "pc", "pllc"})
MIN_SCORE = 0.5  # weaker name likenesses are not suggested
MAX_SUGGESTIONS = 5


# ---------------------------------------------------------------- matching names

@dataclass(frozen=True)
class _Name:
    words: tuple[str, ...]  # normalised tokens, company-type words at the end dropped
    plain: tuple[str, ...]  # normalised tokens, nothing dropped
    dropped: tuple[str, ...]  # the dropped words as written ("Inc.")


def normalise(name: str) -> _Name:
    """Lower case, ``&`` read as ``and``, punctuation removed, trailing company-type words (inc, llc, corp,
    co, ltd, company ...) and a leading "the" dropped (kept when nothing else would be left)."""
    pairs = [(raw.strip(",;:"), re.sub(r"[^\w]", "", raw.lower()))
             for raw in (name or "").replace("&", " and ").split()]
    pairs = [(raw, tok) for raw, tok in pairs if tok]
    plain = tuple(tok for _, tok in pairs)
    dropped = []
    while len(pairs) > 1 and pairs[-1][1] in SUFFIXES:
        dropped.insert(0, pairs.pop()[0])
    if len(pairs) > 1 and pairs[0][1] == "the":
        dropped.insert(0, pairs.pop(0)[0])
    return _Name(tuple(tok for _, tok in pairs), plain, tuple(dropped))


def _quoted(words) -> str:
    items = [f"'{w}'" for w in words]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def name_likeness(ours: str, theirs: str) -> tuple[float, str] | None:
    """How alike two company names are (0..1) and why, in words; None when not alike enough to suggest."""
    if not ours.strip() or not theirs.strip():
        return None
    if ours.strip().lower() == theirs.strip().lower():
        return 1.0, "same name"
    a, b = normalise(ours), normalise(theirs)
    if a.plain == b.plain:
        return 0.98, "same name apart from capitals and punctuation"
    if a.words == b.words:
        dropped = a.dropped + b.dropped
        verb = "is" if len(dropped) == 1 else "are"
        both = 0.01 if a.dropped and b.dropped else 0.0  # "Globex Corp." is nearer "Globex Corporation" than "Globex"
        return 0.95 + both, f"same name once {_quoted(dropped)} {verb} dropped"
    ta, tb = set(a.words), set(b.words)
    common, union = ta & tb, ta | tb
    overlap = len(common) / len(union) if union else 0.0
    ratio = difflib.SequenceMatcher(None, " ".join(a.words), " ".join(b.words)).ratio()
    if common and (ta <= tb or tb <= ta):
        (short, n), long_ = ((ours, a), theirs) if ta <= tb else ((theirs, b), ours)
        short = short.strip() if not n.dropped else " ".join(n.words)  # its words, as compared
        return 0.7 + 0.2 * overlap, f"every word of '{short}' is in '{long_.strip()}'"
    score = 0.85 * max(ratio, overlap)
    if score < MIN_SCORE:
        return None
    alike = f"the names are {round(ratio * 100)}% alike"
    if common:
        return score, f"{len(common)} of {len(union)} words in common ({', '.join(sorted(common))}); {alike}"
    return score, alike


def _digits(phone: str) -> str:
    d = re.sub(r"\D", "", phone or "")
    return d[-10:] if len(d) >= 7 else ""


def _address_key(address: dict | None) -> str:
    if not address or not address.get("lines") or not address.get("postal_code"):
        return ""
    first = " ".join(normalise(address["lines"][0]).plain)
    return f"{first}|{re.sub(r'[^0-9A-Za-z]', '', address['postal_code'])[:5].upper()}"


def suggest(supplier: dict, vendors: list[str], mapped: list[dict], spelling: dict[str, str] | None = None
            ) -> list[dict]:
    """QuickBooks vendors (and mapped suppliers' vendors) an unmapped supplier may be, best first:
    ``{"vendor", "score", "reason", "by"}``. Names are compared with :func:`name_likeness`; a phone number,
    an e-mail address or a street address shared with an already mapped supplier suggests that supplier's
    vendor (QuickBooks' list carries no contacts, so those are compared with what EDI told us)."""
    spelling = spelling or {}
    found: dict[str, dict] = {}

    def add(vendor: str, score: float, reason: str, by: str, **extra) -> None:
        vendor = spelling.get(vendor.lower(), vendor)
        row = found.get(vendor.lower())
        if row is None:
            found[vendor.lower()] = {"vendor": vendor, "score": round(score, 3), "reason": reason, "by": by, **extra}
        else:
            row["reason"] += f"; {reason}"
            row["score"] = round(min(1.0, max(row["score"], score) + 0.05), 3)

    for vendor in vendors:
        best = max((m for m in (name_likeness(n, vendor) for n in supplier.get("names") or []) if m),
                   default=None, key=lambda m: m[0])
        if best and best[0] >= MIN_SCORE:
            add(vendor, best[0], best[1], "name")
    phones = {_digits(c.get("phone", "")) for c in supplier.get("contacts") or []} - {""}
    emails = {(c.get("email") or "").strip().lower() for c in supplier.get("contacts") or []} - {""}
    address = _address_key(supplier.get("address"))
    for other in mapped:
        if other is supplier or not other.get("vendor"):
            continue
        theirs = other.get("contacts") or []
        via = f"supplier {other['supplier_id']}, mapped to {other['vendor']}"
        if phones & {_digits(c.get("phone", "")) for c in theirs}:
            add(other["vendor"], 0.9, f"same phone number as {via}", "phone", supplier_id=other["supplier_id"])
        if emails & {(c.get("email") or "").strip().lower() for c in theirs}:
            add(other["vendor"], 0.9, f"same e-mail address as {via}", "email", supplier_id=other["supplier_id"])
        if address and address == _address_key(other.get("address")):
            add(other["vendor"], 0.85, f"same street address as {via}", "address", supplier_id=other["supplier_id"])
    return sorted(found.values(), key=lambda r: (-r["score"], r["vendor"].lower()))[:MAX_SUGGESTIONS]


# ---------------------------------------------------------------- what EDI says about a supplier

def _contacts(raw_segments: list[list[str]] | None) -> list[dict]:
    """PER segments in the header or in a seller's N1 loop: name, phone (TE), e-mail (EM), fax (FX)."""
    out, party = [], None
    for seg in raw_segments or []:
        tag = seg[0] if seg else ""
        if tag == "N1":
            party = seg[1] if len(seg) > 1 else ""
        elif tag in ("IT1", "PO1", "HL", "LIN"):  # the detail area: contacts there are not the seller's
            break
        elif tag == "PER" and (party is None or party in SELLER_PARTIES):
            contact = {"function": seg[1] if len(seg) > 1 else "", "name": seg[2] if len(seg) > 2 else ""}
            for i in range(3, len(seg) - 1, 2):
                key = PER_NUMBERS.get(seg[i].upper())
                if key and seg[i + 1] and key not in contact:
                    contact[key] = seg[i + 1]
            out.append(contact)
    return out


def _party_json(p) -> dict:
    address = {"lines": list(p.address_lines), "city": p.city, "state": p.state, "postal_code": p.postal_code,
               "country": p.country}
    return {"code": p.code, "name": p.name, "id_qualifier": p.id_qualifier, "id": p.id,
            "address": address if any(address.values()) else None}


def details_from_file(stream: BinaryIO, ordinal: int) -> dict | None:
    """The seller's name, ids, address and contacts of the ``ordinal``-th set of a raw file (a binary
    stream, :mod:`connector.raw`; the same shape as a ``parties``-carrying ``parsed`` JSON would give), or
    None when the set cannot be read."""
    for i, ps in enumerate(edi.iter_sets(stream, keep_segments=True)):
        if i == ordinal:
            return details_of_set(ps)
    return None


def details_of_set(ps: edi.ParsedSet) -> dict | None:
    """The seller's name, ids, address and contacts of one set read with its segments kept (None: not a
    document)."""
    if ps.document is None:
        return None
    seller = ps.document.party(*SELLER_PARTIES)
    return {"ids": candidate_ids(ps), "seller": _party_json(seller) if seller else None,
            "contacts": _contacts(ps.raw_segments)}


def _stored(parsed: dict) -> bool:
    """Does the stored JSON carry all that EDI said about the seller (``seller``, ``ids``, ``contacts``)?
    ``seller`` (N1/N3/N4) is stored by translation; the ids (ISA06, GS02, N1) and the PER contacts are not
    yet, so until they are the raw file of the supplier's latest document is read for them."""
    return all(parsed.get(k) is not None for k in ("seller", "ids", "contacts"))


def _seller_from_json(seller: dict) -> dict:
    """``parsed["seller"]`` (connector.translate) in this module's party shape."""
    address = {"lines": list(seller.get("address_lines") or []), **{k: seller.get(k) or "" for k in
                                                                     ("city", "state", "postal_code", "country")}}
    return {"code": seller.get("code") or "", "name": seller.get("name") or "",
            "id_qualifier": seller.get("id_qualifier") or "", "id": seller.get("id") or "",
            "address": address if any(address.values()) else None}


def _details(s, doc: Document) -> dict:
    """What EDI said about the seller of ``doc``: the stored JSON first, the raw file for what it lacks (its set
    read from its place in the file when it has one, else the file up to it)."""
    parsed = doc.parsed or {}
    found = None
    if not _stored(parsed):
        f = s.get(ReceivedFile, doc.file_id)
        ps = raw.placed_set(lambda start: raw.open_in(s, f, start), doc, keep_segments=True)
        found = details_of_set(ps) if ps is not None else details_from_file(raw.open_in(s, f), doc.ordinal)
    found = found or {"ids": [], "seller": None, "contacts": []}
    if parsed.get("seller"):
        found["seller"] = _seller_from_json(parsed["seller"])
    for key in ("ids", "contacts"):
        if parsed.get(key) is not None:
            found[key] = parsed[key]
    return found


def suppliers_seen(store: Store) -> list[dict]:
    """Every supplier documents came from, by supplier id (mapped) or sender id (not mapped): its names,
    ids (ISA/GS/N1), address and contacts as its latest document gives them, how many documents of which
    sets, how many wait for a person, and when it was last seen."""
    groups: dict[tuple[bool, str], dict] = {}
    with store.session() as s:
        rows = s.execute(select(Document.supplier_id, Document.sender_id, Document.transaction_set,
                                func.count(), func.max(Document.created_at), func.max(Document.id))
                         .group_by(Document.supplier_id, Document.sender_id, Document.transaction_set)).all()
        held = dict(((sid, snd), n) for sid, snd, n in s.execute(
            select(Document.supplier_id, Document.sender_id, func.count())
            .where(Document.status.in_((DocStatus.HELD, DocStatus.FAILED)))
            .group_by(Document.supplier_id, Document.sender_id)).all())
        for supplier_id, sender_id, tset, n, last, newest in rows:
            key = (supplier_id is not None, supplier_id or sender_id or "")
            g = groups.setdefault(key, {"supplier_id": supplier_id, "mapped": supplier_id is not None,
                                        "key": key[1], "sender_ids": set(), "documents": 0, "sets": {},
                                        "held": 0, "last": None, "newest": 0})
            g["sender_ids"].add(sender_id or "")
            g["documents"] += n
            g["sets"][tset] = g["sets"].get(tset, 0) + n
            g["held"] += held.pop((supplier_id, sender_id), 0)
            g["last"] = max(filter(None, (g["last"], last)), default=None)
            g["newest"] = max(g["newest"], newest)
        out = [_seen_row(s, g) for _, g in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1].lower()))]
    return out


def _seen_row(s, g: dict) -> dict:
    doc = s.get(Document, g["newest"])
    d = _details(s, doc)
    seller = d["seller"] or {}
    names = [n for n in dict.fromkeys([seller.get("name") or "",
                                       ((doc.parsed or {}).get("supplier") or {}).get("name") or ""]) if n]
    if g["mapped"]:  # the stored supplier name of a mapped document is its vendor, not what EDI called it
        names = [seller["name"]] if seller.get("name") else []
    return {"key": g["key"], "supplier_id": g["supplier_id"], "mapped": g["mapped"],
            "sender_ids": sorted(x for x in g["sender_ids"] if x),
            "ids": list(dict.fromkeys([*d["ids"], *(x for x in g["sender_ids"] if x)])),
            "name": names[0] if names else "", "names": names, "address": seller.get("address"),
            "contacts": d["contacts"], "documents": g["documents"], "transaction_sets": dict(sorted(g["sets"].items())),
            "held": g["held"], "last_seen": g["last"].isoformat(timespec="seconds") if g["last"] else None}


# ---------------------------------------------------------------- QuickBooks' side

def _vendor_state(cs: CompanyState | None) -> dict:
    return (((cs.info or {}) if cs else {}).get("refs") or {}).get("Vendor") or {}


def quickbooks_vendors(store: Store, company: str | None = None) -> list[str]:
    """The vendor names qbedi last read from QuickBooks for ``company`` (every company's when None), sorted;
    QuickBooks compares names without regard to case, and qbedi keeps them in lower case."""
    with store.session() as s:
        states = [s.get(CompanyState, company)] if company else list(s.scalars(select(CompanyState)))
        return sorted({n for cs in states for n in (_vendor_state(cs).get("names") or [])})


def _vendor_list_read(store: Store, company: str | None) -> str | None:
    """When the vendor list was last read whole (the oldest of the companies' when None); None: not yet."""
    with store.session() as s:
        states = [s.get(CompanyState, company)] if company else list(s.scalars(select(CompanyState)))
    read = [_vendor_state(cs).get("refreshed_at") for cs in states]
    return None if not read or not all(read) else min(read)


# ---------------------------------------------------------------- reconciliation

def reconcile(settings: Settings, store: Store, company: str | None = None) -> list[dict]:
    """One row per configured supplier (``status: mapped``, with ``in_quickbooks`` True / False / None when
    the list was not read yet, and a ``problem`` in words), per supplier seen in EDI that no mapping covers
    (``unmapped``, with ranked ``suggestions``), and per QuickBooks vendor no supplier maps to
    (``quickbooks_only``). ``company``: that Web Connector user's suppliers and vendor list only."""
    seen = suppliers_seen(store)
    by_id = {r["supplier_id"].upper(): r for r in seen if r["mapped"]}
    configured = {sid.upper(): (sid, sup) for sid, sup in settings.suppliers.items()}
    rows, used = [], set()
    lists: dict[str, tuple[set[str], str | None]] = {}

    def vendor_list(c: str) -> tuple[set[str], str | None]:
        if c not in lists:
            lists[c] = (set(quickbooks_vendors(store, c)), _vendor_list_read(store, c))
        return lists[c]

    for key, (sid, sup) in configured.items():
        c = settings.company_for(sup)
        if company and c.lower() != company.lower():
            continue
        names, read_at = vendor_list(c)
        known = sup.vendor.lower() in names if read_at else None
        used.add((c, sup.vendor.lower()))
        rows.append({"status": "mapped", "supplier_id": sid, "vendor": sup.vendor, "company": c,
                     "alias": getattr(sup, "alias", None), "archived": getattr(sup, "archived", False),
                     "in_quickbooks": known, "problem": _mapping_problem(settings, sup.vendor, c, known, read_at),
                     "seen": by_id.get(key)})
    spelling = {sup.vendor.lower(): sup.vendor for _, sup in configured.values()}
    mapped_seen = [{**r, "vendor": configured[r["supplier_id"].upper()][1].vendor}
                   for r in seen if r["mapped"] and r["supplier_id"].upper() in configured]
    pools = [company] if company else [u.username for u in settings.web_connector.users] or [None]
    claims = {}  # every id a configured supplier answers to (its own and its match: list) -> its mapped row
    for row in rows:
        sup = configured[row["supplier_id"].upper()][1]
        for ident in (row["supplier_id"], *sup.match):
            claims[str(ident).strip().upper()] = row
    for r in seen:
        if r["mapped"] and r["supplier_id"].upper() in configured:
            continue
        owner = None if r["mapped"] else next((claims[i.upper()] for i in (r["key"], *r.get("ids", []))
                                               if i and i.upper() in claims), None)
        if owner is not None:  # mapped since these documents came: they wait to be released, not mapped again
            if r["held"]:
                owner["held_from_before"] = owner.get("held_from_before", 0) + r["held"]
                note = f"{r['held']} document(s) held from before it was mapped: release them"
                owner["problem"] = f"{owner['problem']}; {note}" if owner.get("problem") else note
            continue
        note = None if not r["mapped"] else (f"its documents were matched to supplier {r['supplier_id']}, which is "
                                             "no longer in the suppliers file")
        suggestions = _suggest_in(r, pools, vendor_list, store, settings, configured, mapped_seen, spelling)
        rows.append({"status": "unmapped", **r, "note": note, "suggestions": suggestions})
    for c in sorted({company} if company else {settings.company_for(sup) for _, sup in configured.values()}
                    | _companies(store)):
        for name in sorted(vendor_list(c)[0]):
            if (c, name) not in used:
                rows.append({"status": "quickbooks_only", "vendor": spelling.get(name, name), "company": c})
    return rows


def _suggest_in(supplier: dict, pools: list, vendor_list, store: Store, settings: Settings, configured: dict,
                mapped: list[dict], spelling: dict[str, str]) -> list[dict]:
    """:func:`suggest` over each company's vendor list (``pools``; [None]: every list read), best first, each
    with the ``company`` it is a vendor of (for one found through a mapped supplier's contacts, that supplier's
    company): with several companies the likely vendor may be in any of them."""
    found: dict[tuple, dict] = {}
    for pool in pools:
        vendors = sorted(vendor_list(pool)[0]) if pool else quickbooks_vendors(store)
        for sug in suggest(supplier, vendors, mapped, spelling):
            via = configured.get((sug.get("supplier_id") or "").upper())
            sug["company"] = settings.company_for(via[1]) if via is not None else pool
            found.setdefault((sug["vendor"].lower(), sug["company"]), sug)
    return sorted(found.values(), key=lambda r: (-r["score"], r["vendor"].lower()))[:MAX_SUGGESTIONS]


def _companies(store: Store) -> set[str]:
    with store.session() as s:
        return set(s.scalars(select(CompanyState.company)))


def _mapping_problem(settings: Settings, vendor: str, company: str, known: bool | None, read_at: str | None
                     ) -> str | None:
    if known is None:
        return (f"QuickBooks' vendor list for {company} has not been read yet: it is read at the Web Connector's "
                "next session")
    if known:
        return None
    fix = ("qbedi creates it before its first bill (auto_create_vendors)" if settings.web_connector.auto_create_vendors
           else "create it in QuickBooks, or map the supplier to a vendor QuickBooks has")
    return f"QuickBooks ({company}, list read {read_at[:16].replace('T', ' ')} UTC) has no vendor '{vendor}': {fix}"


# ---------------------------------------------------------------- writing the suppliers file

class _Text:
    """A YAML file's text as lines (line endings kept), and ruamel.yaml's round-trip reading of it."""

    def __init__(self, path: Path, text: str):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        self.path, self.text = path, text
        self.lines = text.splitlines(keepends=True)
        self.eol = "\r\n" if "\r\n" in text else "\n"
        try:
            self.data = YAML(typ="rt").load(text)
        except YAMLError as e:
            raise ConfigError(path, "", f"not valid YAML: {e}") from None

    def result(self) -> str:
        return "".join(self.lines)


def _read(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None


def _scalar(value: Any) -> str:
    """A value as YAML writes it on one line (quoted when it has to be; lists in flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return yaml.safe_dump([str(v) for v in value], default_flow_style=True, allow_unicode=True,
                              width=10**6).strip()
    out = yaml.safe_dump(str(value), default_flow_style=True, allow_unicode=True, width=10**6)
    return out.removesuffix("\n").removesuffix("\n...").strip()


def _scalar_end(line: str, col: int) -> int:
    """Where the one-line scalar that starts at ``col`` ends (quoted, or plain up to a comment)."""
    quote = line[col:col + 1]
    if quote in ("'", '"'):
        i = col + 1
        while i < len(line):
            if quote == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == quote:
                if quote == "'" and line[i + 1:i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise ValueError("a quoted value that goes on to the next line")
    body = line.rstrip("\r\n")
    m = re.search(r"\s#", body[col:])
    return col + len((body[col:col + m.start()] if m else body[col:]).rstrip())


def _replace_value(t: _Text, mapping, key: str, value: Any) -> None:
    """The value of ``key`` in ``mapping`` becomes ``value``; a comment after it keeps its column."""
    line_no, col = mapping.lc.value(key)
    line = t.lines[line_no]
    try:
        end = _scalar_end(line, col)
    except ValueError:
        raise ConfigError(t.path, key, "the value goes over several lines: edit it by hand", line_no + 1) from None
    new, rest = line[:col] + _scalar(value), line[end:]
    comment = rest.rstrip("\r\n").lstrip(" ")
    tail = rest[len(rest.rstrip("\r\n")):]
    if comment:
        new += " " * max(1, (end + len(rest) - len(rest.lstrip(" "))) - len(new)) + comment
    t.lines[line_no] = new + tail


def _entry_keys_column(mapping) -> tuple[int, int] | None:
    """(line, column) of the entry's first key, when the entry is written as a block."""
    if not hasattr(mapping, "lc") or not len(mapping) or mapping.fa.flow_style():
        return None
    return mapping.lc.key(next(iter(mapping)))


def _set_fields(t: _Text, entry, sid: str, values: dict[str, Any]) -> None:
    first = _entry_keys_column(entry)
    if first is None:
        raise ConfigError(t.path, sid, "this supplier is written on one line ({...}): edit it by hand")
    indent = first[1]
    anchor = entry.lc.value("vendor")[0] if "vendor" in entry else first[0]
    added = []
    for key, value in values.items():
        if key in entry:
            _replace_value(t, entry, key, value)
        else:
            added.append(f"{' ' * indent}{key}: {_scalar(value)}{t.eol}")
    t.lines[anchor + 1:anchor + 1] = added


def _region_end(t: _Text, parent, key: str | None) -> int:
    """The line where the suppliers mapping's region ends: the next top-level key after ``key``, or the end."""
    if parent is None or key is None:
        return len(t.lines)
    keys = list(parent)
    after = keys[keys.index(key) + 1:] if key in keys else []
    return parent.lc.key(after[0])[0] if after else len(t.lines)


def _back_off(t: _Text, start: int, end: int, indent: int) -> int:
    """Move ``end`` up over blank lines and comments at or left of ``indent``: they belong to what follows."""
    while end > start + 1:
        text = t.lines[end - 1]
        stripped = text.strip()
        if stripped and not (stripped.startswith("#") and len(text) - len(text.lstrip(" ")) <= indent):
            break
        end -= 1
    return end


def _entry_span(t: _Text, mapping, sid: str, region_end: int) -> tuple[int, int]:
    keys = list(mapping)
    start, indent = mapping.lc.key(sid)
    nxt = keys.index(sid) + 1
    end = mapping.lc.key(keys[nxt])[0] if nxt < len(keys) else region_end
    return start, _back_off(t, start, end, indent)


def _entry_text(t: _Text, sid: str, values: dict[str, Any], indent: int, step: int) -> list[str]:
    return [f"{' ' * indent}{_scalar(sid)}:{t.eol}"] + [f"{' ' * (indent + step)}{k}: {_scalar(v)}{t.eol}"
                                                       for k, v in values.items()]


@dataclass
class _Home:
    """Where a file keeps its supplier entries: ``mapping`` (None when empty or absent) under ``parent[key]``
    (``parent`` None: the file's top level is the mapping)."""

    mapping: Any
    parent: Any
    key: str | None


def _home(t: _Text, in_config: bool) -> _Home:
    data = t.data
    if data is not None and not hasattr(data, "lc"):
        raise ConfigError(t.path, "", "expected a mapping of supplier id -> settings")
    if in_config or (data is not None and "suppliers" in data):
        return _Home(data.get("suppliers") if data is not None else None, data, "suppliers")
    return _Home(data, None, None)


def _add_entry(t: _Text, home: _Home, sid: str, values: dict[str, Any]) -> None:
    m = home.mapping
    if m is not None and len(m) and m.fa.flow_style():
        raise ConfigError(t.path, home.key or "", "the suppliers are written on one line ({...}): edit it by hand")
    if m is not None and len(m):  # after the last entry, in the style of the others
        keys = list(m)
        indent = m.lc.key(keys[0])[1]
        inner = _entry_keys_column(m[keys[-1]]) or _entry_keys_column(m[keys[0]])
        step = inner[1] - indent if inner else 2
        _, end = _entry_span(t, m, keys[-1], _region_end(t, home.parent, home.key))
        blank = [t.eol] if len(keys) > 1 and _separated(t, m.lc.key(keys[1])[0]) else []
        if end and not t.lines[end - 1].endswith("\n"):
            t.lines[end - 1] += t.eol
        t.lines[end:end] = blank + _entry_text(t, sid, values, indent, step)
        return
    if home.parent is not None and home.key in home.parent:  # "suppliers:" or "suppliers: {}"
        line_no, col = home.parent.lc.key(home.key)
        line = t.lines[line_no]
        t.lines[line_no] = re.sub(r":\s*\{\s*\}", ":", line, count=1)
        t.lines[line_no + 1:line_no + 1] = _entry_text(t, sid, values, col + 2, 2)
        return
    if t.lines and not t.lines[-1].endswith("\n"):
        t.lines[-1] += t.eol
    if home.parent is not None:  # a config without suppliers: (and no suppliers_file)
        t.lines += [f"suppliers:{t.eol}"] + _entry_text(t, sid, values, 2, 2)
    else:  # an empty suppliers file (comments only, or {})
        if home.mapping is not None:
            t.lines = [ln for ln in t.lines if ln.strip() not in ("{}",)]
        t.lines += _entry_text(t, sid, values, 0, 2)


def _separated(t: _Text, key_line: int) -> bool:
    """Is a blank line written above this entry (above its comments, if any)?"""
    i = key_line - 1
    while i >= 0 and t.lines[i].strip().startswith("#"):
        i -= 1
    return i >= 0 and not t.lines[i].strip()


def _remove_entry(t: _Text, home: _Home, sid: str) -> None:
    start, end = _entry_span(t, home.mapping, sid, _region_end(t, home.parent, home.key))
    del t.lines[start:end]
    if len(home.mapping) == 1 and home.parent is not None:  # the config's suppliers: would be null
        line_no = home.parent.lc.key(home.key)[0]
        line = t.lines[line_no]
        t.lines[line_no] = re.sub(r"^(\s*suppliers:)", r"\1 {}", line, count=1)


def _config_path(config: str | Path | Settings) -> Path:
    if isinstance(config, Settings):
        if config.source_file == "(defaults)":
            raise ConfigError("(defaults)", "", "these settings were not read from a file: there is no "
                              "suppliers file to write to")
        return Path(config.source_file)
    return Path(config).expanduser().absolute()


def _places(settings: Settings, cfg: Path) -> list[tuple[Path, bool]]:
    """The files that may hold supplier entries: the suppliers file first (new entries go there), then the
    config (``True``: it is the config)."""
    out = [(settings.resolve(settings.suppliers_file), False)] if settings.suppliers_file else []
    return out + [(cfg, True)]


def _find(settings: Settings, cfg: Path, supplier_id: str) -> tuple[_Text, _Home, str] | None:
    for path, in_config in _places(settings, cfg):
        t = _Text(path, _read(path))
        home = _home(t, in_config)
        for key in (home.mapping or {}):
            if str(key).upper() == supplier_id.strip().upper():
                return t, home, str(key)
    return None


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {("class" if k == "class_" else k): v for k, v in fields.items() if v is not None}


def map_supplier(config: str | Path | Settings, supplier_id: str, vendor: str, **fields) -> dict:
    """Map ``supplier_id`` to the QuickBooks ``vendor``: its entry's ``vendor:`` (and any of ``fields``, e.g.
    ``default_account``, ``company``, ``class_``) changed in place, or a new entry at the end of the
    suppliers file (else of the config's ``suppliers:``). Returns what was done; raises ConfigError (the file
    untouched) when the result would not load."""
    supplier_id = (supplier_id or "").strip()
    if not supplier_id:
        raise ConfigError(_config_path(config), "suppliers", "a supplier id is needed (the ISA, GS or N1 id)")
    cfg = _config_path(config)
    settings = load_settings(cfg)
    values = {"vendor": vendor, **_clean_fields(fields)}
    found = _find(settings, cfg, supplier_id)
    if found is not None:
        t, home, key = found
        previous = home.mapping[key].get("vendor")
        _set_fields(t, home.mapping[key], key, values)
        created = False
    else:
        path, in_config = _places(settings, cfg)[0]
        t = _Text(path, _read(path))
        home, key, previous, created = _home(t, in_config), supplier_id, None, True
        _add_entry(t, home, key, values)
    _save(settings, cfg, t)
    return {"file": str(t.path), "supplier_id": key, "vendor": vendor, "previous_vendor": previous,
            "created": created, "fields": values}


def unmap_supplier(config: str | Path | Settings, supplier_id: str) -> dict:
    """Remove ``supplier_id``'s entry (its documents are then held as unknown_supplier until it is mapped
    again); comments around it stay. Raises ConfigError when there is no such supplier."""
    cfg = _config_path(config)
    settings = load_settings(cfg)
    found = _find(settings, cfg, supplier_id)
    if found is None:
        raise ConfigError(cfg, f"suppliers.{supplier_id}", "no such supplier in the configuration")
    t, home, key = found
    vendor = home.mapping[key].get("vendor") if hasattr(home.mapping[key], "get") else None
    _remove_entry(t, home, key)
    _save(settings, cfg, t)
    return {"file": str(t.path), "supplier_id": key, "previous_vendor": vendor}


def _save(settings: Settings, cfg: Path, t: _Text) -> None:
    after = t.result()
    _validate(settings, cfg, t.path, after)
    if _read(t.path) != t.text:
        raise ConfigError(t.path, "", "the file changed while qbedi was editing it: nothing was written, try again")
    tmp = t.path.with_name(f".{t.path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(after)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, t.path.stat().st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, t.path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _validate(settings: Settings, cfg: Path, changed: Path, text: str) -> None:
    """Load the configuration as it would be (``changed`` holding ``text``) from a temporary copy; a problem
    is raised as ConfigError naming the real file and line."""
    with tempfile.TemporaryDirectory(prefix="qbedi-check-") as tmp:
        tmp_cfg = Path(tmp) / cfg.name
        real = {str(tmp_cfg): cfg}
        cfg_text = text if changed == cfg else _read(cfg)
        if settings.suppliers_file:
            sup = settings.resolve(settings.suppliers_file)
            tmp_sup = Path(tmp) / f"suppliers-copy-{sup.name}"
            _write(tmp_sup, text if changed == sup else _read(sup))
            real[str(tmp_sup)] = sup
            ct = _Text(cfg, cfg_text)
            _replace_value(ct, ct.data, "suppliers_file", str(tmp_sup))
            cfg_text = ct.result()
        _write(tmp_cfg, cfg_text)
        try:
            load_settings(tmp_cfg)
        except ConfigError as e:
            raise ConfigError(real.get(e.file, e.file), e.key, e.problem, e.line) from None


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
