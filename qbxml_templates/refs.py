"""Which QuickBooks list entries a request names (by FullName), e.g. to check them before sending."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from lxml import etree

REF_TAGS = {"VendorRef": "Vendor", "AccountRef": "Account", "ClassRef": "Class", "ItemRef": "Item"}


def references(el: etree._Element) -> list[tuple[str, str]]:
    """(list, FullName) of every by-name reference in ``el`` (ListID references are QuickBooks' to check)."""
    out: dict[tuple[str, str], None] = {}  # (insertion-ordered set)
    for r in el.iter(*REF_TAGS):  # one pass over the tree
        name = None
        for child in r:  # <FullName> or <ListID>: read directly, no path look-up per reference
            if child.tag == "ListID":
                name = None
                break
            if child.tag == "FullName":
                name = child.text
        if name:
            out[(REF_TAGS[r.tag], name)] = None
    return list(out)


_MADE: ContextVar[dict | None] = ContextVar("qbxml_references_made", default=None)


@contextmanager
def made() -> Iterator[dict[tuple[str, str], None]]:
    """The by-name references the builders make while it is open (``_xml.ref``, the only maker of a
    reference), as :func:`references` reads them off the finished request: (list, FullName) in the order
    they come in it, each once; ListID references left out. Without reading the tree again (a bill's
    references read back cost a tenth of its translation)."""
    out: dict[tuple[str, str], None] = {}
    token = _MADE.set(out)
    try:
        yield out
    finally:
        _MADE.reset(token)
