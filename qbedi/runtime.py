"""Composition root: wires settings -> store -> services -> adapters.

Importing it registers the adapters' source types (``import cleo_client``), so every
entry point that reads a config imports this module first. Sources are built through
the core's registry (:func:`connector.sources.build_source`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cleo_client  # noqa: F401 - registers the "cleo" source type before any config is loaded
from connector import __version__
from connector.settings import Settings
from connector.sources import Source, build_source

if TYPE_CHECKING:
    from connector.services import IngestService
    from connector.store import Store

# Lazy imports: sqlalchemy (store, services) and spyne (qbwc_server) load only when a command uses them.


class DatabaseUnavailable(Exception):
    """The configured database cannot be opened: one line naming it (password hidden) and why."""

    def __init__(self, url: str, error: BaseException):
        reason = (str(getattr(error, "orig", None) or error).strip().splitlines() or [type(error).__name__])[0]
        hint = next((h for words, h in _DISK_TROUBLE if words in reason.lower()), "check database.url")
        super().__init__(f"cannot open the database {_hide_password(url)}: {reason} ({hint})")


# SQLite's words for trouble with the disk or the file, not with the URL
_DISK_TROUBLE = (("disk is full", "free some space on its disk"),
                 ("disk i/o error", "check its disk: free space, errors; the database file and its folder"),
                 ("readonly database", "qbedi may not write the database file or its folder: check permissions"),
                 ("unable to open database file", "check that its folder exists and qbedi may write there"))


class SchemaOutdated(Exception):
    """The database is not at this version's schema: says to run qbedi migrate."""


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    ingest: IngestService
    sources: list[Source] = field(default_factory=list)
    _delivery: object = None

    @property
    def delivery(self):
        """The delivery service (the Web Connector's WorkProvider), built on first use."""
        if self._delivery is None:
            from connector.delivery import DeliveryService

            self._delivery = DeliveryService(self.store, self.settings, live=self.ingest.live)
        return self._delivery

    def users(self):
        """The Web Connector users as the config on disk says now (the ingest's live settings): a password
        changed in qbedi.yaml counts at the Web Connector's next login, without a restart."""
        return _LiveUsers(self.ingest.live)

    def wsgi_app(self, **kw):
        from datetime import timedelta

        from qbwc_server.sessions import SessionManager
        from qbwc_server.soap import make_wsgi_app

        from connector.tickets import SharedSessions

        ttl = timedelta(minutes=self.settings.web_connector.session_ttl_minutes)
        # tickets shared by every process on this database (scale-out, restarts): connector.tickets
        sessions = kw.pop("sessions", None) or SessionManager(ttl=ttl, registry=SharedSessions(self.store, ttl))
        wc = self.settings.web_connector
        kw.setdefault("min_client_version", wc.min_client_version)
        kw.setdefault("none_wait_seconds", wc.idle_wait_seconds)
        kw.setdefault("trusted_proxies", wc.trusted_proxies)
        soap = make_wsgi_app(self.delivery, self.users(), sessions=sessions,
                             server_version=f"qbedi {__version__}", **kw)
        if not self.settings.web.enabled:
            return soap
        # the AP web page beside the SOAP endpoint: /qbwc and /health stay the SOAP app's; /, /support (the
        # .qwc's AppSupport URL) and the pages are the web app's. A web page that cannot start (its key file is
        # unsafe) leaves the Web Connector running: the SOAP app's plain /support page answers instead.
        import structlog

        from qbwc_server.server import SOAP_PATH, client_address
        from web import Mount, WebSetupError, create_app

        try:
            web = create_app(settings=self.settings, store=self.store, ingest=self.ingest)
        except WebSetupError as e:
            structlog.get_logger(__name__).error("web.unavailable", reason=str(e),
                                                 detail="the Web Connector is served; the web page is not")
            return soap
        from qbwc_server.server import from_trusted_proxy

        return Mount(soap, web, soap_path=SOAP_PATH, client_addr=lambda environ: client_address(environ, soap.trusted),
                     trusted_proxy=lambda environ: from_trusted_proxy(environ, soap.trusted))

    def require_schema(self) -> None:
        """Read commands never migrate: an empty or older database is one line saying to run qbedi migrate."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            current, head = self.store.revisions()
        except SQLAlchemyError as e:
            raise DatabaseUnavailable(self.settings.database_url, e) from None
        from connector.store import schema_newer

        if schema_newer(current):
            raise SchemaOutdated(schema_newer(current))
        if current != head:
            state = "is empty (never set up)" if current is None else f"is at schema {current}, this qbedi needs {head}"
            raise SchemaOutdated(f"the database {_hide_password(self.settings.database_url)} {state}: run `qbedi "
                                 f"migrate --config {self.settings.source_file}` (qbedi run and serve do it too)")

    def migrate(self) -> None:
        """Bring the schema up to date; :class:`SchemaOutdated` (one line) for a database a newer qbedi set up."""
        from connector.store import SchemaNewer

        try:
            self.store.migrate()
        except SchemaNewer as e:
            raise SchemaOutdated(str(e)) from None

    def check_database(self) -> None:
        """Connect and ask the database one question; :class:`DatabaseUnavailable` when it cannot answer."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise DatabaseUnavailable(self.settings.database_url, e) from None

    def close(self, *, fold_log: bool = False) -> None:
        """``fold_log``: qbedi run / serve stopping (:meth:`connector.store.Store.dispose`)."""
        self.store.dispose(fold_log=fold_log)


class _LiveUsers(Mapping):
    """Web Connector users by name (:class:`qbwc_server.contracts.WebConnectorUser`), read through
    :class:`connector.settings.LiveSettings` (looked at most once a second; a config that no longer reads
    leaves the last good users)."""

    def __init__(self, live):
        self._live, self._built = live, (None, {})

    def _now(self) -> dict:
        settings = self._live.current()
        if self._built[0] is not settings:
            from qbwc_server.contracts import WebConnectorUser

            self._built = (settings, {u.username: WebConnectorUser(
                username=u.username, password_hash=u.password_hash, company_file=u.company_file,
                qbxml_version=u.qbxml_version) for u in settings.web_connector.users})
        return self._built[1]

    def __getitem__(self, name):
        return self._now()[name]

    def __iter__(self):
        return iter(self._now())

    def __len__(self):
        return len(self._now())


def build_runtime(settings: Settings, *, migrate: bool = True, with_sources: bool = True,
                  read_only: bool = False) -> Runtime:
    """The wired runtime. ``migrate``: bring the schema up to date first (run, serve, poll, migrate);
    ``read_only``: never migrate, and refuse a database that is not up to date (:class:`SchemaOutdated`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from connector.services import IngestService
    from connector.store import Store

    try:
        store = Store(settings.database_url)
    except (SQLAlchemyError, ImportError) as e:  # a bad URL, an unknown driver
        raise DatabaseUnavailable(settings.database_url, e) from None
    rt = Runtime(settings=settings, store=store, ingest=IngestService(store, settings))
    if migrate and not read_only:
        try:
            rt.migrate()
        except (SQLAlchemyError, ImportError) as e:  # nobody listening, a refused login
            store.dispose()
            raise DatabaseUnavailable(settings.database_url, e) from None
        except SchemaOutdated:
            store.dispose()
            raise
    if read_only:
        try:
            rt.require_schema()
        except Exception:
            store.dispose()
            raise
    if with_sources:
        rt.sources = [build_source(settings, s) for s in settings.sources]
    return rt
