"""Property tests through the whole ingest service: whatever the bytes, no crash, the raw file is kept,
and every document ends queued, or held / rejected with a reason (never silently dropped)."""
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.store import Document, ReceivedFile
from tests.support.builders import x12_file, write_config

SEEDS = [x12_file(n) for n in ("acme_INV-10045.edi", "globex_G-2026-0311.edi")]
_counter = itertools.count()


@st.composite
def corrupted(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    kind = draw(st.sampled_from(["truncate", "swap", "corrupt", "splice"]))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "swap":  # exchange two delimiters everywhere
        a, b = draw(st.sampled_from([(b"*", b"~"), (b"~", b"|"), (b"*", b">"), (b"\n", b"*")]))
        data = bytearray(bytes(data).replace(a, b"\x00").replace(b, a).replace(b"\x00", b))
    elif kind == "corrupt":  # overwrite a few bytes with anything
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    else:  # drop a slice from the middle
        i = draw(st.integers(0, len(data) - 1))
        j = draw(st.integers(i, min(len(data), i + 80)))
        del data[i:j]
    # every example unique, so each one is a new file for the store (not a dedup no-op)
    return bytes(data) + f"\n{next(_counter)}".encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=corrupted())
def test_any_bytes_are_kept_and_end_with_a_verdict(tmp_path_factory, data):
    rt = _runtime(tmp_path_factory)
    out = rt.ingest.ingest(data, source="inbox", remote_id=str(len(data)), name="fuzz.edi")
    with rt.store.session() as s:
        f = s.get(ReceivedFile, out.file_id)
        assert f.content == data  # the raw file is always kept
        docs = list(s.scalars(select(Document).where(Document.file_id == f.id)))
        if not docs:
            assert f.status == "unreadable" and f.error  # the file itself says why
        for d in docs:
            assert d.status in ("queued", "held", "rejected")
            if d.status != "queued":
                assert d.reason_code and d.reason


_RT = {}


def _runtime(factory):
    if "rt" not in _RT:
        tmp: Path = factory.mktemp("fuzz")
        _RT["rt"] = build_runtime(load_settings(write_config(tmp, f"sqlite:///{tmp / 'fuzz.db'}")))
    return _RT["rt"]
