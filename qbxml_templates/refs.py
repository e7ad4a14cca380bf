"""Which QuickBooks list entries a request names (by FullName), e.g. to check them before sending."""
from __future__ import annotations

from lxml import etree

REF_TAGS = {"VendorRef": "Vendor", "AccountRef": "Account", "ClassRef": "Class", "ItemRef": "Item"}


def references(el: etree._Element) -> list[tuple[str, str]]:
    """(list, FullName) of every by-name reference in ``el`` (ListID references are QuickBooks' to check)."""
    out: list[tuple[str, str]] = []
    for r in el.iter(*REF_TAGS):  # one pass over the tree
        name = r.findtext("FullName")
        if name and r.find("ListID") is None and (REF_TAGS[r.tag], name) not in out:
            out.append((REF_TAGS[r.tag], name))
    return out
