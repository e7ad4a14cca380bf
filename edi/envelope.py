"""Envelope state machine: segments in, ``ParsedSet`` out (streaming).

Checks ISA/IEA, GS/GE and ST/SE (counts, control numbers, missing trailers),
dispatches each set to its document parser and keeps one summary per GS in
``result.groups`` for the 997.

Streaming contract: a set is yielded as soon as its SE has been checked.
Faults that only show at GE / IEA time (count or control-number mismatch,
missing GE / IEA at end of file) are applied afterwards to the sets they
enclose: the same ``ParsedSet`` objects get an ``envelope_error`` in
``rejected`` and ``document = None`` (only sets the caller still holds are
reachable; they are tracked by weak reference), and the fault is appended to
``result.errors``. ``EdiReader.late_faults`` also lists each such fault with the ordinals of the sets it
applies to (``(first, end, issue)``: sets ``first <= n < end`` in yield order), for a consumer that let
go of the sets it already stored: read the file once with ``documents=False`` (envelopes only, cheap)
and the faults are known before the first set is translated. A streaming consumer should therefore treat sets as
provisional until the interchange has ended (``EdiReader.on_interchange_end``
callback, or simply check ``result.errors`` / ``rejected`` after the loop).
"""
from __future__ import annotations

import sys
import weakref
from typing import BinaryIO, Callable, Iterator

from .invoice import parse_invoice
from .model import Envelope, Issue, ParsedSet, ParseResult, SetPlace, SetRecord, SetRecords
from .purchase_order import parse_purchase_order
from .ship_notice import parse_ship_notice
from .tokenizer import CHUNK, Segment, Tokenizer
from .values import SegmentView

_ENVELOPE_TAGS = frozenset(("SE", "ST", "GE", "IEA", "ISA", "GS"))
PARSERS = {"810": parse_invoice, "850": parse_purchase_order, "856": parse_ship_notice}
FUNCTIONAL_IDS = {"810": {"IN"}, "850": {"PO"}, "856": {"SH"}, "997": {"FA"}, "999": {"FA"}}

# 997 codes (X12 element 718 for AK5, 716 for AK9)
AK5_TRAILER_MISSING = "2"
AK5_CONTROL_MISMATCH = "3"
AK5_COUNT_MISMATCH = "4"
AK5_SEGMENTS_IN_ERROR = "5"
AK5_NOT_SUPPORTED = "1"
AK9_GE_MISSING = "3"
AK9_CONTROL_MISMATCH = "4"
AK9_COUNT_MISMATCH = "5"


def _env_error(message: str, segment: str | None = None, element: int | None = None) -> Issue:
    return Issue(code="envelope_error", message=message, segment=segment, element=element)


def _int(text: str) -> int | None:
    """A count or control number; None when it is not one (not digits, or more than 18 of them: a
    count that long is corruption, and Python refuses to convert 4,300 digits or more)."""
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() and len(text.lstrip("0")) <= 18 else None


def _remember(refs: list[weakref.ref], ref: weakref.ref) -> None:
    """Add ``ref`` to an envelope's sets; whenever the list reaches a power of two, drop the sets nobody
    holds any more (a stream's consumer let them go): memory stays with the live sets, in linear time."""
    refs.append(ref)
    n = len(refs)
    if n >= 1024 and n & (n - 1) == 0:
        refs[:] = [r for r in refs if r() is not None]


class _Controls:
    """The ST02s a group has had. A number below 2**20 (and its width: ``0001`` is not ``001``) is one bit
    of ``bits``, so a group of 80,000 sets costs some 200 kB, not a string and a set entry each."""

    __slots__ = ("bits", "other")

    def __init__(self):
        self.bits, self.other = bytearray(), set()

    def seen(self, st02: str) -> bool:
        """Had the group ``st02`` before? (It has now.)"""
        n = _int(st02)
        if n is not None and n < 1 << 20 and len(st02) < 20:
            i = n * 20 + len(st02)
            byte, bit = divmod(i, 8)
            if byte >= len(self.bits):
                self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
            had = bool(self.bits[byte] >> bit & 1)
            self.bits[byte] |= 1 << bit
            return had
        had = st02 in self.other
        self.other.add(st02)
        return had


