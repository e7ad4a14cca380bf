"""The unit layer is pure code: a test here that opens a socket, starts a process or connects to a
database fails at once, saying so (such a test belongs in tests/integration or tests/e2e)."""
from __future__ import annotations

import socket
import subprocess

import pytest
from sqlalchemy.engine import Engine


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a unit test may not {what}: move it to tests/integration or tests/e2e")
    return refuse


@pytest.fixture(autouse=True)
def _pure_code_only(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _refuse("open a network connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("open a network connection"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("listen on a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(Engine, "raw_connection", _refuse("connect to a database"))
