"""A local emulator of the slice of Cleo's REST API that ``cleo_client.api`` uses.

A real HTTP server (stdlib ``ThreadingHTTPServer``) on 127.0.0.1, for tests
and ``qbedi demo --source cleo``. It implements the routes exactly as assumed
in ``cleo_client/api.py`` (A1..A13) with the default :class:`CleoApiPaths`::

    POST   /api/authentication                      form grant_type=password -> {access_token, token_type, expires_in}
    GET    /api/connections[?startIndex&count&filter=alias eq "x"]
    GET    /api/actions[?...filter]                   POST /api/actions/{id}/run
    GET    /api/connections/{id}/incoming            (paged collection of {id, name, length, meta, _links})
    GET    /api/connections/{id}/incoming/{fileId}   Accept: application/octet-stream -> bytes, else JSON record
    DELETE /api/connections/{id}/incoming/{fileId}   -> 204 (404 if gone)
    POST   /api/connections/{id}/outgoing            octet-stream + Content-Disposition filename -> 201
    every answer carries ``Server: <server_version>``

Usage::

    with CleoEmulator(users={"apiuser": "pw"}) as emu:
        fid = emu.add_file("ACME-AS2", "inv.edi", b"ISA*...")
        ... CleoSettings(base_url=emu.url + "/api", connections=["ACME-AS2"]) ...
        assert fid in emu.consumed

Faults: :meth:`fail_next`, :meth:`expire_token_now`, :meth:`set_delay`,
:meth:`truncate_next_download`, :meth:`list_twice`.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

_ALIAS_FILTER = re.compile(r'^\s*alias\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$')


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class _File:
    id: str
    name: str
    content: bytes
    created: str


@dataclass
class _Connection:
    id: str
    alias: str
    type: str
    files: list[_File] = field(default_factory=list)
    pending: list[_File] = field(default_factory=list)  # delivered by a "receive" action run


@dataclass
class _Action:
    id: str
    alias: str
    kind: str  # receive | archive | send | fail
    connection_id: str | None


@dataclass
class _User:
    password: str
    account_problem: str | None = None  # e.g. "Account expired"


@dataclass
class _Fault:
    status: int
    times: int
    path_contains: str | None
    method: str | None
    retry_after: str | None
    message: str


class CleoEmulator:
    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", users: dict[str, str] | None = None,
                 server_version: str = "Cleo Harmony/5.8.0.24 (Linux)", token_ttl: int | None = 3600,
                 delay: float = 0.0, basic_auth: bool = False, content_links: bool = False,
                 tls: tuple[str, str] | None = None):
        self.host = host
        self._port = port
        self.server_version = server_version
        self.token_ttl = token_ttl
        self.basic_auth = basic_auth
        self.content_links = content_links  # advertise _links.content on file records
        self.tls = tls  # (certfile, keyfile): serve https
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {u: _User(p) for u, p in (users or {"apiuser": "apipass"}).items()}
        self._tokens: dict[str, float | None] = {}
        self._connections: dict[str, _Connection] = {}
        self._actions: dict[str, _Action] = {}
        self._ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self._delay = delay
        self._delay_path: str | None = None
        self._truncate: list[tuple[str | None, int | None]] = []
        self._dupes: list[str] = []
        self.consumed: list[str] = []
        self.archived: dict[str, list[str]] = {}
        self.uploads: list[dict] = []
        self.action_runs: list[dict] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path?query, status) as answered
        self.received: list[tuple[str, str]] = []  # (method, path?query) on arrival, before any delay
        self.token_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "CleoEmulator":
        handler = type("Handler", (_Handler,), {"emu": self})
        server = ThreadingHTTPServer((self.host, self._port), handler)
        server.daemon_threads = True
        server.block_on_close = False  # idle keep-alive connections must not block stop()
        if self.tls:
            import ssl

            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cleo-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "CleoEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (https with ``tls``; the API root is ``url + "/api"``)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    # ------------------------------------------------------------------ state
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{secrets.token_hex(3)}"

    def add_user(self, username: str, password: str, *, account_problem: str | None = None) -> None:
        """``account_problem="Account expired"`` makes every login fail with that message (401)."""
        with self._lock:
            self._users[username] = _User(password, account_problem)

    def add_connection(self, alias: str, type: str = "sftp") -> str:
        with self._lock:
            if alias not in self._connections:
                self._connections[alias] = _Connection(self._new_id("C"), alias, type)
            return self._connections[alias].id

    def recreate_connection(self, alias: str) -> str:
        """An administrator deletes the connection and makes it again: the same alias, a new id, an empty inbox
        (the old id answers 404 from now on)."""
        with self._lock:
            old = self._connections.pop(alias, None)
            self._connections[alias] = _Connection(self._new_id("C"), alias, old.type if old else "sftp")
            return self._connections[alias].id

    def connection_id(self, alias: str) -> str:
        return self._connections[alias].id

    def add_action(self, alias: str, connection_alias: str | None = None, kind: str = "receive") -> str:
        """kind: ``receive`` (moves pending files into the inbox), ``archive`` (consumes the file named in
        the body ``{"file", "fileId"}``), ``send`` (no-op) or ``fail`` (reports result=failure)."""
        with self._lock:
            cid = self.add_connection(connection_alias) if connection_alias else None
            aid = self._new_id("A")
            self._actions[aid] = _Action(aid, alias, kind, cid)
            return aid

    def add_file(self, connection_alias: str, name: str, content: bytes) -> str:
        with self._lock:
            self.add_connection(connection_alias)
            f = _File(self._new_id("F"), name, bytes(content), _now_iso())
            self._connections[connection_alias].files.append(f)
            return f.id

    def add_pending(self, connection_alias: str, name: str, content: bytes) -> str:
        """A file at the partner that arrives in the inbox when a receive action runs."""
        with self._lock:
            self.add_connection(connection_alias)
            f = _File(self._new_id("F"), name, bytes(content), _now_iso())
            self._connections[connection_alias].pending.append(f)
            return f.id

    def files(self, connection_alias: str) -> list[dict]:
        with self._lock:
            conn = self._connections.get(connection_alias)
            return [{"id": f.id, "name": f.name, "length": len(f.content), "content": f.content}
                    for f in (conn.files if conn else [])]

    def snapshot(self) -> dict:
        """Everything a client could change; compare before/after to prove a read-only call."""
        with self._lock:
            return copy.deepcopy({
                "files": {a: [(f.id, f.name, hashlib.sha256(f.content).hexdigest()) for f in c.files]
                          for a, c in self._connections.items()},
                "pending": {a: [f.id for f in c.pending] for a, c in self._connections.items()},
                "consumed": self.consumed, "archived": self.archived, "uploads": self.uploads,
                "action_runs": self.action_runs,
            })

    def seed_from_folder(self, folder, connection_alias: str = "DEMO-SUPPLIER", pattern: str = "*.edi") -> list[str]:
        """Put every matching file of ``folder`` into the connection's inbox (for demos)."""
        from pathlib import Path

        return [self.add_file(connection_alias, p.name, p.read_bytes())
                for p in sorted(Path(folder).glob(pattern)) if p.is_file()]

    def client_settings(self, connections: list[str] | None = None, **extra) -> dict:
        """A ``CleoSettings``-shaped dict pointing at this emulator."""
        return {"base_url": self.api_url, "connections": connections or sorted(self._connections), **extra}

    # ------------------------------------------------------------------ faults
    def fail_next(self, status: int = 500, times: int = 1, path_contains: str | None = None, *,
                  method: str | None = None, retry_after: float | str | None = None,
                  message: str | None = None) -> None:
        """The next ``times`` matching requests answer ``status`` (with ``Retry-After`` if given)."""
        with self._lock:
            self._faults.append(_Fault(status, times, path_contains, method.upper() if method else None,
                                       None if retry_after is None else str(retry_after),
                                       message or f"emulated failure {status}"))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._truncate.clear()
            self._delay = 0.0

    def expire_token_now(self) -> None:
        """Invalidate every issued token: the next authenticated call gets 401."""
        with self._lock:
            self._tokens.clear()

    def set_delay(self, seconds: float, path_contains: str | None = None) -> None:
        """Sleep ``seconds`` before answering (matching requests only, if ``path_contains``)."""
        with self._lock:
            self._delay, self._delay_path = seconds, path_contains

    def truncate_next_download(self, keep_bytes: int | None = None, file_id: str | None = None,
                               times: int = 1) -> None:
        """The next download(s) announce the full Content-Length but send only ``keep_bytes`` (default half)."""
        with self._lock:
            self._truncate.extend([(file_id, keep_bytes)] * times)

    def list_twice(self, file_id: str) -> None:
        """List this file a second time at the end of the inbox listing (so on another page)."""
        with self._lock:
            self._dupes.append(file_id)

    # ------------------------------------------------------------------ internals used by the handler
    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times > 0 and (f.path_contains is None or f.path_contains in path) and \
                        (f.method is None or f.method == method):
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                    return f
        return None

    def _delay_for(self, path: str) -> float:
        with self._lock:
            if self._delay and (self._delay_path is None or self._delay_path in path):
                return self._delay
        return 0.0

    def _take_truncation(self, file_id: str) -> tuple[bool, int | None]:
        with self._lock:
            for i, (fid, keep) in enumerate(self._truncate):
                if fid is None or fid == file_id:
                    del self._truncate[i]
                    return True, keep
        return False, None


