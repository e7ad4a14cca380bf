"""CleoSource as a qbedi Source against the live emulator: paging, downloads, acknowledge, upload, test_connection
(its settings and the ST classifier on their own: tests/unit/test_cleo_offline.py)."""
from __future__ import annotations

import os

import pytest

from cleo_client import (
    CleoActionError,
    CleoApiPaths,
    CleoNotFoundError,
    CleoProtocolError,
    CleoSettings,
    CleoSource,
    CleoTruncatedDownloadError,
    CleoUnavailableError,
)
from connector.credentials import Credentials
from connector.sources import RemoteFile, SourceError
from fakes.cleo import CleoEmulator
from tests.support.cleo import PW, USER, x12_with as x12


@pytest.fixture
def emu():
    with CleoEmulator(users={USER: PW}) as e:
        yield e


def make_source(emu, **overrides) -> CleoSource:
    kw = dict(base_url=emu.api_url, connections=["ACME"], backoff_factor=0.01, backoff_jitter=0.0, retries=2)
    kw.update(overrides)
    return CleoSource("cleo", CleoSettings(**kw), Credentials(USER, PW))


def test_pagination_across_pages(emu):
    ids = {emu.add_file("ACME", f"f{i:02}.edi", x12("810", control=f"{i:09}")) for i in range(25)}
    src = make_source(emu, page_size=10)
    files = list(src.list_new())
    assert len(files) == 25
    assert {f.meta["file_id"] for f in files} == ids
    assert all(f.source == "cleo" and f.size == len(x12("810")) for f in files)
    pages = [p for (_m, p, _s) in emu.requests if "/incoming?" in p]
    assert [p.split("startIndex=")[1].split("&")[0] for p in pages] == ["0", "10", "20"]


def test_duplicate_listing_is_yielded_twice_dedup_is_callers(emu):
    ids = [emu.add_file("ACME", f"f{i}.edi", x12("850")) for i in range(12)]
    emu.list_twice(ids[3])  # appears on page 1 and again at the end (page 2)
    src = make_source(emu, page_size=10)
    files = list(src.list_new())
    assert len(files) == 13
    dup = [f for f in files if f.meta["file_id"] == ids[3]]
    assert len(dup) == 2 and dup[0] == dup[1]  # same source + remote_id -> the ingest service dedups
    assert len({f.remote_id for f in files}) == 12


def test_fetch_classifies_by_st_segment_not_name(emu):
    emu.add_file("ACME", "INVOICE_810.txt", x12("856"))
    src = make_source(emu)
    (f,) = list(src.list_new())
    data = src.fetch(f)
    assert data == x12("856")
    assert f.meta["transaction_sets"] == ["856"]
    assert len(f.meta["sha256"]) == 64


def test_fetch_works_from_remote_id_alone(emu):
    emu.add_file("ACME", "a.edi", x12("810"))
    src = make_source(emu)
    (f,) = list(src.list_new())
    rebuilt = RemoteFile(f.source, f.remote_id, f.name, f.size)  # e.g. after a restart, meta lost
    assert src.fetch(rebuilt) == x12("810")


def test_fetch_uses_content_link_when_advertised():
    with CleoEmulator(users={USER: PW}, content_links=True) as emu:
        emu.add_file("ACME", "a.edi", x12("810"))
        src = make_source(emu)
        (f,) = list(src.list_new())
        assert src.fetch(f) == x12("810")


def test_truncated_download_raises_and_returns_nothing(emu, tmp_path):
    fid = emu.add_file("ACME", "big.edi", x12("810") * 200)
    src = make_source(emu, temp_dir=str(tmp_path))
    (f,) = list(src.list_new())
    emu.truncate_next_download(keep_bytes=1000)
    with pytest.raises(CleoTruncatedDownloadError, match="nothing was stored"):
        src.fetch(f)
    assert os.listdir(tmp_path) == []  # the temp file is gone
    assert "transaction_sets" not in f.meta
    assert [x["id"] for x in emu.files("ACME")] == [fid]  # still at Cleo
    assert src.fetch(f) == x12("810") * 200  # next attempt is fine


def test_size_mismatch_with_record_is_an_error(emu):
    emu.add_file("ACME", "a.edi", x12("810"))
    src = make_source(emu)
    (f,) = list(src.list_new())
    wrong = RemoteFile(f.source, f.remote_id, f.name, f.size + 5)
    with pytest.raises(CleoTruncatedDownloadError, match="record says"):
        src.fetch(wrong)


def test_download_route_answering_json_is_reported_as_wrong_assumption(emu):
    emu.add_file("ACME", "a.edi", x12("810"))
    # point the download at the listing route, which answers JSON
    src = make_source(emu, paths=CleoApiPaths(incoming_file="/connections/{connection_id}/incoming"))
    (f,) = list(src.list_new())
    with pytest.raises(CleoProtocolError, match="download route"):
        src.fetch(f)


