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
            from qbwc_server.exchange import QueueExchange

            self._exchange = QueueExchange(self.store, self.settings)
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
        return make_wsgi_app(self.exchange, self.users(), sessions=sessions,
                             server_version=f"qbedi {__version__}", **kw)

    def close(self) -> None:
        self.store.dispose()


def make_source(settings: Settings, cfg) -> Source:
    if isinstance(cfg, FolderSourceSettings):
        return FolderSource(cfg.name, settings.resolve(cfg.path), on_consume=cfg.on_consume,
                            outbox=settings.resolve(cfg.outbox) if cfg.outbox else None)
    from cleo_client import make_cleo_source  # noqa: PLC0415 - optional adapter

    return make_cleo_source(settings, cfg)


def build_runtime(settings: Settings, *, migrate: bool = True, with_sources: bool = True) -> Runtime:
    store = Store(settings.database_url)
    if migrate:
        store.migrate()
    rt = Runtime(settings=settings, store=store, ingest=IngestService(store, settings))
    if with_sources:
        rt.sources = [make_source(settings, s) for s in settings.sources]
    return rt
