"""Every file accounted for (issue 10): a verdict for every received file, failures visible at once and
retried, 997s for resumed files, sent once, never burned by an outage; half-written files left alone."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

import connector.services as services_mod
from connector import lifecycle
from connector.services import file_counts, file_page
from connector.settings import load_settings
from connector.sources import FolderSource, RemoteFile, SourceError, SourceUnavailable
from connector.status import AckState, FileStatus
from connector.store import AuditEvent, OutboundAck, ReceivedFile, utcnow
from qbedi.runtime import build_runtime
from tests.support.builders import write_config, x12_file

JUNK = {
    "empty.edi": b"",
    "blank.edi": b"  \r\n\t ",
    "scan.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj",
    "notes.txt": b"Please find attached our invoice 123. Regards, Acme",
    "sheet.xlsx": b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(200)),
    "noise.bin": bytes((i * 37) % 256 for i in range(300)),
}


@pytest.fixture
def rt(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)), with_sources=False)
    yield rt
    rt.close()


class Outbox(FolderSource):
    """A folder source with an outbox whose uploads can fail on demand."""

    def __init__(self, path, *, failures=(), **kw):
        super().__init__("inbox", path, outbox=path.parent / "outbox", **kw)
        self.failures, self.uploads = list(failures), []

    def upload(self, name, content):
        if self.failures:
            raise self.failures.pop(0)
        self.uploads.append(name)
        super().upload(name, content)


def test_every_file_ends_with_a_verdict_a_person_can_read(rt, tmp_path):
    inbox = tmp_path / "inbox"
    for name, data in JUNK.items():
        (inbox / name).write_bytes(data)
    (inbox / "good.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    report = rt.ingest.poll(FolderSource("inbox", inbox))
    assert report.listed == 7 and not report.errors
    page = file_page(rt.store)
    verdicts = {f["name"]: f["verdict"] for f in page.rows}
    assert verdicts == {"empty.edi": "empty", "blank.edi": "empty", "scan.pdf": "not_x12", "notes.txt": "not_x12",
                        "sheet.xlsx": "not_x12", "noise.bin": "not_x12", "good.edi": "parsed"}
    reasons = {f["name"]: f["reason"] for f in page.rows}
    assert "a PDF" in reasons["scan.pdf"] and "spreadsheet" in reasons["sheet.xlsx"] and "text" in reasons["notes.txt"]
    assert page.total == 7 and file_counts(rt.store) == {"empty": 2, "not_x12": 4, "parsed": 1}
    assert [f["name"] for f in file_page(rt.store, verdict="not_x12").rows] == \
        ["noise.bin", "notes.txt", "scan.pdf", "sheet.xlsx"]  # read in name order
    first = file_page(rt.store, limit=2)
    assert len(first.rows) == 2 and first.total == 7 and not first.complete


def test_a_file_whose_translation_raises_is_failed_at_once_and_retried_a_bounded_number_of_times(
        rt, tmp_path, monkeypatch):
    real, calls = services_mod.translate_set, []

    def flaky(*a, **kw):
        calls.append(1)
        if len(calls) <= 4:
            raise RuntimeError("mapping service hiccup")
        return real(*a, **kw)

    monkeypatch.setattr(services_mod, "translate_set", flaky)
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    (inbox / "b.edi").write_bytes(x12_file("acme_INV-10046.edi"))
    report = rt.ingest.poll(FolderSource("inbox", inbox))
    assert [f.error for f in report.fetched] == ["RuntimeError: mapping service hiccup"] * 2  # b not blocked by a
    rows = {f["name"]: f for f in file_page(rt.store).rows}
    assert rows["a.edi"]["verdict"] == "failed" and rows["a.edi"]["attempts"] == 1  # visible now, no restart
    rt.ingest.poll(FolderSource("inbox", inbox))  # the next poll tries both again: both fail again
    rt.ingest.poll(FolderSource("inbox", inbox))  # third try: translation works now
    rows = {f["name"]: f for f in file_page(rt.store).rows}
    assert rows["a.edi"]["verdict"] == "parsed" and rows["b.edi"]["verdict"] == "parsed"
    assert [d["status"] for d in rows["a.edi"]["documents"]] == ["queued"]


def test_a_file_that_keeps_failing_is_given_up_after_three_tries(rt, tmp_path, monkeypatch):
    monkeypatch.setattr(services_mod, "translate_set", lambda *a, **kw: 1 / 0)
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    for _ in range(5):
        rt.ingest.poll(FolderSource("inbox", inbox))
    with rt.store.session() as s:
        f = s.scalars(select(ReceivedFile)).one()
        events = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "file_failed"))]
    assert f.status == FileStatus.FAILED and f.attempts == 3 and "ZeroDivisionError" in f.error
    assert len(events) == 3 and events[-1]["message"].startswith("given up")

    # the bug is fixed (an upgrade): a person tries the given-up file again, by its number
    monkeypatch.undo()
    from qbedi.cli import main

    cfg = str(tmp_path / "qbedi.yaml")
    assert main(["retry-file", str(f.id), "--config", cfg]) == 0
    with rt.store.session() as s:
        f = s.scalars(select(ReceivedFile)).one()
        documents = len(f.documents)
        retried = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "file_retry"))]
    assert f.status == FileStatus.PARSED and documents == 1 and retried and retried[0]["by"]
    assert main(["retry-file", str(f.id), "--config", cfg]) == 1  # parsed now: nothing to retry, in words


def test_a_file_translated_after_a_crash_gets_its_997(rt, tmp_path):
    """Stored, then the process died before translating it: the next poll translates it and sends its 997
    (before: the 997 row was made only by the poll that fetched the file, so it never came)."""
    rt.ingest.receive(x12_file("acme_INV-10045.edi"), source="inbox", remote_id="a.edi", name="a.edi")
    src = Outbox(tmp_path / "inbox")
    report = rt.ingest.poll(src)
    assert report.acks_resent == 1 and len(src.uploads) == 1
    assert (tmp_path / "outbox" / src.uploads[0]).read_bytes().startswith(b"ISA")


def test_a_997_another_process_is_sending_is_not_sent_twice(rt, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    src = Outbox(inbox, failures=[SourceError("partner connection busy")])
    rt.ingest.poll(src)  # refused once: pending
    with rt.store.session() as s:
        ack = s.scalars(select(OutboundAck)).one()
        assert lifecycle.claim_ack(s, ack, seconds=300)  # another process (poll --once beside run) takes it
    assert rt.ingest.retry_acks(src) == 0 and src.uploads == []
    with rt.store.session() as s:
        ack = s.scalars(select(OutboundAck)).one()
        assert not lifecycle.claim_ack(s, ack, seconds=300)  # still held
        lifecycle.release_ack(ack)  # ... until the other one lets go (or its claim runs out)
    assert rt.ingest.retry_acks(src) == 1 and len(src.uploads) == 1


def test_an_outage_costs_a_997_no_try_but_a_refusal_does(rt, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    src = Outbox(inbox, failures=[SourceUnavailable("Cleo down"), OSError("share gone"), SourceUnavailable("down"),
                                  SourceError("refused: no such partner")])
    rt.ingest.poll(src)
    for _ in range(3):
        rt.ingest.retry_acks(src)
    with rt.store.session() as s:
        ack = s.scalars(select(OutboundAck)).one()
        assert ack.state == AckState.PENDING and ack.attempts == 1 and "refused" in ack.last_error
    assert rt.ingest.retry_acks(src) == 1


def test_a_half_written_file_is_read_only_once_complete(rt, tmp_path):
    inbox = tmp_path / "inbox"
    data = x12_file("acme_INV-10045.edi")
    done = threading.Event()

    def slow_writer():  # a partner's upload arriving in pieces over ~1.2 s
        with open(inbox / "slow.edi", "wb") as f:
            for i in range(0, len(data), 50):
                f.write(data[i:i + 50])
                f.flush()
                time.sleep(0.1)
        done.set()

    src = FolderSource("inbox", inbox, settle_seconds=0.6)
    writer = threading.Thread(target=slow_writer)
    writer.start()
    while not done.is_set():
        report = rt.ingest.poll(src)
        assert report.fetched == [] and report.settling in ([], ["slow.edi"])
        time.sleep(0.05)
    writer.join()
    assert rt.ingest.poll(src).settling == ["slow.edi"]  # just finished: not yet
    time.sleep(0.7)
    report = rt.ingest.poll(src)
    [out] = report.fetched
    assert out.error is None and [d.status for d in out.documents] == ["queued"]


def test_a_writer_that_stalls_longer_than_settle_seconds_is_not_read_half_written(rt, tmp_path):
    """A partner's upload pauses for longer than settle_seconds: an interchange without its IEA waits."""
    import os

    inbox = tmp_path / "inbox"
    data = x12_file("acme_INV-10045.edi")
    cut = data.index(b"IT1*2")
    (inbox / "stalled.edi").write_bytes(data[:cut])
    old = time.time() - 30
    os.utime(inbox / "stalled.edi", (old, old))  # unchanged for 30 s: settled, but it has no IEA
    src = FolderSource("inbox", inbox, settle_seconds=1)
    report = rt.ingest.poll(src)
    assert report.fetched == [] and report.settling == ["stalled.edi"]
    assert report.settling_why["stalled.edi"].startswith("its interchange has no IEA yet")  # (not "changed in the
    assert "if still unchanged at " in report.settling_why["stalled.edi"]  # last seconds": seen, minutes after)
    from connector import control

    assert "1 waiting for their writer to finish (stalled.edi)" in control.history(rt.store)[0]["message"]
    (inbox / "stalled.edi").write_bytes(data)  # the writer comes back and finishes
    os.utime(inbox / "stalled.edi", (old, old))
    [out] = rt.ingest.poll(src).fetched
    assert [d.status for d in out.documents] == ["queued"]


