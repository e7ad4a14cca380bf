"""A big file's raw bytes are kept in chunks and never held whole (issue 12): stored a chunk at a time,
read back exactly, and every reader (translation, release, the document page, the suppliers seen) reads
them as a stream. ``RAW_CHUNK`` is made small here so that small files have many chunks."""
from __future__ import annotations

import math
import tracemalloc

import pytest
from sqlalchemy import func, select

from connector import raw, views
from connector.settings import load_settings
from connector.sources import FolderSource
from connector.store import Document, FileChunk, ReceivedFile
from connector.vendors import suppliers_seen
from qbedi.runtime import build_runtime
from tests.support import corpus_files, own_x12_files
from tests.support.builders import interchange, write_config


@pytest.fixture
def rt(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    yield rt
    rt.close()


def stored(rt, file_id: int) -> tuple[ReceivedFile, int]:
    with rt.store.session() as s:
        f = s.get(ReceivedFile, file_id)
        return f, s.scalar(select(func.count()).select_from(FileChunk).where(FileChunk.file_id == file_id))


def test_a_big_file_is_kept_in_chunks_and_every_reader_reads_it_back(rt, tmp_path, monkeypatch):
    monkeypatch.setattr(raw, "RAW_CHUNK", 1000)
    numbers = [f"INV-{n}" for n in range(1, 30)] + ["INV-7"]  # the last one is a duplicate: held
    data = interchange(numbers)
    inbox = tmp_path / "drop"
    inbox.mkdir()
    (inbox / "big.edi").write_bytes(data)
    report = rt.ingest.poll(FolderSource("drop", inbox))
    (out,) = report.fetched
    f, chunks = stored(rt, out.file_id)
    assert f.content == b"" and f.size == len(data) and f.chunks == chunks == math.ceil(len(data) / 1000)
    assert raw.open_file(rt.store, f).read() == data  # kept exactly
    assert out.counts == {"queued": 29, "held": 1} and f.status == "parsed"

    with rt.store.session() as s:
        held = s.scalar(select(Document).where(Document.status == "held"))
        assert held.ordinal == 29 and held.reason_code == "duplicate_document"
    again = rt.ingest.release(held.id, not_duplicate="a different invoice that reuses the number", by="clerk")
    assert again.status == "queued" and again.translation.json["document_number"] == "INV-7"

    page = views.document_detail(rt.store, held.id)
    assert page["raw"][1] == data.split(b"~\n")[1].decode() and "BIG*20261118*INV-7**PO-7781" in page["raw"]
    # its own segments, the last of the file's thirty sets, after the ISA and GS it is under; numbered as in the file
    lines = data.decode().split("~\n")
    st = lines.index("ST*810*0030")
    assert page["raw_own"] and page["raw"][0].startswith("ISA*00*") and lines[st + 5].startswith("SE*6*")
    assert page["raw"][1:] == lines[1:2] + lines[st:st + 8]  # (the file's GE and IEA come right after it)
    assert page["raw_at"] == [1, 2, *range(st + 1, st + 9)] and not page["raw_cut"]
    first = views.document_detail(rt.store, held.id - 29)  # the file's first document: its SE, then the next ST
    assert first["raw_own"] and first["raw"][-1] == "SE*6*0001" and first["raw_at"][2:] == list(range(3, 9))
    assert [s["transaction_sets"] for s in suppliers_seen(rt.store)] == [{"810": 30}]


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_chunk_boundary_keeps_every_byte(rt, monkeypatch, extra):
    monkeypatch.setattr(raw, "RAW_CHUNK", 512)
    data = interchange(["INV-1", "INV-2", "INV-3", "INV-4"])
    data = data + b"\n" * (1024 + extra - len(data)) if len(data) <= 1024 + extra else data[:1024 + extra]
    file_id, known = rt.ingest.receive(data, source="inbox", remote_id="x.edi", name="x.edi")
    f, chunks = stored(rt, file_id)
    assert not known and f.size == 1024 + extra and chunks == f.chunks == (2 if extra <= 0 else 3)
    assert raw.open_file(rt.store, f).read() == data
    with rt.store.session() as s:
        assert raw.open_in(s, s.get(ReceivedFile, file_id)).read() == data
    assert rt.ingest.receive(data, source="inbox", remote_id="y.edi", name="y.edi") == (file_id, True)


def test_a_small_file_stays_in_its_row(rt):
    data = interchange(["INV-1"])
    file_id, _ = rt.ingest.receive(data, source="inbox", remote_id="x.edi", name="x.edi")
    f, chunks = stored(rt, file_id)
    assert f.content == data and f.chunks == chunks == 0


def test_a_poll_never_holds_a_big_file_whole(rt, tmp_path):
    """A 12 MB file through a folder poll (fetched, stored, surveyed, translated, its 997 built) with the
    Python heap's peak under a quarter of the file: no step holds it whole (before: the fetched bytes and
    the stored column, twice the file). Its bulk is line breaks between segments (X12 allows them), so the
    documents themselves, which a poll does hold a few at a time, are small."""
    inbox = tmp_path / "drop"
    inbox.mkdir()
    (inbox / "warm.edi").write_bytes(interchange(["WARM-1"], ctrl=499))  # (imports and caches: not the file)
    rt.ingest.poll(FolderSource("drop", inbox))
    data = interchange([f"INV-{n}" for n in range(1, 41)]).replace(b"~\n", b"~" + b"\r\n" * 25_000).rstrip() + b"\n"
    assert len(data) > 12_000_000
    (inbox / "big.edi").write_bytes(data)
    tracemalloc.start()
    try:
        report = rt.ingest.poll(FolderSource("drop", inbox))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (out,) = report.fetched
    assert not out.error and out.counts == {"queued": 40} and out.ack_id is not None
    assert peak < len(data) / 4, f"peak {peak / 1e6:.1f} MB for a {len(data) / 1e6:.1f} MB file"
    f, chunks = stored(rt, out.file_id)
    assert chunks == f.chunks == math.ceil(len(data) / raw.RAW_CHUNK)
    assert raw.open_file(rt.store, f).read() == data


def test_a_set_without_its_se_shows_its_own_segments_and_not_the_next_sets(rt):
    data = interchange(["INV-1", "INV-2"]).replace(b"SE*6*0001~\n", b"")  # the first set's SE is missing
    out = rt.ingest.ingest(data, source="inbox", remote_id="f.edi", name="f.edi")
    first, second = out.documents
    assert first.status == "rejected"
    page = views.document_detail(rt.store, first.document_id)
    assert page["raw_own"] and page["raw"][2] == "ST*810*0001" and page["raw"][-1] == "TDS*12500"
    assert not any("INV-2" in line or line.startswith("ST*810*0002") for line in page["raw"])
    assert page["raw_at"] == [1, 2, 3, 4, 5, 6, 7]
    other = views.document_detail(rt.store, second.document_id)
    assert other["raw"][2:] == ["ST*810*0002", "BIG*20261118*INV-2**PO-7781", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                                "IT1*1*10*EA*12.50**VN*AC-100", "TDS*12500", "SE*6*0002", "GE*2*501", "IEA*1*000000501"]
    assert other["raw_at"][2] == 8


def test_a_documents_page_and_release_read_its_own_place_in_the_file_not_the_file_up_to_it(rt, monkeypatch):
    """The last set of a 200-set file (held: a duplicate): its page, its release and the suppliers seen read the
    chunk holding the ISA and GS and the chunks holding the set (its ``set_place``, kept at ingest); the page shows what reading
    the whole file up to it shows."""
    monkeypatch.setattr(raw, "RAW_CHUNK", 1000)
    data = interchange([f"INV-{n}" for n in range(1, 200)] + ["INV-7"])
    out = rt.ingest.ingest(data, source="inbox", remote_id="big.edi", name="big.edi")
    f, chunks = stored(rt, out.file_id)
    assert chunks > 25 and out.counts == {"queued": 199, "held": 1}
    with rt.store.session() as s:
        last = s.scalars(select(Document).where(Document.file_id == f.id).order_by(Document.ordinal.desc())).first()
        place = last.set_place
    assert place is not None and data[place[-1]:].lstrip().startswith(b"ST*810*0200~")

    loaded: list[int] = []
    real_chunk = raw._chunk
    monkeypatch.setattr(raw, "_chunk", lambda s, file_id, seq: loaded.append(seq) or real_chunk(s, file_id, seq))
    page = views.document_detail(rt.store, last.id)
    lines = data.decode().split("~\n")
    st = lines.index("ST*810*0200")
    assert page["raw_own"] and page["raw"][0].startswith("ISA*00*") and not page["raw_cut"]
    assert page["raw"][1:] == lines[1:2] + lines[st:st + 8]  # its GS, its ST .. SE, the file's GE and IEA
    assert page["raw_at"] == [1, 2, *range(st + 1, st + 9)] and "BIG*20261118*INV-7**PO-7781" in page["raw"]
    assert set(loaded) <= {0, *range(place[-1] // 1000, chunks)} and len(loaded) <= 4, loaded
    loaded.clear()
    again = rt.ingest.release(last.id, not_duplicate="a different invoice that reuses the number", by="clerk")
    assert again.status == "queued" and again.translation.json["document_number"] == "INV-7"
    assert set(loaded) <= {0, *range(place[-1] // 1000, chunks)} and len(loaded) <= 4, loaded
    loaded.clear()  # the suppliers seen: what the newest document's set says of its seller
    (seen,) = suppliers_seen(rt.store)
    assert seen["name"] == "ACME INDUSTRIAL SUPPLY" and "ACMESUPPLY" in seen["ids"] and seen["documents"] == 200
    assert set(loaded) <= {0, *range(place[-1] // 1000, chunks)} and len(loaded) <= 4, loaded

    with rt.store.session() as s:  # the first document: its ISA, GS and set start in the first chunk: loaded once
        first = s.scalars(select(Document).where(Document.file_id == f.id, Document.ordinal == 0)).one()
    loaded.clear()  # (the tokenizer reads 64 kB ahead: with these 1,000-byte chunks, the rest of the file too)
    assert views.document_detail(rt.store, first.id)["raw_own"] and loaded.count(0) == 1, loaded

    with rt.store.session() as s:  # a document stored before its place was kept: the file is read up to it
        s.get(Document, last.id).set_place = None
    loaded.clear()
    before = views.document_detail(rt.store, last.id)
    assert (before["raw"], before["raw_at"], before["raw_own"]) == (page["raw"], page["raw_at"], True)
    assert len(loaded) >= chunks - 1


def test_a_set_read_from_its_place_translates_as_the_whole_file_read_does(rt):
    """Every document of the tests' files and the corpus: its set read again from its place (release) gives the
    same translation as reading its file up to it, GE/IEA faults included (none reach a set that has a place and
    is not rejected)."""
    from connector.services import _stored_set
    from connector.translate import translate_set

    compared = 0
    for path in corpus_files() + own_x12_files():
        out = rt.ingest.ingest(path.read_bytes(), source="inbox", remote_id=path.name, name=path.name)
        with rt.store.session() as s:
            for doc in s.scalars(select(Document).where(Document.file_id == out.file_id)):
                if doc.set_place is None or doc.status == "rejected":
                    continue
                f = doc.file
                placed = _stored_set(s, f, doc)
                doc.set_place = None
                whole = _stored_set(s, f, doc)
                assert [i.message for i in placed.rejected] == [i.message for i in whole.rejected], path.name
                one, two = (translate_set(rt.settings, ps, ordinal=doc.ordinal, file_sha256=f.sha256,
                                          file_name=f.name).json for ps in (placed, whole))
                assert one == two, (path.name, doc.ordinal)
                compared += 1
                s.rollback()
    assert compared >= len(own_x12_files()), compared


@pytest.mark.parametrize("read_size, raw_chunk, opens", [(64 * 1024, 256 * 1024, 1), (64 * 1024, 8, 2), (8, 8, 3)])
def test_open_set_reads_the_isa_the_gs_and_the_set(monkeypatch, read_size, raw_chunk, opens):
    """``raw.open_set``: the ISA, the GS and the set read through one stream when the set is within a chunk
    of its ISA (a file's first sets: its first chunk loaded once); else the ISA and GS read in one piece when
    close together, in two otherwise, and the set from its ST."""
    import io

    import edi
    from edi.tokenizer import Tokenizer

    monkeypatch.setattr(raw, "READ_SIZE", read_size)
    monkeypatch.setattr(raw, "RAW_CHUNK", raw_chunk)
    data = interchange(["INV-1", "INV-2", "INV-3"])
    last = list(edi.EdiReader(io.BytesIO(data)))[-1]
    opened: list[int] = []
    stream = raw.open_set(lambda n: opened.append(n) or io.BytesIO(data[n:]), list(last.place))
    segs = [s.elements for s in Tokenizer(stream)]
    lines = [line.split("*") for line in data.decode().split("~\n") if line]
    st = lines.index(["ST", "810", "0003"])
    assert segs[1:] == lines[1:2] + lines[st:] and segs[0][0] == "ISA"
    assert len(opened) == opens, opened
    assert raw.open_set(lambda n: io.BytesIO(data[n:]), None) is None
    assert raw.open_set(lambda n: io.BytesIO(data[n:]), [5, 1, 1, 0, 0, 0, 0]) is None  # (not a place)


def test_a_place_that_does_not_read_back_as_kept_is_not_trusted():
    """A blank segment terminator decided by the byte after the ISA (a line break there): with a TA1 between the
    ISA and the GS that byte is not the same at the set's place, which then tokenizes differently. The page and
    the release check that the ISA, GS and ST are found where the place says, and read the file instead."""
    import io
    import types

    import edi
    from connector.services import _stored_set

    isa = (b"ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*NORTHWIND      *261120*0930*U*00401*000000501*0*"
           b"P*> ")
    segs = [b"TA1*000000501*261120*0930*A*000", b"GS*IN*ACMESUPPLY*NORTHWIND*20261120*0930*501*X*004010",
            b"ST*810*0001", b"BIG*20261118*INV-1**PO-7781", b"N1*SU*ACME SUPPLY*92*ACMESUPPLY", b"SE*5*0001",
            b"GE*1*501", b"IEA*1*000000501"]
    data = isa + b" \r".join(segs) + b" \r"
    (ps,) = edi.EdiReader(io.BytesIO(data))
    assert ps.place is not None and not ps.rejected and ps.document.number == "INV-1"
    f = types.SimpleNamespace(id=1, chunks=0, content=data)
    env = ps.envelope
    doc = types.SimpleNamespace(set_place=list(ps.place), ordinal=0, transaction_set=env.transaction_set,
                                set_control=env.set_control, interchange_control=env.interchange_control,
                                group_control=env.group_control)
    again = _stored_set(None, f, doc)
    assert not again.rejected and again.document.number == "INV-1"
    opened = lambda start=0: raw.open_in(None, f, start)  # noqa: E731
    assert views.set_segments(opened, ps.first_segment, place=doc.set_place) == \
        views.set_segments(opened, ps.first_segment)


def test_a_document_without_a_place_stores_sql_null(rt):
    data = interchange(["INV-1"]).split(b"GS*", 1)[1].split(b"\n", 1)[1]  # (no ISA / GS: no place)
    out = rt.ingest.ingest(data, source="inbox", remote_id="bare.edi", name="bare.edi")
    with rt.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document).where(
            Document.file_id == out.file_id, Document.set_place.is_(None))) == 1


def test_releasing_a_files_held_documents_reads_each_chunk_once(tmp_path, db_url, monkeypatch):
    """Release all of a big file's held documents, in file order: each chunk of its raw bytes is read from the
    database once (raw.KeptChunks), not twice a set (its ISA's chunk and its own): on PostgreSQL those reads
    were half the time of a release."""
    monkeypatch.setattr(raw, "RAW_CHUNK", 20_000)  # (a 56 kB file in 3 chunks)
    held = build_runtime(load_settings(write_config(tmp_path, db_url, suppliers={})))
    out = held.ingest.ingest(interchange([f"INV-{n}" for n in range(400)]), source="inbox", remote_id="big.edi",
                             name="big.edi")
    held.close()
    f, chunks = stored(held, out.file_id)
    assert chunks >= 2 and out.counts == {"held": 400}
    mapped = build_runtime(load_settings(write_config(tmp_path, db_url)))
    loaded: list[int] = []
    real_chunk = raw._chunk
    monkeypatch.setattr(raw, "_chunk", lambda s, file_id, seq: loaded.append(seq) or real_chunk(s, file_id, seq))
    report = mapped.ingest.release_all(views.review_filter(settings=mapped.settings))
    mapped.close()
    assert report.counts == {"queued": 400}
    assert sorted(loaded) == list(range(chunks)), loaded


def test_kept_chunks_keeps_the_latest_few(monkeypatch):
    loaded: list[tuple[int, int]] = []
    monkeypatch.setattr(raw, "_chunk", lambda s, file_id, seq: loaded.append((file_id, seq)) or b"%d" % seq)
    kept = raw.KeptChunks(most=2)
    assert [kept.load(None, 1, seq) for seq in (0, 1, 0, 2, 0, 1)] == [b"0", b"1", b"0", b"2", b"0", b"1"]
    assert loaded == [(1, 0), (1, 1), (1, 2), (1, 1)]  # 1 was the oldest when 2 came
    assert kept.load(None, 2, 0) == b"0" and loaded[-1] == (2, 0)  # (another file's chunk 0: not the same)
