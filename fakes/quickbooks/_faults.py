"""Faults and time: what tests inject into the emulated QuickBooks.

Injected status codes (:meth:`inject`), the processor throwing before or after
committing (:meth:`inject_failure`), another user's edit
(:meth:`concurrent_edit`), QuickBooks closed or the wrong company file
(:meth:`begin_session`), and the processing-time cost model spent on the
:class:`~fakes.quickbooks.company.SimClock`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ._util import (
    WRONG_FILE_HRESULT, WRONG_FILE_MESSAGE, QuickBooksConnectionError, QuickBooksParseError,
    _lower, _Status,
)


@dataclass
class _Injection:
    status_code: int
    rq_type: str | None
    remaining: int
    message: str | None


class _FaultsMixin:
    """Faults part of :class:`~fakes.quickbooks.emulator.QuickBooksEmulator`."""

    # ================================================================= faults

    # QuickBooks' time for a line a Mod names only to keep it (TxnLineID alone) is not documented; it is
    # taken as this share of a new line's time, and tests and benches may set another
    kept_line_share = 0.1

    def processing_time(self, rq_type: str, per_line_seconds: float,
                        base_seconds: float | None = None) -> None:
        """Cost model for ``rq_type`` (e.g. "BillAdd" or "BillAddRq"): base + per line."""
        with self._lock:
            key = rq_type.removesuffix("Rq")
            self._line_cost[key] = per_line_seconds
            if base_seconds is not None:
                self._base_cost[key] = base_seconds

    def cost_of(self, request_xml: str) -> float:
        """Simulated QuickBooks processing seconds for a request document (no sleeping)."""
        try:
            root = self._parse_root(request_xml)
        except QuickBooksParseError:
            return self.default_base_seconds
        msgs = root.find("QBXMLMsgsRq")
        if msgs is None:
            return self.default_base_seconds
        total = 0.0
        for rq in msgs:
            if not isinstance(rq.tag, str):
                continue
            key = rq.tag.removesuffix("Rq")
            body = rq[0] if len(rq) else rq
            lines = 0.0
            for c in body:
                if not isinstance(c.tag, str):
                    continue
                if c.tag.endswith("LineAdd") or c.tag == "LinkToTxnID":
                    lines += 1
                elif c.tag.endswith("LineMod"):  # a new line costs a line; a line kept as it is, a share of one
                    lines += 1 if c.findtext("TxnLineID") == "-1" or len(c) > 1 else self.kept_line_share
            total += self._base_cost.get(key, self.default_base_seconds)
            total += lines * self._line_cost.get(key, self.default_per_line_seconds)
        return total

    def inject(self, status_code: int = 3175, rq_type: str | None = "BillAdd", times: int = 1,
               message: str | None = None) -> None:
        """The next ``times`` requests of ``rq_type`` (None = any) fail with
        ``status_code`` and change nothing (e.g. 3175 record in use, 3170, 3180)."""
        with self._lock:
            self._injections.append(_Injection(status_code, rq_type.removesuffix("Rq")
                                               if rq_type else None, times, message))

    def inject_failure(self, hresult: str = "0x80040402",
                       message: str = "Unexpected error. Check the qbsdklog.txt file for "
                                      "possible additional information.",
                       *, after_processing: bool = False, times: int = 1) -> None:
        """The next ``times`` calls of :meth:`process` raise :class:`QuickBooksError`
        (what QBWC reports as ``hresult``/``message`` in receiveResponseXML, §2).
        ``after_processing=True``: the requests were applied first (QuickBooks
        committed, then failed to answer) — the nasty case for exactly-once."""
        with self._lock:
            self._failures.extend([(hresult, message, after_processing)] * times)

    def concurrent_edit(self, record_id: str, list_type: str | None = None) -> str:
        """Another user edits ListID/TxnID ``record_id`` now: EditSequence and
        TimeModified change. ListIDs repeat across list types, so pass
        ``list_type`` ("Vendor", "Account", "Class", "Item", "Terms") when ambiguous.
        Returns the new EditSequence."""
        with self._lock:
            if list_type:
                rec = getattr(self, self._LIST_TABLES[list_type]).get(record_id)
            else:
                hits = [t[record_id] for t in (self.vendors, self.accounts, self.classes,
                                               self.items, self.terms, self.txns)
                        if record_id in t]
                if len(hits) > 1:
                    raise ValueError(f"{record_id} exists in several lists; pass list_type")
                rec = hits[0] if hits else None
            if rec is None:
                raise KeyError(record_id)
            self.clock.advance(1)
            rec.touch(self.clock.now())
            return rec.edit_sequence

    def begin_session(self, company_file: str = "") -> None:
        """What QBWC's OpenConnection/BeginSession would hit: raises
        :class:`QuickBooksConnectionError` when closed or another file is asked for."""
        with self._lock:
            if self.closed:
                raise QuickBooksConnectionError()
            if company_file and _lower(company_file) != _lower(self.company_file):
                raise QuickBooksConnectionError(WRONG_FILE_HRESULT, WRONG_FILE_MESSAGE,
                                                company_file)

    def end_session(self) -> None:
        """QBWC's EndSession: iterators die with the session (research §8 assumption)."""
        with self._lock:
            self._iterators.clear()

    def connection_error(self) -> QuickBooksConnectionError:
        return QuickBooksConnectionError()

    def _spend(self, cost: float) -> None:
        self.elapsed_seconds += cost
        self.clock.advance(cost)
        if self.real_time and cost > 0:
            time.sleep(cost)

    def _check_injection(self, rq_type: str) -> None:
        for inj in self._injections:
            if inj.remaining > 0 and (inj.rq_type is None or inj.rq_type == rq_type):
                inj.remaining -= 1
                self._injections = [i for i in self._injections if i.remaining > 0]
                raise _Status(inj.status_code, inj.message)