def test_a_newline_terminated_or_unpadded_interchange_is_complete_when_its_iea_is_there(tmp_path):
    """Seen: a third of the public corpus (new-line terminators, ISAs without their padding) waited the
    whole incomplete_wait though each ended with its IEA."""
    import os

    from connector.sources import _unfinished_interchange

    data = x12_file("acme_INV-10045.edi").decode()
    variants = {"newline.edi": data.replace("~", "\n"), "crlf.edi": data.replace("~", "~\r\n"),
                "unpadded.edi": data.replace("ACMESUPPLY     ", "ACMESUPPLY").replace("NORTHWIND      ", "NORTHWIND"),
                "no-final-terminator.edi": data.rstrip().rstrip("~")}
    for name, text in variants.items():
        (tmp_path / name).write_text(text)
        assert not _unfinished_interchange(tmp_path / name, os.path.getsize(tmp_path / name)), name
        cut = text[:text.index("IT1*2")]
        (tmp_path / ("cut-" + name)).write_text(cut)
        assert _unfinished_interchange(tmp_path / ("cut-" + name), len(cut)), name


def test_an_interchange_that_never_gets_its_iea_is_taken_after_the_wait_and_kept(rt, tmp_path):
    import os

    inbox = tmp_path / "inbox"
    data = x12_file("acme_INV-10045.edi")
    (inbox / "abandoned.edi").write_bytes(data[:data.index(b"GE*")])
    old = time.time() - 3600
    os.utime(inbox / "abandoned.edi", (old, old))
    src = FolderSource("inbox", inbox, settle_seconds=1, incomplete_wait_seconds=600)
    [out] = rt.ingest.poll(src).fetched  # waited long enough: taken as it is, and judged
    assert out.documents and all(d.status == "rejected" for d in out.documents)
    (inbox / "text.txt").write_bytes(b"not x12 at all")  # not X12: never waited for
    (inbox / "isa-only.edi").write_bytes(data[:60])
    for name in ("text.txt", "isa-only.edi"):
        os.utime(inbox / name, (old + 3500, old + 3500))  # 100 s old
    report = rt.ingest.poll(src)
    assert [f.name for f in report.fetched] == ["text.txt"] and report.settling == ["isa-only.edi"]


