"""Fuzzing with a time limit per input: hostile values in every element of real documents (exponents
that would expand to millions of digits, thousands of digits, signs, dots), runs of repeated segments,
random bytes, and random SOAP envelopes. Each input is handed to a worker process and must be parsed and
translated (qbXML built), or answered, within ``LIMIT``; a worker that overruns is killed and the test
fails naming the input. So the next ``CTT*1E9999999`` (43 s, once) is found by the suite, not by a user.
The limit is far above what a few KB of linear work costs (milliseconds): it catches blow-ups, it does not
measure speed (bench/ does)."""
from __future__ import annotations

import io
import multiprocessing as mp

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import own_x12_files

LIMIT = 5.0  # seconds per input
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILES = {p.name: p.read_bytes() for p in own_x12_files()}
WORST = ("1E9999999", "-9e+999999999", "9" * 5000, "0." + "0" * 5000 + "1", "1" + "0" * 4400)
HOSTILE_NUMBERS = st.one_of(
    st.sampled_from([*WORST, "NaN", "Infinity", "-0", "1.2.3", "--5", "1e", ".", "+1", "١٢٣", "1_000", " 12 ",
                     "0x10", "12E-3"]),
    st.from_regex(r"[+-]?\d{0,3000}(\.\d{0,3000})?([eE][+-]?\d{1,9})?", fullmatch=True),
)


# ---------------------------------------------------------------- the worker (its own process)

def _translate_all(data: bytes) -> None:
    import edi
    from connector.settings import Settings
    from connector.translate import translate_set
    from tests.support.builders import SUPPLIERS

    result = edi.parse_bytes(data)
    settings_ = Settings.model_validate({"suppliers": SUPPLIERS})
    for i, ps in enumerate(result.sets):
        translate_set(settings_, ps, ordinal=i, file_sha256="ab" * 32, file_name="fuzz.edi")


def _soap(body: bytes, action: str) -> int:
    from connector.passwords import hash_password
    from qbwc_server.contracts import WebConnectorUser
    from qbwc_server.soap import make_wsgi_app
    from tests.support.qbwc import FAST, PASSWORD, InMemoryProvider

    global _APP
    if _APP is None:
        users = {"alice": WebConnectorUser("alice", hash_password(PASSWORD, **FAST), "", "13.0")}
        _APP = make_wsgi_app(InMemoryProvider({"alice": []}), users)
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/qbwc", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "text/xml; charset=utf-8",
           "HTTP_SOAPACTION": f'"http://developer.intuit.com/{action}"', "wsgi.errors": io.StringIO()}
    status: list[str] = []
    b"".join(_APP(env, lambda s, h, exc=None: status.append(s)))
    return int(status[0].split()[0])


_APP = None


def _serve(conn) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        kind, args = job
        try:
            conn.send(("ok", _translate_all(*args) if kind == "translate" else _soap(*args)))
        except Exception as e:  # noqa: BLE001 - reported to the test as the input's failure
            conn.send(("raised", f"{type(e).__name__}: {e}"))


class Worker:
    """One process that runs inputs; ``run`` waits ``LIMIT`` for each, then kills it and fails."""

    def __init__(self):
        self.ctx = mp.get_context("spawn")
        self._start()

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def run(self, kind: str, *args, what: str = ""):
        self.conn.send((kind, args))
        if not self.conn.poll(LIMIT + 20 if not getattr(self, "_warm", False) else LIMIT):  # (first: imports)
            self.proc.kill()
            self.proc.join()
            self._start()
            pytest.fail(f"{kind} of {what or args!r:.200} took more than {LIMIT} s")
        self._warm = True
        outcome, value = self.conn.recv()
        assert outcome == "ok", f"{kind} of {what or args!r:.200} raised {value}"
        return value

    def close(self):
        self.conn.send(None)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


# ---------------------------------------------------------------- inputs

def _replace_element(data: bytes, seg_index: int, el_index: int, value: str, *, exact: bool = False) -> bytes:
    """Element ``el_index`` + 1 of segment ``seg_index`` holds ``value`` (``exact``: those positions;
    otherwise they wrap around what the file has)."""
    text = data.decode("latin-1")
    term = text[105] if len(text) > 105 else "~"
    segs = text.split(term)
    i = seg_index if exact else seg_index % max(1, len(segs) - 1)
    els = segs[i].split("*")
    j = el_index + 1 if exact else (1 + el_index % max(1, len(els) - 1) if len(els) > 1 else 0)
    if j < len(els):
        els[j] = value
    segs[i] = "*".join(els)
    return term.join(segs).encode("latin-1", "replace")


def _positions(data: bytes) -> list[tuple[int, int]]:
    text = data.decode("latin-1")
    return [(i, j) for i, seg in enumerate(text.split(text[105])) for j in range(len(seg.split("*")) - 1)]


def test_the_worst_numbers_in_every_element_of_every_document(worker):
    """Exhaustive, not sampled: each element of each of the tests' own files in turn holds each of the
    worst values."""
    for name, data in sorted(FILES.items()):
        for seg, el in _positions(data):
            for value in WORST:
                worker.run("translate", _replace_element(data, seg, el, value, exact=True),
                           what=f"{name} segment {seg} element {el + 1} = {value[:15]}...")


@FUZZ
@given(st.sampled_from(sorted(FILES)), st.integers(0, 60), st.integers(0, 12), HOSTILE_NUMBERS)
def test_a_hostile_value_in_any_element(worker, name, seg, el, value):
    worker.run("translate", _replace_element(FILES[name], seg, el, value), what=f"{name} {seg}/{el} {value[:20]}")


@FUZZ
@given(st.sampled_from(sorted(FILES)), st.integers(1, 400), st.integers(0, 30))
def test_runs_of_repeated_segments(worker, name, times, seg):
    data = FILES[name].decode("latin-1")
    term = data[105]
    segs = data.split(term)
    i = 3 + seg % max(1, len(segs) - 6)  # a body segment (not the envelope)
    worker.run("translate", term.join(segs[:i] + [segs[i]] * times + segs[i + 1:]).encode("latin-1"),
               what=f"{name}: segment {i} x{times}")


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes_after_a_real_isa(worker, blob):
    worker.run("translate", next(iter(FILES.values()))[:106] + blob)


METHODS = ["authenticate", "sendRequestXML", "receiveResponseXML", "closeConnection", "connectionError",
           "getLastError", "clientVersion", "serverVersion", "nonexistent"]


@FUZZ
@given(st.sampled_from(METHODS), st.one_of(
    st.text(max_size=2000),
    st.builds(lambda m, inner: (
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><{m} xmlns="http://developer.intuit.com/">{inner}</{m}></soap:Body></soap:Envelope>'),
        st.sampled_from(METHODS), st.text(max_size=2000)),
    st.sampled_from(['<!DOCTYPE a [<!ENTITY x "' + "y" * 1000 + '">]><a>' + "&x;" * 1000 + "</a>",
                     "<a>" * 5000 + "</a>" * 5000]),
))
def test_the_soap_endpoint_answers_any_body(worker, method, body):
    assert worker.run("soap", body.encode("utf-8", "replace"), method) in (200, 400, 413, 500)
