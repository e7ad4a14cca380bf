"""Durable store + ingest: raw bytes kept, states, dedup, crash safety (SQLite and PostgreSQL)."""
from decimal import Decimal

import pytest

from sqlalchemy import func, select

from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.sources import FolderSource, RemoteFile, SourceError
from connector.store import AuditEvent, DocStatus, Document, FileSighting, QueuedRequest, ReceivedFile, audit_trail
from tests.support.builders import x12_file, write_config


def runtime(tmp_path, db_url, **kw):
    return build_runtime(load_settings(write_config(tmp_path, db_url, **kw)))


def count(rt, model, *where):
    with rt.store.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_migrations_are_idempotent(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    rt.store.migrate()  # second time: nothing to do, no error
    assert count(rt, ReceivedFile) == 0


def test_ingest_keeps_raw_bytes_and_queues_a_bill(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    data = x12_file("acme_INV-10045.edi")
    out = rt.ingest.ingest(data, source="inbox", remote_id="a.edi", name="a.edi")
    assert not out.duplicate and [d.status for d in out.documents] == ["queued"]
    with rt.store.session() as s:
        f = s.get(ReceivedFile, out.file_id)
        assert f.content == data and f.size == len(data) and f.status == "parsed"
        doc = s.scalars(select(Document)).one()
        assert doc.total == Decimal("289.00") and doc.supplier_id == "ACMESUPPLY" and doc.company == "clerk"
        assert doc.parsed["due_date"] == "2026-12-18"
        rq = s.scalars(select(QueuedRequest)).one()
        assert rq.request_type == "BillAdd" and rq.state == "queued" and rq.ref_number == "INV-10045"
        assert rq.vendor == "Acme Industrial Supply" and rq.external_guid.startswith("{")
        kinds = [e.kind for e in audit_trail(s, doc.id)]
        assert kinds == ["translated", "queued"]


def test_same_bytes_again_is_a_no_op(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    data = x12_file("acme_INV-10045.edi")
    rt.ingest.ingest(data, source="inbox", remote_id="a.edi", name="a.edi")
    again = rt.ingest.ingest(data, source="other", remote_id="copy.edi", name="copy.edi")
    assert again.duplicate and again.documents == []
    assert count(rt, ReceivedFile) == 1 and count(rt, Document) == 1 and count(rt, QueuedRequest) == 1
    assert count(rt, AuditEvent, AuditEvent.kind == "duplicate_file") == 1
    assert count(rt, FileSighting) == 2  # both deliveries are on record


def test_same_invoice_in_different_bytes_is_held_as_duplicate(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    data = x12_file("acme_INV-10045.edi")
    rt.ingest.ingest(data, source="inbox", remote_id="a.edi", name="a.edi")
    resent = data.replace(b"000000101", b"000000901").replace(b"*101*X*", b"*901*X*").replace(b"GE*1*101", b"GE*1*901")
    out = rt.ingest.ingest(resent, source="inbox", remote_id="b.edi", name="b.edi")
    [d] = out.documents
    assert d.status == "held"
    assert d.translation.holds[0].code == "duplicate_document"
    assert "already queued" in d.translation.holds[0].message
    assert count(rt, QueuedRequest) == 1


def test_unknown_supplier_is_held_and_visible(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    out = rt.ingest.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i.edi", name="i.edi")
    assert [d.status for d in out.documents] == ["held"]
    with rt.store.session() as s:
        doc = s.scalars(select(Document)).one()
        assert doc.status == DocStatus.HELD and doc.reason_code == "unknown_supplier"
        assert "INITECH" in doc.reason
    assert count(rt, QueuedRequest) == 0


def test_release_after_mapping_fix_queues_the_held_document(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    rt.ingest.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i.edi", name="i.edi")
    rt2 = runtime(tmp_path, db_url, suppliers={"INITECHEDI": {"vendor": "Initech", "default_account": "Repairs"}})
    with rt2.store.session() as s:
        doc_id = s.scalars(select(Document.id)).one()
    out = rt2.ingest.release(doc_id, by="pat")
    assert out.status == "queued"
    assert count(rt2, QueuedRequest) == 1
    with rt2.store.session() as s:
        trail = [(e.kind, e.detail.get("by")) for e in audit_trail(s, doc_id)]
    assert trail == [("translated", None), ("held", None), ("released", "pat"), ("queued", None)]  # who released


def test_unreadable_file_is_kept_with_a_reason(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    out = rt.ingest.ingest(b"this is not EDI at all", source="inbox", remote_id="x.txt", name="x.txt")
    assert out.error and out.documents == []
    with rt.store.session() as s:
        f = s.get(ReceivedFile, out.file_id)
        assert f.content == b"this is not EDI at all" and f.status == "unreadable" and f.error


def test_folder_poll_moves_consumed_files_and_survives_a_crash(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    (inbox / "b.edi").write_bytes(x12_file("initech_88812.edi"))
    (inbox / "c.edi.part").write_bytes(b"partial upload")

    # crash after the raw bytes were stored, before the source was told: nothing lost, nothing doubled
    class Crashy(FolderSource):
        def acknowledge(self, remote):
            raise KeyboardInterrupt("power cut")

    crashy = Crashy("inbox", inbox)
    try:
        rt.ingest.poll(crashy)
    except KeyboardInterrupt:
        pass
    assert count(rt, ReceivedFile) == 1 and count(rt, Document) == 0  # stored, not yet translated

    report = rt.ingest.poll(FolderSource("inbox", inbox))
    assert report.listed == 2 and not report.errors
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a.edi", "b.edi"]
    assert (inbox / "c.edi.part").exists()
    assert count(rt, ReceivedFile) == 2 and count(rt, Document) == 2 and count(rt, QueuedRequest) == 1
    assert rt.ingest.poll(FolderSource("inbox", inbox)).listed == 0


def test_short_download_stores_nothing(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)

    class Short:
        name = "cleo"

        def list_new(self):
            return [RemoteFile("cleo", "m1", "m1.edi", size=10_000)]

        def fetch(self, remote):
            return x12_file("acme_INV-10045.edi")

        def acknowledge(self, remote):
            raise AssertionError("must not acknowledge a file that was not stored")

    report = rt.ingest.poll(Short())
    assert report.errors and "short download" in report.errors[0]
    assert count(rt, ReceivedFile) == 0


def test_source_outage_is_reported_not_raised(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)

    class Down:
        name = "cleo"

        def list_new(self):
            raise SourceError("Cleo at https://x is not answering (connection refused)")

    report = rt.ingest.poll(Down())
    assert report.errors == ["Cleo at https://x is not answering (connection refused)"]


def test_poll_writes_a_997_for_each_file_to_the_outbox(tmp_path, db_url):
    import edi

    rt = runtime(tmp_path, db_url)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    report = rt.ingest.poll(FolderSource("inbox", inbox, outbox=outbox))
    [ack] = list(outbox.iterdir())
    assert report.fetched[0].ack == ack.name
    parsed = edi.parse_bytes(ack.read_bytes())
    [ps] = parsed.sets
    assert ps.envelope.transaction_set == "997" and not ps.rejected
    assert ps.envelope.isa_receiver_id.strip() == "ACMESUPPLY"  # back to the sender
    text = ack.read_text()
    assert "AK1*IN*101" in text and "AK2*810*0001" in text and "AK5*A" in text and "AK9*A*1*1*1" in text


class RefusingOutbox(FolderSource):
    """A folder source whose outbox refuses the next ``refusals`` uploads (a partner connection down)."""

    def __init__(self, *a, refusals: int, **kw):
        super().__init__(*a, **kw)
        self.refusals = refusals

    def upload(self, name, content):
        if self.refusals > 0:
            self.refusals -= 1
            raise SourceError("connection ACME-AS2: HTTP 503")
        super().upload(name, content)


def ack_events(rt):
    with rt.store.session() as s:
        return [(e.kind, e.detail.get("attempt")) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.kind.like("ack_%")).order_by(AuditEvent.id))]


def test_a_997_the_source_refuses_is_delivered_by_a_later_poll(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    src = RefusingOutbox("inbox", inbox, outbox=outbox, refusals=2)
    first = rt.ingest.poll(src)
    assert first.fetched[0].ack is None and first.fetched[0].documents  # the invoice goes on regardless
    assert not outbox.exists()
    assert rt.ingest.poll(src).acks_resent == 0  # still refused: kept for the next poll
    third = rt.ingest.poll(src)
    assert third.acks_resent == 1 and third.listed == 0
    [ack] = list(outbox.iterdir())
    assert "AK2*810*0001" in ack.read_text() and "AK9*A*1*1*1" in ack.read_text()
    assert ack_events(rt) == [("ack_failed", 1), ("ack_failed", 2), ("ack_sent", 3)]
    assert rt.ingest.poll(src).acks_resent == 0 and len(list(outbox.iterdir())) == 1  # sent once


def test_an_unexpected_upload_error_costs_one_try_and_never_stops_the_polls(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))

    class Broken(FolderSource):
        broken = True

        def upload(self, name, content):
            if self.broken:
                raise KeyError("id")  # e.g. an answer without the field we expected
            super().upload(name, content)

    src = Broken("inbox", inbox, outbox=outbox)
    assert rt.ingest.poll(src).errors == []
    (inbox / "b.edi").write_bytes(x12_file("acme_INV-10046.edi"))
    second = rt.ingest.poll(src)  # the pending 997 fails again: b.edi is still fetched
    assert [f.name for f in second.fetched] == ["b.edi"] and second.errors == []
    assert [a for a in ack_events(rt)] == [("ack_failed", 1), ("ack_failed", 2), ("ack_failed", 1)]
    src.broken = False
    assert rt.ingest.poll(src).acks_resent == 2 and len(list(outbox.iterdir())) == 2


def test_a_997_refused_every_time_is_given_up_and_shown(tmp_path, db_url, monkeypatch, capsys):
    import connector.services as services
    from qbedi.cli import main

    monkeypatch.setattr(services, "ACK_MAX_ATTEMPTS", 3)
    cfg = write_config(tmp_path, db_url)
    rt = build_runtime(load_settings(cfg))
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    src = RefusingOutbox("inbox", inbox, outbox=tmp_path / "outbox", refusals=99)
    for _ in range(5):
        rt.ingest.poll(src)
    assert src.refusals == 96  # three tries, then no more
    assert ack_events(rt)[-1][0] == "ack_abandoned"
    with rt.store.session() as s:  # what `qbedi status` reads (no poller ran, so add the source's row)
        from connector.store import SourceState
        s.add(SourceState(name="inbox", consecutive_failures=0, files_fetched=1))
    assert main(["status", "--config", str(cfg)]) == 0
    assert "1 997 acknowledgment(s) given up after 3 tries" in capsys.readouterr().out


def test_a_reused_interchange_number_is_not_a_duplicate(tmp_path, db_url):
    """Senders reuse and restart ISA13: a different invoice under an old control number is new business
    (issue 10; before, it was held as a 'resent interchange' and release could never clear it)."""
    rt = runtime(tmp_path, db_url)
    rt.ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a.edi", name="a.edi")
    other = x12_file("acme_INV-10046.edi").replace(b"000000102", b"000000101")  # same sender + ISA13
    out = rt.ingest.ingest(other, source="inbox", remote_id="b.edi", name="b.edi")
    [d] = out.documents
    assert d.status == "queued" and not d.translation.holds
    assert count(rt, QueuedRequest) == 2


def test_a_resend_with_a_new_control_number_is_still_caught(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    rt.ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a.edi", name="a.edi")
    again = x12_file("acme_INV-10045.edi").replace(b"000000101", b"000000777")  # new ISA13, same invoice
    [d] = rt.ingest.ingest(again, source="inbox", remote_id="c.edi", name="c.edi").documents
    hold = d.translation.holds[0]
    assert d.status == "held" and hold.code == "duplicate_document"
    assert "document #1" in hold.message and "same date and total" in hold.message and "nothing to do" in hold.message
    assert count(rt, QueuedRequest) == 1


def test_a_reused_invoice_number_is_held_with_the_difference_and_can_be_posted_by_a_person(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    rt.ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a.edi", name="a.edi")
    reused = x12_file("acme_INV-10045.edi").replace(b"000000101", b"000000778").replace(b"TDS*28900", b"TDS*30400")
    reused = reused.replace(b"SAC*C*D240***1500", b"SAC*C*D240***3000")  # freight 30.00: total 304.00
    [d] = rt.ingest.ingest(reused, source="inbox", remote_id="d.edi", name="d.edi").documents
    hold = d.translation.holds[0]
    assert d.status == "held" and hold.code == "duplicate_document", d.translation.holds
    assert "total 304.00 here, 289.00 there" in hold.message and f"qbedi release {d.document_id} --not-duplicate" \
        in hold.message
    with pytest.raises(ValueError, match="say why"):
        rt.ingest.release(d.document_id, not_duplicate=" ")
    out = rt.ingest.release(d.document_id, not_duplicate="new invoice, the supplier restarted its numbers", by="ap")
    assert out.status == "queued" and count(rt, QueuedRequest) == 2
    with rt.store.session() as s:
        kinds = [(e.kind, e.detail.get("reason"), e.detail.get("by")) for e in audit_trail(s, d.document_id)]
    assert ("duplicate_overridden", "new invoice, the supplier restarted its numbers", "ap") in kinds
    with pytest.raises(ValueError, match="not held as a duplicate"):
        rt.ingest.release(d.document_id, not_duplicate="again")


def test_a_new_file_with_a_reused_name_is_stored(tmp_path, db_url):
    """Partners reuse fixed names (INVOICE.EDI): name + content decide, not the name alone."""
    rt = runtime(tmp_path, db_url)
    inbox = tmp_path / "inbox"
    (inbox / "INVOICE.EDI").write_bytes(x12_file("acme_INV-10045.edi"))
    rt.ingest.poll(FolderSource("inbox", inbox))
    (inbox / "INVOICE.EDI").write_bytes(x12_file("acme_INV-10046.edi"))
    report = rt.ingest.poll(FolderSource("inbox", inbox))
    assert len(report.fetched) == 1 and report.skipped == 0
    with rt.store.session() as s:
        assert sorted(s.scalars(select(Document.document_number))) == ["INV-10045", "INV-10046"]


def test_partial_listing_keeps_what_was_listed(tmp_path, db_url):
    """One Cleo connection failing must not throw away the files of the healthy ones."""
    rt = runtime(tmp_path, db_url)
    data = x12_file("acme_INV-10045.edi")

    class HalfDown:
        name = "cleo"
        acked = []

        def list_new(self):
            yield RemoteFile("cleo", "c1/f1", "a.edi", size=len(data))
            raise SourceError("connection GLOBEX-SFTP: HTTP 503")

        def fetch(self, remote):
            return data

        def acknowledge(self, remote):
            self.acked.append(remote.remote_id)

        def upload(self, name, content):
            pass

    src = HalfDown()
    report = rt.ingest.poll(src)
    assert report.listed == 1 and len(report.fetched) == 1 and src.acked == ["c1/f1"]
    assert report.errors == ["connection GLOBEX-SFTP: HTTP 503"]


def test_an_unexpected_error_on_one_file_does_not_block_the_others(tmp_path, db_url):
    rt = runtime(tmp_path, db_url)
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    (inbox / "b.edi").write_bytes(x12_file("acme_INV-10046.edi"))

    class Locked(FolderSource):
        def acknowledge(self, remote):
            if remote.remote_id == "a.edi":
                raise PermissionError("a.edi is open in another program")
            super().acknowledge(remote)

    report = rt.ingest.poll(Locked("inbox", inbox))
    assert len(report.fetched) == 1 and "PermissionError" in report.errors[0]
    # a.edi was stored before the failing acknowledgment: the next poll translates it, nothing is lost
    rt.ingest.poll(FolderSource("inbox", inbox))
    with rt.store.session() as s:
        assert sorted(s.scalars(select(Document.document_number))) == ["INV-10045", "INV-10046"]
        assert count(rt, ReceivedFile, ReceivedFile.status == "received") == 0


def test_the_migrations_build_exactly_the_models_schema(tmp_path, db_url):
    """alembic's autogenerate finds nothing to add: a new table or column always comes with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from connector.store import Base

    rt = runtime(tmp_path, db_url)
    with rt.store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []  # on SQLite and on PostgreSQL


def test_release_all_after_the_supplier_is_mapped_releases_a_big_file_in_chunks(tmp_path, db_url):
    """The first file of a new supplier came before its mapping: all its invoices are held. Once the admin maps
    it, one "release all" queues them, oldest first, a chunk to a unit of work; what is still held (another
    supplier, not mapped) is held again and counted; a second run finds only that one, and queues nothing twice."""
    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    numbers = [f"INV-{n:05d}" for n in range(1, 122)]  # 121: three chunks
    rt.ingest.ingest(interchange(numbers), source="inbox", remote_id="big.edi", name="big.edi")
    rt.ingest.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i.edi", name="i.edi")
    assert count(rt, Document, Document.status == DocStatus.HELD) == 122

    rt2 = runtime(tmp_path, db_url)  # the tests' own mapping: Acme, not Initech
    seen = []
    report = rt2.ingest.release_all(views.review_filter(reason="unknown_supplier", settings=rt2.settings), by="pat",
                                    progress=lambda r: seen.append(r.released))
    assert (report.matched, report.released, report.counts) == (122, 122, {"queued": 121, "held": 1})
    assert report.held_for == {"unknown_supplier": 1} and report.not_released == 0 and report.left == 0
    assert seen == [50, 100, 122]  # a chunk at a time
    assert count(rt2, QueuedRequest) == 121
    with rt2.store.session() as s:
        first = s.scalar(select(Document.id).where(Document.document_number == "INV-00001"))
        trail = [(e.kind, e.detail.get("by")) for e in audit_trail(s, first)]
    assert trail == [("translated", None), ("held", None), ("released", "pat"), ("queued", None)]
    assert views.release_summary(report) == ("Translated again 122 of 122 document(s) with the mapping as it is "
                                             "now: 121 queued for QuickBooks, 1 still held (why: unknown supplier: 1).")

    again = rt2.ingest.release_all(views.review_filter(settings=rt2.settings), by="pat")
    assert (again.matched, again.counts) == (1, {"held": 1}) and count(rt2, QueuedRequest) == 121


def test_release_all_leaves_a_document_it_cannot_release_as_it_was_and_says_why(tmp_path, db_url):
    """A file whose stored bytes no longer hold its sets (damaged storage): its documents stay held, named in
    the report with the reason; the others in the same chunk are released all the same."""
    from sqlalchemy import update

    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    rt.ingest.ingest(interchange(["A-1", "A-2", "A-3"]), source="inbox", remote_id="a.edi", name="a.edi")
    damaged = rt.ingest.ingest(interchange(["B-1", "B-2"], ctrl=502), source="inbox", remote_id="b.edi",
                               name="b.edi").file_id
    rt.ingest.ingest(interchange(["C-1"], ctrl=503), source="inbox", remote_id="c.edi", name="c.edi")
    with rt.store.session() as s:
        assert not s.get(ReceivedFile, damaged).chunks  # (a small file: its bytes in its row)
        s.execute(update(ReceivedFile).where(ReceivedFile.id == damaged).values(content=b"ISA*garbled~"))

    rt2 = runtime(tmp_path, db_url)
    report = rt2.ingest.release_all(views.review_filter(settings=rt2.settings), by="pat")
    assert (report.matched, report.released, report.counts, report.not_released) == (6, 4, {"queued": 4}, 2)
    assert [why for _, why in report.failed] == [f"file #{damaged} has no set #0", f"file #{damaged} has no set #1"]
    with rt2.store.session() as s:
        left = s.execute(select(Document.document_number, Document.status).where(Document.file_id == damaged)
                         .order_by(Document.id)).all()
    assert left == [("B-1", "held"), ("B-2", "held")]
    assert "2 could not be released and are as they were" in views.release_summary(report)


def test_release_all_out_of_time_carries_on_after_the_last_one_tried(tmp_path, db_url):
    """With a time limit it stops after a chunk and counts what is left; the next run goes on after the last one
    tried. From the oldest again, documents still held (a supplier nobody mapped) would use up every run's time
    and those behind them would never be reached."""
    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    nobody = interchange([f"N-{n}" for n in range(60)], ctrl=601).replace(b"ACMESUPPLY", b"NOBODYCORP")
    rt.ingest.ingest(nobody, source="inbox", remote_id="n.edi", name="n.edi")  # the oldest: never mapped
    rt.ingest.ingest(interchange([f"INV-{n}" for n in range(30)]), source="inbox", remote_id="a.edi", name="a.edi")
    rt2 = runtime(tmp_path, db_url)
    where = views.review_filter(settings=rt2.settings)
    first = rt2.ingest.release_all(where, seconds=0)
    assert (first.matched, first.released, first.counts, first.left) == (90, 50, {"held": 50}, 40)
    assert "Time ran out with 40 not tried yet: carry on to release them." in views.release_summary(first)
    rest = rt2.ingest.release_all(where, seconds=0, after=first.last)
    assert (rest.matched, rest.released, rest.counts, rest.left) == (40, 40, {"held": 10, "queued": 30}, 0)
    again = rt2.ingest.release_all(where, seconds=0)  # (from the oldest: the 60 held again, one chunk's worth)
    assert (again.matched, again.released, again.counts, again.left) == (60, 50, {"held": 50}, 10)


def test_a_supplier_filter_finds_its_documents_held_before_it_was_mapped(tmp_path, db_url):
    """Held as unknown_supplier, a document has no supplier yet: the supplier filter also finds those sent under
    an id the supplier now answers to, so a just-mapped supplier's documents are released without the others'."""
    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    rt.ingest.ingest(interchange(["INV-1", "INV-2"]), source="inbox", remote_id="a.edi", name="a.edi")
    rt.ingest.ingest(x12_file("initech_88812.edi"), source="inbox", remote_id="i.edi", name="i.edi")
    rt2 = runtime(tmp_path, db_url)
    report = rt2.ingest.release_all(views.review_filter(supplier="ACMESUPPLY", settings=rt2.settings))
    assert (report.matched, report.counts) == (2, {"queued": 2})
    with rt2.store.session() as s:
        assert s.scalar(select(Document.status).where(Document.document_number == "88812")) == "held"
        assert [e.kind for e in audit_trail(s, s.scalar(select(Document.id).where(
            Document.document_number == "88812")))] == ["translated", "held"]  # (not tried)


def test_a_release_waits_for_one_in_progress_and_then_finds_the_document_released(tmp_path, db_url):
    """Two clerks press Release on the same held invoice at once: the second waits for the first's unit of work
    and is refused (it reads the document queued), so the invoice is queued once, never twice."""
    import threading
    import time

    from sqlalchemy import update

    rt = runtime(tmp_path, db_url, suppliers={})
    rt.ingest.ingest(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a.edi", name="a.edi")
    rt2 = runtime(tmp_path, db_url)
    with rt2.store.session() as s:
        doc_id = s.scalars(select(Document.id)).one()
    outcome = {}

    def second():
        try:
            outcome["status"] = rt2.ingest.release(doc_id, by="bob").status
        except ValueError as e:
            outcome["refused"] = str(e)

    with rt2.store.session() as s:  # the first press, half way through its unit of work
        s.execute(update(Document).where(Document.id == doc_id).values(status=DocStatus.QUEUED))
        t = threading.Thread(target=second)
        t.start()
        time.sleep(1.0)
        assert t.is_alive()  # waiting for the first
    t.join(30)
    assert outcome == {"refused": f"document #{doc_id} is queued; only held or failed documents are released"}
    assert count(rt2, AuditEvent, AuditEvent.kind == "released") == 0


def test_two_release_alls_at_once_queue_each_document_once(tmp_path, db_url):
    import threading

    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    rt.ingest.ingest(interchange([f"INV-{n}" for n in range(120)]), source="inbox", remote_id="a.edi", name="a.edi")
    a, b = runtime(tmp_path, db_url), runtime(tmp_path, db_url)
    reports = []
    threads = [threading.Thread(target=lambda r=r: reports.append(r.ingest.release_all(
        views.review_filter(settings=r.settings), by="clerk"))) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.released for r in reports) == 120 and count(a, QueuedRequest) == 120
    assert count(a, AuditEvent, AuditEvent.kind == "released") == 120
    assert [r.failed for r in reports] == [[], []]  # (one the other press did first: elsewhere, not a failure)
    assert all(r.released + r.elsewhere <= 120 for r in reports)


def test_release_all_counts_what_another_press_did_meanwhile_not_as_failures(tmp_path, db_url):
    """A chunk's documents are read once the chunk is locked: one another press (or clerk) released meanwhile is
    counted as done elsewhere, not reported as a failure nor tried again."""
    import threading
    import time

    from sqlalchemy import update

    from connector import views
    from tests.support.builders import interchange

    rt = runtime(tmp_path, db_url, suppliers={})
    rt.ingest.ingest(interchange([f"INV-{n}" for n in range(5)]), source="inbox", remote_id="a.edi", name="a.edi")
    rt2 = runtime(tmp_path, db_url)
    with rt2.store.session() as s:
        ids = list(s.scalars(select(Document.id).order_by(Document.id)))
    reports = []
    with rt2.store.session() as s:  # another press, half way: two of the five released, not committed yet
        s.execute(update(Document).where(Document.id.in_(ids[:2])).values(status=DocStatus.QUEUED))
        t = threading.Thread(target=lambda: reports.append(rt2.ingest.release_all(
            views.review_filter(settings=rt2.settings), by="bob")))
        t.start()
        time.sleep(1.0)
    t.join(30)
    [r] = reports
    assert (r.matched, r.released, r.elsewhere, r.failed, r.counts) == (5, 3, 2, [], {"queued": 3})
    assert "2 had been released meanwhile by someone else." in views.release_summary(r)
