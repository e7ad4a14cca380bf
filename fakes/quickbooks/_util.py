"""Shared pieces of the QuickBooks emulator: errors, statuses, small helpers.

The fidelity rules these serve (wordings, HRESULTs, sources) are in
:mod:`fakes.quickbooks.emulator`; wordings without a captured QuickBooks
original are marked UNVERIFIED here.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

# --------------------------------------------------------------------------- errors

PARSE_HRESULT = "0x80040400"
PARSE_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
NOT_RUNNING_HRESULT = "0x80040408"
NOT_RUNNING_MESSAGE = "Could not start QuickBooks."
WRONG_FILE_HRESULT = "0x80040403"  # UNVERIFIED code for "could not open the company file"
WRONG_FILE_MESSAGE = "Could not open the specified QuickBooks company data file."


class QuickBooksError(Exception):
    """The request processor threw instead of answering (QBWC then passes
    ``hresult``/``message`` to receiveResponseXML or connectionError, §2)."""

    def __init__(self, hresult: str, message: str, detail: str = ""):
        self.hresult = hresult
        self.message = message
        self.detail = detail
        super().__init__(f"{hresult}: {message}" + (f" ({detail})" if detail else ""))


class QuickBooksParseError(QuickBooksError):
    def __init__(self, hresult: str = PARSE_HRESULT, message: str = PARSE_MESSAGE,
                 detail: str = ""):
        super().__init__(hresult, message, detail)


class QuickBooksConnectionError(QuickBooksError):
    """QuickBooks is not running / the company file cannot be opened."""

    def __init__(self, hresult: str = NOT_RUNNING_HRESULT, message: str = NOT_RUNNING_MESSAGE,
                 detail: str = ""):
        super().__init__(hresult, message, detail)


# --------------------------------------------------------------------------- statuses

STATUS_OK = "Status OK"
NOT_FOUND_MSG = "A query request did not find a matching object in QuickBooks"
NOT_PROCESSED_MSG = "The request has not been processed."
# Wordings without a captured QuickBooks original are marked UNVERIFIED.
STATUS_TEXT = {
    0: STATUS_OK,
    1: NOT_FOUND_MSG,
    3170: "There was an error when modifying the record.  QuickBooks error message: "
          "This list has been modified by another user.",  # UNVERIFIED wording
    3175: "There was an error when saving the record.  QuickBooks error message: "
          "The record is in use by another user and could not be locked.",  # UNVERIFIED
    3176: "There was an error when saving the record.  QuickBooks error message: "
          "Failed to acquire the lock on the record.",  # UNVERIFIED
    3180: "There was an error when saving the record.  QuickBooks error message: "
          "This list has been modified by another user.",  # shape per §6 (QPHP)
    3231: NOT_PROCESSED_MSG,
    3250: "This feature is not enabled or not available in this version of QuickBooks.",
}


def _severity(code: int) -> str:
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


class _Status(Exception):
    """Raised inside a handler: answer this request with a status, no Ret."""

    def __init__(self, code: int, message: str | None = None, severity: str | None = None):
        self.code = code
        self.message = message if message is not None else STATUS_TEXT.get(code, "")
        self.severity = severity or _severity(code)
        super().__init__(f"{code}: {self.message}")


def _invalid_ref(list_type: str, value: str, where: str) -> _Status:
    # Real shape (FLW capture): 'There is an invalid reference to QuickBooks Customer
    # "Joe Smith" in the SalesOrder.  QuickBooks error message: Invalid argument.  The
    # specified record does not exist in the list.'  Lines say "in the SalesOrder line."
    return _Status(3140, f'There is an invalid reference to QuickBooks {list_type} "{value}" '
                         f'in the {where}.  QuickBooks error message: Invalid argument.  '
                         f'The specified record does not exist in the list.')


def _not_found_object(value: str) -> _Status:
    # qbXML 3120 shape as commonly reported; UNVERIFIED against a capture.
    return _Status(3120, f'Object "{value}" specified in the request cannot be found.')


def _name_in_use(name: str) -> _Status:
    return _Status(3100, f'The name "{name}" of the list element is already in use.')


def _stale_edit_sequence(seq: str) -> _Status:
    return _Status(3200, f'The provided edit sequence "{seq}" is out-of-date.')


# --------------------------------------------------------------------------- helpers

def _dec(text: str | None) -> Decimal | None:
    if text is None or text.strip() == "":
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise _Status(3020, f'There was an error when converting the amount "{text}".') from None


def _money(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _fmt_amt(d: Decimal) -> str:
    d = _money(d)
    if d == 0:
        d = abs(d)
    return f"{d:.2f}"


def _fmt_num(d: Decimal, min_places: int = 0, max_places: int = 5) -> str:
    d = d.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_UP).normalize()
    exp = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    s = f"{d:.{max(exp, min_places)}f}"
    return s[1:] if s.startswith("-") and Decimal(s) == 0 else s


def _bool(text: str | None) -> bool | None:
    if text is None or text.strip() == "":
        return None
    return text.strip().lower() in ("true", "1")


def _date(text: str | None) -> date | None:
    if text is None or text.strip() == "":
        return None
    return date.fromisoformat(text.strip())


def _sub(parent: etree._Element, tag: str, text: object = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _opt(parent: etree._Element, tag: str, value: object) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    _sub(parent, tag, value)


def _lower(s: str) -> str:
    return s.casefold()
