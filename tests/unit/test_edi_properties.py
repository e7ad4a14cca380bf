"""Hypothesis: damaged real samples (the public corpus, else the tests' own files) never raise and always
end with coded verdicts."""
from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edi
from edi.ack import build_997
from tests.support import NO_SAMPLES, corpus_files, own_x12_files

# Seeds: the public corpus (the whole of it from ../shared, else its part in tests/data/corpus; the tests' own
# X12 files if neither), so the properties run on a plain clone too.
FILES = corpus_files() or own_x12_files()
DATA = {p.name: p.read_bytes() for p in FILES}
NAMES = sorted(DATA)
OWN = {p.name: p.read_bytes() for p in own_x12_files()}

KNOWN_CODES = {
    "missing_segment", "invalid_value", "envelope_error", "unsupported_transaction", "malformed",
    "isa_width", "bom", "wrapped", "trailing_separator", "missing_terminator", "no_interchange", "garbage",
    "blank_terminator", "functional_id_mismatch", "total_mismatch", "utf16", "duplicate_control",
}
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_verdicts(result) -> None:
    """Every issue is coded; every set is accepted-with-document, rejected, or flagged unsupported."""
    for issue in result.errors + result.warnings:
        assert issue.code in KNOWN_CODES and issue.message
    for ps in result.sets:
        doc_issues = ps.document.issues if ps.document is not None else []
        for issue in ps.rejected + ps.warnings + doc_issues:
            assert issue.code in KNOWN_CODES and issue.message, issue
            assert "internal parser error" not in issue.message, issue.message
        if ps.rejected:
            assert ps.document is None
        elif ps.envelope.transaction_set in ("810", "850", "856"):
            assert ps.document is not None
        else:
            assert ps.document is None and "unsupported_transaction" in [w.code for w in ps.warnings]
    # the 997 builder copes with whatever the reader produced
    build_997(result, control_number=1, when=datetime(2026, 1, 1))


def _has_problem(result) -> bool:
    return bool(
        result.errors
        or any(ps.rejected for ps in result.sets)
        or any(w.code == "missing_terminator" for w in result.warnings)
    )


@PROPS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_random_truncation(name, data):
    raw = DATA[name]
    content_end = len(raw.rstrip(b" \t\r\n"))
    cut = data.draw(st.integers(min_value=0, max_value=content_end - 1))
    result = edi.parse_bytes(raw[:cut])
    check_verdicts(result)
    # dropping at least the last byte of real content is always noticed,
    # unless the cut falls exactly between two complete interchanges
    if not raw[cut:].lstrip(b" \t\r\n").startswith(b"ISA") or cut == 0:
        assert _has_problem(result), (name, cut)


@PROPS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_delimiter_swaps(name, data):
    raw = DATA[name]
    body = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    sep = body[3:4]
    old = data.draw(st.sampled_from([sep, b"~", b"*", b">", b":", b"\n", b"^"]))
    new = data.draw(st.sampled_from([b"|", b"~", b"*", b"\x15", b"\x7f", b"'", b"\n", b"!", b" "]))
    check_verdicts(edi.parse_bytes(raw.replace(old, new)))


@PROPS
@given(
    name=st.sampled_from(NAMES),
    data=st.data(),
    junk=st.binary(min_size=0, max_size=12),
)
def test_element_corruption(name, data, junk):
    raw = DATA[name]
    start = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    length = data.draw(st.integers(min_value=0, max_value=12))
    check_verdicts(edi.parse_bytes(raw[:start] + junk + raw[start + length :]))


@PROPS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_value_corruption_in_one_element(name, data):
    """Replace one element value by nonsense: parse still ends with coded issues only."""
    raw = DATA[name]
    text = raw.decode("latin-1")
    stars = [i for i, c in enumerate(text) if c == "*"]
    if not stars:
        return
    pos = data.draw(st.sampled_from(stars))
    bad = data.draw(st.sampled_from(["X", "-", "1.2.3", "99999999999999999999", "2023-13-45", "", "..", "\u00e9"]))
    result = edi.parse_bytes((text[: pos + 1] + bad + text[pos + 1 :]).encode("latin-1"))
    check_verdicts(result)


@PROPS
@given(blob=st.binary(max_size=400))
def test_arbitrary_bytes(blob):
    check_verdicts(edi.parse_bytes(blob))
    check_verdicts(edi.parse_bytes(b"ISA" + blob))
    edi.detect_transaction_sets(blob)


CORPUS_CUTS = ["810_5010_x12types_1.edi", "850_4010VICS_bots_12.edi", "856_4010_oopfactory_3.edi"]
OWN_CUTS = ["acme_INV-10045.edi", "acme_PO-7781.edi", "acme_ASN-5001.edi"]  # 810, 850, 856 of tests/data/x12


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in DATA else pytest.mark.skip(NO_SAMPLES))
                                  for n in CORPUS_CUTS] + [pytest.param(n, id=f"own-{n}") for n in OWN_CUTS])
def test_truncation_is_noticed_at_every_cut(name):
    raw = DATA[name] if name in CORPUS_CUTS else OWN[name]
    end = len(raw.rstrip(b" \t\r\n"))
    step = max(1, end // 300)
    for cut in range(0, end, step):
        result = edi.parse_bytes(raw[:cut])
        check_verdicts(result)
        assert _has_problem(result), cut
