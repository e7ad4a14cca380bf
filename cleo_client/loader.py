"""The ``cleo`` source type as qbedi builds it: a :class:`CleoSourceLoader` per ``sources:`` entry."""
from __future__ import annotations

from typing import Any

from cleo_client.settings import CleoSettings
from connector.sources import SourceError


class CleoSourceLoader:
    """A Cleo source built on first use, so a missing key or credential is a reported
    source error (status, backoff) rather than a daemon that will not start."""

    immutable_ids = True  # a Cleo message id names one file forever: re-listed files are not re-downloaded

    def __init__(self, settings: Any, cfg: Any):
        """``settings``: the qbedi Settings (for the credential store); ``cfg``: the ``sources:`` entry."""
        self.name = cfg.name
        self._settings, self._cfg, self._source = settings, cfg, None

    def _get(self):
        if self._source is None:  # lazy: requests and cryptography load on first use, not when qbedi starts
            from cleo_client.source import CleoSource
            from connector.credentials import CredentialError, CredentialStore

            cleo = CleoSettings.model_validate(self._cfg.options())
            try:
                store = CredentialStore.for_settings(self._settings)
                self._source = CleoSource.from_store(self.name, cleo, store)
            except CredentialError as e:
                raise SourceError(f"Cleo credentials unavailable: {e} (store them with `qbedi credentials set "
                                  f"{cleo.credentials_name}`)") from None
        return self._source

    @property
    def sends_acks(self) -> bool:  # read from the entry: no credentials needed to know it
        return CleoSettings.model_validate(self._cfg.options()).upload_acks

    def list_new(self):
        return self._get().list_new()

    def fetch(self, remote):
        return self._get().fetch(remote)

    def fetch_into(self, remote, out):
        return self._get().fetch_into(remote, out)

    def acknowledge(self, remote):
        return self._get().acknowledge(remote)

    def upload(self, name, content):
        return self._get().upload(name, content)

    def upload_to(self, alias, name, content):
        return self._get().upload_to(alias, name, content)

    @property
    def settings(self):
        return self._get().settings

    def test_connection(self):
        report = self._get().test_connection()
        return report.as_dict() if hasattr(report, "as_dict") else report
