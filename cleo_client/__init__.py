"""Cleo Integration Cloud / Harmony / VLTrader adapter.

* :mod:`cleo_client.api` — the only module that knows Cleo's REST API; every
  assumption is listed and tagged there (see also shared/research/cleo.md).
* :mod:`cleo_client.source` — :class:`CleoSource` (the qbedi Source).
* :mod:`cleo_client.settings` — :class:`CleoSettings` (a ``type: cleo`` entry of
  ``sources:``) and :class:`CleoApiPaths`.
* :mod:`cleo_client.loader` — :class:`CleoSourceLoader`, the source qbedi builds
  from a config entry (the Cleo session is made on first use).

Importing this package registers the ``cleo`` source type with the core
(:func:`connector.sources.register_source_type`). It stays light: the HTTP
stack (requests) loads when a name from ``api`` or ``source`` is first used.

The Cleo emulator used by the tests and ``qbedi demo --source cleo`` is a fake and
lives outside the product, in :mod:`fakes.cleo`.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
from cleo_client.loader import CleoSourceLoader
from cleo_client.settings import CleoApiPaths, CleoSettings
from cleo_client.x12 import transaction_sets
from connector.sources import register_source_type

if TYPE_CHECKING:
    from cleo_client.api import CleoClient, ServerVersion, parse_server_header
    from cleo_client.source import CleoSource, ConnectionCheck, ConnectionReport

__all__ = [
    "CleoApiPaths", "CleoClient", "ServerVersion", "parse_server_header",
    "CleoSettings", "CleoSource", "CleoSourceLoader", "ConnectionCheck", "ConnectionReport", "transaction_sets",
    "CleoError", "CleoConfigError", "CleoAuthError", "CleoAccountError", "CleoPermissionError",
    "CleoNotFoundError", "CleoUnavailableError", "CleoTimeoutError", "CleoRateLimitedError", "CleoTLSError",
    "CleoProtocolError", "CleoTruncatedDownloadError", "CleoActionError",
]

register_source_type("cleo", CleoSettings, CleoSourceLoader)

# Imported on first use, so that reading a config does not load the HTTP stack.
_LAZY = {"CleoClient": "cleo_client.api", "ServerVersion": "cleo_client.api", "parse_server_header": "cleo_client.api",
         "CleoSource": "cleo_client.source", "ConnectionCheck": "cleo_client.source",
         "ConnectionReport": "cleo_client.source"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cleo_client' has no attribute {name!r}")
