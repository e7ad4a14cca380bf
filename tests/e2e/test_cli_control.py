"""The CLI twins of the web page's controls: approve / reject, pause / resume, sync now / refresh-lists,
each with --json, and what `qbedi status` says about them."""
import json

from connector import control
from connector.settings import load_settings
from connector.store import Store
from qbedi.cli import main
from tests.support.builders import write_config, x12_file


def _json(capsys, argv) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def _workspace(tmp_path, db_url, **extra):
    cfg = write_config(tmp_path, db_url, **extra)
    for name in ("acme_INV-10045.edi", "acme_INV-10046.edi"):
        (tmp_path / "inbox" / name).write_bytes(x12_file(name))
    assert main(["poll", "--once", "--config", str(cfg)]) == 0
    return str(cfg)


def test_approve_and_reject_from_the_command_line(tmp_path, db_url, capsys):
    cfg = _workspace(tmp_path, db_url, auto_post=False)
    capsys.readouterr()
    code, out = _json(capsys, ["documents", "--status", "awaiting_approval", "--json", "--config", cfg])
    ids = [d["id"] for d in out["documents"]]
    assert code == 0 and len(ids) == 2

    assert main(["approve", "--config", cfg]) == 2  # nothing named: says how
    assert "--all" in capsys.readouterr().err
    code, out = _json(capsys, ["approve", str(ids[0]), "--json", "--config", cfg])
    assert code == 0 and out == {"results": [{"id": ids[0], "ok": True}]}
    code, out = _json(capsys, ["approve", str(ids[0]), "--json", "--config", cfg])  # twice: refused, in words
    assert code == 1 and "only documents awaiting approval" in out["results"][0]["error"]
    code, out = _json(capsys, ["reject", str(ids[1]), "--reason", "never ordered", "--json", "--config", cfg])
    assert code == 0 and out["results"][0]["ok"]

    code, out = _json(capsys, ["show", str(ids[1]), "--json", "--config", cfg])
    assert out["status"] == "rejected" and out["reason"] == "never ordered"
    assert any(e["kind"] == "rejected_by_reviewer" and e["by"] for e in out["audit"])
    code, out = _json(capsys, ["show", str(ids[0]), "--json", "--config", cfg])
    assert out["status"] == "queued" and any(e["kind"] == "approved" for e in out["audit"])


def test_approve_all_from_one_supplier(tmp_path, db_url, capsys):
    cfg = _workspace(tmp_path, db_url, auto_post=False)
    capsys.readouterr()
    code, out = _json(capsys, ["approve", "--all", "--supplier", "NOBODY", "--json", "--config", cfg])
    assert code == 0 and out == {"results": []}
    code, out = _json(capsys, ["approve", "--all", "--supplier", "ACMESUPPLY", "--json", "--config", cfg])
    assert code == 0 and len(out["results"]) == 2 and all(r["ok"] for r in out["results"])


def test_pause_resume_and_sync_requests_show_in_status(tmp_path, db_url, capsys):
    cfg = _workspace(tmp_path, db_url)
    capsys.readouterr()
    assert main(["pause", "--source", "nowhere", "--config", cfg]) == 2
    assert "sources: inbox" in capsys.readouterr().err
    assert main(["pause", "--company", "nobody", "--config", cfg]) == 2
    assert "users: clerk" in capsys.readouterr().err

    code, out = _json(capsys, ["pause", "--company", "CLERK", "--reason", "month-end", "--json", "--config", cfg])
    assert code == 0 and out == {"scope": "company", "name": "clerk", "changed": True, "paused": True}
    assert main(["pause", "--source", "inbox", "--config", cfg]) == 0
    assert "nothing is fetched" in capsys.readouterr().out
    code, out = _json(capsys, ["sync", "now", "--source", "inbox", "--json", "--config", cfg])
    assert code == 0 and out["what"] == "now"
    code, out = _json(capsys, ["sync", "refresh-lists", "--json", "--config", cfg])
    assert code == 0

    code, out = _json(capsys, ["status", "--json", "--config", cfg])
    assert {(p["scope"], p["name"], p["reason"]) for p in out["paused"]} == {("company", "clerk", "month-end"),
                                                                               ("source", "inbox", "")}
    assert [(r["kind"], r["target"]) for r in out["sync_requests"]] == [("poll", "inbox")]
    assert out["sources"][0]["paused"]["name"] == "inbox"
    assert main(["status", "--config", cfg]) == 0
    text = capsys.readouterr().out
    assert "PAUSED company clerk" in text and "qbedi resume --company clerk" in text
    assert "waiting for the running qbedi: poll inbox" in text

    code, out = _json(capsys, ["resume", "--company", "clerk", "--json", "--config", cfg])
    assert out["changed"] is True
    assert main(["resume", "--company", "clerk", "--config", cfg]) == 0
    assert "was not paused" in capsys.readouterr().out
    store = Store(load_settings(cfg).database_url)
    try:
        assert set(control.pauses(store)) == {("source", "inbox")}
    finally:
        store.dispose()


def test_show_says_why_a_document_waits_when_paused_or_awaiting_approval(tmp_path, db_url, capsys):
    cfg = _workspace(tmp_path, db_url, auto_post=False)
    capsys.readouterr()
    code, out = _json(capsys, ["documents", "--json", "--config", cfg])
    first = out["documents"][0]["id"]
    code, out = _json(capsys, ["show", str(first), "--json", "--config", cfg])
    assert "approval" in out["waiting"] and f"qbedi approve {first}" in out["waiting"]
    main(["approve", str(first), "--config", cfg])
    main(["pause", "--company", "clerk", "--reason", "audit", "--config", cfg])
    capsys.readouterr()
    code, out = _json(capsys, ["show", str(first), "--json", "--config", cfg])
    assert "paused" in out["waiting"] and "audit" in out["waiting"] and "qbedi resume --company clerk" in out["waiting"]
