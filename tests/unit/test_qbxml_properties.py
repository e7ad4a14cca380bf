"""Property tests: whatever we build either raises QbxmlValueError or is valid qbXML
that the emulator stores verbatim (after our documented transliteration)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.quickbooks import QuickBooksEmulator
from qbxml_templates import (
    BillSpec, ExpenseLine, QbxmlValueError, bill_add, message_set, parse_response,
)
from qbxml_templates._xml import clean_text
from qbxml_templates.schema import validate

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=25)
NICE = st.text(alphabet=st.sampled_from(list("AZaz09 &<>\"'-.#/\u00e9\u00fc\u00c7\u2013\u0141")),
               min_size=1, max_size=30)
AMOUNTS = st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"), places=3,
                      allow_nan=False, allow_infinity=False)


@pytest.fixture(scope="module", autouse=True)
def _xsd_env(xsd_dir):
    import os
    old = os.environ.get("QBEDI_QBXML_XSD_DIR")
    os.environ["QBEDI_QBXML_XSD_DIR"] = str(xsd_dir)
    yield
    if old is None:
        os.environ.pop("QBEDI_QBXML_XSD_DIR")
    else:
        os.environ["QBEDI_QBXML_XSD_DIR"] = old


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=TEXT, memo=TEXT, amount=AMOUNTS)
def test_bill_add_valid_or_value_error(ref, memo, amount):
    spec = BillSpec(vendor="Acme", txn_date=date(2024, 5, 1), ref_number=ref, memo=memo,
                    expense_lines=[ExpenseLine("Freight", amount)])
    try:
        rq = bill_add(spec, "p")
    except QbxmlValueError:
        return
    doc = message_set([rq])
    assert doc.isascii()
    assert validate(doc) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vendor=NICE, memo=NICE, ref=NICE.filter(lambda s: len(s) <= 20))
def test_emulator_round_trip(vendor, memo, ref):
    vendor = vendor.strip() or "V"
    qb = QuickBooksEmulator()
    qb.add_account("Freight")
    try:
        stored_vendor = clean_text(vendor, "v")
        if len(stored_vendor) > 41:
            return
        qb.add_vendor(stored_vendor)
        rq = bill_add(BillSpec(vendor=vendor, txn_date=date(2024, 5, 1), ref_number=ref,
                               memo=memo, expense_lines=[ExpenseLine("Freight", Decimal("1"))]),
                      "r")
    except QbxmlValueError:
        return
    resp = qb.process(message_set([rq]))
    assert validate(resp) == []
    (item,) = parse_response(resp)
    assert item.status_code == 0, item.message
    (b,) = qb.bills
    assert b.memo == clean_text(memo, "m") and b.ref_number == clean_text(ref, "r")
