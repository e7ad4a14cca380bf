"""997 Functional Acknowledgment from a ``ParseResult``.

One 997 per functional group received (AK1 = its GS01/GS06), each in its own
GS*FA whose GS08 is the received group's version; groups that came in the
same interchange share one ISA/IEA, with sender and receiver swapped.
Groups of acknowledgments (GS*FA: 997/999) are never acknowledged.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

from .model import ParseResult

ELEMENT = "*"
COMPONENT = ">"
TERMINATOR = "~"


def _pad(value: str, width: int) -> str:
    return (value or "")[:width].ljust(width)


def _clean(value: str) -> str:
    """Strip characters that would break our own delimiters."""
    for ch in (ELEMENT, COMPONENT, TERMINATOR, "\r", "\n", "^"):
        value = value.replace(ch, "")
    return value.strip()


def _isa_version(received: str) -> str:
    v = (received or "").strip()
    return v if len(v) == 5 and v.isdigit() and v >= "00200" else "00401"


def _group_status(sets: list[dict], group_errors: list[str]) -> tuple[str, int]:
    accepted = sum(1 for s in sets if s["status"] in ("A", "E"))
    if group_errors or not sets:
        return "R", 0 if group_errors else accepted
    if accepted == 0:
        return "R", 0
    if accepted < len(sets):
        return "P", accepted
    if any(s["status"] == "E" for s in sets):
        return "E", accepted
    return "A", accepted


def build_997_sets(group: dict) -> list[str]:
    """Body segments (ST..SE excluded) of the 997 for one received group."""
    return list(_997_body(group))


def _997_body(group: dict) -> Iterator[str]:
    """:func:`build_997_sets` one segment at a time (a group of 80,000 sets is not held as lists)."""
    ak1 = ["AK1", _clean(group.get("functional_id", "")), _clean(group.get("group_control", ""))]
    if str(group.get("version", "")).startswith("005"):
        ak1.append(_clean(group["version"]))  # AK103 (5010)
    yield ELEMENT.join(_trim(ak1))
    for s in group["sets"]:
        yield ELEMENT.join(_trim(["AK2", _clean(s["transaction_set"]), _clean(s["control"])]))
        for err in s.get("errors", [])[:20]:
            yield ELEMENT.join(_trim(["AK3", _clean(err.get("segment") or ""), str(err.get("position") or ""), "",
                                      err.get("code", "8")]))
            if err.get("element"):
                yield ELEMENT.join(_trim(["AK4", str(err["element"]), "", err.get("element_code", "6")]))
        yield ELEMENT.join(_trim(["AK5", s["status"], *s.get("codes", [])[:5]]))
    status, accepted = _group_status(group["sets"], group.get("errors", []) + (["R"] if group.get("interchange_errors") else []))
    declared = group.get("declared_sets")
    included = declared if declared is not None else len(group["sets"])
    yield ELEMENT.join(_trim(["AK9", status, str(included), str(len(group["sets"])), str(accepted),
                              *group.get("errors", [])[:5]]))


class _Text:
    """A long text written a segment at a time: joined every few thousand segments, so an 80,000-set 997
    costs about twice its length, not an object per segment (as io.StringIO keeps them until read)."""

    def __init__(self):
        self._parts: list[str] = []
        self._pending: list[str] = []

    def write(self, text: str) -> None:
        self._pending.append(text)
        if len(self._pending) >= 4096:
            self._parts.append("".join(self._pending))
            self._pending.clear()

    def getvalue(self) -> str:
        return "".join(self._parts) + "".join(self._pending)


def _trim(elements: list[str]) -> list[str]:
    while len(elements) > 1 and elements[-1] == "":
        elements = elements[:-1]
    return elements


def build_997(
    result: ParseResult,
    *,
    sender_id: str | None = None,
    receiver_id: str | None = None,
    sender_qualifier: str | None = None,
    receiver_qualifier: str | None = None,
    control_number: int,
    when: datetime | None = None,
    usage: str | None = None,
    segment_suffix: str = "\n",
) -> str:
    """997s for every non-FA group in ``result``; '' when there is nothing to acknowledge.

    ``sender_id`` / ``receiver_id`` default to the received ISA receiver /
    sender (swapped). ``control_number`` is used for the first ISA13 and GS06
    and incremented per extra interchange / group. ``segment_suffix`` is
    written after each ``~`` (default newline, for readability).
    """
    when = when or datetime.now(timezone.utc)
    groups = [g for g in result.groups if g.get("functional_id", "").upper() != "FA"]
    if not groups:
        return ""
    # Keep received interchanges apart: one ISA per (sender, receiver, ISA13).
    interchanges: list[tuple[tuple, list[dict]]] = []
    for g in groups:
        key = (g.get("isa_sender_qualifier", ""), g.get("isa_sender_id", ""), g.get("isa_receiver_qualifier", ""),
               g.get("isa_receiver_id", ""), g.get("interchange_control", ""), g.get("isa_version", ""))
        if interchanges and interchanges[-1][0] == key:
            interchanges[-1][1].append(g)
        else:
            interchanges.append((key, [g]))
    out = _Text()
    term = TERMINATOR + segment_suffix
    isa_ctrl = control_number
    gs_ctrl = control_number
    for key, gs_list in interchanges:
        s_qual, s_id, r_qual, r_id, _ctrl, version = key
        isa12 = _isa_version(version)
        isa11 = "U" if isa12 < "00402" else "^"
        isa = [
            "ISA", "00", " " * 10, "00", " " * 10,
            _pad(_clean(sender_qualifier or r_qual) or "ZZ", 2), _pad(_clean(sender_id or r_id), 15),
            _pad(_clean(receiver_qualifier or s_qual) or "ZZ", 2), _pad(_clean(receiver_id or s_id), 15),
            when.strftime("%y%m%d"), when.strftime("%H%M"), isa11, isa12, f"{isa_ctrl % 1_000_000_000:09d}", "0",
            (usage or gs_list[0].get("usage") or "P")[:1], COMPONENT,
        ]
        out.write(ELEMENT.join(isa) + term)
        for g in gs_list:
            gs_version = _clean(g.get("version", "")) or "004010"
            out.write(
                ELEMENT.join(
                    ["GS", "FA", _clean(g.get("gs_receiver", "")) or _clean(sender_id or r_id) or "RECEIVER",
                     _clean(g.get("gs_sender", "")) or _clean(receiver_id or s_id) or "SENDER",
                     when.strftime("%Y%m%d"), when.strftime("%H%M"), str(gs_ctrl % 1_000_000_000), "X", gs_version]
                ) + term
            )
            st02 = "0001"
            out.write(f"ST{ELEMENT}997{ELEMENT}{st02}" + term)
            count = 1
            for seg in _997_body(g):  # (written as made: one string per segment, not the group's whole 997)
                out.write(seg + term)
                count += 1
            out.write(f"SE{ELEMENT}{count + 1}{ELEMENT}{st02}" + term)
            out.write(f"GE{ELEMENT}1{ELEMENT}{gs_ctrl % 1_000_000_000}" + term)
            gs_ctrl += 1
        out.write(f"IEA{ELEMENT}{len(gs_list)}{ELEMENT}{isa_ctrl % 1_000_000_000:09d}" + term)
        isa_ctrl += 1
    return out.getvalue()
