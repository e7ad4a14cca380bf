"""A source with nowhere to send 997s keeps them; they are never recorded as sent (issue 11, defect 7)."""
from __future__ import annotations

from sqlalchemy import select

from connector.settings import load_settings
from connector.sources import FolderSource
from connector.status import AckState
from connector.store import AuditEvent, OutboundAck
from qbedi.runtime import build_runtime
from tests.support.builders import x12_file, write_config


def test_a_folder_source_without_an_outbox_keeps_its_997s(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)), with_sources=False)
    try:
        inbox = tmp_path / "inbox"
        (inbox / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
        report = rt.ingest.poll(FolderSource("inbox", inbox))  # no outbox
        assert report.fetched[0].ack is None and report.acks_resent == 0
        with rt.store.session() as s:
            (ack,) = s.scalars(select(OutboundAck))
            kinds = [e.kind for e in s.scalars(select(AuditEvent).where(AuditEvent.kind.like("ack_%")))]
        assert ack.state == AckState.KEPT and ack.content.startswith(b"ISA")
        assert kinds == ["ack_kept"]  # before: "ack_sent", for a 997 written nowhere
        rt.ingest.poll(FolderSource("inbox", inbox))  # a kept 997 is not retried on later polls
        with rt.store.session() as s:
            assert [a.state for a in s.scalars(select(OutboundAck))] == [AckState.KEPT]
    finally:
        rt.close()
