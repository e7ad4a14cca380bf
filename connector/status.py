"""The states a received file, a document, a QuickBooks request and a 997 can be in.

Plain vocabulary (``StrEnum``: the values are what the database stores). Which
state may follow which, and the audit event each change writes, is
:mod:`connector.lifecycle`'s alone.
"""
from __future__ import annotations

from enum import StrEnum


class FileStatus(StrEnum):
    RECEIVED = "received"  # bytes stored, not parsed yet (a crash here is resumed)
    PARSED = "parsed"
    UNREADABLE = "unreadable"  # no X12 in it, or the parser failed: kept with the reason
    FAILED = "failed"  # translating it raised: tried again on the next polls, a bounded number of times


class FileVerdict(StrEnum):
    """Why a received file made no documents (``ReceivedFile.reason_code``)."""

    EMPTY = "empty"  # no bytes, or only white space
    NOT_X12 = "not_x12"  # no ISA: a PDF, a spreadsheet, text, junk
    UNREADABLE = "unreadable"  # an interchange, but not one transaction set could be read
    PARSER_ERROR = "parser_error"  # the reader itself failed (a bug: kept for a developer)
    TRANSLATE_ERROR = "translate_error"  # translating a set raised (a bug: kept, retried)


class DocStatus(StrEnum):
    """Document states::

        translated -> queued -> sent -> posted
             |          \\-> held (waits for a person) <-/ \\-> failed (QuickBooks said no)
             |-> awaiting_approval (auto_post: false) -> (approve) queued | (reject) rejected
             \\-> rejected (broken envelope, unsupported set)
        held / failed -> (release) queued | awaiting_approval | held | rejected;
        held / failed / rejected -> dismissed
    """

    RECEIVED = "received"
    TRANSLATED = "translated"
    AWAITING_APPROVAL = "awaiting_approval"  # translated and ready; a person approves it before it is queued
    QUEUED = "queued"
    SENT = "sent"
    POSTED = "posted"
    HELD = "held"
    FAILED = "failed"
    REJECTED = "rejected"
    DISMISSED = "dismissed"  # a person closed it (e.g. entered by hand in QuickBooks); kept with the reason


class RqState(StrEnum):
    AWAITING = "awaiting"  # built, kept back until its document is approved (never sent before that)
    QUEUED = "queued"
    SENT = "sent"  # handed to QBWC, answer not yet seen
    UNKNOWN = "unknown"  # sent, answer lost: must be verified in QuickBooks before any re-send
    DONE = "done"
    FAILED = "failed"
    HELD = "held"
    CANCELLED = "cancelled"


PENDING_REQUEST = (RqState.QUEUED, RqState.UNKNOWN)  # work a Web Connector session still has to do
IN_FLIGHT_REQUEST = (RqState.QUEUED, RqState.SENT, RqState.UNKNOWN)  # may still reach QuickBooks


class AckState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ABANDONED = "abandoned"  # the source refused it every time
    KEPT = "kept"  # the source has nowhere to send 997s (no outbox): kept for `qbedi ack`


class Hold(StrEnum):
    """Reason codes a person acts on (README: "Reviewing held documents"). Translation adds its own
    (``unknown_supplier``, ``unmapped_line``, ...); these are the ones delivery decides."""

    UNVERIFIABLE = "unverifiable"
    NO_ANSWER = "no_answer"
    MISSING_REFERENCE = "qb_missing_reference"
    INVALID_REFERENCE = "qb_invalid_reference"
    EDIT_CONFLICT = "edit_conflict"
    UNKNOWN_PO = "unknown_po"
    AMBIGUOUS_PO = "ambiguous_po"
    OVER_RECEIPT = "over_receipt"
    UNMAPPED_LINE = "unmapped_line"
    QB_ERROR = "qb_error"
    DUPLICATE = "duplicate_document"
    SUPERSEDED = "superseded"
    TOO_BIG = "too_big"  # a bill in parts: even one more line would not fit a round trip
    PARTIAL_BILL = "partial_bill"  # a bill in parts stopped part-way: its first lines are in QuickBooks
    BILL_DELETED = "bill_deleted"  # a bill in parts was deleted in QuickBooks part-way


# held for one of these, the transaction may already be (or is partly) in QuickBooks
MAYBE_IN_QUICKBOOKS = (Hold.UNVERIFIABLE, Hold.NO_ANSWER, Hold.TOO_BIG, Hold.PARTIAL_BILL)


class Scope(StrEnum):
    """What a person pauses, and what the activity history is about."""

    SOURCE = "source"  # a source of files (paused: nothing is fetched from it)
    COMPANY = "company"  # a Web Connector user's company file (paused: nothing is sent to it)


class Activity(StrEnum):
    """Kinds of entry in the sync history (``sync_event``), newest first on the dashboard."""

    POLL_OK = "poll_ok"
    POLL_FAILED = "poll_failed"
    SESSION_OK = "session_ok"  # a Web Connector session ended (its summary)
    SESSION_ERROR = "session_error"  # QuickBooks could not be reached, a batch failed, a login was refused
    PAUSED = "paused"
    RESUMED = "resumed"
    SYNC_REQUESTED = "sync_requested"  # sync now / refresh lists, by a person


class SyncKind(StrEnum):
    POLL = "poll"  # poll a source (or every source) now
    REFRESH_LISTS = "refresh_lists"  # re-read QuickBooks' name lists at the company's next session