def test_a_file_that_changes_while_it_is_read_is_not_stored(rt, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi")[:200])
    src = FolderSource("inbox", inbox, incomplete_wait_seconds=0)  # (a part without its IEA would wait)
    [remote] = list(src.list_new())
    time.sleep(0.01)
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    with pytest.raises(SourceError, match="changed while it was read"):
        src.fetch(remote)


class TwoPartnerSource:
    """Cleo-like: files come in on partner connections; 997s go back with upload_to(connection)."""

    name = "cleo"
    sends_acks = True

    def __init__(self, files):
        self.files = files  # remote_id -> (bytes, connection alias)
        self.settings = SimpleNamespace(upload_acks=True)
        self.uploads: list[tuple[str, str]] = []

    def list_new(self):
        for rid, (data, conn) in list(self.files.items()):
            yield RemoteFile(self.name, rid, rid.split("/")[-1], len(data), meta={"connection_alias": conn})

    def fetch(self, remote):
        return self.files[remote.remote_id][0]

    def acknowledge(self, remote):
        self.files.pop(remote.remote_id, None)

    def upload(self, name, content):  # CleoSource.upload: the configured default connection
        self.uploads.append(("ACME-AS2", name))

    def upload_to(self, alias, name, content):
        self.uploads.append((alias, name))


def test_997_of_a_retried_file_goes_back_to_its_own_partner(tmp_path, db_url, monkeypatch):
    """A file whose first translation raised (or that was resumed after a crash) is translated by a later
    poll; its 997 goes back to the partner connection it came in on, not to the source's default."""
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)), with_sources=False)
    try:
        real = services_mod.translate_set
        calls = {"n": 0}

        def flaky(*a, **kw):  # the first translation raises (a bug, the database blinked...)
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("boom")
            return real(*a, **kw)

        monkeypatch.setattr(services_mod, "translate_set", flaky)
        src = TwoPartnerSource({"c2/f1/globex.edi": (x12_file("acme_INV-10045.edi"), "GLOBEX-SFTP")})
        first = rt.ingest.poll(src)
        assert first.fetched[0].error  # failed, will be retried
        rt.ingest.poll(src)  # resume() translates it; retry_acks sends its 997
        assert src.uploads, "no 997 was sent at all"
        assert src.uploads == [("GLOBEX-SFTP", src.uploads[0][1])], src.uploads
    finally:
        rt.close()