def test_max_file_bytes(emu):
    emu.add_file("ACME", "a.edi", x12("810"))
    src = make_source(emu, max_file_bytes=100)
    (f,) = list(src.list_new())
    with pytest.raises(SourceError, match="max_file_bytes"):
        src.fetch(f)


def test_acknowledge_delete(emu):
    ids = [emu.add_file("ACME", f"f{i}.edi", x12("810")) for i in range(3)]
    src = make_source(emu, acknowledge="delete")
    for f in src.list_new():
        src.fetch(f)
        src.acknowledge(f)
    assert emu.consumed == ids
    assert emu.files("ACME") == []
    src.acknowledge(f)  # already gone: no error (idempotent after a crash)
    assert list(src.list_new()) == []


def test_acknowledge_archive_runs_action_per_file(emu):
    emu.add_action("archive-processed", "ACME", kind="archive")
    ids = [emu.add_file("ACME", f"f{i}.edi", x12("810")) for i in range(2)]
    src = make_source(emu, acknowledge="archive", archive_action="archive-processed")
    for f in src.list_new():
        src.acknowledge(f)
    assert emu.consumed == ids
    assert emu.archived == {"ACME": ["f0.edi", "f1.edi"]}
    assert emu.action_runs[0] == {"action": "archive-processed", "body": {"file": "f0.edi", "fileId": ids[0]}}


def test_acknowledge_none_leaves_files(emu):
    emu.add_file("ACME", "a.edi", x12("810"))
    src = make_source(emu)  # default acknowledge: none
    (f,) = list(src.list_new())
    src.acknowledge(f)
    assert emu.consumed == [] and len(emu.files("ACME")) == 1


def test_receive_action_runs_before_listing(emu):
    emu.add_action("poll-partner", "ACME", kind="receive")
    emu.add_pending("ACME", "new.edi", x12("856"))
    src = make_source(emu, receive_action="poll-partner")
    files = list(src.list_new())
    assert [f.name for f in files] == ["new.edi"]
    assert emu.action_runs == [{"action": "poll-partner", "body": {}}]


def test_failing_receive_action_does_not_block_other_connections(emu):
    emu.add_action("poll", "ACME", kind="fail")
    emu.add_action("poll", "OTHER", kind="receive")
    emu.add_file("OTHER", "b.edi", x12("810"))
    src = make_source(emu, connections=["ACME", "OTHER"], receive_action="poll")
    got = []
    with pytest.raises(SourceError, match="ACME.*did not succeed.*Connection refused by partner"):
        for f in src.list_new():
            got.append(f.name)
    assert got == ["b.edi"]


def test_unknown_alias(emu):
    src = make_source(emu, connections=["NOPE"])
    with pytest.raises(SourceError, match="no Cleo connection with alias 'NOPE'"):
        list(src.list_new())
    with pytest.raises(CleoNotFoundError):
        src.client.resolve_connection("NOPE")


def test_upload_when_enabled(emu):
    emu.add_connection("ACME")
    src = make_source(emu, upload_acks=True)
    src.upload("997_000000001.edi", x12("997"))
    assert emu.uploads == [{"id": emu.uploads[0]["id"], "connection_alias": "ACME",
                            "name": "997_000000001.edi", "content": x12("997")}]


def test_upload_disabled_by_default(emu):
    emu.add_connection("ACME")
    src = make_source(emu)
    src.upload("997.edi", b"x")
    assert emu.uploads == []


def test_upload_with_send_action_and_explicit_connection(emu):
    emu.add_connection("ACME")
    emu.add_action("send-out", "OTHER", kind="send")
    src = make_source(emu, upload_acks=True, send_action="send-out")
    src.upload_to("OTHER", "997.edi", b"ISA...")
    assert emu.uploads[0]["connection_alias"] == "OTHER"
    assert emu.action_runs == [{"action": "send-out", "body": {}}]


def test_upload_post_is_not_retried_on_500(emu):
    emu.add_connection("ACME")
    src = make_source(emu, upload_acks=True, retries=3)
    list(src.list_new())  # GETs still retry
    emu.fail_next(500, times=3, path_contains="/outgoing")
    with pytest.raises(CleoUnavailableError, match="HTTP 500"):
        src.upload("997.edi", b"ISA...")
    assert [st for (m, p, st) in emu.requests if "/outgoing" in p] == [500]
    emu.fail_next(500, times=1, path_contains="/incoming")
    list(src.list_new())  # other routes keep retrying after the upload mount
    assert [st for (m, p, st) in emu.requests if "/incoming" in p][-2:] == [500, 200]


