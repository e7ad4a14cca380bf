"""Pinned values from the public sample corpus (810 / 850 / 856, odd delimiters); every corpus file and
every one of the tests' own X12 files parses to a verdict."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import edi
from edi.model import Invoice, PurchaseOrder, ShipNotice
from tests.support import corpus_files, own_x12_files

D = Decimal


def load(samples_dir: Path, name: str):
    return edi.parse_bytes((samples_dir / name).read_bytes())


def docs(result, cls):
    out = [ps.document for ps in result.sets]
    assert all(isinstance(d, cls) for d in out), [(ps.envelope.transaction_set, ps.rejected) for ps in result.sets]
    return out


def codes(issues):
    return [i.code for i in issues]


def errors(doc):
    return [i for i in doc.issues if i.severity == "error"]


# every file of the public corpus (the whole of it from ../shared, else its part in tests/data/corpus), and always
# the tests' own (tests/data/x12)
ALL_SAMPLES = [pytest.param(p, id=p.name) for p in corpus_files()] + \
              [pytest.param(p, id=f"own-{p.name}") for p in own_x12_files()]


def test_corpus_is_there(samples_dir):
    assert len(list(samples_dir.glob("*.edi"))) >= 80


@pytest.mark.parametrize("path", ALL_SAMPLES)
def test_every_sample_parses_to_a_verdict(path):
    name = path.name
    result = edi.parse_bytes(path.read_bytes())
    assert result.sets, f"{name}: no transaction set found ({codes(result.errors)})"
    for ps in result.sets:
        assert ps.envelope.transaction_set
        for issue in ps.rejected + ps.warnings + (ps.document.issues if ps.document else []):
            assert issue.code and issue.message
            assert "internal parser error" not in issue.message
        if ps.envelope.transaction_set in ("810", "850", "856"):
            # accepted with a document, or rejected with envelope codes
            assert (ps.document is not None and not ps.rejected) or (ps.document is None and ps.rejected)
            if ps.document is not None:
                assert ps.document.number or errors(ps.document)
        else:
            assert ps.document is None
            assert "unsupported_transaction" in codes(ps.warnings)


@pytest.mark.parametrize("path", ALL_SAMPLES)
def test_streaming_in_tiny_chunks_gives_the_same_result(path):
    import io

    data = path.read_bytes()
    whole = edi.parse_bytes(data)
    res = edi.ParseResult()
    streamed = list(edi.iter_sets(io.BytesIO(data), result=res, chunk_size=7))
    assert [(p.envelope, p.document, p.rejected, p.segment_count) for p in streamed] == [
        (p.envelope, p.document, p.rejected, p.segment_count) for p in whole.sets
    ]
    assert codes(res.warnings) == codes(whole.warnings)
    assert codes(res.errors) == codes(whole.errors)


# ----------------------------------------------------------------- 810


def test_810_5010_implied_decimal_total_and_empty_it101(samples_dir):
    r = load(samples_dir, "810_5010_x12types_1.edi")
    (inv,) = docs(r, Invoice)
    assert inv.number == "I-0042537"
    assert inv.date == date(2018, 11, 22)
    assert inv.total == D("57.70")  # TDS*5770 is N2
    assert len(inv.lines) == 5
    assert [ln.line_number for ln in inv.lines] == ["1", "2", "3", "4", "5"]  # IT101 empty -> ordinal
    ln = inv.lines[2]
    assert (ln.quantity, ln.unit, ln.unit_price, ln.amount) == (D("3"), "EA", D("4.85"), D("14.55"))
    assert ln.products.upc == "888077648954"
    assert sum(x.amount for x in inv.lines) == inv.total
    assert inv.terms[0].type_code == "05" and inv.terms[0].net_days == 100
    assert inv.dates["011"] == date(2019, 1, 20)
    assert inv.line_count == 5
    assert inv.issues == []
    assert r.sets[0].envelope.version == "005010" and r.sets[0].envelope.isa_version == "00501"


def test_810_walmart_bom_cr_terminator_line_allowance(samples_dir):
    r = load(samples_dir, "810_4010_oopfactory_1.edi")
    assert "bom" in codes(r.warnings)
    (inv,) = docs(r, Invoice)
    assert inv.number == "6463367"
    assert inv.date == date(2005, 2, 5)
    assert inv.po_number == "3376103367" and inv.po_date == date(2005, 2, 2)
    assert inv.total == D("3875.30")
    (ln,) = inv.lines
    assert (ln.quantity, ln.unit_price, ln.amount) == (D("1080"), D("3.61"), D("3898.80"))
    assert ln.products.upc == "022108955228" and ln.products.buyer_part == "001719653"
    assert ln.products.other == {"UK": "00221089552284"}
    assert ln.description == "ITEM DESCRIPTION"
    assert ln.po_number == "3376103367"  # heading BIG04
    assert [(c.indicator, c.code, c.amount) for c in ln.charges] == [("A", "I410", D("-23.50"))]
    assert ln.amount + ln.charges[0].amount == inv.total
    t = inv.terms[0]
    assert (t.type_code, t.basis_date_code, t.net_days, t.discount_percent) == ("05", "15", 45, None)
    assert inv.references["IA"] == "123456170"
    assert inv.party("ST").id == "0078742000992"


def test_810_collapsed_isa_multiple_itd_and_summary_charges(samples_dir):
    r = load(samples_dir, "810_4010_edinet_1.edi")
    assert {"bom", "isa_width"} <= set(codes(r.warnings))
    (inv,) = docs(r, Invoice)
    assert inv.number == "DO091003TESTINV01"
    assert inv.transaction_type == "DI" and inv.credit is False
    assert inv.total == D("365.96")
    assert [(t.discount_percent, t.discount_days) for t in inv.terms] == [
        (D("10"), 10), (D("5"), 20), (D("0"), 30), (D("-5"), 40), (D("-10"), 50)
    ]
    assert [(c.code, c.amount) for c in inv.charges] == [("G830", D("6.00")), ("H850", D("0"))]
    assert sum(ln.amount for ln in inv.lines) + sum(c.amount for c in inv.charges) == inv.total
    assert "total_mismatch" not in codes(inv.issues)


@pytest.mark.parametrize("name", ["810_4010_bots_1.edi", "810_4030_oopfactory_4.edi", "810_4030_bots_3.edi",
                                  "810_4010VICS_bots_2.edi"])
def test_810_two_invoices_terms_dates_and_line_sac(samples_dir, name):
    r = load(samples_dir, name)
    first, second = docs(r, Invoice)
    assert (first.number, first.total, len(first.lines)) == ("465266", D("8432.02"), 4)
    assert (second.number, second.total, len(second.lines)) == ("465267", D("1129.92"), 1)
    ln = first.lines[0]
    assert (ln.quantity, ln.unit, ln.unit_price, ln.amount) == (D("16"), "CA", D("52.56"), D("840.96"))
    assert [(c.code, c.amount) for c in ln.charges] == [("D360", D("58.87"))]
    t = first.terms[0]
    assert t.discount_percent == D("1") and t.discount_days == 15 and t.net_days == 30
    assert t.discount_due_date == date(2002, 6, 8) and t.net_due_date == date(2002, 6, 23)
    assert first.party("VN").name == "BARRY AND LAMB CAN"


def test_810_4030_repetition_separator_is_recorded(samples_dir):
    from edi.tokenizer import Tokenizer

    tok = Tokenizer(open(samples_dir / "810_4030_bots_3.edi", "rb"))
    list(tok)
    assert tok.delimiters.repetition == "^" and tok.delimiters.component == ":"


def test_810_adobe_cr_terminator_terms_text(samples_dir):
    (inv,) = docs(load(samples_dir, "810_4010_oopfactory_6.edi"), Invoice)
    assert inv.number == "0013833070" and inv.total == D("160.00")
    assert inv.terms[0].type_code == "14" and inv.terms[0].net_days == 35
    assert inv.terms[0].description == "Up to 03/05/2007 without deduction"
    assert inv.lines[0].products.vendor_part == "65008841AB02A00"
    assert inv.lines[0].description == "ACRO,8.0,WIN,AOO,UE,1PK,N/A"


def test_810_under_gs_sc_is_a_warning_only(samples_dir):
    r = load(samples_dir, "810_4010_stupidedi_1.edi")
    (inv,) = docs(r, Invoice)
    assert "functional_id_mismatch" in codes(r.sets[0].warnings)
    assert not r.sets[0].rejected
    assert inv.total == D("170.60") and inv.lines[0].products.other == {"VX": "654321234002345"}


def test_810_without_prices_is_held_not_rejected(samples_dir):
    r = load(samples_dir, "810_4010_bots_5.edi")
    a, b = docs(r, Invoice)
    assert len(a.lines) == 64 and len(b.lines) == 58
    assert a.total == D("12345.79")
    missing_price = [i for i in a.issues if i.code == "invalid_value" and i.element == 4]
    assert len(missing_price) == 64 and missing_price[0].segment == "IT1" and missing_price[0].position


def test_810_bad_envelope_se_count_rejected(samples_dir):
    r = load(samples_dir, "810_4010_x12types_2.edi")
    (ps,) = r.sets
    assert ps.document is None
    assert [i.message for i in ps.rejected] == ["SE01 says 44 segments, counted 45"]
    assert r.groups[0]["sets"][0]["status"] == "R" and r.groups[0]["sets"][0]["codes"] == ["4"]


# ----------------------------------------------------------------- 850


def test_850_x12types_lines_total_and_terms(samples_dir):
    (po,) = docs(load(samples_dir, "850_4010_x12types_1.edi"), PurchaseOrder)
    assert (po.number, po.date, po.purpose, po.order_type) == ("A99999-01", date(1997, 2, 14), "00", "SA")
    assert len(po.lines) == 7 and po.line_count == 7
    ln = po.lines[0]
    assert (ln.line_number, ln.quantity, ln.unit, ln.unit_price, ln.amount) == ("1", D("16"), "CA", D("12.34"), D("197.44"))
    assert ln.products.upc == "002840022222" and ln.products.other == {"CB": "000111111"}
    assert ln.description == "CRUNCHY CHIPS LSS"
    assert po.total == D("2554.38")  # computed: no AMT*TT
    t = po.terms[0]
    assert (t.type_code, t.basis_date_code, t.discount_percent, t.discount_days, t.net_days) == ("01", "3", D("1"), 15, 16)
    assert po.party("ST").city == "ATHENS" and po.party("BT").address_lines == ["P.O. BOX 0000"]


def test_850_control_character_delimiters(samples_dir):
    r = load(samples_dir, "850_4010VICS_bots_12.edi")
    pos = docs(r, PurchaseOrder)
    assert [p.number for p in pos] == ["15918851602", "15918861602", "15918871602", "15918881602"]
    assert [len(p.lines) for p in pos] == [64, 58, 25, 22]
    assert [p.line_count for p in pos] == [64, 58, 25, 22]
    assert pos[0].currency == "CAD"
    t = pos[0].terms[0]
    assert (t.type_code, t.discount_percent, t.discount_days, t.net_days) == ("08", D("2.5"), 45, 100)
    assert pos[0].lines[0].quantity == D("7") and pos[0].lines[0].unit_price is None and pos[0].total is None
    assert pos[0].lines[0].products.buyer_part == "01112061"


def test_850_tilde_element_separator_lf_terminator(samples_dir):
    (po,) = docs(load(samples_dir, "850_4010_bots_16.edi"), PurchaseOrder)
    assert po.number == "333333333333" and po.total == D("11.11")
    assert po.lines[0].products.vendor_part == "123456789012345"


def test_850_pipe_terminator_tilde_component(samples_dir):
    (po,) = docs(load(samples_dir, "850_4010_oopfactory_1.edi"), PurchaseOrder)
    assert po.number == "S41000439" and po.purpose == "05"
    assert len(po.lines) == 4
    assert (po.lines[1].quantity, po.lines[1].unit_price, po.lines[1].amount) == (D("12"), D("63.11"), D("757.32"))
    assert po.total == D("884.06")


def test_850_space_terminator_keeps_spaces_in_names(samples_dir):
    r = load(samples_dir, "850_4010_oopfactory_4.edi")
    (po,) = docs(r, PurchaseOrder)
    assert po.number == "MH80312"
    assert po.party("BY").name == "SOLD TO Org Name"
    assert po.lines[0].unit_price == D("1499.95")
    assert "isa_width" in codes(r.warnings)


def test_850_bare_st_without_envelope_is_parsed_with_warning(samples_dir):
    r = load(samples_dir, "850_5010_x12types_3.edi")
    assert "no_interchange" in codes(r.warnings)
    (po,) = docs(r, PurchaseOrder)
    assert "no_interchange" in codes(r.sets[0].warnings)
    assert po.number == "0012345678"
    t = po.terms[0]
    assert (t.type_code, t.net_days, t.description) == ("01", 60, "NET060")
    assert (po.lines[0].quantity, po.lines[0].unit_price, po.total) == (D("24"), D("3.5"), D("84.00"))
    assert r.groups == []  # nothing to acknowledge


def test_850_hard_wrapped_file_reads_like_the_unwrapped_one(samples_dir):
    wrapped = load(samples_dir, "850_4010_bots_6.edi")
    plain = load(samples_dir, "850_4010_bots_5.edi")
    assert "wrapped" in codes(wrapped.warnings) and "wrapped" not in codes(plain.warnings)
    assert [ps.document.lines for ps in wrapped.sets] == [ps.document.lines for ps in plain.sets]
    assert [ps.document.number for ps in wrapped.sets] == ["801104", "PONUM-1234567"]
    assert wrapped.sets[1].document.total == D("3433.06")
    crlf_wrapped = load(samples_dir, "850_4010_bots_11.edi")
    assert [ps.document.lines for ps in crlf_wrapped.sets] == [ps.document.lines for ps in plain.sets]


def test_850_lf_terminator_and_amt(samples_dir):
    (po,) = docs(load(samples_dir, "850_4010VICS_nodex12_2.edi"), PurchaseOrder)
    assert po.number == "08292233294" and po.date == date(2010, 11, 27)
    assert len(po.lines) == 6 and po.total == D("13045.94")
    assert po.lines[1].products.vendor_part == "RD5322" and po.lines[1].amount == D("3033.80")
    assert po.dates["002"] == date(2010, 12, 14)


def test_850_three_interchanges_in_one_file(samples_dir):
    r = load(samples_dir, "850_4010_bots_8.edi")
    assert [ps.envelope.interchange_control for ps in r.sets] == ["000000739", "000000740", "000000741"] or len(
        {ps.envelope.interchange_control for ps in r.sets}) == 3
    assert [ps.document.number for ps in r.sets] == ["4167427123", "1234567890", "1234567890"]
    assert [ps.document.total for ps in r.sets] == [D("1183.00"), D("17639.00"), D("19440.00")]
    assert len(r.groups) == 3 and not r.errors


def test_850_multi_group_interchange_with_810(samples_dir):
    r = load(samples_dir, "810-850_4010-3010_staedi_1.edi")
    assert [ps.envelope.transaction_set for ps in r.sets] == ["810", "810", "850"]
    assert [g["version"] for g in r.groups] == ["004010", "003010"]
    assert [g["functional_id"] for g in r.groups] == ["IN", "PO"]
    assert [len(g["sets"]) for g in r.groups] == [2, 1]
    assert r.sets[2].document.number == "S115921858"


def test_850_nbsp_padded_isa_with_wrong_iea_is_rejected(samples_dir):
    r = load(samples_dir, "850_4010_edinet_1.edi")
    (ps,) = r.sets
    assert ps.document is None
    assert ps.rejected[0].code == "envelope_error"
    assert ps.rejected[0].message == "IEA02 '000000001' does not match ISA13 '000000055'"
    assert ps.envelope.isa_sender_id == "000123456"  # NBSP padding stripped


# ----------------------------------------------------------------- 856


def test_856_sopi_items_inherit_po_and_pack_marks(samples_dir):
    (sn,) = docs(load(samples_dir, "856_4010_edieng_1.edi"), ShipNotice)
    assert (sn.number, sn.date, sn.purpose) == ("000009", date(2009, 9, 21), "00")
    assert sn.carrier == "OVNT" and sn.lading_quantity == D("5")
    assert sn.po_numbers == ["POREF00", "POREF01"]
    assert [(i.po_number, i.quantity, i.unit) for i in sn.items] == [("POREF00", D("12"), "EA")] * 4 + [("POREF01", D("12"), "EA")]
    assert sn.items[1].products.upc == "0000000000831"
    assert sn.items[1].package_marks == ["00000715670002152377"]
    assert sn.items[4].package_marks == ["00000715670002152111"]
    assert sn.references["BM"] == "000001" and sn.line_count == 13


def test_856_ellipsis_terminator(samples_dir):
    (sn,) = docs(load(samples_dir, "856_4010_oopfactory_3.edi"), ShipNotice)
    assert sn.number == "146940"
    assert [(i.quantity, i.po_number, i.line_number) for i in sn.items] == [
        (D("1596"), "5500005194", "00030"), (D("1152"), "5500005194", "00010"), (D("1440"), "5500005194", "00020")
    ]
    assert sn.items[0].products.vendor_part == "abc123"


def test_856_edifact_looking_delimiters_two_notices(samples_dir):
    a, b = docs(load(samples_dir, "856_4010_bots_3.edi"), ShipNotice)
    assert a.po_numbers == ["ordernumber1", "ordernumber2", "ordernumber4"]
    assert [(i.po_number, i.quantity) for i in a.items] == [
        ("ordernumber1", D("24")), ("ordernumber1", D("36")), ("ordernumber2", D("24")),
        ("ordernumber2", D("36")), ("ordernumber2", D("24")), ("ordernumber4", D("36")),
    ]
    assert a.items[0].package_marks == ["0000123456781234567891"]
    assert b.po_numbers == ["ordernumber"] and len(b.items) == 2


@pytest.mark.parametrize("name", ["856_4060_nodex12_1.edi", "856_4060_oopfactory_6.edi", "856_4060_sezna_1.edi"])
def test_856_soi_same_content_three_encodings(samples_dir, name):
    (sn,) = docs(load(samples_dir, name), ShipNotice)
    assert (sn.number, sn.date, sn.purpose) == ("829716", date(2011, 12, 6), "14")
    assert [(i.po_number, i.quantity, i.products.vendor_part, i.description) for i in sn.items] == [
        ("99999817", D("24"), "87787D", "BLUE WIDGET"), ("99999817", D("6"), "99887D", "RED WIDGET")
    ]
    assert sn.party("SF").city == "SOLON"


def test_856_under_gs_in_with_bad_ge_count(samples_dir):
    r = load(samples_dir, "856_4010_x12types_1.edi")
    (ps,) = r.sets
    assert "functional_id_mismatch" in codes(ps.warnings)
    assert ps.document is None
    assert [i.message for i in ps.rejected] == ["GE01 says 2 transaction sets, counted 1"]
    assert r.groups[0]["errors"] == ["5"]


def test_856_pick_pack_item_above_pack():
    data = (
        "ISA*00*          *00*          *ZZ*S              *ZZ*R              *260101*1200*U*00401*000000001*0*P*>~"
        "GS*SH*S*R*20260101*1200*1*X*004010~ST*856*0001~BSN*00*SHIP1*20260101~"
        "HL*1**S~TD5**2*UPSN~HL*2*1*O~PRF*PO-77~HL*5*2*I~LIN*1*VP*W-1~SN1**10*EA~"
        "HL*6*5*P~MAN*GM*CARTON-A~HL*7*5*P~MAN*GM*CARTON-B~"
        "HL*3*1*O~PRF*PO-88~HL*4*3*T~MAN*GM*PALLET-1~HL*8*4*P~MAN*GM*CARTON-C~HL*9*8*I~LIN**UP*123~SN1**4*CA~PRF*PO-99~"
        "CTT*9~SE*25*0001~GE*1*1~IEA*1*000000001~"
    ).encode()
    r = edi.parse_bytes(data)
    (sn,) = docs(r, ShipNotice)
    assert not r.sets[0].rejected
    assert [(i.po_number, i.quantity, i.package_marks) for i in sn.items] == [
        ("PO-77", D("10"), ["CARTON-A", "CARTON-B"]),
        ("PO-99", D("4"), ["CARTON-C", "PALLET-1"]),
    ]
    assert sn.carrier == "UPSN" and sn.po_numbers == ["PO-77", "PO-88", "PO-99"]


# ----------------------------------------------------------------- other sets


@pytest.mark.parametrize("name", ["997_4010_bots_3.edi", "999_5010_staedi_1.edi", "997_4010_x12types_1.edi"])
def test_acknowledgments_are_not_translated(samples_dir, name):
    r = load(samples_dir, name)
    assert r.sets and all(ps.document is None and not ps.rejected for ps in r.sets)
    assert all("unsupported_transaction" in codes(ps.warnings) for ps in r.sets)


def test_detect_transaction_sets(samples_dir):
    assert edi.detect_transaction_sets((samples_dir / "810-850_4010-3010_staedi_1.edi").read_bytes()) == ["810", "850"]
    assert edi.detect_transaction_sets((samples_dir / "856_4010_oopfactory_3.edi").read_bytes()) == ["856"]
    assert edi.detect_transaction_sets((samples_dir / "850_4010VICS_bots_12.edi").read_bytes()) == ["850"]
    assert edi.detect_transaction_sets((samples_dir / "850_5010_x12types_3.edi").read_bytes()) == ["850"]
    assert edi.detect_transaction_sets(b"hello world") == []


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_detect_agrees_with_the_parser(path):
    name, data = path.name, path.read_bytes()
    parsed = list(dict.fromkeys(ps.envelope.transaction_set for ps in edi.parse_bytes(data).sets))
    assert edi.detect_transaction_sets(data) == parsed
    assert name.split("_")[0].split("-") == parsed or name.startswith("810-850")


OWN_SETS = {"acme_ASN-5001.edi": ["856"], "acme_PO-7781.edi": ["850"], "acme_INV-10045.edi": ["810"],
            "acme_INV-10046.edi": ["810"], "globex_G-2026-0311.edi": ["810"], "initech_88812.edi": ["810"]}


@pytest.mark.parametrize("path", own_x12_files(), ids=lambda p: f"own-{p.name}")
def test_detect_agrees_with_the_parser_on_the_tests_own_files(path):
    data = path.read_bytes()
    parsed = list(dict.fromkeys(ps.envelope.transaction_set for ps in edi.parse_bytes(data).sets))
    assert edi.detect_transaction_sets(data) == parsed == OWN_SETS[path.name]


def test_detect_ignores_st_as_an_element_value():
    assert edi.detect_transaction_sets(b"N1*ST*123*92*0001~REF*ST*810*X~") == []


def test_a_partys_per_contact_is_kept_with_its_name_phone_email_and_fax():
    from tests.support.builders import x12

    data = x12("IN", "810", ["BIG*20261118*INV-77", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                             "N3*100 INDUSTRIAL WAY", "N4*TOLEDO*OH*43604",
                             "PER*AR*DANA REYES*TE*4195550142*EM*AR@ACME.EXAMPLE*FX*4195550199",
                             "PER*IC*SOMEONE ELSE*TE*1", "N1*BT*NORTHWIND*92*NWD01",
                             "IT1*1*1*EA*10.00**VN*AC-100", "TDS*1000"])
    [ps] = edi.parse_bytes(data).sets
    seller, buyer = ps.document.party("SU"), ps.document.party("BT")
    assert (seller.contact, seller.phone, seller.email, seller.fax) == (
        "DANA REYES", "4195550142", "AR@ACME.EXAMPLE", "4195550199")  # the first PER of its loop
    assert (buyer.contact, buyer.phone) == ("", "")
