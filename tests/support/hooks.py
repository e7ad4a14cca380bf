"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 that records each POST."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hook:
    """What the server received (``calls``: (headers, body) per POST) and what it answers (``status``)."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []
        self.status = 200
        self.url = ""


@contextmanager
def webhook_server():
    """A :class:`Hook` whose ``url`` takes POSTs until the block ends."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/qbedi"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