def test_test_connection_reports_and_writes_nothing(emu):
    emu.add_action("poll", "ACME", kind="receive")
    emu.add_pending("ACME", "p.edi", x12("810"))
    for i in range(3):
        emu.add_file("ACME", f"f{i}.edi", x12("810"))
    before = emu.snapshot()
    src = make_source(emu, connections=["ACME", "MISSING"], receive_action="poll", acknowledge="delete")
    rep = src.test_connection()
    assert emu.snapshot() == before
    assert all(m in ("GET", "POST") for (m, _p, _s) in emu.requests)
    assert [p for (m, p, _s) in emu.requests if m == "POST"] == ["/api/authentication"]
    assert rep.authenticated and not rep.ok
    assert rep.server_version == "5.8.0.24" and not rep.vulnerable
    acme, missing = rep.connections
    assert acme.found and acme.inbound_files == 3 and acme.type == "sftp"
    assert not missing.found and "MISSING" in missing.error
    assert rep.actions == {"poll": "found"}
    assert any("NOT OK" in line for line in rep.lines())
    assert rep.as_dict()["user"] == USER


def test_test_connection_wrong_password_reports_error(emu):
    src = CleoSource("cleo", CleoSettings(base_url=emu.api_url, connections=["ACME"]), Credentials(USER, "bad-pw-1"))
    rep = src.test_connection()
    assert not rep.ok and not rep.authenticated
    assert rep.error_type == "CleoAuthError" and "rejected the username/password" in rep.error
    assert emu.token_requests == 1


def test_test_connection_vulnerable_version():
    with CleoEmulator(users={USER: PW}, server_version="Cleo VLTrader/5.8.0.21 (Windows)") as emu:
        emu.add_connection("ACME")
        rep = make_source(emu).test_connection()
    assert rep.ok and rep.vulnerable
    assert any("CVE-2024-55956" in w for w in rep.warnings)


def test_no_connections_configured(emu):
    src = make_source(emu, connections=[])
    with pytest.raises(SourceError, match="no connections configured"):
        list(src.list_new())


def test_fetch_to_file_streams_atomically(emu, tmp_path):
    emu.add_file("ACME", "a.edi", x12("810") * 50)
    src = make_source(emu)
    (f,) = list(src.list_new())
    dl = src.fetch_to_file(f, tmp_path / "a.edi")
    assert (tmp_path / "a.edi").read_bytes() == x12("810") * 50 and dl.length == len(x12("810")) * 50
    emu.truncate_next_download()
    with pytest.raises(CleoTruncatedDownloadError):
        src.fetch_to_file(f, tmp_path / "b.edi")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.edi"]


def test_demo_seed_from_samples(samples_dir):
    with CleoEmulator(users={"demo": "demo-pass"}) as emu:
        ids = emu.seed_from_folder(samples_dir, "DEMO-SUPPLIER")
        src = CleoSource("cleo", emu.client_settings(page_size=50), Credentials("demo", "demo-pass"))
        files = list(src.list_new())
        assert len(files) == len(ids) >= 80
        kinds = {src.fetch(f) and f.meta["transaction_sets"][0] for f in files[:40]}
        assert {"810", "850"} <= kinds


def test_permission_failures_keep_their_class(emu):
    emu.add_connection("ACME")
    src = make_source(emu)
    emu.fail_next(403, times=1, path_contains="/connections")
    from cleo_client import CleoPermissionError

    with pytest.raises(CleoPermissionError, match="ACME.*not permitted"):
        list(src.list_new())


def test_credentials_loaded_lazily_and_errors_are_source_errors(emu):
    from connector.credentials import CredentialNotFound

    emu.add_file("ACME", "a.edi", x12("810"))
    calls = []

    def load():
        calls.append(1)
        return Credentials(USER, PW)

    src = CleoSource("cleo", CleoSettings(base_url=emu.api_url, connections=["ACME"]), load)
    assert calls == [] and emu.token_requests == 0
    assert len(list(src.list_new())) == 1 and calls == [1]
    list(src.list_new())
    assert calls == [1]

    def missing():
        raise CredentialNotFound("no credentials named 'cleo'; store them with `qbedi credentials set cleo`")

    bad = CleoSource("cleo", CleoSettings(base_url=emu.api_url, connections=["ACME"]), missing)
    with pytest.raises(SourceError, match="qbedi credentials set cleo"):
        list(bad.list_new())
    rep = bad.test_connection()
    assert not rep.ok and "qbedi credentials set cleo" in rep.error


def test_a_connection_made_again_in_cleo_is_found_again_by_its_alias(emu):
    """Seen: the Cleo administrator re-created a connection (same alias, new id); the source kept asking the
    old id's inbox (404) and failed until qbedi was restarted, while test-connection said OK."""
    emu.add_file("ACME", "one.edi", x12("810", control="000000001"))
    src = make_source(emu)
    [first] = list(src.list_new())
    new_id = emu.recreate_connection("ACME")
    assert new_id != first.meta["connection_id"]
    emu.add_file("ACME", "two.edi", x12("810", control="000000002"))
    [second] = list(src.list_new())
    assert (second.name, second.meta["connection_id"]) == ("two.edi", new_id)
