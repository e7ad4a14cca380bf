"""856 Ship Notice -> ``ShipNotice``; the HL tree is built from HL01/HL02, any shape."""
from __future__ import annotations

from decimal import Decimal

from .common import missing, party, party_detail, product_ids
from .model import Envelope, Issue, ShipNotice, ShipNoticeItem
from .values import SegmentView, Values


class _Node:
    __slots__ = ("id", "parent", "level", "prf", "marks", "children")

    def __init__(self, hl_id: str, parent: str, level: str):
        self.id = hl_id
        self.parent = parent
        self.level = level
        self.prf = ""
        self.marks: list[str] = []
        self.children: list[_Node] = []


def parse_ship_notice(envelope: Envelope, segments: list[SegmentView]) -> ShipNotice:
    sn = ShipNotice(envelope=envelope, number="", date=None)
    v = Values(sn.issues)
    nodes: dict[str, _Node] = {}
    order: list[_Node] = []
    node: _Node | None = None
    item: ShipNoticeItem | None = None
    item_has_qty = False
    item_node: dict[int, _Node] = {}  # id(item) -> HL node
    item_prf: set[int] = set()
    cur_party = None
    seen: set[str] = set()
    for seg in segments:
        tag = seg.tag
        seen.add(tag)
        if tag == "BSN":
            sn.purpose = seg.get(1)
            sn.number = seg.get(2)
            sn.date = v.dt(seg, 3)
            if not sn.number:
                v._bad(seg, 2, "shipment identification (BSN02) is empty", x12_code="1")
            if not seg.get(3):
                v._bad(seg, 3, "shipment date (BSN03) is empty", x12_code="1")
        elif tag == "HL":
            hl_id = seg.get(1) or str(len(order) + 1)
            node = _Node(hl_id, seg.get(2), seg.get(3).upper())
            if hl_id in nodes:
                v._bad(seg, 1, f"duplicate HL id {hl_id!r}", "warning")
            nodes[hl_id] = node
            order.append(node)
            item = None
            cur_party = None
        elif tag == "LIN":
            item = ShipNoticeItem(po_number="", quantity=Decimal("0"), unit="", position=seg.position)
            item.line_number = seg.get(1)
            product_ids(seg, 2, item.products)
            item_has_qty = False
            sn.items.append(item)
            if node is not None:
                item_node[id(item)] = node
        elif tag == "SN1":
            if item is None or item_has_qty:
                item = ShipNoticeItem(po_number="", quantity=Decimal("0"), unit="", position=seg.position)
                sn.items.append(item)
                if node is not None:
                    item_node[id(item)] = node
            qty = v.r(seg, 2)
            if qty is None:
                if not seg.get(2):
                    v._bad(seg, 2, "units shipped (SN102) is missing")
            else:
                item.quantity = qty
            item.unit = seg.get(3)
            if not item.line_number and seg.get(1):
                item.line_number = seg.get(1)
            item_has_qty = True
        elif tag == "PID":
            if item is not None and seg.get(5):
                item.description = f"{item.description} {seg.get(5)}".strip()
        elif tag == "PRF":
            po = seg.get(1)
            if item is not None and po:
                item.po_number = po
                item_prf.add(id(item))
            elif node is not None:
                node.prf = po
            if po and po not in sn.po_numbers:
                sn.po_numbers.append(po)
        elif tag == "MAN":
            mark = seg.get(2)
            if node is not None and mark:
                node.marks.append(mark)
        elif tag == "TD5":
            if not sn.carrier:
                sn.carrier = seg.get(3) or seg.get(5)
            if not sn.routing:
                sn.routing = seg.get(5)
        elif tag == "TD1":
            if sn.lading_quantity is None and (node is None or node.level == "S"):
                sn.lading_quantity = v.r(seg, 2)
        elif tag == "REF":
            if item is None and cur_party is None and (node is None or node.level == "S"):
                sn.references.setdefault(seg.get(1), seg.get(2))
        elif tag == "DTM":
            if node is None or node.level == "S":
                d = v.dt(seg, 2)
                if d is not None:
                    sn.dates.setdefault(seg.get(1), d)
        elif tag == "N1":
            p = party(seg)
            cur_party = p
            if node is None or node.level in ("S", "O"):
                sn.parties.append(p)
        elif tag in ("N2", "N3", "N4", "PER"):
            if cur_party is not None:
                party_detail(cur_party, seg)
        elif tag == "CTT":
            sn.line_count = v.n0(seg, 1)

    # Resolve the tree (parents may come after children; ids need not be sequential).
    for n in order:
        if n.parent:
            parent = nodes.get(n.parent)
            if parent is None or parent is n:
                sn.issues.append(
                    Issue(code="invalid_value", message=f"HL {n.id} names unknown parent {n.parent!r}",
                          segment="HL", element=2, severity="warning")
                )
            else:
                parent.children.append(n)

    def ancestors(n: _Node):
        seen_ids = set()
        cur = n
        while cur is not None and cur.id not in seen_ids:
            seen_ids.add(cur.id)
            yield cur
            cur = nodes.get(cur.parent) if cur.parent else None

    def descendants(n: _Node):
        stack = list(n.children)  # breadth-first, in file order
        seen_ids = {n.id}
        while stack:
            c = stack.pop(0)
            if c.id in seen_ids:
                continue
            seen_ids.add(c.id)
            yield c
            stack.extend(c.children)

    for it in sn.items:
        n = item_node.get(id(it))
        if n is None:
            continue
        chain = list(ancestors(n))
        if id(it) not in item_prf:
            for a in chain:
                if a.prf:
                    it.po_number = a.prf
                    break
        marks: list[str] = []
        for a in chain:
            if a.level in ("P", "T", "I") and a.marks:
                marks.extend(a.marks)
        if not marks:  # pick-and-pack "S/O/I/P": packs hang below the item
            for d in descendants(n):
                if d.level in ("P", "T") and d.marks:
                    marks.extend(d.marks)
        it.package_marks = marks
    if "BSN" not in seen:
        sn.issues.append(missing("BSN", "856 has no BSN segment (shipment id and date)"))
    if "HL" not in seen:
        sn.issues.append(missing("HL", "856 has no HL hierarchy"))
    if not sn.items:
        sn.issues.append(missing("SN1", "856 has no shipped items (LIN/SN1)"))
    return sn
