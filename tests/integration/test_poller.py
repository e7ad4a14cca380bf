"""The poller of `qbedi run` on a failing source: backoff, and the failure reported in the database."""
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from qbedi.daemon import Poller
from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.sources import SourceError
from connector.store import SourceState
from tests.support.builders import write_config


def test_failing_source_backs_off_and_reports(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    calls = []

    class Down:
        name = "cleo"

        def list_new(self):
            calls.append(1)
            raise SourceError("Cleo rejected the credentials (HTTP 401): check `qbedi credentials set cleo`")

    poller = Poller(rt, Down(), base_interval=60)
    poller()
    poller()  # inside the backoff window: not even tried
    assert len(calls) == 1
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 1 and "credentials" in st.last_error and st.next_poll_at is not None
    poller(force=True)  # `qbedi poll --once` ignores the window
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 2
        first_delay = st.next_poll_at
    assert len(calls) == 2 and first_delay is not None
    rt.close()


def test_sync_now_runs_the_named_poll_at_once_past_its_schedule(tmp_path, db_url):
    """A person's "sync now" (web page, `qbedi sync now`, another process) is picked up by the running
    scheduler within seconds, though the source's next poll is an hour away."""

    from connector import control
    from connector.status import SyncKind
    from qbedi.daemon import make_scheduler
    from tests.support.builders import wait_for, x12_file

    cfg = write_config(tmp_path, db_url)
    data = yaml.safe_load(cfg.read_text())
    data["sources"][0]["poll"] = {"every": "1h"}
    cfg.write_text(yaml.safe_dump(data))
    rt = build_runtime(load_settings(cfg))
    sched, _ = make_scheduler(rt)
    sched.start()
    try:
        assert wait_for(lambda: control.history(rt.store, scope="source", name="inbox"), 10)  # the first poll
        (tmp_path / "inbox" / "late.edi").write_bytes(x12_file("acme_INV-10045.edi"))
        control.request_sync(rt.store, SyncKind.POLL, "inbox", by="admin")
        assert wait_for(lambda: (tmp_path / "inbox" / "processed" / "late.edi").exists(), 15)
        assert control.open_sync_requests(rt.store) == []
    finally:
        sched.shutdown(wait=True)
        rt.close()


def test_qbedi_run_tells_the_webhook_when_a_document_is_held(tmp_path, db_url, monkeypatch):
    """The notifier runs inside qbedi run's scheduler (the notifications themselves: test_notify.py)."""
    import qbedi.daemon as daemon
    from tests.support.builders import wait_for, x12_file

    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "i.edi").write_bytes(x12_file("initech_88812.edi"))  # unknown supplier: held
    monkeypatch.setattr(daemon, "NOTIFY_CHECK_SECONDS", 1)
    with webhook_server() as (url, got):
        data = yaml.safe_load(cfg.read_text())
        data["notifications"] = {"webhook": {"url": url}, "digest_at": None}
        cfg.write_text(yaml.safe_dump(data))
        rt = build_runtime(load_settings(cfg))
        sched, _ = daemon.make_scheduler(rt)
        sched.start()
        try:
            assert wait_for(lambda: any("88812" in json.dumps(m) for m in got), 20), got
        finally:
            sched.shutdown(wait=True)
            rt.close()


def test_qbedi_notify_test_reaches_the_webhook_and_says_when_it_cannot(tmp_path, db_url, capsys):
    from qbedi.cli import main

    cfg = write_config(tmp_path, db_url)
    assert main(["migrate", "--config", str(cfg)]) == 0
    assert main(["notify", "test", "--config", str(cfg)]) == 2  # nothing configured: says so
    assert "no notification channel" in capsys.readouterr().err
    with webhook_server() as (url, got):
        data = yaml.safe_load(cfg.read_text())
        data["notifications"] = {"webhook": {"url": url}}
        cfg.write_text(yaml.safe_dump(data))
        assert main(["notify", "test", "--config", str(cfg)]) == 0
        assert "webhook: test message delivered" in capsys.readouterr().out and got and got[0]["kind"] == "test"
    capsys.readouterr()
    assert main(["notify", "test", "--json", "--config", str(cfg)]) == 1  # the server is gone: in words
    out = json.loads(capsys.readouterr().out)
    assert out["channels"]["webhook"]["delivered"] is False and out["channels"]["webhook"]["error"]


@contextlib.contextmanager
def webhook_server():
    """A real HTTP server on 127.0.0.1 collecting the JSON bodies POSTed to it: (its URL, the bodies)."""
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", got
    finally:
        server.shutdown()
        server.server_close()
