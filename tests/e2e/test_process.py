"""`qbedi run` as a real process: serves, polls, and stops cleanly on SIGTERM."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.builders import x12_file, wait_for, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_qbedi_run_serves_polls_and_stops_on_sigterm(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    port = free_port()
    exe = Path(sys.executable).with_name("qbedi")
    proc = subprocess.Popen([str(exe), "run", "--config", str(cfg), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy():
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        assert wait_for(healthy, 30), "the SOAP service should answer"
        wsdl = requests.get(f"http://127.0.0.1:{port}/qbwc?wsdl", timeout=5)
        assert wsdl.status_code == 200 and b"sendRequestXML" in wsdl.content
        assert wait_for(lambda: (tmp_path / "inbox" / "processed" / "a.edi").exists(), 30)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "qbedi.stopped" in out and "Traceback" not in out


def test_qbedi_run_with_a_cron_schedule_starts_and_stops(tmp_path, db_url):
    """poll: {cron: ...} passed check and then crashed qbedi run (from_crontab() takes no jitter)."""
    cfg = write_config(tmp_path, db_url)
    cfg.write_text(cfg.read_text().replace("settle_seconds: 0", "settle_seconds: 0\n  poll: {cron: '*/5 * * * *', "
                                                                  "jitter: 5s}"))
    assert "cron" in cfg.read_text()
    port = free_port()
    exe = Path(sys.executable).with_name("qbedi")
    assert subprocess.run([str(exe), "check", "--config", str(cfg)], capture_output=True).returncode == 0
    proc = subprocess.Popen([str(exe), "run", "--config", str(cfg), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy():
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                return proc.poll() is not None  # it died: stop waiting

        assert wait_for(healthy, 30) and proc.poll() is None, "qbedi run should be serving"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in out, out
