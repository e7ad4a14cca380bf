"""A big file is stored in chunks (issue 12): each chunk of documents is committed, a crash keeps the
chunks done and the next poll carries on after them; a GE/IEA fault found at the end of the file still
keeps every set of that group or interchange out of the queue. (The survey of envelopes it relies on:
tests/unit/test_edi_survey.py.)"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connector import services
from connector.settings import load_settings
from connector.store import AuditEvent, Document, OutboundAck, QueuedRequest, ReceivedFile
from qbedi.runtime import build_runtime
from tests.support.builders import interchange, write_config


@pytest.fixture
def rt(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_DOCUMENTS", 3)
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    yield rt
    rt.close()


def count(rt, model, *where) -> int:
    with rt.store.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


class Crash(BaseException):
    """The process dies (not an error the service catches and records)."""


def test_a_crash_keeps_the_chunks_committed_and_the_next_poll_finishes_the_file(rt, monkeypatch):
    numbers = [f"INV-{n}" for n in range(1, 9)]
    record = services.IngestService._record

    def dies_at_the_seventh(self, s, f, doc, t, *args, **kw):
        if t.ordinal == 6:
            raise Crash
        return record(self, s, f, doc, t, *args, **kw)

    monkeypatch.setattr(services.IngestService, "_record", dies_at_the_seventh)
    with pytest.raises(Crash):
        rt.ingest.ingest(interchange(numbers), source="inbox", remote_id="big.edi", name="big.edi")
    assert count(rt, Document) == 6 and count(rt, QueuedRequest) == 6  # two chunks of three were committed
    with rt.store.session() as s:
        assert s.scalar(select(ReceivedFile.status)) == "received"  # not finished: resumed by the next poll
    assert count(rt, OutboundAck) == 0

    monkeypatch.setattr(services.IngestService, "_record", record)
    (out,) = rt.ingest.resume()
    assert [d.translation.ordinal for d in out.documents] == [6, 7]
    with rt.store.session() as s:
        docs = list(s.scalars(select(Document).order_by(Document.ordinal)))
        assert [d.document_number for d in docs] == numbers and [d.ordinal for d in docs] == list(range(8))
        assert {d.status for d in docs} == {"queued"}  # none taken for a duplicate of itself
        assert s.scalar(select(ReceivedFile.status)) == "parsed"
    assert count(rt, QueuedRequest) == 8 and count(rt, OutboundAck) == 1
    assert rt.ingest.resume() == []


def test_a_group_whose_ge_is_wrong_at_the_end_of_the_file_queues_none_of_its_sets(rt):
    good = interchange(["INV-1", "INV-2"], ctrl=501)
    bad = interchange([f"INV-{n}" for n in range(3, 11)], ctrl=502, ge_sets=9)  # eight sets, GE01 says nine
    out = rt.ingest.ingest(good + bad, source="inbox", remote_id="f.edi", name="f.edi")
    assert [d.status for d in out.documents] == ["queued"] * 2 + ["rejected"] * 8
    with rt.store.session() as s:
        rejected = list(s.scalars(select(Document).where(Document.status == "rejected")))
        assert len(rejected) == 8 and {d.reason_code for d in rejected} == {"envelope_error"}
        assert "GE01 says 9 transaction sets, counted 8" in rejected[-1].reason
        assert set(s.scalars(select(QueuedRequest.ref_number))) == {"INV-1", "INV-2"}
    assert count(rt, AuditEvent, AuditEvent.kind == "queued") == 2


def test_a_big_files_outcome_keeps_a_summary_of_each_document(rt):
    out = rt.ingest.ingest(interchange([f"INV-{n}" for n in range(1, 8)]), source="inbox", remote_id="f.edi",
                           name="f.edi")
    assert len(out.documents) == 7
    for d in out.documents:
        assert d.translation.parsed.document is None and d.translation.request_xml is None
        assert d.translation.json["document_number"].startswith("INV-") and d.translation.json["holds"] == []
        assert d.translation.status == "ready" and d.status == "queued"


def test_each_document_of_a_chunk_gets_its_own_request_and_its_events_in_the_order_they_happened(rt):
    """A chunk's requests and audit events are written together (lifecycle.Batch): each request still
    belongs to its document, each event to its document, and a document's trail reads in order."""
    numbers = ["INV-1", "INV-2", "INV-1", "INV-3", "INV-2", "INV-4", "INV-5"]  # copies within and across chunks
    out = rt.ingest.ingest(interchange(numbers), source="inbox", remote_id="f.edi", name="f.edi")
    assert [d.status for d in out.documents] == ["queued", "queued", "held", "queued", "held", "queued", "queued"]
    with rt.store.session() as s:
        for doc in s.scalars(select(Document).order_by(Document.ordinal)):
            trail = list(s.scalars(select(AuditEvent).where(AuditEvent.document_id == doc.id)
                                   .order_by(AuditEvent.id)))
            assert [e.kind for e in trail] == ["translated", doc.status], doc.document_number
            assert all(e.file_id == doc.file_id for e in trail)
            requests = list(s.scalars(select(QueuedRequest).where(QueuedRequest.document_id == doc.id)))
            if doc.status == "held":
                assert requests == [] and doc.reason_code == "duplicate_document"
                assert trail[1].detail["holds"][0]["code"] == "duplicate_document"
                continue
            (rq,) = requests
            assert rq.ref_number == doc.document_number and rq.state == "queued" and rq.company == doc.company
            assert trail[1].detail["request_id"] == rq.id and trail[1].detail["external_guid"] == rq.external_guid
            assert trail[0].detail["document_number"] == doc.document_number


