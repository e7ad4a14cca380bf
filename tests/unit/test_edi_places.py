"""Where segments and sets are in a file's bytes (issue 12: a document's page reads its own set, not the file up
to it). The tokenizer's ``offset`` is where the segment it just gave starts in the stream; a set's
``SetPlace`` says where its ISA, its GS and its ST are, and those bytes alone tokenize as the ISA, the GS and
the set's own segments. Checked on the corpus and the tests' own files, read in any chunk size, and on damaged
copies of them (hypothesis): a place is right, or there is none."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edi
from edi.tokenizer import BOM, Tokenizer
from tests.support import corpus_files, own_x12_files

FILES = {p.name: p.read_bytes() for p in corpus_files() + own_x12_files()}
NAMES = sorted(FILES)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_offsets(data: bytes, chunk_size: int) -> int:
    """Every offset the tokenizer gives points at its segment's text (blanks and line breaks before it, or
    line breaks inside a hard-wrapped segment aside). Returns how many segments had one."""
    tok = Tokenizer(io.BytesIO(data), chunk_size=chunk_size)
    placed = 0
    for seg in tok:
        if tok.offset is None:
            continue
        placed += 1
        at = data[tok.offset:tok.offset + 300].replace(b"\r", b"").replace(b"\n", b"")
        tag = seg.elements[0][:40]
        # (the tokenizer read the segment as UTF-8, or as Latin-1 when it is not; its tag is str.strip()ped)
        assert any(text.lstrip().startswith(tag) for text in (at.decode("utf-8", "ignore"), at.decode("latin-1"))), (
            seg.index, tok.offset, tag, at[:20])
    return placed


def check_places(data: bytes, chunk_size: int = 4096) -> int:
    """Every set's place reads back as its ISA, its GS and its own segments, numbered as in the file."""
    numbered = {seg.index: seg.elements for seg in Tokenizer(io.BytesIO(data))}
    placed = 0
    for ps in edi.EdiReader(io.BytesIO(data), chunk_size=chunk_size):
        p = ps.place
        if p is None:
            continue
        placed += 1
        assert p.isa_offset < p.isa_end <= p.gs_offset < p.gs_end <= p.st_offset
        spliced = data[p.isa_offset:p.isa_end] + data[p.gs_offset:p.gs_end] + data[p.st_offset:]
        segs = [s.elements for s, _ in zip(Tokenizer(io.BytesIO(spliced)), range(2 + ps.segment_count))]
        assert segs[0] == numbered[p.isa_segment] and segs[0][0] == "ISA"
        assert segs[1] == numbered[p.gs_segment] and segs[1][0].upper() == "GS"
        assert segs[2:] == [numbered[ps.first_segment + k] for k in range(len(segs) - 2)]
        assert segs[2][0].upper() == "ST"
    return placed


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk_size", [7, 97, 65536])
def test_every_offset_points_at_its_segment(name, chunk_size):
    data = FILES[name]
    assert check_offsets(data, chunk_size) == sum(1 for _ in Tokenizer(io.BytesIO(data)))


@pytest.mark.parametrize("name", NAMES)
def test_every_set_of_an_interchange_has_its_place_and_it_reads_back(name):
    data = FILES[name]
    sets = list(edi.EdiReader(io.BytesIO(data)))
    assert check_places(data, chunk_size=97) == sum(1 for ps in sets if ps.envelope.interchange_control)


def test_places_across_interchanges_garbage_and_a_bom():
    one, two = (FILES["acme_INV-10045.edi"], FILES["acme_PO-7781.edi"])
    data = BOM + b"junk before it\r\n" + one + b"\r\n\r\n" + two + b"   " + one
    sets = list(edi.EdiReader(io.BytesIO(data)))
    assert len(sets) == 3 and all(ps.place is not None for ps in sets)
    assert check_places(data, chunk_size=13) == 3 and check_offsets(data, 13)
    assert len({ps.place.isa_offset for ps in sets}) == 3  # (each under its own ISA)


def test_no_place_where_the_bytes_are_not_the_files():
    """A UTF-16 file is transcoded as it is read: its offsets are not the file's, so none is given."""
    data = FILES["acme_INV-10045.edi"].decode("latin-1").encode("utf-16")
    tok = Tokenizer(io.BytesIO(data))
    assert [tok.offset for _ in tok] and tok.offset is None
    assert [ps.place for ps in edi.EdiReader(io.BytesIO(data))] == [None]
    bare = FILES["acme_INV-10045.edi"].split(b"GS*", 1)[1].split(b"\n", 1)[1]  # (no ISA / GS: nowhere to read them)
    assert bare.startswith(b"ST*") and [ps.place for ps in edi.EdiReader(io.BytesIO(bare))] == [None]


@PROPS
@given(name=st.sampled_from(NAMES), data=st.data(), junk=st.binary(min_size=0, max_size=12))
def test_damaged_files_give_right_places_or_none(name, data, junk):
    raw = FILES[name]
    start = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    length = data.draw(st.integers(min_value=0, max_value=12))
    damaged = raw[:start] + junk + raw[start + length:]
    chunk = data.draw(st.sampled_from([5, 64, 4096]))
    check_offsets(damaged, chunk)
    check_places(damaged, chunk)


@PROPS
@given(names=st.lists(st.sampled_from(NAMES), min_size=2, max_size=4), gaps=st.lists(
    st.sampled_from([b"", b"\n", b"\r\n", b"  ", b"\x00", b"~", b"\n  \n"]), min_size=4, max_size=4))
def test_files_joined_give_right_places(names, gaps):
    data = b"".join(FILES[n] + g for n, g in zip(names, gaps))
    check_offsets(data, 61)
    check_places(data, 61)


@pytest.mark.parametrize("broken", [b"isa*", b"I\nSA*"])
def test_an_isa_not_read_as_an_interchange_header_gives_no_place(broken):
    """A lower-case ``isa`` or an ISA tag broken by a line break is taken as an ISA by the reader, but read again
    from its offset the tokenizer skips it to the next interchange: its sets get no place (review, D1)."""
    one = FILES["acme_INV-10045.edi"]
    data = one + one.replace(b"ISA*", broken, 1) + FILES["acme_INV-10046.edi"]
    sets = list(edi.EdiReader(io.BytesIO(data)))
    assert len(sets) == 3 and [ps.place is None for ps in sets] == [False, True, False]
    assert check_places(data) == 2