class _Interchange:
    def __init__(self, elements: list[str]):
        g = lambda n: elements[n].strip() if n < len(elements) else ""  # noqa: E731
        self.fields = dict(
            isa_sender_qualifier=g(5),
            isa_sender_id=g(6),
            isa_receiver_qualifier=g(7),
            isa_receiver_id=g(8),
            isa_date=g(9),
            isa_time=g(10),
            isa_version=g(12),
            interchange_control=g(13),
            usage=g(15),
        )
        self.control = g(13)
        self.groups: list[dict] = []
        self.sets: list[weakref.ref] = []
        self.first = 0  # ordinal of its first set
        self.place: list | None = None  # [offset, end, segment number] in the file (SetPlace)


class _Group:
    def __init__(self, elements: list[str], interchange: _Interchange | None):
        g = lambda n: elements[n].strip() if n < len(elements) else ""  # noqa: E731
        self.functional_id = g(1)
        self.control = g(6)
        self.fields = dict(functional_id=g(1), gs_sender=g(2), gs_receiver=g(3), group_control=g(6), version=g(8))
        self.record: dict = {
            "functional_id": g(1),
            "gs_sender": g(2),
            "gs_receiver": g(3),
            "date": g(4),
            "time": g(5),
            "group_control": g(6),
            "version": g(8),
            **(interchange.fields if interchange else {}),
            "declared_sets": None,
            "sets": SetRecords(),
            "errors": [],  # AK9 codes
            "messages": [],
            "interchange_errors": [],
        }
        self.count = 0
        self.sets: list[weakref.ref] = []
        self.controls = _Controls()
        self.first = 0  # ordinal of its first set
        self.place: list | None = None  # [offset, end, segment number] in the file (SetPlace)


class _Set:
    def __init__(self, seg: Segment, envelope: Envelope):
        self.envelope = envelope
        self.first_segment = seg.index
        self.offset: int | None = None  # where its ST is in the file's bytes
        self.control = envelope.set_control
        self.segments: list[SegmentView] = []
        self.rejected: list[Issue] = []
        self.ak5: list[str] = []
        self.warnings: list[Issue] = []


