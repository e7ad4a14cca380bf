"""Parsing qbXML responses (what ``receiveResponseXML`` carries in ``response``).

Accepts the text as the SOAP layer hands it over (already unescaped): with or
without ``<?xml ...?>`` declaration (any declared encoding), leading
whitespace/BOM, comments. Responses come back in request order, one ``*Rs``
per ``*Rq``; ``requestID`` is echoed when it was sent (research §5).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree


class QbxmlParseError(ValueError):
    """The response text is not a qbXML response document."""


@dataclass
class ResponseItem:
    request_id: str | None
    rq_type: str  # "BillAdd", "VendorQuery", ...
    status_code: int
    severity: str  # Info | Warn | Error
    message: str
    ret: etree._Element | None = None  # first *Ret child (None if none)
    rets: list[etree._Element] = field(default_factory=list)
    iterator_id: str | None = None
    iterator_remaining: int | None = None
    ret_count: int | None = None
    element: etree._Element | None = None  # the whole *Rs element

    @property
    def ok(self) -> bool:
        """Status 0 (or a warning, <1000 and not an error severity)."""
        return self.status_code == 0 or (self.severity != "Error" and self.status_code < 1000)

    @property
    def not_found(self) -> bool:
        return self.status_code == 1

    def ret_text(self, path: str, default: str | None = None) -> str | None:
        if self.ret is None:
            return default
        v = self.ret.findtext(path)
        return default if v is None else v


@dataclass
class MessageSetStatus:
    new_message_set_id: str | None
    message_set_status_code: int | None
    raw: dict = field(default_factory=dict)


_DECL = re.compile(rb'^\s*<\?xml[^?]*\?>')


def _root(xml: str | bytes | etree._Element) -> etree._Element:
    if isinstance(xml, etree._Element):
        return xml
    if isinstance(xml, str):
        data = xml.lstrip("\ufeff \t\r\n")
        if data.startswith("<?xml"):
            data = data[data.index("?>") + 2:]
        raw = data.encode("utf-8")
    else:
        raw = xml.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not raw.strip():
        raise QbxmlParseError("empty response")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        raise QbxmlParseError(f"response is not well-formed XML: {e}") from e
    if isinstance(root.tag, str) and root.tag.startswith("{"):
        # QBXML pasted as child elements of the SOAP <response> inherits the
        # SOAP default namespace; qbXML itself is un-namespaced.
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag.startswith("{"):
                el.tag = etree.QName(el).localname
        etree.cleanup_namespaces(root)
    if root.tag != "QBXML":
        raise QbxmlParseError(f"root element is {root.tag!r}, expected QBXML")
    return root


def _msgs_rs(root: etree._Element) -> etree._Element:
    msgs = root.find("QBXMLMsgsRs")
    if msgs is None:
        raise QbxmlParseError("no QBXMLMsgsRs in response")
    return msgs


def _int(v: str | None) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        return None


def parse_response(xml: str | bytes | etree._Element) -> list[ResponseItem]:
    """One :class:`ResponseItem` per ``*Rs`` element, in document order."""
    msgs = _msgs_rs(_root(xml))
    items: list[ResponseItem] = []
    for rs in msgs:
        if not isinstance(rs.tag, str) or not rs.tag.endswith("Rs"):
            continue
        rets = [c for c in rs if isinstance(c.tag, str) and c.tag.endswith("Ret")]
        code = _int(rs.get("statusCode"))
        items.append(ResponseItem(
            request_id=rs.get("requestID"),
            rq_type=rs.tag[:-2],
            status_code=code if code is not None else -1,
            severity=rs.get("statusSeverity", ""),
            message=rs.get("statusMessage", ""),
            ret=rets[0] if rets else None,
            rets=rets,
            iterator_id=rs.get("iteratorID"),
            iterator_remaining=_int(rs.get("iteratorRemainingCount")),
            ret_count=_int(rs.get("retCount")),
            element=rs,
        ))
    return items


def message_set_status(xml: str | bytes | etree._Element) -> MessageSetStatus:
    """``newMessageSetID`` / ``messageSetStatusCode`` of ``QBXMLMsgsRs`` (error recovery)."""
    msgs = _msgs_rs(_root(xml))
    return MessageSetStatus(
        new_message_set_id=msgs.get("newMessageSetID"),
        message_set_status_code=_int(msgs.get("messageSetStatusCode")),
        raw=dict(msgs.attrib),
    )
