"""Errors raised by the Cleo adapter.

All are :class:`connector.sources.SourceError` subclasses, so the ingest
service handles them like any other source failure. Each message says what an
administrator can do about it.
"""
from __future__ import annotations

from connector.sources import SourceError, SourceUnavailable


class CleoError(SourceError):
    """Base class; ``http_status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.http_status = status
        self.url = url


class CleoConfigError(CleoError):
    """The qbedi settings for Cleo are incomplete or contradictory."""


class CleoAuthError(CleoError):
    """Cleo rejected the username/password (or the token right after login)."""


class CleoAccountError(CleoAuthError):
    """The Cleo account itself is expired, locked or disabled."""


class CleoPermissionError(CleoError):
    """Authenticated, but the user may not do this (HTTP 403)."""


class CleoNotFoundError(CleoError):
    """A connection alias, action or file does not exist (or is not visible to the user)."""


class CleoUnavailableError(CleoError, SourceUnavailable):
    """Cleo could not be reached or kept failing (DNS, refused, TLS, 5xx after retries): an outage."""


class CleoTimeoutError(CleoUnavailableError):
    """Cleo accepted the connection but did not answer in time."""


class CleoRateLimitedError(CleoUnavailableError):
    """Cleo kept answering 429 Too Many Requests."""


class CleoTLSError(CleoUnavailableError):
    """The server certificate could not be verified."""


class CleoProtocolError(CleoError):
    """Cleo answered, but not in the shape the adapter assumes (see cleo_client/api.py)."""


class CleoTruncatedDownloadError(CleoError):
    """A download ended before the announced length; nothing was returned or stored."""


class CleoActionError(CleoError):
    """An admin-defined Cleo action ran but did not report success."""