def _page(items: list, query: dict) -> dict:
    try:
        start = max(0, int(query.get("startIndex", ["0"])[0]))
        count = max(1, int(query.get("count", ["20"])[0]))
    except ValueError:
        start, count = 0, 20
    return {"totalResults": len(items), "startIndex": start, "count": count,
            "resources": items[start:start + count]}


def _filter_alias(records: list[dict], query: dict) -> list[dict]:
    flt = query.get("filter", [""])[0]
    if not flt.strip():
        return records
    m = _ALIAS_FILTER.match(flt)
    if not m:
        return records  # unsupported filter: like a lenient server, ignore it
    alias = m.group(1).replace('\\"', '"')
    return [r for r in records if r.get("alias") == alias]


class _Handler(BaseHTTPRequestHandler):
    emu: CleoEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

    def version_string(self) -> str:  # -> Server header (A13)
        return self.emu.server_version

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # -- plumbing
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json",
              extra: dict | None = None) -> None:
        self.emu.requests.append((self.command, self.path, status))  # before answering: no race with the client
        try:
            self.send_response(status)
            if body or status not in (204, 304):
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"))

    def _error(self, status: int, message: str, extra: dict | None = None) -> None:
        self._send(status, json.dumps({"message": message}).encode("utf-8"), extra=extra)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        emu = self.emu
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            with emu._lock:
                if tok in emu._tokens:
                    exp = emu._tokens[tok]
                    if exp is None or time.monotonic() < exp:
                        return True
                    del emu._tokens[tok]
            return False
        if auth.startswith("Basic ") and emu.basic_auth:
            import base64

            try:
                user, _, pw = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except Exception:
                return False
            u = emu._users.get(user)
            return bool(u and u.password == pw and not u.account_problem)
        return False

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def _dispatch(self) -> None:
        emu = self.emu
        body = self._body()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        emu.received.append((self.command, self.path))
        delay = emu._delay_for(path)
        if delay:
            time.sleep(delay)
        fault = emu._take_fault(self.command, path)
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return self._error(fault.status, fault.message, extra)
        if not path.startswith("/api/"):
            return self._error(404, f"no such resource {path}")
        segs = [s for s in path[len("/api/"):].split("/") if s]
        try:
            if segs == ["authentication"] and self.command == "POST":
                return self._login(body)
            if not self._authorized():
                return self._error(401, "Invalid or expired token")
            return self._route(segs, query, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _login(self, body: bytes) -> None:
        emu = self.emu
        form = parse_qs(body.decode("utf-8", "replace"))
        with emu._lock:
            emu.token_requests += 1
        if form.get("grant_type", [""])[0] != "password":
            return self._error(400, "unsupported grant_type")
        user = emu._users.get(form.get("username", [""])[0])
        if user is None or user.password != form.get("password", [""])[0]:
            return self._error(401, "Invalid username or password")
        if user.account_problem:
            return self._error(401, user.account_problem)
        token = secrets.token_urlsafe(24)
        with emu._lock:
            emu._tokens[token] = None if emu.token_ttl is None else time.monotonic() + emu.token_ttl
        reply = {"access_token": token, "token_type": "bearer"}
        if emu.token_ttl is not None:
            reply["expires_in"] = emu.token_ttl
        return self._json(200, reply)

    # -- records
    @staticmethod
    def _conn_rec(c: _Connection) -> dict:
        return {"id": c.id, "alias": c.alias, "type": c.type, "active": True, "enabled": True, "ready": True,
                "meta": {"resourceType": "connection", "created": _now_iso(), "lastModified": _now_iso()},
                "_links": {"self": {"href": f"/api/connections/{c.id}"}}}

    def _file_rec(self, c: _Connection, f: _File) -> dict:
        links = {"self": {"href": f"/api/connections/{c.id}/incoming/{f.id}"}}
        if self.emu.content_links:
            links["content"] = {"href": f"/api/connections/{c.id}/incoming/{f.id}"}
        return {"id": f.id, "name": f.name, "length": len(f.content),
                "meta": {"resourceType": "incoming", "created": f.created}, "_links": links}

    @staticmethod
    def _action_rec(a: _Action) -> dict:
        rec = {"id": a.id, "alias": a.alias, "enabled": True,
               "_links": {"self": {"href": f"/api/actions/{a.id}"}, "run": {"href": f"/api/actions/{a.id}/run"}}}
        if a.connection_id:
            rec["connection"] = {"href": f"/api/connections/{a.connection_id}"}
        return rec

    def _conn_by_id(self, cid: str) -> _Connection | None:
        for c in self.emu._connections.values():
            if c.id == cid:
                return c
        return None

    # -- routes
    def _route(self, segs: list[str], query: dict, body: bytes) -> None:
        emu = self.emu
        m = self.command
        if segs == ["connections"] and m == "GET":
            with emu._lock:
                recs = [self._conn_rec(c) for c in emu._connections.values()]
            return self._json(200, _page(_filter_alias(recs, query), query))
        if segs == ["actions"] and m == "GET":
            with emu._lock:
                recs = [self._action_rec(a) for a in emu._actions.values()]
            return self._json(200, _page(_filter_alias(recs, query), query))
        if len(segs) == 3 and segs[0] == "actions" and segs[2] == "run" and m == "POST":
            return self._run_action(segs[1], body)
        if len(segs) >= 3 and segs[0] == "connections":
            with emu._lock:
                conn = self._conn_by_id(segs[1])
            if conn is None:
                return self._error(404, f"connection {segs[1]} not found")
            if segs[2] == "incoming" and len(segs) == 3 and m == "GET":
                with emu._lock:
                    recs = [self._file_rec(conn, f) for f in conn.files]
                    by_id = {f.id: f for f in conn.files}
                    recs += [self._file_rec(conn, by_id[d]) for d in emu._dupes if d in by_id]
                return self._json(200, _page(recs, query))
            if segs[2] == "incoming" and len(segs) == 4:
                return self._incoming_file(conn, segs[3])
            if segs[2] == "outgoing" and len(segs) == 3 and m == "POST":
                cd = self.headers.get("Content-Disposition") or ""
                mm = re.search(r'filename="?([^";]+)"?', cd)
                name = mm.group(1) if mm else f"upload-{len(emu.uploads) + 1}"
                with emu._lock:
                    fid = emu._new_id("O")
                    emu.uploads.append({"id": fid, "connection_alias": conn.alias, "name": name, "content": body})
                return self._json(201, {"id": fid, "name": name, "length": len(body),
                                        "meta": {"resourceType": "outgoing"}})
        return self._error(404 if m in ("GET", "DELETE") else 405, f"no route {m} /api/{'/'.join(segs)}")

    def _incoming_file(self, conn: _Connection, fid: str) -> None:
        emu = self.emu
        with emu._lock:
            f = next((x for x in conn.files if x.id == fid), None)
        if f is None:
            return self._error(404, f"file {fid} not found")
        if self.command == "DELETE":
            with emu._lock:
                conn.files = [x for x in conn.files if x.id != fid]
                emu.consumed.append(fid)
            return self._send(204)
        if self.command != "GET":
            return self._error(405, "method not allowed")
        if "application/octet-stream" not in (self.headers.get("Accept") or ""):
            return self._json(200, self._file_rec(conn, f))
        truncate, keep = emu._take_truncation(fid)
        headers = {"Content-Disposition": f'attachment; filename="{f.name}"'}
        if not truncate:
            return self._send(200, f.content, "application/octet-stream", headers)
        keep = len(f.content) // 2 if keep is None else keep
        emu.requests.append((self.command, self.path, 200))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(f.content)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(f.content[:keep])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True  # drop the socket: the client sees a short body

    def _run_action(self, aid: str, body: bytes) -> None:
        emu = self.emu
        with emu._lock:
            a = emu._actions.get(aid)
        if a is None:
            return self._error(404, f"action {aid} not found")
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            return self._error(400, "body is not JSON")
        messages = [f"Run action {a.alias}"]
        with emu._lock:
            emu.action_runs.append({"action": a.alias, "body": params})
            conn = self._conn_by_id(a.connection_id) if a.connection_id else None
            if a.kind == "fail":
                return self._json(200, {"status": "completed", "result": "failure",
                                        "messages": messages + ["Connection refused by partner"]})
            if a.kind == "receive" and conn is not None:
                for f in conn.pending:
                    conn.files.append(f)
                    messages.append(f"Received {f.name}")
                conn.pending = []
            if a.kind == "archive":
                target = None
                conns = [conn] if conn else list(emu._connections.values())
                for c in conns:
                    for f in c.files:
                        if f.id == params.get("fileId") or (not params.get("fileId") and f.name == params.get("file")):
                            target = (c, f)
                if target is None:
                    return self._json(200, {"status": "completed", "result": "failure",
                                            "messages": messages + ["file not found"]})
                c, f = target
                c.files = [x for x in c.files if x.id != f.id]
                emu.archived.setdefault(c.alias, []).append(f.name)
                emu.consumed.append(f.id)
                messages.append(f"Archived {f.name}")
        return self._json(200, {"status": "completed", "result": "success", "messages": messages})


def main(argv: list[str] | None = None) -> None:
    """``python -m fakes.cleo --samples DIR``: serve until Ctrl-C (manual tests, demos)."""
    import argparse

    ap = argparse.ArgumentParser(description="Local Cleo REST API emulator (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="apiuser")
    ap.add_argument("--password", default="apipass")
    ap.add_argument("--alias", default="DEMO-SUPPLIER")
    ap.add_argument("--samples", help="folder whose *.edi files are put in the inbox")
    ap.add_argument("--server-version", default="Cleo Harmony/5.8.0.24 (Linux)")
    args = ap.parse_args(argv)
    emu = CleoEmulator(args.port, users={args.user: args.password}, server_version=args.server_version)
    emu.start()
    emu.add_connection(args.alias)
    n = len(emu.seed_from_folder(args.samples, args.alias)) if args.samples else 0
    print(f"Cleo emulator at {emu.api_url} (user {args.user!r}); connection {args.alias!r} holds {n} files")
    print(json.dumps(emu.client_settings()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
