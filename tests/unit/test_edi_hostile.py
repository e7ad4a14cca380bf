"""Hostile numbers: no numeric field costs more than linear time, and nothing a file says crashes
the reader (issue 11, defects 2 and 3)."""
from __future__ import annotations

import signal
from decimal import Decimal
from contextlib import contextmanager

import pytest

import edi
from tests.support.builders import x12

INVOICE = ["BIG*20261121*INV-1", "N1*SE*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY", "ITD*01*3*2**10**30",
           "IT1*1*2*EA*10.00**VN*W-1", "TDS*2000", "CTT*1"]


@contextmanager
def at_most(seconds: int):
    """A guard so that a regression fails (instead of hanging the suite); not a speed target."""
    def expired(*_):
        raise TimeoutError(f"took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def invoice(**replace: str) -> bytes:
    body = [replace.get(s.split("*")[0], s) for s in INVOICE]
    return x12("IN", "810", body)


@pytest.mark.parametrize("ctt", ["1E3", "1E9999999", "1e-9999999", "0x10", "1" * 5000, "+" + "9" * 16])
def test_a_count_with_an_exponent_or_too_many_digits_is_an_invalid_value(ctt):
    with at_most(10):
        result = edi.parse_bytes(invoice(CTT=f"CTT*{ctt}"))
    (ps,) = result.sets
    issues = [i for i in ps.document.issues if i.segment == "CTT"]
    assert issues and issues[0].code == "invalid_value" and ps.document.line_count is None


@pytest.mark.parametrize("itd", ["ITD*01*3*2**10**3E7", "ITD*01*3*2E9999999**10**30"])
def test_terms_days_with_an_exponent_are_invalid_values(itd):
    with at_most(10):
        (ps,) = edi.parse_bytes(invoice(ITD=itd)).sets
    assert any(i.segment == "ITD" and i.code == "invalid_value" for i in ps.document.issues)


def test_plain_integers_still_read():
    (ps,) = edi.parse_bytes(invoice(CTT="CTT*+001")).sets
    assert ps.document.line_count == 1 and ps.document.terms[0].net_days == 30


@pytest.mark.parametrize("where", ["SE", "GE", "IEA"])
def test_a_control_count_of_5000_digits_is_reported_not_raised(where):
    data = invoice().decode()
    segs = data.split("~\n")
    i = next(k for k, s in enumerate(segs) if s.startswith(where + "*"))
    parts = segs[i].split("*")
    parts[1] = "7" * 5000
    segs[i] = "*".join(parts)
    result = edi.parse_bytes("~\n".join(segs).encode())
    assert result.errors or any(ps.rejected for ps in result.sets)


@pytest.mark.parametrize("value", ["2E9999999", "1e5", "NaN", "Infinity", "1" * 5000, "0." + "0" * 5000 + "1",
                                   "1.2.3", "١٢"])
def test_a_decimal_that_is_not_an_x12_number_is_an_invalid_value(value):
    with at_most(10):
        (ps,) = edi.parse_bytes(invoice(ITD=f"ITD*01*3*{value}**10**30")).sets
    assert not ps.rejected, ps.rejected  # the set is read; the one element is invalid
    assert any(i.segment == "ITD" and i.code == "invalid_value" for i in ps.document.issues)


def test_ordinary_decimals_still_read():
    (ps,) = edi.parse_bytes(invoice(ITD="ITD*01*3*2.5**10**30")).sets
    assert str(ps.document.terms[0].discount_percent) == "2.5"
    (ps,) = edi.parse_bytes(invoice(ITD="ITD*01*3*-.5**10**30")).sets
    assert ps.document.terms[0].discount_percent == Decimal("-0.5")
