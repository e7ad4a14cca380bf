"""The AP web page: held documents, approvals, the audit trail, sync status and control (issue 13).

An adapter, like ``qbwc_server``: Flask, server-rendered Jinja templates (autoescaped), plain CSS. It reads
through :mod:`connector.views` and acts only through the core's services (:class:`connector.services.
IngestService`: release, dismiss, approve, reject) and :mod:`connector.control` (pause, resume, sync now,
refresh lists): it never changes a row itself.

* :mod:`._app`: :func:`create_app`, the page and action routes;
* :mod:`._auth`: sign-in (``web.users`` in the config, scrypt hashes), server-side sessions with an idle
  expiry, CSRF tokens, roles, the failed-login throttle, the cookie-signing key;
* :mod:`._mount`: :class:`Mount`, the WSGI dispatcher that serves this app beside the Web Connector's
  SOAP endpoint in one process.
"""
from ._app import create_app
from ._auth import LoginThrottle, Sessions, WebSetupError, secret_key, support_url
from ._mount import CLIENT_ADDR, Mount

__all__ = ["CLIENT_ADDR", "LoginThrottle", "Mount", "Sessions", "WebSetupError", "create_app", "secret_key",
           "support_url"]
