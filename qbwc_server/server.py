"""HTTP serving for the Web Connector endpoint (waitress).

Layout of the WSGI app built by :func:`qbwc_server.soap.make_wsgi_app`:

- ``POST /qbwc``      SOAP (the ``AppURL`` in the .qwc file)
- ``GET  /qbwc?wsdl`` the WSDL spyne generates
- ``GET  /health``    200 ``ok`` (monitoring)
- ``GET  /`` and ``/support``  200 plain page (the ``AppSupport`` URL; QBWC
  refuses to add an application whose AppSupport does not answer 200)
"""
from __future__ import annotations

import contextlib
import errno
import gc
import html
import ipaddress
import signal
import socket
import threading
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

SOAP_PATH = "/qbwc"


CLIENT_ADDR = "qbedi.client_addr"  # the WSGI environ key the SOAP layer reads the caller's address from


def _networks(trusted) -> list:
    return [ipaddress.ip_network(str(t).strip(), strict=False) for t in trusted or ()]


def _ip(text: str | None):
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5000`` (IIS ARR, Azure), ``[2001:db8::7]:5000``,
    ``::ffff:10.0.0.5`` (IPv4-mapped: read as the IPv4 address); None when it is not an address."""
    text = (text or "").strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


def _within(addr: str | None, nets: list) -> bool:
    ip = _ip(addr)
    return ip is not None and any(ip in n for n in nets)


def client_address(environ, trusted: list) -> str | None:
    """The caller's address. ``X-Forwarded-For`` is believed only when the connection comes from a
    trusted proxy (``web_connector.trusted_proxies``), and then read from the right: the first hop that
    is not itself a trusted proxy is the client (anything left of it is what the client claimed)."""
    addr = environ.get("REMOTE_ADDR")
    if not trusted or not _within(addr, trusted):
        return addr
    hops = [h.strip() for h in (environ.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            ip = _ip(hop)  # without its port: one client is one address, whatever connection it uses
            return str(ip) if ip is not None else addr  # garbage: the proxy's address, never the raw text
    return addr


def from_trusted_proxy(environ, trusted: list) -> bool:
    """Does the connection come from a configured reverse proxy (``web_connector.trusted_proxies``)?"""
    return bool(trusted) and _within(environ.get("REMOTE_ADDR"), trusted)


def _empty(environ) -> bool:
    """A request that says it has no body (``Content-Length: 0``, or none and not chunked)."""
    if "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower():
        return False
    return (environ.get("CONTENT_LENGTH") or "0").strip() in ("0", "")


class QBWCRouter:
    """Small WSGI dispatcher in front of the spyne WSGI application."""

    def __init__(self, soap_app, handler, *, support_text: str = "qbedi", trusted_proxies=()):
        self.soap_app = soap_app
        self.handler = handler
        self.sessions = handler.sessions
        self.support_text = support_text
        self.trusted = _networks(trusted_proxies)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        try:
            if path.rstrip("/") == SOAP_PATH:
                environ[CLIENT_ADDR] = client_address(environ, self.trusted)
                if method == "POST" and _empty(environ):  # (spyne raised StopIteration on it: a 500 and a traceback)
                    log.warning("qbwc.empty_request", client=environ[CLIENT_ADDR],
                                detail="a POST without a body is not a Web Connector call; refused")
                    return self._text(start_response, "400 Bad Request", "an empty request is not a SOAP call\n")
                self._note_too_long(environ)
                return self.soap_app(environ, start_response)
            if path in ("/health", "/healthz") and method in ("GET", "HEAD"):
                return self._text(start_response, "200 OK", "ok\n")
            if path in ("/", "/support") and method in ("GET", "HEAD"):
                body = (
                    "<!doctype html><html><head><title>qbedi</title></head><body>"
                    f"<h1>{html.escape(self.support_text)}</h1>"
                    "<p>QuickBooks Web Connector endpoint for supplier EDI. "
                    "Contact your qbedi administrator for support.</p></body></html>\n"
                )
                return self._text(start_response, "200 OK", body, "text/html; charset=utf-8")
            return self._text(start_response, "404 Not Found", "not found\n")
        except Exception:  # noqa: BLE001 - never a traceback on the wire
            log.exception("qbwc.http_error", path=path, method=method)
            return self._text(start_response, "500 Internal Server Error", "internal error\n")

    def _note_too_long(self, environ) -> None:
        """A body over the SOAP service's limit is refused unread (spyne's Client.RequestTooLong fault, which
        the Web Connector shows as an error of its own): say so in the log, where an admin looks."""
        limit = getattr(self.soap_app, "max_content_length", None)
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        if limit and size > limit:
            log.warning("qbwc.request_too_long", bytes=size, limit=limit, client=environ.get(CLIENT_ADDR),
                        detail="refused unread; a Web Connector answer this big means a request asked QuickBooks "
                               "for too much at once, else it was not a Web Connector")

    @staticmethod
    def _text(start_response, status, body, ctype="text/plain; charset=utf-8"):
        data = body.encode("utf-8")
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]


def settle_heap() -> None:
    """Move everything alive now (modules, the app, its settings) out of the collector's reach.

    Called once the service is built, before it takes calls. CPython's full (generation 2)
    collection walks every tracked object; with spyne, SQLAlchemy, pydantic and structlog loaded
    that is ~100,000 objects that live as long as the process, and a full collection ran inside
    every ~50th Web Connector call, costing 45-55 ms of CPU (the p99 of bench/qbwc.py). Frozen
    objects are skipped by the collector (``gc.freeze``), so the collections that still run walk
    only what requests allocate: 3-5 ms.
    """
    gc.collect()
    gc.freeze()


CONNECTION_LIMIT = 500  # waitress' default of 100 let 100 idle sockets starve the real Web Connector; kept
# well under the usual 1,024 open files per process (raise `ulimit -n` to go higher)
CHANNEL_TIMEOUT = 120  # seconds a connection may sit idle (waitress' default: a QuickBooks run between two
# calls may keep a Web Connector connection idle that long)


def _defaults(waitress_kw: dict) -> None:
    """Serving defaults. A request is read whole by waitress' event loop before a worker thread sees
    it, so slow senders cost a connection slot, not a thread: enough slots, and idle ones closed,
    keep idle and slow clients from starving real calls (README: "Running in production")."""
    waitress_kw.setdefault("expose_tracebacks", False)
    waitress_kw.setdefault("connection_limit", CONNECTION_LIMIT)
    waitress_kw.setdefault("channel_timeout", CHANNEL_TIMEOUT)
    # X-Forwarded-For reaches the app, which believes it only from a trusted proxy (client_address)
    waitress_kw.setdefault("clear_untrusted_proxy_headers", False)


class CannotListen(Exception):
    """The service cannot listen on ``host:port``: taken by another program, not allowed, or not an address
    of this machine. ``reason`` says which: ``in_use``, ``not_allowed``, ``not_here`` or ``other``."""

    def __init__(self, host: str, port: int, reason: str, detail: str = ""):
        super().__init__(f"cannot listen on {host}:{port} ({reason}{': ' + detail if detail else ''})")
        self.host, self.port, self.reason, self.detail = host, port, reason, detail


_LISTEN_REASONS = {errno.EADDRINUSE: "in_use", errno.EACCES: "not_allowed", errno.EPERM: "not_allowed",
                   errno.EADDRNOTAVAIL: "not_here"}


def _create_server(app, host: str, port: int, **waitress_kw):
    from waitress.server import create_server

    try:
        return create_server(app, host=host, port=port, **waitress_kw)
    except OSError as e:  # bind() refused
        reason = _LISTEN_REASONS.get(e.errno, "not_here" if isinstance(e, socket.gaierror) else "other")
        raise CannotListen(host, port, reason, e.strerror or str(e)) from None
    except ValueError as e:  # waitress: a host name that does not resolve ("Invalid host/port specified.")
        if "host/port" not in str(e):
            raise
        raise CannotListen(host, port, "not_here", "no such name or address") from None


def serve(app, host: str = "127.0.0.1", port: int = 8080, *, stop_event: threading.Event | None = None,
          **waitress_kw) -> None:
    """Serve until SIGTERM / SIGINT (Ctrl-C) or ``stop_event``, then stop cleanly and return.

    Raises :class:`CannotListen` when the port cannot be had (nothing is served then)."""
    settle_heap()
    waitress_kw.setdefault("threads", 8)
    stop = stop_event or threading.Event()
    with stopping_on_signals(stop):  # before the port opens: a SIGTERM right after is a clean stop
        handle = start_in_thread(app, host, port, **waitress_kw)
        log.info("qbwc.serve", host=host, port=handle.port, path=SOAP_PATH)
        try:
            wait_until_stopped(stop)
        finally:
            log.info("qbwc.stopping")
            handle.stop()
            log.info("qbwc.stopped")


@contextlib.contextmanager
def stopping_on_signals(stop: threading.Event):
    """While inside, SIGTERM / SIGINT (Ctrl-C) set ``stop`` instead of killing the process (only on the
    main thread; the previous handlers are put back on the way out). Enter it before anything is served,
    so a signal that arrives as soon as the service answers still stops it cleanly."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def wait_until_stopped(stop: threading.Event) -> None:
    """Block until ``stop`` is set (by :func:`stopping_on_signals` on SIGTERM / SIGINT, or by its owner).

    Never ``stop.wait()`` here: the signal handler runs on this (the main) thread and ``stop.set()`` takes
    the event's lock, which ``wait()`` holds for a moment each time round; a signal landing in that moment
    hung the process for good (a SIGTERM the moment the port opened, seen in CI). ``is_set()`` takes no
    lock, and ``time.sleep`` lets the handler run at once."""
    while not stop.is_set():
        time.sleep(0.1)


