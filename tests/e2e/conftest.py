"""Fixtures of the end-to-end layer."""
from __future__ import annotations

import pytest

from tests.support.qbwc import Live


@pytest.fixture
def live():
    """``live(provider=..., users=..., clock=..., **soap_options)``: a SOAP service on a real socket."""
    servers = []

    def make(**kw) -> Live:
        lv = Live(**kw)
        servers.append(lv)
        return lv

    yield make
    for s in servers:
        s.stop()