def test_a_big_files_later_documents_are_logged_a_line_a_chunk(rt, monkeypatch):
    """The log names a file's first documents one by one (as the poll's outcome lists them), then says per
    chunk how many were queued and which, and how many were held and why (a file of 60,000 invoices from a
    supplier not mapped yet wrote 60,000 lines; the held list names each)."""
    import structlog

    monkeypatch.setattr(services, "REPORTED_DOCUMENTS", 2)
    numbers = ["INV-1", "INV-2", "INV-3", "INV-1", "INV-5", "INV-6", "INV-7", "INV-2"]  # copies: held
    with structlog.testing.capture_logs() as logs:
        rt.ingest.ingest(interchange(numbers), source="inbox", remote_id="f.edi", name="f.edi")
    one_by_one = [e["document"] for e in logs if e["event"] == "document.queued"]
    assert one_by_one == ["INV-1", "INV-2"]
    assert [e for e in logs if e["event"] == "document.held"] == []  # (both copies come after the first two)
    chunks = [e for e in logs if e["event"] == "documents.queued"]
    assert [(e["documents"], e["first"], e["last"], e["sets"]) for e in chunks] == [
        (1, "INV-3", "INV-3", "3-3"), (2, "INV-5", "INV-6", "5-6"), (1, "INV-7", "INV-7", "7-7")]  # chunks of 3
    assert all(e["file"] == "f.edi" and e["queued"] == e["documents"] for e in chunks)
    held = [e for e in logs if e["event"] == "documents.held"]
    assert [(e["documents"], e["held"], e["reasons"], e["first"], e["sets"]) for e in held] == [
        (1, 1, {"duplicate_document": 1}, "INV-1", "4-4"), (1, 1, {"duplicate_document": 1}, "INV-2", "8-8")]


def test_a_chunks_documents_are_written_once_as_they_end(rt):
    """Settled first, then inserted with their final state (ids given beforehand: connector.store.new_document_ids):
    no document row is updated while a file is stored, and the ids still ascend with the sets, from one chunk to
    the next and beyond a file stored before."""
    from sqlalchemy import event

    rt.ingest.ingest(interchange(["INV-0"], ctrl=900), source="inbox", remote_id="old.edi", name="old.edi")
    statements = []
    listen = lambda conn, cursor, statement, *a: statements.append(statement)  # noqa: E731
    event.listen(rt.store.engine, "before_cursor_execute", listen)
    try:
        out = rt.ingest.ingest(interchange(["INV-1", "INV-2", "INV-1", "INV-3", "INV-4", "INV-5", "INV-6"]),
                               source="inbox", remote_id="f.edi", name="f.edi")
    finally:
        event.remove(rt.store.engine, "before_cursor_execute", listen)
    assert [d.status for d in out.documents] == ["queued", "queued", "held", "queued", "queued", "queued", "queued"]
    assert not [q for q in statements if q.lstrip().upper().startswith("UPDATE EDI_DOCUMENT")]
    with rt.store.session() as s:
        rows = s.execute(select(Document.id, Document.ordinal, Document.status, Document.company)
                         .order_by(Document.id)).all()
    assert [r.ordinal for r in rows] == [0, *range(7)] and len({r.id for r in rows}) == 8
    assert [r.status for r in rows[1:]] == [d.status for d in out.documents]  # (as settled: nothing left behind)
    assert {r.company for r in rows if r.status == "queued"} == {"clerk"}