def test_second_sender_after_claim_expiry_does_not_crash_the_first(tmp_path, db_url):
    """An upload that outlives its claim is taken and sent by a second process; the first then finds it
    sent, which is not an error (before: IllegalTransition sent -> sent out of poll())."""
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)), with_sources=False)
    try:
        inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
        (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
        down = FolderSource("inbox", inbox, outbox=tmp_path / "nowhere")
        (tmp_path / "nowhere").write_text("a file where the outbox folder should be")  # upload refused (OSError)
        rt.ingest.poll(down)  # the 997 stays pending
        with rt.store.session() as s:
            (ack,) = s.scalars(select(OutboundAck))
            assert ack.state == AckState.PENDING

        uploads = []

        class Slow(FolderSource):
            def upload(self, name, content):  # this process is slow; meanwhile its claim runs out and
                uploads.append(name)          # another process sends the same 997
                if len(uploads) == 1:
                    with rt.store.session() as s:
                        s.execute(update(OutboundAck).values(claimed_until=utcnow() - timedelta(seconds=1)))
                    rt.ingest._deliver_ack(FolderSource("inbox", inbox, outbox=outbox), ack.id)
                super().upload(name, content)

        rt.ingest.retry_acks(Slow("inbox", inbox, outbox=outbox))  # raises IllegalTransition today
        with rt.store.session() as s:
            assert s.get(OutboundAck, ack.id).state == AckState.SENT
    finally:
        rt.close()


def test_a_slow_big_file_takes_its_time_slice_and_the_files_behind_it_go_first(tmp_path, db_url):
    """One file's slowness never blocks the files after it: past file_time_slice what is done is kept
    (committed), the next files are translated, and the next poll carries on where it stopped."""
    from itertools import count

    settings = load_settings(write_config(tmp_path, db_url, file_time_slice="5s"))
    rt = build_runtime(settings, with_sources=False)
    ticks = count()
    rt.ingest._clock = lambda: float(next(ticks))  # every look at the clock: one second later
    base = x12_file("acme_INV-10045.edi").decode()
    head, rest = base.split("ST*810*0001~", 1)
    body = rest.split("SE*16*0001~", 1)[0]
    isa, gs = head.split("~")[:2]
    sets = "".join(f"ST*810*{k:04d}~" + body.replace("INV-10045", f"BIG-{k}") + f"SE*16*{k:04d}~"
                   for k in range(1, 31))
    inbox = tmp_path / "inbox"
    (inbox / "a-big.edi").write_bytes(f"{isa}~{gs}~{sets}GE*30*101~IEA*1*000000101~".encode())
    (inbox / "b-small.edi").write_bytes(x12_file("acme_INV-10046.edi"))
    try:
        report = rt.ingest.poll(FolderSource("inbox", inbox))
        big, small = sorted(report.fetched, key=lambda o: o.name)
        assert big.unfinished is not None and 0 < big.unfinished[0] < 30 and big.unfinished[1] == 30
        assert [d.status for d in small.documents] == ["queued"]  # not blocked behind the big file
        for _ in range(20):
            rows = {f["name"]: f for f in file_page(rt.store).rows}
            if rows["a-big.edi"]["verdict"] == "parsed":
                break
            rt.ingest.poll(FolderSource("inbox", inbox))  # each poll carries on (resume) for its slice
        rows = {f["name"]: f for f in file_page(rt.store).rows}
        assert rows["a-big.edi"]["verdict"] == "parsed"
        from connector.store import Document

        assert rows["a-big.edi"]["document_count"] == 30
        with rt.store.session() as s:
            numbers = s.scalars(select(Document.document_number).where(Document.file_id == rows["a-big.edi"]["id"]))
            assert sorted(numbers) == sorted(f"BIG-{k}" for k in range(1, 31))  # every set once
            assert len(s.scalars(select(OutboundAck)).all()) == 2  # one 997 per file
    finally:
        rt.close()


def test_a_file_moved_away_by_another_poll_between_the_check_and_the_move_is_done_already(tmp_path, monkeypatch):
    """Seen in CI under load: three polls at once, one moved the file between another's exists() and its
    move, and that poll logged a FileNotFoundError traceback."""
    import shutil as shutil_mod

    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "a.edi").write_bytes(b"x")
    src = FolderSource("inbox", inbox)
    [remote] = list(src.list_new())
    real_move = shutil_mod.move

    def move_after_the_other_poll(a, b):
        real_move(a, b)  # the other poll wins the race ...
        return real_move(a, b)  # ... and ours finds nothing to move

    monkeypatch.setattr(shutil_mod, "move", move_after_the_other_poll)
    src.acknowledge(remote)  # no error
    assert (inbox / "processed" / "a.edi").exists() and not (inbox / "a.edi").exists()


