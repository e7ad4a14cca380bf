"""Domain dataclasses for the X12 documents qbedi reads.

Pure data: no database, no network, no QuickBooks. Money and quantities are
``Decimal`` (never float); dates are ``datetime.date``. Everything a later
stage needs to explain a decision (which segment, which line) is kept.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None = None


@dataclass
class Envelope:
    """Where one transaction set sat: ISA / GS / ST identifiers."""

    isa_sender_qualifier: str = ""
    isa_sender_id: str = ""
    isa_receiver_qualifier: str = ""
    isa_receiver_id: str = ""
    isa_date: str = ""
    isa_time: str = ""
    isa_version: str = ""  # ISA12, e.g. 00401
    interchange_control: str = ""  # ISA13
    usage: str = ""  # ISA15 P/T
    functional_id: str = ""  # GS01 (IN / PO / SH)
    gs_sender: str = ""  # GS02
    gs_receiver: str = ""  # GS03
    group_control: str = ""  # GS06
    version: str = ""  # GS08, e.g. 004010, 004010VICS, 005010
    transaction_set: str = ""  # ST01: 810 / 850 / 856
    set_control: str = ""  # ST02


@dataclass
class Issue:
    """A problem found while reading: becomes a hold or rejection reason.

    ``code`` is one of: missing_segment, invalid_value, envelope_error,
    unsupported_transaction, malformed (and warnings: isa_width, ...).
    """

    code: str
    message: str
    segment: str | None = None  # segment id, e.g. "IT1"
    position: int | None = None  # 1-based segment position within the set (ST = 1)
    element: int | None = None  # 1-based element position
    severity: str = "error"  # "error" | "warning"
    # added by the edi reader: X12 syntax error code for the 997 when the
    # issue is a syntax error (AK3 code 3 for a missing mandatory segment,
    # AK4 element code 6 invalid character / 8 invalid date); None for
    # business-rule problems (missing price, totals) that only cause holds.
    x12_code: str | None = None


@dataclass
class Party:
    code: str  # N101: VN, SU, RE, RI, BT, ST, BY, SF, ...
    name: str = ""
    id_qualifier: str = ""
    id: str = ""
    address_lines: list[str] = field(default_factory=list)
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    contact: str = ""  # PER02, the first PER in the party's loop
    phone: str = ""  # PER TE
    email: str = ""  # PER EM
    fax: str = ""  # PER FX


@dataclass
class Charge:
    """SAC allowance (negative amount) or charge (positive amount)."""

    indicator: str  # A = allowance, C = charge, N = no charge
    code: str  # SAC02, e.g. D240 freight, C310 discount
    amount: Decimal  # signed: allowances negative
    description: str = ""
    percent: Decimal | None = None


@dataclass
class Terms:
    type_code: str = ""  # ITD01
    basis_date_code: str = ""  # ITD02
    discount_percent: Decimal | None = None  # ITD03
    discount_due_date: date | None = None  # ITD04
    discount_days: int | None = None  # ITD05
    net_due_date: date | None = None  # ITD06
    net_days: int | None = None  # ITD07
    discount_amount: Decimal | None = None  # ITD08 (N2)
    description: str = ""  # ITD12
    # added by the edi reader (ITD09/10/11/13):
    deferred_due_date: date | None = None  # ITD09
    deferred_amount: Decimal | None = None  # ITD10 (N2)
    percent_payable: Decimal | None = None  # ITD11
    day_of_month: int | None = None  # ITD13


@dataclass
class ProductIds:
    vendor_part: str = ""  # VN / VP / VA
    buyer_part: str = ""  # BP / IN / PI
    upc: str = ""  # UP / UK / EN / UI
    other: dict[str, str] = field(default_factory=dict)  # qualifier -> id for the rest


class _Parties:
    """The first party with one of the N101 codes, in the order the codes are given."""

    parties: list[Party]

    def party(self, *codes: str) -> Party | None:
        for code in codes:
            for p in self.parties:
                if p.code == code:
                    return p
        return None


@dataclass
class InvoiceLine:
    line_number: str  # IT101, or the 1-based ordinal when IT101 is empty
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal  # quantity * unit_price, quantized to cents
    products: ProductIds = field(default_factory=ProductIds)
    description: str = ""
    po_number: str = ""  # line REF*PO or the BIG04 heading PO
    charges: list[Charge] = field(default_factory=list)  # line-level SAC
    position: int | None = None  # segment position of the IT1


@dataclass
class Invoice(_Parties):
    """An 810. ``credit`` is True for BIG07 = CR (credit memo)."""

    envelope: Envelope
    number: str  # BIG02
    date: date | None  # BIG01
    po_number: str = ""  # BIG04
    po_date: date | None = None
    transaction_type: str = ""  # BIG07
    credit: bool = False
    currency: str = "USD"
    references: dict[str, str] = field(default_factory=dict)  # REF01 -> REF02
    parties: list[Party] = field(default_factory=list)
    terms: list[Terms] = field(default_factory=list)
    dates: dict[str, date] = field(default_factory=dict)  # DTM01 -> date
    lines: list[InvoiceLine] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)  # summary SAC
    total: Decimal | None = None  # TDS01 (N2)
    line_count: int | None = None  # CTT01
    notes: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    # added by the edi reader:
    taxes: list[Charge] = field(default_factory=list)  # TXI: indicator "T", code TXI01, amount TXI02 (R)
    amount_subject_to_discount: Decimal | None = None  # TDS02 (N2)
    discounted_amount_due: Decimal | None = None  # TDS03 (N2)
    terms_discount_amount: Decimal | None = None  # TDS04 (N2)


@dataclass
class PurchaseOrderLine:
    line_number: str  # PO101 or ordinal
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    amount: Decimal | None
    products: ProductIds = field(default_factory=ProductIds)
    description: str = ""
    position: int | None = None
    charges: list[Charge] = field(default_factory=list)  # line-level SAC (added by the edi reader)


@dataclass
class PurchaseOrder(_Parties):
    """An 850."""

    envelope: Envelope
    number: str  # BEG03
    date: date | None  # BEG05
    purpose: str = ""  # BEG01
    order_type: str = ""  # BEG02
    currency: str = "USD"
    references: dict[str, str] = field(default_factory=dict)
    parties: list[Party] = field(default_factory=list)
    terms: list[Terms] = field(default_factory=list)
    dates: dict[str, date] = field(default_factory=dict)
    lines: list[PurchaseOrderLine] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    total: Decimal | None = None  # AMT*TT, or computed
    line_count: int | None = None  # CTT01
    notes: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


@dataclass
class ShipNoticeItem:
    po_number: str  # from the enclosing O-level PRF, or item-level PRF
    quantity: Decimal  # SN102
    unit: str  # SN103
    products: ProductIds = field(default_factory=ProductIds)
    description: str = ""
    line_number: str = ""  # LIN01 / PO line reference (PRF or LIN)
    package_marks: list[str] = field(default_factory=list)  # MAN at enclosing P level
    position: int | None = None


@dataclass
class ShipNotice(_Parties):
    """An 856: what arrived, by PO."""

    envelope: Envelope
    number: str  # BSN02 shipment id
    date: date | None  # BSN03
    purpose: str = ""  # BSN01
    po_numbers: list[str] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    parties: list[Party] = field(default_factory=list)
    dates: dict[str, date] = field(default_factory=dict)
    carrier: str = ""  # TD5: TD503 (SCAC) or else TD505 (routing)
    items: list[ShipNoticeItem] = field(default_factory=list)
    line_count: int | None = None
    issues: list[Issue] = field(default_factory=list)
    # added by the edi reader:
    routing: str = ""  # TD505
    lading_quantity: Decimal | None = None  # TD102 at shipment level


Document = Invoice | PurchaseOrder | ShipNotice


@dataclass
class ParsedSet:
    """One ST..SE transaction set, parsed or not.

    ``document`` is None when the set type is not one we translate (997, ...)
    or when the envelope around it is broken. ``rejected`` carries envelope
    faults (the enclosing ISA/GS/ST is unusable); ``document.issues`` carries
    content problems (missing segment, bad value) that become holds.
    """

    envelope: Envelope
    document: Document | None
    segment_count: int = 0
    rejected: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    raw_segments: list[list[str]] | None = None  # kept only when asked (997 detail)
    first_segment: int = 0  # where its ST is in the file: the tokenizer's 1-based segment count (0: unknown)
    place: SetPlace | None = None  # where its ISA, GS and ST are in the file's bytes (None: not known)


class SetPlace(NamedTuple):
    """Where a set and the ISA and GS it is under are in its file, to read that set again without reading
    what comes before it: the file's bytes ``[isa_offset, isa_end)`` + ``[gs_offset, gs_end)`` +
    ``[st_offset, ...)`` tokenize as its ISA, its GS, then its own segments. ``*_segment``: the ISA's and
    the GS's segment numbers in the file (the ST's is ``ParsedSet.first_segment``). A tuple of ints (stored
    as a JSON list)."""

    isa_offset: int
    isa_end: int
    isa_segment: int
    gs_offset: int
    gs_end: int
    gs_segment: int
    st_offset: int


class SetRecord:
    """What the 997 says of one received set (``result.groups[i]["sets"]``), read like the dict it was:
    ``rec["status"]``, ``rec.get("codes", [])``. Small on purpose (slots, shared empty lists): a 100 MB
    file keeps one per set until its 997 is built."""

    __slots__ = ("transaction_set", "control", "status", "codes", "errors")
    KEYS = __slots__

    def __init__(self, transaction_set: str, control: str, status: str, codes: list, errors: list):
        self.transaction_set, self.control, self.status = transaction_set, control, status
        self.codes, self.errors = codes or (), errors or ()

    def __getitem__(self, key: str):
        if key not in self.KEYS:
            raise KeyError(key)
        value = getattr(self, key)
        return list(value) if isinstance(value, tuple) else value

    def get(self, key: str, default=None):
        return self[key] if key in self.KEYS else default

    def keys(self):
        return self.KEYS

    def as_dict(self) -> dict:
        return {k: self[k] for k in self.KEYS}

    def __eq__(self, other) -> bool:
        if isinstance(other, SetRecord):
            other = other.as_dict()
        return self.as_dict() == other if isinstance(other, dict) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.as_dict())


class SetRecords:
    """A group's :class:`SetRecord` list, kept small: an accepted set with a numeric control number and no
    codes is ten bytes (its transaction set, control number and the number's width in arrays); any other
    is kept as its record. Reads as the list of records it stands for (``len``, index, iterate, ``==``)."""

    __slots__ = ("_names", "_name", "_control", "_width", "_others")

    def __init__(self):
        self._names: list[str] = []
        self._name, self._control, self._width = array("B"), array("q"), array("B")
        self._others: dict[int, SetRecord] = {}

    def append(self, rec: SetRecord) -> None:
        c, name = rec.control, rec.transaction_set
        plain = rec.status == "A" and not rec.codes and not rec.errors and c.isdigit() and c.isascii() and \
            0 < len(c) <= 18 and (name in self._names or len(self._names) < 255)
        if not plain:
            self._others[len(self._control)] = rec
            self._name.append(0), self._control.append(-1), self._width.append(0)
            return
        if name not in self._names:
            self._names.append(name)
        self._name.append(self._names.index(name)), self._control.append(int(c)), self._width.append(len(c))

    def __len__(self) -> int:
        return len(self._control)

    def __getitem__(self, i: int) -> SetRecord:
        i = range(len(self))[i]  # (a negative index; IndexError past the end)
        if self._control[i] < 0:
            return self._others[i]
        return SetRecord(self._names[self._name[i]], str(self._control[i]).zfill(self._width[i]), "A", [], [])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, (list, SetRecords)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


@dataclass
class ParseResult:
    """Everything read from one file."""

    sets: list[ParsedSet] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)  # file-level: no ISA, unreadable
    warnings: list[Issue] = field(default_factory=list)  # file-level: BOM, collapsed ISA, wrapped
    groups: list[dict] = field(default_factory=list)  # per GS: ids, counts, accepted/rejected (for 997)
