"""qbwc_server.compat in fresh interpreters of the other local venvs, when present (on the running
interpreter: tests/unit/test_qbwc_compat.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import REPO


def _other_pythons():
    found = []
    for p in ("/tmp/v311/bin/python", "/tmp/v3.12.1/bin/python", "/tmp/v3.13.0/bin/python"):
        if os.path.exists(p) and os.path.realpath(p) != os.path.realpath(sys.executable):
            found.append(p)
    return found


@pytest.mark.parametrize("python", _other_pythons() or [pytest.param(None, marks=pytest.mark.skip("no other venvs"))])
def test_fresh_interpreter_serves_soap(python):
    code = (
        "import qbwc_server.soap as s, spyne, sys;"
        "from qbwc_server.compat import applied;"
        "from spyne.server.null import NullServer;"
        "print(sys.version_info[:2], applied, 'ok')"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
