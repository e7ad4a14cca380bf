"""Validate qbXML documents against Intuit's qbXML 13.0 XSD.

The XSD is not shipped with the package (Intuit's licence). It is looked up in
``$QBEDI_QBXML_XSD_DIR``, else in ``<dir>/shared/reference/qbxml`` for every
ancestor ``<dir>`` of this file and of the current directory (the repository
sits beside ``shared/``). ``qbxmlops130.xsd`` is loaded as the root (it
includes the other three files); the loaded schema is cached per directory.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from lxml import etree

ROOT_XSD = "qbxmlops130.xsd"
_QBXML_PI = re.compile(r'^\s*version\s*=\s*"(\d+)\.(\d+)"\s*$')


class SchemaUnavailable(RuntimeError):
    """The qbXML XSD directory could not be found."""


_lock = threading.Lock()
_cache: dict[Path, etree.XMLSchema] = {}


def find_xsd_dir() -> Path:
    env = os.environ.get("QBEDI_QBXML_XSD_DIR")
    if env:
        p = Path(env)
        if (p / ROOT_XSD).is_file():
            return p
        raise SchemaUnavailable(f"QBEDI_QBXML_XSD_DIR={env} has no {ROOT_XSD}")
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    shared = os.environ.get("QBEDI_SHARED")
    if shared and (Path(shared) / "reference" / "qbxml" / ROOT_XSD).is_file():
        return Path(shared) / "reference" / "qbxml"
    for start in starts:
        for d in (start, *start.parents):
            cand = d / "shared" / "reference" / "qbxml"
            if (cand / ROOT_XSD).is_file():
                return cand
    raise SchemaUnavailable(
        f"qbXML XSD ({ROOT_XSD}) not found; set QBEDI_QBXML_XSD_DIR")


def load_schema(xsd_dir: str | Path | None = None) -> etree.XMLSchema:
    d = Path(xsd_dir) if xsd_dir else find_xsd_dir()
    d = d.resolve()
    with _lock:
        schema = _cache.get(d)
        if schema is None:
            if not (d / ROOT_XSD).is_file():
                raise SchemaUnavailable(f"{d} has no {ROOT_XSD}")
            schema = etree.XMLSchema(etree.parse(str(d / ROOT_XSD)))
            _cache[d] = schema
        return schema


def schema_available() -> bool:
    try:
        find_xsd_dir()
        return True
    except SchemaUnavailable:
        return False


def qbxml_pi_version(doc: etree._ElementTree | etree._Element) -> tuple[int, int] | None:
    """(major, minor) from the ``<?qbxml version="x.y"?>`` PI before the root, or None."""
    root = doc.getroot() if isinstance(doc, etree._ElementTree) else doc.getroottree().getroot()
    node = root.getprevious()
    while node is not None:
        if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
            m = _QBXML_PI.match(node.text or "")
            return (int(m.group(1)), int(m.group(2))) if m else None
        node = node.getprevious()
    return None


def _parse(xml: str | bytes) -> etree._ElementTree:
    if isinstance(xml, str):
        xml = xml.encode("utf-8") if not xml.lstrip().startswith("<?xml") else \
            _strip_decl_encoding(xml).encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.ElementTree(etree.fromstring(xml, parser))


_DECL = re.compile(r'^\s*<\?xml[^?]*\?>')


def _strip_decl_encoding(xml: str) -> str:
    """A str has no byte encoding; drop the declaration so lxml accepts it."""
    return _DECL.sub("", xml, count=1)


def validate(xml: str | bytes | etree._Element | etree._ElementTree, *,
             require_pi: bool | None = None, xsd_dir: str | Path | None = None) -> list[str]:
    """Errors of ``xml`` against the qbXML XSD; ``[]`` when valid.

    For requests (``QBXMLMsgsRq``) the ``<?qbxml version?>`` PI is also required
    (QuickBooks needs it; the XSD cannot check it). Responses carry no PI in the
    real captures, so it is not required for them unless ``require_pi=True``.
    An element (not a tree) is validated as-is: pass a QBXML root.
    """
    schema = load_schema(xsd_dir)
    errors: list[str] = []
    if isinstance(xml, (str, bytes)):
        try:
            tree = _parse(xml)
        except etree.XMLSyntaxError as e:
            return [f"not well-formed XML: {e}"]
    elif isinstance(xml, etree._ElementTree):
        tree = xml
    else:
        tree = xml.getroottree()
    root = tree.getroot()
    if root.tag != "QBXML":
        errors.append(f"root element is {root.tag!r}, expected 'QBXML'")
    is_request = root.find("QBXMLMsgsRq") is not None
    if require_pi is None:
        require_pi = is_request
    if require_pi and qbxml_pi_version(tree) is None:
        errors.append('missing or malformed <?qbxml version="x.y"?> processing instruction')
    if not schema.validate(tree):
        for e in schema.error_log:
            errors.append(f"line {e.line}: {e.message}")
    return errors


def assert_valid(xml, **kw) -> None:
    errs = validate(xml, **kw)
    if errs:
        raise AssertionError("qbXML invalid:\n" + "\n".join(errs))