class EdiReader:
    """Iterate the transaction sets of one X12 byte stream.

    ``result`` is a ``ParseResult`` whose ``warnings`` / ``errors`` /
    ``groups`` fill while you iterate (``result.sets`` stays empty unless
    ``retain=True``).
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        keep_segments: bool = False,
        retain: bool = False,
        chunk_size: int = CHUNK,
        on_interchange_end: Callable[[list[Issue]], None] | None = None,
        documents: bool = True,
        parse_only: int | None = None,
    ):
        self.result = ParseResult()
        self.keep_segments = keep_segments
        self.retain = retain
        # documents=False: envelopes only (counts, control numbers, late faults); no set is parsed into a
        # document and no 997 detail beyond the envelope is known
        self.documents = documents
        # parse_only=n: only the set of ordinal n is parsed into a document (one set of a big file, read again)
        self.parse_only = parse_only
        self.late_faults: list[tuple[int, int, Issue]] = []  # (first ordinal, end ordinal, issue)
        self.set_count = 0  # sets closed so far (the next set's ordinal)
        self.on_interchange_end = on_interchange_end
        self.tokenizer = Tokenizer(
            stream, warn=self.result.warnings.append, error=self.result.errors.append, chunk_size=chunk_size
        )
        self._isa: _Interchange | None = None
        self._gs: _Group | None = None
        self._st: _Set | None = None
        self._outside_warned = False
        self.segment_count = 0
        self._placing: list | None = None  # the ISA's or GS's place, its end not known until the next segment

    # ------------------------------------------------------------------
    def __iter__(self) -> Iterator[ParsedSet]:
        envelope_tags = _ENVELOPE_TAGS
        documents = self.documents
        n = 0
        for seg in self.tokenizer:
            n += 1
            elements = seg.elements
            tag = elements[0]
            st = self._st
            if st is not None and tag not in envelope_tags:
                tag = tag.upper()
                if tag not in envelope_tags:
                    segments = st.segments
                    segments.append(SegmentView(elements, len(segments) + 1, seg.delimiters.component)
                                    if documents else None)
                    continue
            self.segment_count = n
            if self._placing is not None:  # (an ISA or a GS ends where the segment after it starts)
                self._placing[1] = self.tokenizer.offset
                self._placing = None
            tag = tag.upper()
            if tag == "ISA":
                yield from self._close_interchange(missing=True)
                self._isa = _Interchange(seg.elements)
                self._isa.first = self.set_count
                if seg.index == self.tokenizer.header_index:  # (an "isa" or a wrapped "I SA" is not read again
                    self._isa.place = self._placing = [self.tokenizer.offset, None, seg.index]  # as one: no place)
            elif tag == "IEA":
                yield from self._close_interchange(seg)
            elif tag == "GS":
                if self._st is not None:
                    yield self._close_set(None)
                if self._gs is not None:
                    self._close_group(None)
                self._gs = _Group(seg.elements, self._isa)
                self._gs.first = self.set_count
                self._gs.place = self._placing = [self.tokenizer.offset, None, seg.index]
                self.result.groups.append(self._gs.record)
                if self._isa is not None:
                    self._isa.groups.append(self._gs.record)
                else:
                    self._outside("GS without ISA")
            elif tag == "GE":
                if self._st is not None:
                    yield self._close_set(None)
                if self._gs is None:
                    self._outside("GE without GS")
                else:
                    self._close_group(seg)
            elif tag == "ST":
                if self._st is not None:
                    yield self._close_set(None)
                self._open_set(seg)
            elif tag == "SE":
                if self._st is None:
                    self._outside("SE without ST")
                else:
                    yield self._close_set(seg)
            elif tag == "TA1" and self._isa is not None and self._gs is None:
                continue  # interchange acknowledgment between ISA and GS: accepted, not used
            else:
                self._outside(f"segment {tag or '(empty)'} outside a transaction set")
        self.segment_count = n
        if self._st is not None:
            yield self._close_set(None, eof=True)
        if self._gs is not None:
            self._close_group(None, eof=True)
        yield from self._close_interchange(missing=True, eof=True)
        if self.segment_count == 0 and not self.result.errors:
            self.result.errors.append(Issue(code="malformed", message="no segments found (empty file?)"))

    # ------------------------------------------------------------------
    def _outside(self, message: str) -> None:
        self.result.warnings.append(Issue(code="malformed", message=message + " (ignored)", severity="warning"))

    def _open_set(self, seg: Segment) -> None:
        st01 = seg.elements[1].strip() if len(seg.elements) > 1 else ""
        st02 = seg.elements[2].strip() if len(seg.elements) > 2 else ""
        fields: dict = {}
        if self._isa is not None:
            fields.update(self._isa.fields)
        if self._gs is not None:
            fields.update(self._gs.fields)
        env = Envelope(**fields, transaction_set=st01, set_control=st02)
        st = _Set(seg, env)
        st.offset = self.tokenizer.offset
        st.segments.append(SegmentView(seg.elements, 1, seg.delimiters.component))
        if self._gs is None:
            if self._isa is not None:
                st.rejected.append(_env_error("ST outside a functional group (no GS after ISA)", "ST"))
            else:
                st.warnings.append(
                    Issue(code="no_interchange", message="transaction set without ISA/GS envelope", severity="warning")
                )
        else:
            self._gs.count += 1
            allowed = FUNCTIONAL_IDS.get(st01)
            if allowed and self._gs.functional_id not in allowed:
                st.warnings.append(
                    Issue(
                        code="functional_id_mismatch",
                        message=f"ST01 {st01} under GS01 {self._gs.functional_id!r} (expected {'/'.join(sorted(allowed))})",
                        segment="GS",
                        element=1,
                        severity="warning",
                    )
                )
        if not st02:
            st.rejected.append(_env_error("ST02 control number is empty", "ST", 2))
            st.ak5.append(AK5_CONTROL_MISMATCH)
        elif self._gs is not None and self.documents:  # (a set's warnings: none from an envelope survey)
            if self._gs.controls.seen(st02):
                st.warnings.append(
                    Issue(code="duplicate_control", message=f"ST02 {st02} is used twice in group {self._gs.control}",
                          segment="ST", element=2, severity="warning")
                )
        self._st = st

    def _place(self, st: _Set) -> SetPlace | None:
        """Where ``st`` and its ISA and GS are in the file, when the tokenizer knows all three."""
        isa, gs = self._isa.place if self._isa else None, self._gs.place if self._gs else None
        if isa is None or gs is None or st.offset is None or None in isa or None in gs:
            return None
        return SetPlace(*isa, *gs, st.offset)

    def _close_set(self, se: Segment | None, eof: bool = False) -> ParsedSet:
        st = self._st
        assert st is not None
        self._st = None
        counted = len(st.segments)
        if se is None:
            what = "end of file" if eof else "next envelope segment"
            st.rejected.append(_env_error(f"SE missing: set {st.control or '?'} ends at {what} (file truncated?)", "SE"))
            st.ak5.append(AK5_TRAILER_MISSING)
        else:
            counted += 1
            st.segments.append(SegmentView(se.elements, counted, se.delimiters.component))
            se01 = se.elements[1].strip() if len(se.elements) > 1 else ""
            se02 = se.elements[2].strip() if len(se.elements) > 2 else ""
            n = _int(se01)
            if n != counted:
                st.rejected.append(_env_error(f"SE01 says {se01 or '(empty)'} segments, counted {counted}", "SE", 1))
                st.ak5.append(AK5_COUNT_MISMATCH)
            if se02 != st.control:
                st.rejected.append(_env_error(f"SE02 {se02!r} does not match ST02 {st.control!r}", "SE", 2))
                st.ak5.append(AK5_CONTROL_MISMATCH)
        ps = ParsedSet(envelope=st.envelope, document=None, segment_count=counted, rejected=st.rejected,
                       warnings=st.warnings, first_segment=st.first_segment, place=self._place(st))
        self.set_count += 1
        if self.keep_segments and self.documents:
            ps.raw_segments = [s.elements for s in st.segments]
        set_id = st.envelope.transaction_set
        parser = PARSERS.get(set_id)
        if parser is None:
            ps.warnings.append(
                Issue(
                    code="unsupported_transaction",
                    message=f"transaction set {set_id or '(empty)'} is not translated",
                    segment="ST",
                    element=1,
                    severity="warning",
                )
            )
        elif not ps.rejected and self.documents and self.parse_only in (None, self.set_count - 1):
            body = st.segments[1:-1] if se is not None else st.segments[1:]
            try:
                ps.document = parser(st.envelope, body)
            except Exception as exc:  # defensive: a parser bug must not stop the file
                ps.rejected.append(Issue(code="malformed", message=f"internal parser error: {type(exc).__name__}: {exc}"))
        self._record_set(ps, st, parser is not None)
        ref = weakref.ref(ps)
        if self._gs is not None:
            _remember(self._gs.sets, ref)
        if self._isa is not None:
            _remember(self._isa.sets, ref)
        if self.retain:
            self.result.sets.append(ps)
        return ps

    def _record_set(self, ps: ParsedSet, st: _Set, supported: bool) -> None:
        if self._gs is None or not self.documents:  # (an envelope survey builds no 997)
            return
        codes = list(dict.fromkeys(st.ak5))
        errors: list[dict] = []
        status = "A"
        if ps.rejected:
            status = "R"
            if not codes:
                codes = [AK5_SEGMENTS_IN_ERROR]
        elif not supported:
            if self._gs.functional_id != "FA":
                status = "R"
                codes = [AK5_NOT_SUPPORTED]
        elif ps.document is not None:
            for issue in ps.document.issues:
                if issue.severity != "error" or issue.x12_code is None:
                    continue  # business-rule problems become holds, not 997 errors
                if issue.code == "missing_segment":
                    status = "R"
                    errors.append({"segment": issue.segment or "", "position": issue.position, "code": issue.x12_code})
                else:
                    if status == "A":
                        status = "E"
                    errors.append(
                        {
                            "segment": issue.segment or "",
                            "position": issue.position,
                            "code": "8",
                            "element": issue.element,
                            "element_code": issue.x12_code,
                        }
                    )
            if errors:
                codes = [AK5_SEGMENTS_IN_ERROR]
        self._gs.record["sets"].append(
            SetRecord(sys.intern(st.envelope.transaction_set), st.control, status, codes, errors))

    def _reject_enclosed(self, refs: list[weakref.ref], issue: Issue) -> None:
        for r in refs:
            ps = r()
            if ps is not None:
                if issue not in ps.rejected:  # (already applied from a survey: edi.Survey.apply)
                    ps.rejected.append(issue)
                ps.document = None

    def _close_group(self, ge: Segment | None, eof: bool = False) -> None:
        grp = self._gs
        assert grp is not None
        self._gs = None
        issues: list[tuple[Issue, str]] = []
        if ge is None:
            where = "end of file" if eof else "next GS/IEA"
            issues.append((_env_error(f"GE missing for group {grp.control or '?'} (reached {where})", "GE"), AK9_GE_MISSING))
        else:
            ge01 = ge.elements[1].strip() if len(ge.elements) > 1 else ""
            ge02 = ge.elements[2].strip() if len(ge.elements) > 2 else ""
            grp.record["declared_sets"] = _int(ge01)
            if _int(ge01) != grp.count:
                issues.append((_env_error(f"GE01 says {ge01 or '(empty)'} transaction sets, counted {grp.count}", "GE", 1), AK9_COUNT_MISMATCH))
            if ge02 != grp.control:
                issues.append((_env_error(f"GE02 {ge02!r} does not match GS06 {grp.control!r}", "GE", 2), AK9_CONTROL_MISMATCH))
        for issue, code in issues:
            grp.record["errors"].append(code)
            grp.record["messages"].append(issue.message)
            self.result.errors.append(issue)
            self._reject_enclosed(grp.sets, issue)
            self.late_faults.append((grp.first, self.set_count, issue))
        grp.sets = []

    def _close_interchange(self, iea: Segment | None = None, missing: bool = False, eof: bool = False):
        if iea is not None and self._isa is None:
            self._outside("IEA without ISA")
            return
        if self._isa is None:
            return
        if self._st is not None:
            yield self._close_set(None, eof=eof)
        if self._gs is not None:
            self._close_group(None, eof=eof)
        isa = self._isa
        self._isa = None
        issues: list[Issue] = []
        if iea is None:
            where = "end of file" if eof else "next ISA"
            issues.append(_env_error(f"IEA missing for interchange {isa.control or '?'} (reached {where})", "IEA"))
        else:
            iea01 = iea.elements[1].strip() if len(iea.elements) > 1 else ""
            iea02 = iea.elements[2].strip() if len(iea.elements) > 2 else ""
            if _int(iea01) != len(isa.groups):
                issues.append(_env_error(f"IEA01 says {iea01 or '(empty)'} functional groups, counted {len(isa.groups)}", "IEA", 1))
            if iea02 != isa.control:
                issues.append(_env_error(f"IEA02 {iea02!r} does not match ISA13 {isa.control!r}", "IEA", 2))
        for issue in issues:
            self.result.errors.append(issue)
            self._reject_enclosed(isa.sets, issue)
            self.late_faults.append((isa.first, self.set_count, issue))
            for g in isa.groups:
                g["interchange_errors"].append(issue.message)
        isa.sets = []
        if self.on_interchange_end is not None:
            self.on_interchange_end(issues)
