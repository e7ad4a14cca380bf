"""A new admin's and AP clerk's first hour, through the real `qbedi` command (issue 10): no traceback
for a person's mistake, every file visible, messages that say what to do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.builders import write_config, x12_file

EXE = str(Path(sys.executable).with_name("qbedi"))


def qbedi(*args, cwd=None, env=None, input=None) -> subprocess.CompletedProcess:
    run_env = {**os.environ, "QBEDI_QBWC_PASSWORD": "first-hour-pw", **(env or {})}
    run_env.pop("QBEDI_CONFIG", None)
    p = subprocess.run([EXE, *args], cwd=cwd, env=run_env, input=input, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    return p


def test_a_new_workspace_passes_check_for_any_user_name_and_maps_nobody(tmp_path):
    ws = tmp_path / "ws"
    p = qbedi("init", str(ws), "--user", "Jane's Books 2")
    assert p.returncode == 0, p.stderr
    assert qbedi("check", "--config", str(ws / "qbedi.yaml")).returncode == 0
    suppliers = (ws / "suppliers.yaml").read_text()
    assert all(not line.strip() or line.startswith("#") for line in suppliers.splitlines())  # a template only
    assert "ACMESUPPLY" in suppliers  # the example is there to copy from


def test_no_configuration_found_says_where_it_looked_and_creates_nothing(tmp_path):
    p = qbedi("documents", cwd=tmp_path)
    assert p.returncode == 2 and "no configuration found" in p.stderr and str(tmp_path) in p.stderr
    assert not (tmp_path / "qbedi.db").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url, words, hint", [
    ("postgresql+psycopg://bob:s3cret@127.0.0.1:1/none", "Connection refused", "check database.url"),
    ("nosuchdb://x", "nosuchdb", "check database.url"),
    ("sqlite:////nonexistent-dir/q.db", "unable to open database file", "check that its folder exists"),
])
def test_a_bad_database_url_is_one_line_for_check_and_every_command(tmp_path, url, words, hint):
    cfg = write_config(tmp_path, url)
    for args in (["check"], ["documents"], ["status", "--json"]):
        p = qbedi(*args, "--config", str(cfg))
        assert p.returncode == 2 and "cannot open the database" in p.stderr and words in p.stderr, p.stderr
        assert hint in p.stderr, p.stderr
        assert "s3cret" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_qwc_for_a_user_that_is_not_configured_says_so(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    p = qbedi("qwc", "--config", str(cfg), "--user", "nobody", "--url", "http://localhost:8080/qbwc")
    assert p.returncode == 2 and "'nobody' is not a Web Connector user" in p.stderr and "clerk" in p.stderr


def test_documents_status_is_checked_and_listings_say_how_many_there_are(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    for name in ("acme_INV-10045.edi", "acme_INV-10046.edi", "globex_G-2026-0311.edi"):
        (tmp_path / "inbox" / name).write_bytes(x12_file(name))
    assert qbedi("poll", "--once", "--config", str(cfg)).returncode == 0
    p = qbedi("documents", "--status", "bogus", "--config", str(cfg))
    assert p.returncode == 2 and "queued, sent, posted, held" in p.stderr
    p = qbedi("documents", "--limit", "2", "--config", str(cfg))
    assert p.stdout.count("\n#") + p.stdout.startswith("#") == 2 and "showing 2 of 3 documents" in p.stdout
    out = json.loads(qbedi("documents", "--limit", "2", "--json", "--config", str(cfg)).stdout)
    assert len(out["documents"]) == 2 and out["total"] == 3
    out = json.loads(qbedi("documents", "--all", "--json", "--config", str(cfg)).stdout)
    assert len(out["documents"]) == 3


def test_junk_files_are_listed_counted_and_explained(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "scan.pdf").write_bytes(b"%PDF-1.4 an invoice, scanned")
    (tmp_path / "inbox" / "empty.edi").write_bytes(b"")
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    qbedi("poll", "--once", "--config", str(cfg))
    p = qbedi("files", "--config", str(cfg))
    assert "scan.pdf" in p.stdout and "not_x12" in p.stdout and "looks like a PDF" in p.stdout
    assert "empty.edi" in p.stdout and "empty" in p.stdout and "#1 810 INV-10045 queued" in p.stdout
    status = json.loads(qbedi("status", "--json", "--config", str(cfg)).stdout)
    assert status["files"] == {"parsed": 1, "not_x12": 1, "empty": 1}
    assert "files received: empty 1, not_x12 1, parsed 1" in qbedi("status", "--config", str(cfg)).stdout


def test_show_tells_a_clerk_the_lines_totals_due_date_and_why_it_waits(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    qbedi("poll", "--once", "--config", str(cfg))
    text = qbedi("show", "1", "--config", str(cfg)).stdout
    assert "waiting: no Web Connector has connected for company 'clerk' yet" in text
    assert "due 2026-12-18" in text and "total: 289.00" in text and "AC-100 HEX BOLT" in text
    assert "received" in text and "translated" in text and "queued" in text
    assert all(len(line) <= 160 for line in text.splitlines())  # wrapped between words, not cut
    out = json.loads(qbedi("show", "1", "--json", "--config", str(cfg)).stdout)
    assert out["audit"][0]["kind"] == "received" and out["waiting"].startswith("no Web Connector")


def test_a_refused_web_connector_login_shows_in_status_and_show(tmp_path, db_url):
    from qbedi.runtime import build_runtime
    from connector.settings import load_settings
    from fakes.qbwc_simulator import QBWCSimulator
    from qbwc_server.server import start_in_thread

    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    qbedi("poll", "--once", "--config", str(cfg))
    rt = build_runtime(load_settings(cfg), with_sources=False)
    try:
        with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
            QBWCSimulator(server.url, "clerk", "not the password", None).run()
    finally:
        rt.close()
    status = json.loads(qbedi("status", "--json", "--config", str(cfg)).stdout)
    [q] = status["quickbooks"]
    assert q["last_refused_login"]["reason"] == "the password did not match" and "refs" not in q["info"]
    assert "its last login was REFUSED" in qbedi("status", "--config", str(cfg)).stdout
    assert "last login for 'clerk' was refused" in qbedi("show", "1", "--config", str(cfg)).stdout


def test_read_commands_never_migrate_and_say_to_run_migrate(tmp_path):
    """Issue 11: migrations only by qbedi migrate (or run/serve/poll), never as a side effect of a read."""
    db = tmp_path / "qbedi.db"
    cfg = write_config(tmp_path, f"sqlite:///{db}")
    for args in (["documents"], ["status"], ["files"], ["show", "1"]):
        p = qbedi(*args, "--config", str(cfg))
        assert p.returncode == 2 and "is empty (never set up): run `qbedi migrate" in p.stderr, p.stderr
    assert not db.exists()
    assert "database: empty" in qbedi("check", "--config", str(cfg)).stdout
    p = qbedi("migrate", "--config", str(cfg))
    assert p.returncode == 0 and "(was empty)" in p.stdout
    assert "already up to date" in qbedi("migrate", "--config", str(cfg)).stdout
    assert qbedi("documents", "--config", str(cfg)).stdout.strip() == "no documents"
