"""Cleo Integration Cloud / Harmony / VLTrader adapter.

* :mod:`cleo_client.api` — the only module that knows Cleo's REST API; every
  assumption is listed and tagged there (see also shared/research/cleo.md).
* :mod:`cleo_client.source` — :class:`CleoSource` (the qbedi Source) and
  :class:`CleoSettings`.

The Cleo emulator used by the tests and ``qbedi demo --source cleo`` is a fake and
lives outside the product, in :mod:`fakes.cleo`.
"""
from cleo_client.api import CleoApiPaths, CleoClient, ServerVersion, parse_server_header
from cleo_client.errors import (
    CleoAccountError,
    CleoActionError,
    CleoAuthError,
    CleoConfigError,
    CleoError,
    CleoNotFoundError,
    CleoPermissionError,
    CleoProtocolError,
    CleoRateLimitedError,
    CleoTimeoutError,
    CleoTLSError,
    CleoTruncatedDownloadError,
    CleoUnavailableError,
)
from cleo_client.source import CleoSettings, CleoSource, ConnectionCheck, ConnectionReport
from cleo_client.x12 import transaction_sets

__all__ = [
    "CleoApiPaths", "CleoClient", "ServerVersion", "parse_server_header",
    "CleoSettings", "CleoSource", "ConnectionCheck", "ConnectionReport", "transaction_sets",
    "CleoError", "CleoConfigError", "CleoAuthError", "CleoAccountError", "CleoPermissionError",
    "CleoNotFoundError", "CleoUnavailableError", "CleoTimeoutError", "CleoRateLimitedError", "CleoTLSError",
    "CleoProtocolError", "CleoTruncatedDownloadError", "CleoActionError",
]
