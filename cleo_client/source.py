"""``CleoSource``: Cleo Integration Cloud / Harmony / VLTrader as a qbedi Source.

Same protocol as :class:`connector.sources.FolderSource`; the ingest service
drives ``list_new -> fetch -> (store) -> acknowledge`` and deduplicates on
(source, remote id, sha256). This class does **not** deduplicate: if Cleo
lists the same file twice (e.g. across pages while the inbox changes), both
entries are yielded with the same ``remote_id``.

``remote_id`` is ``"<connection id>/<file id>"`` and is enough on its own to
fetch or acknowledge the file, so a RemoteFile rebuilt from the ingest
database after a restart (with an empty ``meta``) still works.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Iterable

import structlog

from cleo_client import errors as E
from cleo_client.api import CleoClient, Download, ServerVersion
from cleo_client.settings import CleoSettings
from cleo_client.x12 import transaction_sets_in
from connector.sources import RemoteFile, SourceError

log = structlog.get_logger("qbedi.cleo")


def _make_client(s: CleoSettings, username: str, password: Any) -> CleoClient:
    return CleoClient(
        s.api_base_url(), username, password,
        paths=s.paths, page_size=s.page_size,
        connect_timeout=s.connect_timeout, read_timeout=s.read_timeout,
        verify=s.tls_verify(), retries=s.retries, backoff_factor=s.backoff_factor,
        backoff_max=s.backoff_max, backoff_jitter=s.backoff_jitter, auth_mode=s.auth_mode,
        token_refresh_skew=s.token_refresh_skew, auth_failure_cooldown=s.auth_failure_cooldown,
    )


@dataclass
class ConnectionCheck:
    alias: str
    found: bool
    id: str | None = None
    type: str | None = None
    inbound_files: int | None = None
    error: str | None = None


@dataclass
class ConnectionReport:
    """Result of :meth:`CleoSource.test_connection` (read-only)."""

    ok: bool
    source: str
    base_url: str
    user: str
    tenant: str | None = None
    authenticated: bool = False
    server: str | None = None
    server_version: str | None = None
    vulnerable: bool = False
    connections: list[ConnectionCheck] = field(default_factory=list)
    actions: dict[str, str] = field(default_factory=dict)  # alias -> "found" / error text
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"Cleo source {self.source!r} at {self.base_url} as {self.user!r}: {'OK' if self.ok else 'FAILED'}"]
        if self.server:
            out.append(f"  server: {self.server}" + ("  ** VULNERABLE VERSION **" if self.vulnerable else ""))
        out.append(f"  authenticated: {'yes' if self.authenticated else 'no'}")
        for c in self.connections:
            if c.found:
                out.append(f"  connection {c.alias!r}: id={c.id} type={c.type} files waiting={c.inbound_files}")
            else:
                out.append(f"  connection {c.alias!r}: NOT OK - {c.error}")
        for a, status in self.actions.items():
            out.append(f"  action {a!r}: {status}")
        out += [f"  warning: {w}" for w in self.warnings]
        if self.error:
            out.append(f"  error ({self.error_type}): {self.error}")
        return out


class CleoSource:
    """A Source over the Cleo REST API.

    ``credentials`` has ``.username`` and ``.password`` (str or Secret), or is a zero-argument callable
    returning such an object; the callable is called on first use, so a missing/undecryptable credential
    store surfaces as a :class:`SourceError` from the poll (the daemon keeps running) instead of at startup.
    """

    immutable_ids = True  # "<connection id>/<file id>" names one file forever: no re-download when re-listed

    def __init__(self, name: str, settings: CleoSettings | dict, credentials: Any, *,
                 client: CleoClient | None = None):
        self.name = name
        self.settings = settings if isinstance(settings, CleoSettings) else CleoSettings.model_validate(settings)
        self._credentials = credentials
        self._client = client
        self._actions: dict[tuple[str, str | None], dict] = {}
        self.log = log.bind(source=name, cleo_api=self.settings.api_base_url(), tenant=self.settings.tenant)

    @property
    def client(self) -> CleoClient:
        if self._client is None:
            creds = self._credentials
            if callable(creds) and not hasattr(creds, "username"):
                try:
                    creds = creds()
                except SourceError:
                    raise
                except Exception as exc:  # CredentialError & co: admin-readable already
                    raise E.CleoConfigError(f"Cleo source {self.name!r}: cannot load its credentials: {exc}") from None
                self._credentials = creds
            self._client = _make_client(self.settings, creds.username, creds.password)
        return self._client

    @property
    def username(self) -> str:
        return self.client.username

    @classmethod
    def from_store(cls, name: str, settings: CleoSettings | dict, store: Any) -> "CleoSource":
        """Build with credentials from a ``connector.credentials.CredentialStore`` (``settings.credentials_name``)."""
        settings = settings if isinstance(settings, CleoSettings) else CleoSettings.model_validate(settings)
        return cls(name, settings, store.get(settings.credentials_name))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers
    @staticmethod
    def _split(remote: RemoteFile) -> tuple[str, str]:
        conn_id, sep, file_id = remote.remote_id.partition("/")
        if not sep or not conn_id or not file_id:
            raise E.CleoError(f"remote id {remote.remote_id!r} is not '<connection id>/<file id>'")
        return conn_id, file_id

    def _action(self, alias: str, connection: dict | None) -> dict:
        key = (alias, connection.get("id") if connection else None)
        if key not in self._actions:
            self._actions[key] = self.client.find_action(alias, connection)
        return self._actions[key]

    def _connection_by_id(self, conn_id: str) -> dict | None:
        for rec in self.client._connections.values():
            if rec.get("id") == conn_id:
                return rec
        return None

    # -- Source protocol
    def list_new(self) -> Iterable[RemoteFile]:
        """Files waiting in each configured connection's inbox, one poll's worth.

        Runs ``receive_action`` first when configured. Each inbox is listed
        completely (all pages) before its files are yielded, so deleting files
        while the caller iterates cannot shift the paging. A connection that
        fails (not found, forbidden) does not stop the others; the failures
        are raised together as one SourceError after the rest were yielded.
        Authentication/outage errors are raised at once.
        """
        if not self.settings.connections:
            raise E.CleoConfigError(f"Cleo source {self.name!r} has no connections configured "
                                    f"(list the partner connection aliases under 'connections')")
        failures: list[tuple[str, E.CleoError]] = []
        ran: set[str] = set()
        for alias in self.settings.connections:
            try:
                conn = self.client.resolve_connection(alias)
                if self.settings.receive_action:
                    action = self._action(self.settings.receive_action, conn)
                    if action["id"] not in ran:
                        ran.add(action["id"])
                        result = self.client.run_action(action, timeout=self.settings.receive_action_timeout)
                        self.log.info("cleo_receive_action_ran", connection=alias, action=action.get("alias"),
                                      status=result.get("status"), result=result.get("result"))
                try:
                    records = list(self.client.list_incoming(conn["id"]))
                except E.CleoNotFoundError:  # the connection was made again in Cleo (a new id, the same alias)
                    fresh = self.client.resolve_connection(alias, refresh=True)
                    if fresh["id"] == conn["id"]:
                        raise
                    self.log.warning("cleo_connection_moved", connection=alias, old_id=conn["id"], new_id=fresh["id"])
                    conn, records = fresh, list(self.client.list_incoming(fresh["id"]))
            except (E.CleoNotFoundError, E.CleoPermissionError, E.CleoActionError) as exc:
                self.log.error("cleo_connection_failed", connection=alias, error=str(exc))
                failures.append((alias, exc))
                continue
            self.log.info("cleo_listed", connection=alias, files=len(records))
            for rec in records:
                fid = rec.get("id")
                if not fid:
                    self.log.warning("cleo_file_without_id", connection=alias, record=rec)
                    continue
                yield RemoteFile(
                    source=self.name,
                    remote_id=f"{conn['id']}/{fid}",
                    name=str(rec.get("name") or fid),
                    size=rec.get("length") if isinstance(rec.get("length"), int) else None,
                    meta={
                        "connection_alias": alias,
                        "connection_id": conn["id"],
                        "file_id": fid,
                        "created": (rec.get("meta") or {}).get("created"),
                        "record": rec,
                    },
                )
        if failures:
            kinds = {type(exc) for _alias, exc in failures}
            cls = kinds.pop() if len(kinds) == 1 else E.CleoError
            raise cls("some Cleo connections could not be read: "
                      + " | ".join(f"{alias}: {exc}" for alias, exc in failures))

    def fetch(self, remote: RemoteFile) -> bytes:
        """The complete bytes (streamed to a temp file first; a short read raises and returns nothing).

        Also records ``remote.meta["transaction_sets"]`` (ST01 codes) and
        ``remote.meta["sha256"]``.
        """
        out = io.BytesIO()
        self.fetch_into(remote, out)
        return out.getvalue()

    def fetch_into(self, remote: RemoteFile, out: BinaryIO) -> None:
        """Write the complete bytes into ``out`` (a binary file), a piece at a time: streamed to a temp file
        first and checked (length, sha256), so a short or changed download writes nothing into ``out``.
        Records ``remote.meta["transaction_sets"]`` (ST01 codes) and ``remote.meta["sha256"]``."""
        conn_id, file_id = self._split(remote)
        record = dict(remote.meta.get("record") or {})
        record.setdefault("id", file_id)
        record.setdefault("name", remote.name)
        if remote.size is not None:
            record.setdefault("length", remote.size)
        with tempfile.NamedTemporaryFile(prefix="qbedi-cleo-", suffix=".part", dir=self.settings.temp_dir) as tmp:
            dl = self.client.download_incoming(conn_id, record, tmp, max_bytes=self.settings.max_file_bytes,
                                                 max_seconds=self.settings.download_timeout)
            tmp.flush()
            tmp.seek(0)
            h, n = hashlib.sha256(), 0
            while piece := tmp.read(1 << 20):
                h.update(piece)
                n += len(piece)
            if h.hexdigest() != dl.sha256 or n != dl.length:
                raise E.CleoError(f"temporary copy of {remote.name!r} changed on disk; nothing returned")
            tmp.seek(0)
            sets = transaction_sets_in(tmp)
            tmp.seek(0)
            shutil.copyfileobj(tmp, out, 1 << 20)
        try:
            remote.meta["transaction_sets"] = sets
            remote.meta["sha256"] = dl.sha256
        except TypeError:  # pragma: no cover - immutable meta
            pass
        self.log.info("cleo_fetched", file=remote.name, remote_id=remote.remote_id, bytes=dl.length,
                      sha256=dl.sha256, transaction_sets=sets)
        if not any(s in ("810", "850", "856") for s in sets):
            self.log.warning("cleo_file_not_810_850_856", file=remote.name, transaction_sets=sets)

    def fetch_to_file(self, remote: RemoteFile, dest: str | os.PathLike) -> Download:
        """Stream the file straight to ``dest`` (atomic rename; constant memory). Nothing is left on error."""
        conn_id, file_id = self._split(remote)
        record = dict(remote.meta.get("record") or {})
        record.setdefault("id", file_id)
        record.setdefault("name", remote.name)
        if remote.size is not None:
            record.setdefault("length", remote.size)
        dest = Path(dest)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                dl = self.client.download_incoming(conn_id, record, fh, max_bytes=self.settings.max_file_bytes,
                                                 max_seconds=self.settings.download_timeout)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dl.path = str(dest)
        remote.meta["sha256"] = dl.sha256
        return dl

    def acknowledge(self, remote: RemoteFile) -> None:
        """Mark consumed in Cleo per ``acknowledge``; call only after the bytes are committed locally."""
        mode = self.settings.acknowledge
        if mode == "none":
            return
        conn_id, file_id = self._split(remote)
        if mode == "delete":
            gone_now = self.client.delete_incoming(conn_id, file_id)
            self.log.info("cleo_acknowledged", mode=mode, file=remote.name, remote_id=remote.remote_id,
                          already_gone=not gone_now)
            return
        conn = self._connection_by_id(conn_id) or {"id": conn_id, "alias": remote.meta.get("connection_alias")}
        action = self._action(self.settings.archive_action, conn)
        self.client.run_action(action, body={"file": remote.name, "fileId": file_id})
        self.log.info("cleo_acknowledged", mode=mode, file=remote.name, remote_id=remote.remote_id,
                      action=action.get("alias"))

    @property
    def sends_acks(self) -> bool:
        return self.settings.upload_acks

    def upload(self, name: str, content: bytes) -> None:
        """Send a 997 (or any file) to the partner when ``upload_acks`` is on; otherwise do nothing."""
        if not self.settings.upload_acks:
            self.log.debug("cleo_upload_skipped", file=name, reason="upload_acks is off")
            return
        alias = self.settings.upload_connection or (self.settings.connections[0] if self.settings.connections else None)
        if not alias:
            raise E.CleoConfigError(f"Cleo source {self.name!r} has upload_acks on but no upload_connection "
                                    f"or connections to upload to")
        self.upload_to(alias, name, content)

    def upload_to(self, alias: str, name: str, content: bytes) -> dict:
        """Upload to a specific partner connection (e.g. the one the 810 came from)."""
        conn = self.client.resolve_connection(alias)
        rec = self.client.upload_outgoing(conn["id"], name, content)
        self.log.info("cleo_uploaded", connection=alias, file=name, bytes=len(content))
        if self.settings.send_action:
            self.client.run_action(self._action(self.settings.send_action, conn))
        return rec

    # -- admin
    def server_version(self) -> ServerVersion | None:
        return self.client.server_version()

    def test_connection(self) -> ConnectionReport:
        """Read-only check: log in, resolve each connection, count its waiting files, look up configured actions.

        Never runs an action, downloads, deletes or uploads. Errors are reported, not raised.
        """
        s = self.settings
        rep = ConnectionReport(ok=False, source=self.name, base_url=s.api_base_url(), user="?", tenant=s.tenant)
        try:
            rep.base_url, rep.user = self.client.api, self.client.username
            self.client.drop_token()
            self.client.login(force=True)
            if s.auth_mode == "basic":
                self.client.count(self.client.paths.connections, what="checking basic auth")
            rep.authenticated = True
            sv = self.client.server
            if sv is not None:
                rep.server, rep.server_version, rep.vulnerable = sv.raw, sv.version, sv.vulnerable
                if sv.vulnerable:
                    rep.warnings.append(f"{sv.raw} is affected by CVE-2024-50623/CVE-2024-55956 "
                                        f"(exploited in the wild); upgrade to 5.8.0.24 or later")
            else:
                rep.warnings.append("Cleo did not announce its version (no Server header)")
            all_ok = True
            for alias in s.connections:
                try:
                    conn = self.client.resolve_connection(alias, refresh=True)
                    check = ConnectionCheck(alias, True, conn.get("id"), conn.get("type"))
                    check.inbound_files = self.client.count_incoming(conn["id"])
                except (E.CleoNotFoundError, E.CleoPermissionError, E.CleoProtocolError) as exc:
                    check = ConnectionCheck(alias, False, error=str(exc))
                    all_ok = False
                rep.connections.append(check)
                for action_alias in {a for a in (s.receive_action, s.archive_action if s.acknowledge == "archive"
                                                 else None, s.send_action if s.upload_acks else None) if a}:
                    if not check.found:
                        continue
                    try:
                        self.client.find_action(action_alias, self.client._connections.get(alias))
                        rep.actions.setdefault(action_alias, "found")
                    except (E.CleoNotFoundError, E.CleoPermissionError) as exc:
                        rep.actions[action_alias] = f"NOT OK - {exc}"
                        all_ok = False
            if not s.connections:
                rep.warnings.append("no connections configured: nothing will be polled")
                all_ok = False
            if s.acknowledge == "none":
                rep.warnings.append("acknowledge is 'none': files stay in the Cleo inbox and are re-listed every "
                                    "poll (qbedi deduplicates them)")
            if not s.verify:
                rep.warnings.append("TLS verification is off; set ca_bundle instead")
            rep.ok = all_ok
        except SourceError as exc:
            rep.error, rep.error_type = str(exc), type(exc).__name__
            sv = self._client.server if self._client is not None else None
            if sv is not None:
                rep.server, rep.server_version, rep.vulnerable = sv.raw, sv.version, sv.vulnerable
        return rep

