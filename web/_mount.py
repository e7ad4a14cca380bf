"""One WSGI app for the whole process: the Web Connector's paths go to the SOAP app, the rest to the web page.

Invariants:

- ``/qbwc`` (and anything under it) and ``/health`` reach the SOAP app exactly as before the web page existed:
  the Web Connector never depends on the web page (a page that fails cannot stop QuickBooks' sync).
- Everything else (``/``, ``/support``, the pages, ``/static``) reaches the web app, with the caller's address
  in ``environ[CLIENT_ADDR]`` as the SOAP side computes it (``X-Forwarded-For`` believed only from a trusted
  proxy): the login throttle counts per real caller.
- Attributes the callers of the SOAP app read (``handler``, ``sessions``, ``trusted``) are the SOAP app's.
"""
from __future__ import annotations

from typing import Callable

CLIENT_ADDR = "qbedi.client_addr"  # the same key the SOAP layer uses


class Mount:
    def __init__(self, soap, web, *, soap_path: str = "/qbwc", health_paths=("/health", "/healthz"),
                 client_addr: Callable[[dict], str | None] | None = None,
                 trusted_proxy: Callable[[dict], bool] | None = None):
        self.soap, self.web = soap, web
        self.soap_path = soap_path.rstrip("/")
        self.health_paths = tuple(health_paths)
        self.client_addr = client_addr
        self.trusted_proxy = trusted_proxy  # does this request come from a configured reverse proxy?

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path == self.soap_path or path.startswith(self.soap_path + "/") or path in self.health_paths:
            return self.soap(environ, start_response)
        environ[CLIENT_ADDR] = self.client_addr(environ) if self.client_addr else environ.get("REMOTE_ADDR")
        if (self.trusted_proxy is not None and self.trusted_proxy(environ)
                and environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https"):
            environ["wsgi.url_scheme"] = "https"  # TLS ended at the proxy: cookies are then Secure
        return self.web(environ, start_response)

    def __getattr__(self, name):  # handler, sessions, trusted ...: the SOAP app's
        if name in ("soap", "web"):  # not set yet (never reached once __init__ ran)
            raise AttributeError(name)
        return getattr(self.soap, name)
