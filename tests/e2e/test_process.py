"""`qbedi run` as a real process: serves, polls, and stops cleanly on SIGTERM."""
import subprocess

import requests

from tests.support.builders import x12_file, wait_for, write_config
from tests.support.processes import QBEDI, serving


def test_qbedi_run_serves_polls_and_stops_on_sigterm(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    with serving("run", cfg) as run:
        wsdl = requests.get(f"{run.url}/qbwc?wsdl", timeout=5)
        assert wsdl.status_code == 200 and b"sendRequestXML" in wsdl.content
        assert wait_for(lambda: (tmp_path / "inbox" / "processed" / "a.edi").exists(), 30)
        code, out = run.stop()
    assert code == 0
    assert "qbedi.stopped" in out and "Traceback" not in out
    if db_url.startswith("sqlite"):  # stopped: the database file alone is the database (a backup copied over it
        from pathlib import Path  # is not joined by an old log: seen, a restore that came back corrupt)

        wal = Path(db_url.split("///", 1)[1] + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size


def test_qbedi_run_with_a_cron_schedule_starts_and_stops(tmp_path, db_url):
    """poll: {cron: ...} passed check and then crashed qbedi run (from_crontab() takes no jitter)."""
    cfg = write_config(tmp_path, db_url)
    cfg.write_text(cfg.read_text().replace("settle_seconds: 0", "settle_seconds: 0\n  poll: {cron: '*/5 * * * *', "
                                                                  "jitter: 5s}"))
    assert "cron" in cfg.read_text()
    assert subprocess.run([QBEDI, "check", "--config", str(cfg)], capture_output=True).returncode == 0
    with serving("run", cfg) as run:
        code, out = run.stop()
    assert code == 0 and "Traceback" not in out, out


def test_sigterm_the_moment_the_port_opens_is_a_clean_stop(tmp_path, db_url):
    """CI saw `qbedi run` die of SIGTERM (exit -15): the port answered before the handler was installed."""
    import signal
    import socket
    import time

    from tests.support.processes import free_port

    cfg = write_config(tmp_path, db_url)
    for command in ("run", "serve"):
        port = free_port()
        proc = subprocess.Popen([QBEDI, command, "--config", str(cfg), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in out, (command, proc.returncode, out)
