"""Running `qbedi run` / `qbedi serve` as real processes in e2e tests."""
from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.builders import wait_for

QBEDI = str(Path(sys.executable).with_name("qbedi"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running qbedi process; :meth:`stop` sends SIGTERM and returns (exit code, everything it printed)."""

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, out


@contextlib.contextmanager
def serving(command: str, cfg: Path, *, env=None):
    """Start ``qbedi COMMAND --config CFG --port P`` and wait until /health answers (or it died)."""
    port = free_port()
    proc = subprocess.Popen([QBEDI, command, "--config", str(cfg), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy():
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                return proc.poll() is not None  # it died: stop waiting

        assert wait_for(healthy, 30) and proc.poll() is None, f"qbedi {command} should be serving"
        yield Served(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
