"""Composition root: wires settings -> store -> services -> adapters.

The only module that knows every package; everything else depends inward.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from .services import IngestService
from .settings import FolderSourceSettings, Settings
from .sources import FolderSource, Source
from .store import Store

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    ingest: IngestService
    sources: list[Source] = field(default_factory=list)
    _exchange: object = None

    @property
    def exchange(self):
        if self._exchange is None:
            from .delivery import DeliveryService

            self._exchange = DeliveryService(self.store, self.settings)
        return self._exchange

    def users(self):
        from qbwc_server.contracts import WebConnectorUser

        return {u.username: WebConnectorUser(username=u.username, password_hash=u.password_hash,
                                             company_file=u.company_file, qbxml_version=u.qbxml_version)
                for u in self.settings.web_connector.users}

    def wsgi_app(self, **kw):
        from datetime import timedelta

        from qbwc_server.sessions import SessionManager
        from qbwc_server.soap import make_wsgi_app

        from . import __version__

        sessions = kw.pop("sessions", None) or SessionManager(
            ttl=timedelta(minutes=self.settings.web_connector.session_ttl_minutes))
        wc = self.settings.web_connector
        kw.setdefault("min_client_version", wc.min_client_version)
        kw.setdefault("none_wait_seconds", wc.idle_wait_seconds)
        return make_wsgi_app(self.exchange, self.users(), sessions=sessions,
                             server_version=f"qbedi {__version__}", **kw)

    def close(self) -> None:
        self.store.dispose()


def make_source(settings: Settings, cfg) -> Source:
    if isinstance(cfg, FolderSourceSettings):
        return FolderSource(cfg.name, settings.resolve(cfg.path), on_consume=cfg.on_consume,
                            outbox=settings.resolve(cfg.outbox) if cfg.outbox else None)
    return CleoSourceLoader(settings, cfg)


def credential_store(settings: Settings, *, generate_key: bool = False):
    from .credentials import CredentialStore

    return CredentialStore.open(settings.resolve(settings.credentials.file),
                                key_file=settings.resolve(settings.credentials.key_file), generate_key=generate_key)


class CleoSourceLoader:
    """A Cleo source built on first use, so a missing key or credential is a reported
    source error (status, backoff) rather than a daemon that will not start."""

    immutable_ids = True  # a Cleo message id names one file forever: re-listed files are not re-downloaded

    def __init__(self, settings: Settings, cfg):
        self.name = cfg.name
        self._settings, self._cfg, self._source = settings, cfg, None

    def _get(self):
        if self._source is None:
            from cleo_client import CleoSource

            from .credentials import CredentialError
            from .settings import cleo_settings_dict
            from .sources import SourceError

            try:
                store = credential_store(self._settings)
                self._source = CleoSource.from_store(self.name, cleo_settings_dict(self._cfg), store)
            except CredentialError as e:
                raise SourceError(f"Cleo credentials unavailable: {e} (store them with `qbedi credentials set "
                                  f"{self._cfg.model_dump().get('credentials_name', 'cleo')}`)") from None
        return self._source

    def list_new(self):
        return self._get().list_new()

    def fetch(self, remote):
        return self._get().fetch(remote)

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


def build_runtime(settings: Settings, *, migrate: bool = True, with_sources: bool = True) -> Runtime:
    store = Store(settings.database_url)
    if migrate:
        store.migrate()
    rt = Runtime(settings=settings, store=store, ingest=IngestService(store, settings))
    if with_sources:
        rt.sources = [make_source(settings, s) for s in settings.sources]
    return rt