def test_a_source_is_polled_by_one_process_at_a_time(rt, tmp_path):
    """A lease per source (PostgreSQL advisory lock / a lock file beside SQLite): while another process
    polls the inbox, a poll here leaves it alone and says so; afterwards it polls as usual."""
    import multiprocessing as mp

    from connector.leases import poll_lease

    inbox = tmp_path / "inbox"
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    ctx = mp.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_lease, args=(rt.settings.database_url, "inbox", held, release))
    other.start()
    try:
        assert held.wait(30)
        report = rt.ingest.poll(FolderSource("inbox", inbox))
        assert report.elsewhere and report.fetched == [] and (inbox / "a.edi").exists()
        with poll_lease(rt.store, "other-source") as mine:
            assert mine  # another source is free
    finally:
        release.set()
        other.join(30)
    report = rt.ingest.poll(FolderSource("inbox", inbox))
    assert not report.elsewhere and len(report.fetched) == 1


def _hold_lease(url, source, held, release):
    from connector.leases import poll_lease
    from connector.store import Store

    store = Store(url)
    with poll_lease(store, source) as mine:
        assert mine
        held.set()
        release.wait(30)
    store.dispose()


def test_an_inbox_qbedi_cannot_move_files_out_of_is_failing_and_never_fills_up_with_copies(rt, tmp_path):
    """Seen (a read-only inbox): every poll left one more identical copy in processed/ (the move fell back to
    copy, then could not delete), and the source said OK. (Here processed/ is a file, so nothing can be moved
    into it: the same refusal, for root too.)"""
    from connector import control
    from connector.store import Document

    inbox = tmp_path / "inbox"
    (inbox / "processed").write_text("not a folder")
    (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    src = FolderSource("inbox", inbox)
    reports = [rt.ingest.poll(src) for _ in range(3)]
    assert all("cannot move a.edi to" in r.errors[0] and "check its permissions" in r.errors[0] for r in reports)
    assert sorted(p.name for p in inbox.iterdir()) == ["a.edi", "processed"]  # no copy anywhere
    assert (inbox / "processed").read_text() == "not a folder"
    with rt.store.session() as s:  # the file was stored once, and its invoice translated (nothing lost)
        assert s.scalars(select(Document.document_number)).all() == ["INV-10045"]
        assert len(s.scalars(select(ReceivedFile.id)).all()) == 1
    [last] = control.history(rt.store, scope="source", name="inbox", limit=1)
    assert last["kind"] == "poll_failed" and "cannot move a.edi" in last["message"]