@dataclass
class ServerHandle:
    host: str
    port: int
    _server: object
    _thread: threading.Thread
    _stop: threading.Event

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The SOAP endpoint, e.g. ``http://127.0.0.1:54321/qbwc``."""
        return self.base_url + SOAP_PATH

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close keep-alive connections, join the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0, **waitress_kw) -> ServerHandle:
    """Start waitress in a daemon thread; ``port=0`` picks a free port. Raises :class:`CannotListen`
    when the port cannot be had.

    waitress' own ``run()`` only returns once every keep-alive channel has
    timed out, so the loop is driven here in short slices and everything is
    closed on the loop thread when :meth:`ServerHandle.stop` is called.
    """
    waitress_kw.setdefault("threads", 4)
    _defaults(waitress_kw)
    server = _create_server(app, host, port, **waitress_kw)
    if hasattr(server, "effective_listen"):  # a name with several addresses (localhost: ::1 and 127.0.0.1)
        real_port, smap = server.effective_listen[0][1], server.map
    else:
        real_port, smap = server.socket.getsockname()[1], server._map  # waitress' socket map (no public accessor)
    stop = threading.Event()

    def loop():
        try:
            while not stop.is_set() and smap:
                server.asyncore.loop(timeout=0.05, map=smap, use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            try:
                server.close()
            finally:
                for ch in list(smap.values()):
                    try:
                        ch.close()
                    except Exception:  # noqa: BLE001
                        pass
                server.task_dispatcher.shutdown(timeout=2)

    t = threading.Thread(target=loop, name=f"qbwc-waitress-{real_port}", daemon=True)
    t.start()
    log.info("qbwc.serve_thread", host=host, port=real_port)
    return ServerHandle(host, real_port, server, t, stop)
