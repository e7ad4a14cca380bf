"""Supplier <-> QuickBooks vendor name matching (connector/vendors.py), pure: no store, no files.
The reconciliation on real documents and the suppliers-file edits: integration/test_vendors.py."""
from __future__ import annotations

import pytest

from connector.vendors import _scalar, name_likeness, normalise, suggest


@pytest.mark.parametrize("name, words, dropped", [
    ("Initech Parts, Inc.", ("initech", "parts"), ("Inc.",)),
    ("ACME SUPPLY CO., LTD", ("acme", "supply"), ("CO.", "LTD")),
    ("The Globex Corporation", ("globex",), ("The", "Corporation")),
    ("Smith & Sons L.L.C.", ("smith", "and", "sons"), ("L.L.C.",)),
    ("Company", ("company",), ()),  # nothing would be left: kept
])
def test_normalise_drops_company_type_words_and_punctuation(name, words, dropped):
    n = normalise(name)
    assert (n.words, n.dropped) == (words, dropped)


@pytest.mark.parametrize("ours, theirs, score, reason", [
    ("Acme Industrial Supply", "acme industrial supply", 1.0, "same name"),
    ("A.C.M.E. Supply", "ACME Supply", 0.98, "same name apart from capitals and punctuation"),
    ("INITECH PARTS", "Initech Parts, Inc.", 0.95, "same name once 'Inc.' is dropped"),
    ("Globex Corp.", "Globex Corporation", 0.96, "same name once 'Corp.' and 'Corporation' are dropped"),
    ("Acme Supply", "Acme Industrial Supply", 0.833, "every word of 'Acme Supply' is in 'Acme Industrial Supply'"),
    ("Northwind Traders", "Northwind Trading Co", 0.7,
     "1 of 3 words in common (northwind); the names are 82% alike"),
])
def test_name_likeness_gives_a_score_and_the_reason_in_words(ours, theirs, score, reason):
    got = name_likeness(ours, theirs)
    assert got is not None and round(got[0], 3) == score and got[1] == reason


@pytest.mark.parametrize("ours, theirs", [("Initech", "Umbrella Corp"), ("", "Acme"), ("Acme", "   ")])
def test_unlike_names_are_not_suggested(ours, theirs):
    assert name_likeness(ours, theirs) is None


def test_suggestions_are_ranked_best_first_with_their_reasons():
    supplier = {"names": ["GLOBEX CORPORATION"], "contacts": [], "address": None}
    vendors = ["globex", "globex corp", "globex international", "initech", "globe x supplies"]
    got = suggest(supplier, vendors, [], spelling={"globex corp": "Globex Corp"})
    assert [(s["vendor"], s["reason"]) for s in got] == [
        ("Globex Corp", "same name once 'CORPORATION' and 'corp' are dropped"),
        ("globex", "same name once 'CORPORATION' is dropped"),
        ("globex international", "every word of 'globex' is in 'globex international'"),
    ]
    assert got[0]["score"] >= got[1]["score"] >= got[2]["score"]


def test_contacts_and_addresses_shared_with_a_mapped_supplier_suggest_its_vendor():
    mapped = [{"supplier_id": "ACMESUPPLY", "vendor": "Acme Industrial Supply",
               "contacts": [{"phone": "+1 (505) 555-0142", "email": "AR@acme.example"}],
               "address": {"lines": ["12 Road Runner Rd."], "postal_code": "87101-1234"}}]
    new = {"names": ["ZZ TOP HOLDINGS"], "contacts": [{"phone": "505.555.0142"}, {"email": "ar@ACME.example"}],
           "address": {"lines": ["12 ROAD RUNNER RD"], "postal_code": "87101"}}
    [got] = suggest(new, ["zebra supply"], mapped)
    assert got["vendor"] == "Acme Industrial Supply" and got["score"] == 1.0 and got["by"] == "phone"
    assert got["reason"] == ("same phone number as supplier ACMESUPPLY, mapped to Acme Industrial Supply; "
                             "same e-mail address as supplier ACMESUPPLY, mapped to Acme Industrial Supply; "
                             "same street address as supplier ACMESUPPLY, mapped to Acme Industrial Supply")


@pytest.mark.parametrize("value, text", [
    ("Acme Industrial Supply", "Acme Industrial Supply"), ("Globex: North America", "'Globex: North America'"),
    ("0012345", "'0012345'"), ("yes", "'yes'"), ("# not a comment", "'# not a comment'"),
    (["GLOBEXEDI", "A, B"], "[GLOBEXEDI, 'A, B']"), (True, "true"), (30, "'30'"),
])
def test_values_are_written_as_yaml_reads_them_back(value, text):
    assert _scalar(value) == text
