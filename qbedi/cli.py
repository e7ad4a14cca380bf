"""``qbedi`` command line.

Exit codes (also in ``qbedi --help``): 0 success (held documents are a success: they wait for a person),
1 a file, a document or a service could not be read, or an action was refused, 2 invalid configuration or usage.
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

from typing import TYPE_CHECKING

from connector import __version__  # (a string: the package's __init__ imports nothing)

if TYPE_CHECKING:
    from connector.settings import Settings

# Lazy imports: the settings models, the runtime and everything below them are imported when a command runs,
# never for `--help` or `--version` (tests/e2e/test_cli_no_tracebacks.py keeps it so).


def _started(args) -> None:
    """``qbedi poll`` / ``translate`` have imported and built what they run with, which lives as long as the
    process: set it aside from the garbage collector's full passes (``gc.freeze``), which would otherwise walk
    those ~100,000 objects again every few thousand allocations (a big file's poll spent 7 % of its time there,
    more as it went on; ``qbedi run`` does the same in :func:`qbwc_server.server.settle_heap`). No collection
    first: it would cost a small file's translation ~30 ms, to free ~2,000 objects. Only in a process of its
    own: inside another program (a test calling :func:`main`) it would also keep that program's garbage."""
    if getattr(args, "own_process", False):
        import gc

        gc.freeze()


@contextlib.contextmanager
def _whole_parse(args):
    """A file parsed whole in memory (``qbedi translate``, up to :data:`TRANSLATE_IN_MEMORY`): every object the
    parser makes lives until the command ends, and none is in a reference cycle, yet the collector's full
    passes walked them all again as they piled up (three for a 5 MB file, each longer than the last: about 0.2
    s, a tenth of the command, to free nothing). In a process of its own the collector waits until the parse is
    done, and what it made then joins the objects set aside (:func:`_started`)."""
    import gc

    if not (getattr(args, "own_process", False) and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def build_runtime(settings: Settings, *args, **kwargs):
    """:func:`qbedi.runtime.build_runtime`, imported when a command first needs it. A command that has not set
    up logging itself gets it at warning level, to stderr or the log file: its output is its report (a log
    line on stdout broke ``--json``: ``qbedi release --all --json`` printed a line per document queued), and
    logging as configured is what redacts secrets."""
    import structlog

    from .runtime import build_runtime as build

    if not structlog.is_configured():
        _setup_logging(settings, argparse.Namespace(quiet_logs=True))
    return build(settings, *args, **kwargs)


def _config_path(arg: str | None) -> str | None:
    if arg:
        return arg
    if os.environ.get("QBEDI_CONFIG"):
        return os.environ["QBEDI_CONFIG"]
    return "qbedi.yaml" if Path("qbedi.yaml").is_file() else None


class NoConfig(Exception):
    """A command that works on a workspace found none: says where it looked (never an empty ./qbedi.db)."""

    def __str__(self) -> str:
        return (f"no configuration found: no --config, no $QBEDI_CONFIG, no qbedi.yaml in {Path.cwd()}. "
                "Pass --config FILE, or make a workspace with `qbedi init DIR`")


def _settings(args, *, required: bool = True, suppliers_file: bool = True) -> Settings:
    """The workspace's settings. ``required=False``: the embedded defaults when no config is found
    (translate, qwc); otherwise :class:`NoConfig`. ``suppliers_file`` False: without the suppliers file."""
    from connector.settings import load_settings

    from . import runtime

    del runtime  # imported for what importing it does: the adapters' source types are known before a config is read

    path = _config_path(getattr(args, "config", None))
    if path is None and required:
        raise NoConfig()
    return load_settings(path, suppliers_file=suppliers_file)


def _setup_logging(settings: Settings, args) -> None:
    from connector.logs import configure_logging  # structlog

    level = "DEBUG" if getattr(args, "verbose", False) else settings.logging.level
    if getattr(args, "quiet_logs", False):
        level = "WARNING"
    lg = settings.logging
    configure_logging(level, lg.format, str(settings.resolve(lg.file)) if lg.file else None, max_mb=lg.max_mb,
                      keep=lg.keep)


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# ---------------------------------------------------------------- commands

PROGRESS_SECONDS = 5.0  # a long command (release --all) says how far it is this often, on stderr
TRANSLATE_IN_MEMORY = 8 << 20  # files up to this size are parsed in one pass, bigger ones streamed in two


def cmd_translate(args) -> int:
    """Each translation is written out as soon as it is made (``--json`` too). A file up to
    :data:`TRANSLATE_IN_MEMORY` bytes is read and parsed in one pass; a bigger one is streamed, one set
    in memory at a time: its envelopes first (:func:`edi.survey`: a GE/IEA fault after a set rejects it, as
    a whole-file parse does), then set by set, so a file of any size costs the memory of its biggest set."""
    import hashlib

    import edi  # the X12 parser
    from connector.translate import translate_set  # lxml

    settings = _settings(args, required=False)
    _setup_logging(settings, argparse.Namespace(quiet_logs=True))
    _started(args)
    out = _TranslationsOut(args.json)
    unreadable = False
    for name in args.files:
        try:
            fh = open(name, "rb")
        except OSError as e:
            out.error(name, "unreadable", f"cannot read the file: {e.strerror or e}")
            unreadable = True
            continue
        with fh:
            if os.fstat(fh.fileno()).st_size <= TRANSLATE_IN_MEMORY:
                data = fh.read()
                with _whole_parse(args):
                    digest, result = hashlib.sha256(data).hexdigest(), edi.parse_bytes(data)
                count, sets, errors = len(result.sets), enumerate(result.sets), result.errors
            else:
                sha = hashlib.sha256()
                for block in iter(lambda: fh.read(1 << 20), b""):
                    sha.update(block)
                fh.seek(0)
                survey = edi.survey(fh)
                fh.seek(0)
                digest, count, errors = sha.hexdigest(), survey.sets, survey.result.errors
                sets = ((n, survey.apply(n, ps)) for n, ps in enumerate(edi.EdiReader(fh)))
            if not count:
                out.error(name, errors[0].code if errors else "no_transaction",
                          "; ".join(i.message for i in errors) or "no X12 transaction set found in the file")
                continue
            for ordinal, ps in sets:
                out.document(translate_set(settings, ps, ordinal=ordinal, file_sha256=digest, file_name=name).json)
    out.finish()
    return 1 if unreadable else 0


class _TranslationsOut:
    """``qbedi translate``'s output, written a document at a time: the text lines, or one JSON object
    ``{"documents": [...], "errors": [...]}`` streamed (errors are few: kept for the end)."""

    def __init__(self, as_json: bool):
        self.as_json, self.errors, self.count = as_json, [], 0

    def document(self, d: dict) -> None:
        if self.as_json:  # a document a line: json's C encoder (an indented dump runs the pure-Python one, 3x slower)
            sys.stdout.write(('{\n  "documents": [\n    ' if not self.count else ",\n    ")
                             + json.dumps(d, default=str))
        else:
            print(f"{d['file']}: {d['transaction_set']} {d['document_number'] or '-'} "
                  f"supplier={d['supplier']['id'] or '?'} total={d['total']} -> {d['status'].upper()}")
            for h in d["holds"]:
                print(f"    {h['code']}: {h['message']}")
        self.count += 1

    def error(self, name: str, code: str, message: str) -> None:
        self.errors.append({"file": name, "code": code, "message": message})

    def finish(self) -> None:
        if not self.as_json:
            for e in self.errors:
                print(f"{e['file']}: ERROR {e['code']}: {e['message']}")
            return
        sys.stdout.write(('{\n  "documents": [' if not self.count else "") + "\n  ],\n  \"errors\": "
                         + textwrap.indent(json.dumps(self.errors, indent=2, default=str), "  ").lstrip() + "\n}\n")


def cmd_ack(args) -> int:
    import edi  # the X12 parser
    from edi.ack import build_997

    out = {"acks": [], "errors": []}
    for n, name in enumerate(args.files, 1):
        try:
            data = Path(name).read_bytes()
        except OSError as e:
            out["errors"].append({"file": name, "message": f"cannot read the file: {e.strerror or e}"})
            continue
        result = edi.parse_bytes(data, keep_segments=True)
        if not result.groups:
            out["errors"].append({"file": name, "message": "no functional group to acknowledge"})
            continue
        control = args.control_number + n - 1
        text = build_997(result, control_number=control)
        out["acks"].append({"file": name, "control_number": control, "x12": text})
        if not args.json:
            sys.stdout.write(text)
    if args.json:
        _print_json(out)
    else:
        for e in out["errors"]:
            print(f"{e['file']}: {e['message']}", file=sys.stderr)
    return 1 if out["errors"] else 0


def cmd_check(args) -> int:
    settings = _settings(args)
    rt = build_runtime(settings, migrate=False, with_sources=False)
    rt.check_database()
    current, head = rt.store.revisions()
    rt.close()
    print(f"{settings.source_file}: OK ({len(settings.sources)} source(s), "
          f"{len(settings.web_connector.users)} Web Connector user(s), {len(settings.suppliers)} supplier(s))")
    from connector.store import schema_newer

    if current != head:
        print("  database: " + ("empty: qbedi run (or qbedi migrate) sets it up" if current is None else
                                schema_newer(current) or f"at schema {current}, this qbedi needs {head}: run qbedi "
                                                         "migrate"))
    for w in settings.warnings():
        print(f"  warning: {w}")
    return 0


def _interactive() -> bool:
    """Is a person at a terminal on standard input (prompt, without echo for secrets), or is it a pipe,
    a file or nothing (read the answers from it, print no prompt)?"""
    return sys.stdin is not None and sys.stdin.isatty()


def cmd_migrate(args) -> int:
    settings = _settings(args)
    rt = build_runtime(settings, migrate=False, with_sources=False)
    try:
        before, head = rt.store.revisions()
        rt.migrate()
    finally:
        rt.close()
    print(f"database schema {head}" + (" (was empty)" if before is None else f" (was {before})" if before != head
                                        else " (already up to date)"))
    return 0


def _stdin_has_data() -> bool:
    """Something is waiting on a non-terminal standard input (never blocks)."""
    try:
        import select

        return bool(select.select([sys.stdin], [], [], 0.2)[0])
    except (ValueError, OSError, TypeError):  # no select on this stream (Windows pipes): do not guess
        return False


def cmd_hash_password(args) -> int:
    pw = os.environ.get("QBEDI_QBWC_PASSWORD")
    if pw and not _interactive() and sys.stdin is not None and _stdin_has_data():
        piped = sys.stdin.readline().rstrip("\r\n")
        if piped and piped != pw:
            print("qbedi: both $QBEDI_QBWC_PASSWORD (the Web Connector's password) and standard input give a "
                  "password; nothing was hashed. To hash the one on standard input (e.g. a web page user's), "
                  "run it with QBEDI_QBWC_PASSWORD unset: env -u QBEDI_QBWC_PASSWORD qbedi hash-password",
                  file=sys.stderr)
            return 2
    if pw:
        print("qbedi: hashing $QBEDI_QBWC_PASSWORD (the Web Connector's password); unset it to hash another",
              file=sys.stderr)
    if not pw and _interactive():
        try:
            pw = getpass.getpass("Web Connector password: ")
        except EOFError:
            pw = ""
        if not pw:
            print("qbedi: no password typed: run it again and type the Web Connector password", file=sys.stderr)
            return 2
    elif not pw:
        pw = sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""
        if not pw:
            print("qbedi: no password on standard input: give it on one line (or set $QBEDI_QBWC_PASSWORD)",
                  file=sys.stderr)
            return 2
    from connector.passwords import hash_password

    print(hash_password(pw))
    return 0


def cmd_init(args) -> int:
    from .workspace import init_workspace

    return init_workspace(Path(args.dir), user=args.user, port=args.port, url=args.url, company_file=args.company_file)


def cmd_qwc(args) -> int:
    from qbwc_server.qwc import QwcError, build_qwc  # lxml

    settings = _settings(args, required=False)
    if settings.web_connector.users and settings.user(args.user) is None:
        print(f"{args.user!r} is not a Web Connector user of {settings.source_file} (users: "
              f"{', '.join(u.username for u in settings.web_connector.users)}): QBWC would be refused; give one of "
              "them with --user, or add the user to web_connector.users first", file=sys.stderr)
        return 2
    url = args.url or settings.web_connector.public_url
    if not url:
        print("give --url (the address QBWC will call) or set web_connector.public_url", file=sys.stderr)
        return 2
    from web import WebSetupError, support_url  # flask: only here

    try:
        text = build_qwc(app_name=args.app_name, app_url=url, support_url=args.support_url or
                         support_url(settings, url, args.user), username=args.user, company_file=args.company or "",
                         run_every_minutes=args.every or settings.web_connector.run_every_minutes)
    except (QwcError, ValueError, WebSetupError) as e:
        print(f"cannot write a .qwc file: {e}", file=sys.stderr)
        return 2
    if "key=" in text and not args.support_url:  # (a keyed support link: made with the web page's key)
        print("note: its support link is signed with " + ("$QBEDI_WEB_SECRET" if os.environ.get("QBEDI_WEB_SECRET")
                                                         else f"the key file {settings.resolve(settings.web.secret_key_file)}")
              + ": qbedi run must sign with the same (else the page names no company)", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: add it in QuickBooks Web Connector (Add an application), "
              f"then type the password for {args.user}")
    else:
        sys.stdout.write(text)
    return 0




def _cannot_listen(e) -> int:
    """One line for a port the service cannot have (qbwc_server.server.CannotListen), exit code 2."""
    where = "--port N or web_connector.listen.port in the config"
    if e.reason == "in_use":
        msg = (f"port {e.port} on {e.host} is already in use: is another qbedi (run or serve) already running? "
               f"Stop it, or choose another port with {where}")
    elif e.reason == "not_allowed":
        msg = (f"not allowed to listen on port {e.port} (ports below 1024 need administrator rights): "
               f"choose a port above 1024 with {where}")
    elif e.reason == "not_here":
        msg = (f"cannot listen on {e.host}: it is not an address of this machine ({e.detail}); "
               "set web_connector.listen.host in the config, or --host with qbedi serve (127.0.0.1: this "
               "machine only)")
    else:
        msg = f"cannot listen on {e.host} port {e.port} ({e.detail}): choose another port with {where}"
    print(f"qbedi: {msg}", file=sys.stderr)
    return 2


def cmd_serve(args) -> int:
    from qbwc_server.server import CannotListen, serve  # spyne, waitress

    settings = _settings(args)
    _setup_logging(settings, args)
    rt = build_runtime(settings, with_sources=False)
    wc = settings.web_connector
    try:
        with rt.store.serving():
            serve(rt.wsgi_app(), args.host or wc.listen.host, args.port if args.port is not None else wc.listen.port)
    except CannotListen as e:
        return _cannot_listen(e)
    finally:
        rt.close(fold_log=True)
    return 0


def cmd_run(args) -> int:
    from qbwc_server.server import CannotListen

    from .daemon import run_daemon  # apscheduler

    settings = _settings(args)
    _setup_logging(settings, args)
    rt = build_runtime(settings)
    try:
        with rt.store.serving():  # (a restore or a copy of the database waits for this to stop)
            return run_daemon(rt, port=args.port)  # (which sets its startup objects aside itself: settle_heap)
    except CannotListen as e:
        return _cannot_listen(e)
    finally:
        rt.close(fold_log=True)  # (SQLite: its log folded into the database file)


def cmd_poll(args) -> int:
    from .daemon import Poller  # apscheduler

    settings = _settings(args)
    _setup_logging(settings, args)
    rt = build_runtime(settings)
    _started(args)
    reports = []
    for src in rt.sources:
        if args.source and src.name != args.source:
            continue
        reports.append(Poller(rt, src)(force=True))
    out = [{"source": r.source, "listed": r.listed, "skipped": r.skipped, "errors": r.errors,
            "acks_resent": r.acks_resent, "still_being_written": r.settling, "waiting_why": r.settling_why,
            "paused": r.paused,
            "polled_elsewhere": r.elsewhere,
            "fetched": [{"file": f.name, "file_id": f.file_id, "duplicate": f.duplicate, "error": f.error,
                         "ack": f.ack,
                         "documents": [{"id": d.document_id, "transaction_set": d.translation.json["transaction_set"],
                                        "document_number": d.translation.json["document_number"],
                                        "status": d.status, "holds": d.translation.json["holds"]}
                                       for d in f.documents],
                         "counts": f.counts, "not_listed": sum(f.counts.values()) - len(f.documents)}
                        for f in r.fetched]}
           for r in reports if r is not None]
    if args.json:
        _print_json({"polls": out})
    else:
        for r in out:
            if r["paused"] or r["polled_elsewhere"]:
                print(f"{r['source']}: " + ("paused (qbedi resume --source " + r["source"] + ")" if r["paused"] else
                                            "another qbedi process is polling it right now; left to that one"))
                continue
            print(f"{r['source']}: {r['listed']} listed, {len(r['fetched'])} fetched, {r['skipped']} already had"
                  + (f", {r['acks_resent']} earlier 997(s) delivered" if r["acks_resent"] else ""))
            for f in r["fetched"]:
                print(f"  {f['file']}" + (" (duplicate)" if f["duplicate"] else "") +
                      (f" ERROR {f['error']}" if f["error"] else ""))
                for d in f["documents"]:
                    print(f"    #{d['id']} {d['transaction_set']} {d['document_number']}: {d['status']}" +
                          "".join(f"\n      {h['code']}: {h['message']}" for h in d["holds"]))
                if f["not_listed"]:
                    print(f"    ... and {f['not_listed']:,} more; in all: " + ", ".join(
                        f"{n:,} {status}" for status, n in sorted(f["counts"].items())) +
                        ("; the held ones: qbedi documents --status held" if f["counts"].get("held") else ""))
            for name in r["still_being_written"]:
                print(f"  {name}: " + r["waiting_why"].get(name, "still being written; read on the next poll"))
            for e in r["errors"]:
                print(f"  error: {e}")
    return 1 if any(r["errors"] and not r["fetched"] for r in out) else 0


def cmd_status(args) -> int:
    from sqlalchemy import func, select

    from connector.settings import ConfigError

    from connector.delivery import last_contact  # sqlalchemy, like the rest
    from connector.services import ACK_MAX_ATTEMPTS, file_counts
    from connector.store import Document, OutboundAck, SourceState

    try:
        settings = _settings(args)
    except ConfigError as e:  # status is what an admin runs when something is wrong: an unreadable mapping too
        settings = _settings(args, suppliers_file=False)
        if not settings.suppliers_file or e.file != str(settings.resolve(settings.suppliers_file)):
            raise
        print(f"warning: the suppliers file does not read ({e}); shown without it: a running qbedi keeps the last "
              "mapping that read", file=sys.stderr)
    rt = build_runtime(settings, with_sources=False, read_only=True)
    with rt.store.session() as s:
        counts = dict(s.execute(select(Document.status, func.count()).group_by(Document.status)).all())
        acks: dict[str, dict[str, int]] = {}
        for source, state, n in s.execute(select(OutboundAck.source, OutboundAck.state, func.count())
                                          .where(OutboundAck.state != "sent")
                                          .group_by(OutboundAck.source, OutboundAck.state)):
            acks.setdefault(source, {})[state] = n
        sources = [{"name": st.name, "last_poll_at": st.last_poll_at, "last_ok_at": st.last_ok_at,
                    "consecutive_failures": st.consecutive_failures, "last_error": st.last_error,
                    "next_poll_at": st.next_poll_at, "files_fetched": st.files_fetched,
                    "acks_pending": acks.get(st.name, {}).get("pending", 0),
                    "acks_abandoned": acks.get(st.name, {}).get("abandoned", 0),
                    "acks_kept": acks.get(st.name, {}).get("kept", 0)}
                   for st in s.scalars(select(SourceState))]
    from connector import control
    from connector.status import Activity

    paused = control.pauses(rt.store)
    for src in sources:
        src["paused"] = (paused[("source", src["name"])].as_dict() if ("source", src["name"]) in paused else None)
    quickbooks = last_contact(rt.store)
    for q in quickbooks:
        q["paused"] = (paused[("company", q["company"])].as_dict() if ("company", q["company"]) in paused else None)
    status = {"documents": counts, "files": file_counts(rt.store), "sources": sources, "quickbooks": quickbooks,
              "paused": [p.as_dict() for p in paused.values()],
              "sync_requests": control.open_sync_requests(rt.store),
              "recent_errors": control.history(rt.store, kinds=[Activity.POLL_FAILED, Activity.SESSION_ERROR],
                                               limit=10)}
    if args.json:
        _print_json(status)
        return 0
    print("documents: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none yet"))
    files = status["files"]
    print("files received: " + (", ".join(f"{k} {v}" for k, v in sorted(files.items())) or "none yet")
          + ("  (qbedi files --verdict ... lists them)" if set(files) - {"parsed"} else ""))
    for src in sources:
        state = "OK" if not src["consecutive_failures"] else f"FAILING x{src['consecutive_failures']}"
        print(f"source {src['name']}: {state}, last poll {src['last_poll_at'] or 'never'}, "
              f"{src['files_fetched']} file(s) fetched" + (f"; last error: {src['last_error']}" if src["last_error"] else ""))
        if src["acks_pending"]:
            print(f"  {src['acks_pending']} 997 acknowledgment(s) waiting to be delivered (retried on every poll)")
        if src["acks_kept"]:
            print(f"  {src['acks_kept']} 997 acknowledgment(s) kept, not sent: this source has no outbox (folder "
                  "outbox:, Cleo upload_acks: true); qbedi ack FILE writes one")
        if src["acks_abandoned"]:
            print(f"  {src['acks_abandoned']} 997 acknowledgment(s) given up after {ACK_MAX_ATTEMPTS} tries: send them "
                  "by hand (qbedi ack FILE writes one; the log's ack.abandoned names each)")
    for q in status["quickbooks"]:
        print(f"QuickBooks via {q['company']}: last Web Connector contact {q['last_contact'] or 'never'}"
              + (f" ({q['last_result']})" if q["last_result"] else ""))
        mismatch = (q.get("info") or {}).get("file_mismatch")
        if mismatch:
            print(f"  NOTHING IS POSTED: at {mismatch['at']} QuickBooks had '{mismatch['open']}' open, not "
                  f"'{mismatch['configured']}'; open the right company file and run the Web Connector again")
        refused = q.get("last_refused_login")
        if refused and (not q["last_contact"] or refused["at"] > q["last_contact"]):
            print(f"  its last login was REFUSED at {refused['at']} ({refused['reason']}, from "
                  f"{refused.get('remote') or '?'}): check the password typed in the Web Connector")
    if not status["quickbooks"]:
        print("QuickBooks: the Web Connector has not called yet")
    for p in status["paused"]:
        print(f"PAUSED {p['scope']} {p['name']} since {p['paused_at']} by {p['by'] or '?'}"
              + (f" ({p['reason']})" if p["reason"] else "") + f": qbedi resume --{p['scope']} {p['name']}")
    if counts.get("awaiting_approval"):
        print(f"{counts['awaiting_approval']} document(s) awaiting approval: qbedi documents --status "
              "awaiting_approval, then qbedi approve ID... (or reject ID... --reason ...)")
    for r in status["sync_requests"]:
        print(f"waiting for the running qbedi: {r['kind']} {r['target'] or '(all)'} asked by {r['by']} at "
              f"{r['requested_at']}")
    if status["recent_errors"]:
        print("recent errors (newest first):")
        for e in status["recent_errors"]:
            print(f"  {e['at']}  {e['scope']} {e['name']}: {e['message']}")
    return 0


def _limit(args) -> int | None:
    return None if args.all else args.limit


def _more(page, what: str) -> None:
    if not page.complete:
        print(f"(showing {len(page.rows)} of {page.total} {what}: --limit N or --all for more)")


def cmd_documents(args) -> int:
    from connector import views
    from connector.services import document_page  # sqlalchemy
    from connector.store import Document

    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    user = rt.settings.user(args.company) if args.company else None
    if args.company and user is None:
        print(f"qbedi: no Web Connector user {args.company!r} in the config (users: "
              f"{', '.join(u.username for u in rt.settings.web_connector.users) or 'none'})", file=sys.stderr)
        return 2
    try:
        page = document_page(rt.store, status=args.status, limit=_limit(args),
                             where=(views.scope(rt.settings, [user.username]) if user else [])
                             + ([Document.file_id == args.file] if args.file is not None else []))
    except ValueError as e:
        print(f"qbedi: {e}", file=sys.stderr)
        return 2
    views.with_company(rt.settings, page.rows)  # (one held before it was queued: its supplier's company)
    several = len(rt.settings.web_connector.users) > 1  # (the company in the text: only when there is a choice)
    if args.json:
        _print_json({"documents": page.rows, "total": page.total, "limit": page.limit})
        return 0
    if not page.rows:
        print("no documents" + (f" with status {args.status}" if args.status else "")
              + (f" of company {user.username}" if user else ""))
    for r in page.rows:
        print(f"#{r['id']:<5} {r['transaction_set']} {r['document_number'] or '-':<16} {r['supplier'] or '?':<14} "
              f"{r['total'] or '':>12} {r['status']:<9} " + (f"{r['company'] or '-':<10} " if several else "")
              + (f"{r['qb_txn_type']} {r['qb_txn_id']}" if r["qb_txn_id"] else (r["reason"] or "")))
    _more(page, "documents")
    return 0


def cmd_files(args) -> int:
    from connector.services import file_page  # sqlalchemy

    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    page = file_page(rt.store, verdict=args.verdict, limit=_limit(args))
    if args.json:
        _print_json({"files": page.rows, "total": page.total, "limit": page.limit})
        return 0
    if not page.rows:
        print("no files received" + (f" with verdict {args.verdict}" if args.verdict else ""))
    for f in page.rows:
        docs = ", ".join(f"#{d['id']} {d['transaction_set']} {d['document_number'] or '-'} {d['status']}"
                         for d in f["documents"][:3])
        if f["document_count"] > 3:
            docs += f" and {f['document_count'] - 3:,} more (qbedi documents --file {f['id']})"
        print(f"file {f['id']:<5} {f['received_at'][:19] if f['received_at'] else '':<19}  {f['name'][:40]:<40} "
              f"{f['verdict']:<12} " + (docs or f["reason"] or ""))
    _more(page, "files")
    return 0


def cmd_resync(args) -> int:
    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    try:
        rt.ingest.resync(args.id, by=getpass.getuser())
    except (LookupError, ValueError) as e:
        print(f"qbedi: {e}", file=sys.stderr)
        return 1
    print(f"document #{args.id} queued again: it is posted at the next Web Connector run")
    return 0


def cmd_retry_file(args) -> int:
    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    try:
        out = rt.ingest.retry_file(args.id, by=getpass.getuser())
    except (LookupError, ValueError) as e:
        print(f"qbedi: {e}", file=sys.stderr)
        return 1
    if args.json:
        _print_json({"file": args.id, "error": out.error,
                     "documents": [{"id": d.document_id, "status": d.status} for d in out.documents]})
    elif out.error:
        print(f"file #{args.id}: translating it failed again: {out.error}")
    else:
        print(f"file #{args.id} translated: " + (", ".join(f"#{d.document_id} {d.status}" for d in out.documents)
                                                 or "no documents"))
    return 1 if out.error else 0


def cmd_show(args) -> int:
    from connector import views
    from connector.delivery import why_waiting  # sqlalchemy
    from connector.store import Document, audit_trail

    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    with rt.store.session() as s:
        d = s.get(Document, args.id)
        if d is None:
            if args.json:
                _print_json({"id": args.id, "ok": False, "error": f"no document #{args.id}"})
            print(f"no document #{args.id}", file=sys.stderr)
            return 1
        trail = [{"at": e.at.isoformat(), "kind": e.kind, **e.detail} for e in audit_trail(s, d.id)]
        info = {"id": d.id, "file": d.file.name, "status": d.status, "company": d.company, "supplier": d.supplier_id,
                "sender": d.sender_id, "reason_code": d.reason_code,
                "reason": d.reason, "qb_txn_type": d.qb_txn_type, "qb_txn_id": d.qb_txn_id,
                "qb_amount": None if d.qb_amount is None else str(d.qb_amount), "document": d.parsed,
                "waiting": why_waiting(s, d),
                "audit": [{"at": d.file.received_at.isoformat(), "kind": "received", "file": d.file.name,
                           "source": d.file.source, "size": d.file.size}] + trail}
    views.with_company(rt.settings, [info])  # (held before it was queued: where its supplier's documents go)
    if args.json:
        _print_json(info)
        return 0
    doc = info["document"]
    total = f"total {doc['total']} " if doc.get("total") is not None else ""
    print(f"document #{info['id']} from {info['file']}: {doc.get('transaction_set')} {doc.get('document_number')} "
          f"{total}-> {info['status']}" + (f" (company {info['company']})" if info["company"] else ""))
    if info["reason"]:
        print(f"  reason ({info['reason_code']}): {info['reason']}")
    if info["waiting"]:
        print(f"  waiting: {info['waiting']}")
    if info["qb_txn_id"]:
        print(f"  QuickBooks {info['qb_txn_type']} {info['qb_txn_id']} amount {info['qb_amount']}")
    _print_document_body(doc)
    print("  audit trail:")
    for e in info["audit"]:
        detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "kind") and v not in (None, "", [], {}))
        print(textwrap.fill(f"{e['at'][:19]}  {e['kind']:<18} {detail}", width=_width(), initial_indent="    ",
                            subsequent_indent=" " * 26, break_long_words=False, break_on_hyphens=False))
    return 0


def _width() -> int:
    return max(80, min(160, shutil.get_terminal_size((120, 24)).columns))


def _print_document_body(doc: dict) -> None:
    """Supplier, dates, lines and charges, totals: what a clerk compares with the paper invoice."""
    sup = doc.get("supplier") or {}
    print(f"  supplier: {sup.get('name') or '?'} ({sup.get('id') or 'not mapped'}); dated {doc.get('document_date')}"
          + (f", due {doc['due_date']}" if doc.get("due_date") else "") + f"; {doc.get('currency') or 'USD'}")
    lines = doc.get("lines") or []
    if lines:
        print("  lines:")
    for ln in lines:
        desc = " ".join(x for x in (ln.get("vendor_part"), ln.get("description")) if x)
        print(textwrap.fill(f"{ln.get('line_number') or '-':>4}  {ln.get('quantity')} {ln.get('unit') or ''} x "
                            f"{ln.get('unit_price') or '-'} = {ln.get('amount') or '-'}  {desc}", width=_width(),
                            initial_indent="    ", subsequent_indent=" " * 10, break_long_words=False))
    for c in doc.get("charges") or []:
        where = f"line {c['line']} " if c.get("line") else ""
        print(f"    {where}charge {' '.join(x for x in (c.get('code'), c.get('description')) if x)}: {c.get('amount')}"
              + ("  (not added: the invoice gives these charges twice, per line and for the whole)"
                 if c.get("counted") is False else ""))
    if doc.get("total") is not None:
        print(f"  total: {doc['total']}")


def cmd_release(args) -> int:
    narrowed = [o for o, v in (("--held-for", args.held_for), ("--supplier", args.supplier), ("--company", args.company),
                               ("--status", args.status), ("--since", args.since), ("--until", args.until)) if v]
    if args.all and args.id is not None:
        print("qbedi: name one document or give --all, not both", file=sys.stderr)
        return 2
    if not args.all and args.id is None:
        print("qbedi: name one document (qbedi documents --status held), or give --all", file=sys.stderr)
        return 2
    if narrowed and not args.all:
        print(f"qbedi: {', '.join(narrowed)} narrow --all; one document is named by its number alone",
              file=sys.stderr)
        return 2
    if args.all and (args.not_duplicate or args.accept_variance or args.receive_open):
        print("qbedi: --not-duplicate, --accept-variance and --receive-open are a person's reason for one document: "
              "name it", file=sys.stderr)
        return 2
    settings = _settings(args)
    rt = build_runtime(settings, with_sources=False, read_only=True)
    if args.all:
        return _release_all(rt, settings, args)
    try:
        if args.not_duplicate and not args.reason:
            raise ValueError("--not-duplicate needs --reason: why is it a different document?")
        if args.accept_variance and not args.reason:
            raise ValueError("--accept-variance needs --reason: why is the invoice right as it is?")
        if args.receive_open and not args.reason:
            raise ValueError("--receive-open needs --reason: why is only what is open received?")
        out = rt.ingest.release(args.id, not_duplicate=args.reason if args.not_duplicate else None,
                                accept_variance=args.reason if args.accept_variance else None,
                                receive_open=args.reason if args.receive_open else None,
                                by=getpass.getuser())
    except (LookupError, ValueError) as e:
        if args.json:  # (a script reads JSON either way)
            _print_json({"id": args.id, "ok": False, "error": str(e)})
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        _print_json({"id": out.document_id, "ok": True, "status": out.status,
                     "holds": [{"code": h.code, "message": h.message} for h in out.translation.holds]})
        return 0
    print(f"document #{out.document_id}: {out.status}" +
          "".join(f"\n  {h.code}: {h.message}" for h in out.translation.holds))
    return 0


def _release_all(rt, settings, args) -> int:
    """``qbedi release --all``: every held (and failed) document the filters leave, oldest first, with progress
    on stderr every few seconds (a big file's documents take minutes)."""
    from connector import views

    problem = None
    if args.company and settings.user(args.company) is None:
        problem = (f"no Web Connector user {args.company!r} in the config (users: "
                   f"{', '.join(u.username for u in settings.web_connector.users) or 'none'})")
    elif args.held_for and args.held_for not in views.ADVICE:
        problem = f"no reason code {args.held_for!r}; the codes are: {', '.join(sorted(views.ADVICE))}"
    elif args.supplier and args.supplier != "-" and args.supplier not in settings.suppliers:
        problem = (f"no supplier {args.supplier!r} in the suppliers configuration (suppliers: "
                   f"{', '.join(sorted(settings.suppliers)) or 'none'}; -: those no mapping matched)")
    try:
        where = None if problem else views.review_filter(status=args.status, reason=args.held_for,
                                                         supplier=args.supplier, company=args.company,
                                                         since=args.since, until=args.until, settings=settings)
    except ValueError as e:
        problem = str(e)
    if problem:
        print(f"qbedi: {problem}", file=sys.stderr)
        return 2
    said = [time.monotonic()]

    def progress(report) -> None:
        if not args.json and time.monotonic() - said[0] >= PROGRESS_SECONDS:
            said[0] = time.monotonic()
            print(f"released {report.released + report.not_released:,} of {report.matched:,}...", file=sys.stderr)

    report = rt.ingest.release_all(where, by=getpass.getuser(), progress=progress)
    if args.json:
        _print_json(report.as_dict())
    else:
        print(views.release_summary(report))
        for i, why in report.failed:
            print(f"document #{i}: {why}", file=sys.stderr)
        if report.not_released > len(report.failed):
            print(f"... and {report.not_released - len(report.failed):,} more", file=sys.stderr)
    return 1 if report.not_released else 0


def cmd_dismiss(args) -> int:
    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    try:
        rt.ingest.dismiss(args.id, args.reason, by=getpass.getuser())
    except (LookupError, ValueError) as e:
        if args.json:
            _print_json({"id": args.id, "ok": False, "error": str(e)})
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        _print_json({"id": args.id, "ok": True, "status": "dismissed", "reason": args.reason})
        return 0
    print(f"document #{args.id} dismissed: {args.reason}")
    return 0


def _each(ids, act) -> tuple[list[dict], int]:
    """Apply ``act`` to each id; (one result per id, exit code 1 when any was refused)."""
    results, code = [], 0
    for i in ids:
        try:
            act(i)
            results.append({"id": i, "ok": True})
        except (LookupError, ValueError) as e:
            results.append({"id": i, "ok": False, "error": str(e)})
            code = 1
    return results, code


def _awaiting(rt, supplier: str | None) -> list[int]:
    from sqlalchemy import select

    from connector.status import DocStatus
    from connector.store import Document

    with rt.store.session() as s:
        q = select(Document.id).where(Document.status == DocStatus.AWAITING_APPROVAL).order_by(Document.id)
        if supplier:
            q = q.where(Document.supplier_id == supplier)
        return list(s.scalars(q))


def _report(results: list[dict], done: str, args) -> None:
    if args.json:
        _print_json({"results": results})
        return
    if not results:
        print("nothing awaiting approval" + (f" from {args.supplier}" if getattr(args, "supplier", None) else ""))
    for r in results:
        if r["ok"]:
            print(f"document #{r['id']} {done}")
        else:
            error = r["error"]  # (the service's words often name the document already)
            print(error if error.startswith(f"document #{r['id']} ") else f"document #{r['id']}: {error}",
                  file=sys.stderr)


def cmd_approve(args) -> int:
    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    if not args.ids and not args.all:
        print("name the documents to approve (qbedi documents --status awaiting_approval), or --all", file=sys.stderr)
        return 2
    ids = args.ids or _awaiting(rt, args.supplier)
    who = getpass.getuser()
    results, code = _each(ids, lambda i: rt.ingest.approve(i, by=who))
    _report(results, "approved: it goes to QuickBooks at the next Web Connector run", args)
    return code


def cmd_reject(args) -> int:
    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    who = getpass.getuser()
    results, code = _each(args.ids, lambda i: rt.ingest.reject(i, args.reason, by=who))
    _report(results, f"rejected: {args.reason} (it will not reach QuickBooks)", args)
    return code


def _scope_of(args, settings) -> tuple[str, str]:
    """(scope, name) from --source / --company, checked against the config."""
    if args.source:
        names = [s.name for s in settings.sources]
        if args.source not in names:
            raise ValueError(f"no source {args.source!r} in the config (sources: {', '.join(names) or 'none'})")
        return "source", args.source
    user = settings.user(args.company)
    if user is None:
        raise ValueError(f"no Web Connector user {args.company!r} in the config (users: "
                         f"{', '.join(u.username for u in settings.web_connector.users) or 'none'})")
    return "company", user.username


def cmd_pause(args) -> int:
    from connector import control

    settings = _settings(args)
    rt = build_runtime(settings, with_sources=False, read_only=True)
    try:
        scope, name = _scope_of(args, settings)
    except ValueError as e:
        print(f"qbedi: {e}", file=sys.stderr)
        return 2
    if args.command == "pause":
        changed = control.pause(rt.store, scope, name, by=getpass.getuser(), reason=args.reason or "")
        what = ("paused: nothing is " + ("fetched from it" if scope == "source" else "sent to its QuickBooks")
                + " until `qbedi resume`; every record is kept") if changed else "was already paused"
    else:
        changed = control.resume(rt.store, scope, name, by=getpass.getuser())
        what = "resumed: it carries on where it stopped" if changed else "was not paused"
    if args.json:
        _print_json({"scope": scope, "name": name, "changed": changed, "paused": args.command == "pause"})
    else:
        print(f"{scope} {name} {what}")
    return 0


def cmd_sync(args) -> int:
    from connector import control
    from connector.status import SyncKind

    settings = _settings(args)
    rt = build_runtime(settings, with_sources=False, read_only=True)
    if args.what == "now":
        names = [s.name for s in settings.sources]
        if args.source and args.source not in names:
            print(f"qbedi: no source {args.source!r} in the config (sources: {', '.join(names)})", file=sys.stderr)
            return 2
        rid = control.request_sync(rt.store, SyncKind.POLL, args.source, by=getpass.getuser())
        text = (f"asked the running qbedi to poll {args.source or 'every source'} now (request {rid}); "
                "`qbedi status` shows the result. (No qbedi run? `qbedi poll --once` polls from here.)")
    else:
        if args.company and settings.user(args.company) is None:
            print(f"qbedi: no Web Connector user {args.company!r} in the config", file=sys.stderr)
            return 2
        company = settings.user(args.company).username if args.company else None
        rid = control.request_sync(rt.store, SyncKind.REFRESH_LISTS, company, by=getpass.getuser())
        text = (f"QuickBooks' vendor, account, class and item lists will be read again at the next Web Connector "
                f"session of {company or 'every company'} (request {rid})")
    if args.json:
        _print_json({"request": rid, "what": args.what, "target": args.source if args.what == "now" else args.company})
    else:
        print(text)
    return 0


def cmd_backup(args) -> int:
    from connector.backup import backup

    settings = _settings(args)
    return _database_copy(args, lambda: backup(settings.database_url, args.to), lambda done: (
        f"backed up {done['database']} to {done['file']} ({done['bytes']:,} bytes, {done['kind']}); "
        "restore: qbedi restore (SQLite), README, Running in production"))


def _database_copy(args, do, said) -> int:
    """A backup, a restore or a copy: its report (``said``, or JSON), or its one line of trouble (exit 1)."""
    from connector.backup import BackupError

    try:
        done = do()
    except BackupError as e:
        print(f"qbedi: {e}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(done)
    else:
        print(said(done))
    return 0


def _running(settings, what: str) -> bool:
    """Does a qbedi run / serve work on this database (its lock), or answer on the configured port? Then says
    so: ``what`` under a running qbedi would be wrong."""
    import socket

    from connector.store import Store

    store = Store(settings.database_url)
    try:
        held = store.in_use()
    except Exception:  # noqa: BLE001 - a database that does not open: the command itself says so
        held = False
    finally:
        store.dispose()
    listen = settings.web_connector.listen
    if not held:
        try:
            socket.create_connection(("127.0.0.1" if listen.host in ("0.0.0.0", "::", "") else listen.host,
                                      listen.port), timeout=0.5).close()
        except OSError:
            return False
    print("qbedi: " + ("a qbedi run (or serve) works on this database" if held else
                       f"something answers on {listen.host}:{listen.port}: is qbedi run (or serve) running?")
          + f" Stop it first: {what}", file=sys.stderr)
    return True


def cmd_copy_database(args) -> int:
    from connector.backup import copy_database

    settings = _settings(args)
    if _running(settings, "what it writes during the copy would be missing from the copy"):
        return 1

    def told(table, rows):
        if not args.json:
            print(f"  {table}: {rows:,} row(s)", file=sys.stderr)

    return _database_copy(args, lambda: copy_database(settings.database_url, args.to, progress=told), lambda done: (
        f"copied {done['from']} to {done['to']}: {sum(done['rows'].values()):,} rows, every table counted on both "
        "sides. Now set database.url to the new database (the old one is left as it was) and start qbedi."))


def cmd_restore(args) -> int:
    from connector.backup import restore

    settings = _settings(args)
    if not settings.database_url.startswith("sqlite"):
        print("qbedi: restore puts back SQLite backups; for PostgreSQL: createdb NEW && pg_restore --no-owner "
              "--dbname NEW FILE, then point database.url at NEW (README, Backups)", file=sys.stderr)
        return 2
    if _running(settings, "a restore under a running qbedi would mix two states"):
        return 1
    if not args.yes:
        if not _interactive():
            print("qbedi: a restore replaces the database: give --yes to do it without a question", file=sys.stderr)
            return 2
        answer = input(f"Replace the database of {settings.source_file} with {args.source}? "
                       "(it is kept beside it first) [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing restored")
            return 1
    return _database_copy(args, lambda: restore(settings.database_url, args.source), lambda done: (
        f"restored {done['database']} from {done['from']} (schema {done['schema']})"
        + (f"; the database it replaced is kept as {done['kept']}" if done["kept"] else "")
        + ". Start qbedi: what was in flight is checked in QuickBooks before anything is sent again."))


def cmd_vendors(args) -> int:
    from connector.settings import ConfigError
    from connector.vendors import map_supplier, reconcile, unmap_supplier

    settings = _settings(args)
    if args.action == "reconcile":
        rt = build_runtime(settings, with_sources=False, read_only=True)
        rows = reconcile(settings, rt.store, args.company)
        if args.json:
            _print_json({"vendors": rows})
            return 0
        for r in rows:
            if r["status"] == "mapped":
                print(f"MAPPED    {r['supplier_id']:<16} -> {r['vendor']} ({r['company']})"
                      + (f": {r['problem']}" if r.get("problem") else ""))
            elif r["status"] == "unmapped":
                print(f"UNMAPPED  {r.get('key') or r.get('supplier_id') or '?':<16} {r.get('name') or ''} "
                      f"({r.get('documents', 0)} document(s), {r.get('held', 0)} held)")
                for sug in (r.get("suggestions") or [])[:3]:
                    where = sug.get("company") if len(settings.web_connector.users) > 1 else None
                    print(f"          maybe {sug.get('vendor')!r}{f' in {where}' if where else ''}: {sug.get('reason')}"
                          f"  (qbedi vendors map {r.get('key')} {sug.get('vendor')!r}"
                          f"{f' --company {where}' if where else ''})")
            else:
                print(f"QB ONLY   {r.get('vendor')} ({r.get('company')}): no supplier maps to it")
        if not rows:
            print("nothing to reconcile yet: no supplier configured or seen, no QuickBooks vendor list read")
        return 0
    if args.action == "map" and not args.vendor:
        print("qbedi: name the QuickBooks vendor: qbedi vendors map SUPPLIER_ID \"Vendor Name\"", file=sys.stderr)
        return 2
    try:
        if args.action == "map":
            fields = {k: v for k, v in (("default_account", args.default_account), ("company", args.company)) if v}
            done = map_supplier(settings, args.supplier, args.vendor, **fields)
            text = (f"{'added' if done['created'] else 'changed'} supplier {done['supplier_id']} -> vendor "
                    f"{done['vendor']!r} in {done['file']}" + (f" (was {done['previous_vendor']!r})"
                                                               if done.get("previous_vendor") else ""))
        else:
            done = unmap_supplier(settings, args.supplier)
            text = (f"removed supplier {done['supplier_id']} from {done['file']}: its new documents are held as "
                    "unknown_supplier until it is mapped again")
    except ConfigError as e:
        print(f"qbedi: nothing was changed: {e}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(done)
    else:
        print(text + (f". Its held documents: qbedi release --all --supplier {done['supplier_id']}, or one: qbedi "
                      "release ID (qbedi run reads the file again by itself)" if args.action == "map" else "."))
    return 0


def cmd_suppliers(args) -> int:
    from connector.vendors import suppliers_seen

    settings = _settings(args)
    rt = build_runtime(settings, with_sources=False, read_only=True)
    seen = {r["supplier_id"].upper(): r for r in suppliers_seen(rt.store) if r["mapped"]}
    rows = []
    for sid, sup in settings.suppliers.items():
        r = seen.get(sid.upper()) or {}
        rows.append({"supplier_id": sid, "alias": sup.alias or "", "vendor": sup.vendor,
                     "company": settings.company_for(sup), "tags": ",".join(sup.tags), "archived": sup.archived,
                     "auto_post": settings.auto_post if sup.auto_post is None else sup.auto_post,
                     "terms_days": sup.terms_days, "documents": r.get("documents", 0), "held": r.get("held", 0),
                     "last_seen": r.get("last_seen") or ""})
    if args.csv:
        import csv

        out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["supplier_id"], lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
        return 0
    if args.json:
        _print_json({"suppliers": rows})
        return 0
    for r in rows:
        print(f"{r['supplier_id']:<16} {r['alias'] or r['vendor']:<30} -> {r['company']:<12} "
              f"{r['documents']:>6} document(s) {r['held']:>4} held  last {r['last_seen'][:10] or 'never'}"
              + ("  ARCHIVED" if r["archived"] else "") + (f"  [{r['tags']}]" if r["tags"] else ""))
    if not rows:
        print("no supplier configured: qbedi vendors reconcile shows who sent documents")
    return 0


def cmd_notify(args) -> int:
    from connector.notify import Notifier

    settings = _settings(args)
    if not settings.notifications.channels:
        print("qbedi: no notification channel is configured (notifications: email: / webhook: in the config)",
              file=sys.stderr)
        return 2
    _setup_logging(settings, argparse.Namespace(quiet_logs=True))  # the report is the output: warnings to stderr
    rt = build_runtime(settings, with_sources=False, read_only=True)
    results = Notifier(rt.store, settings.notifications).deliver(Notifier.test_message())
    if args.json:
        _print_json({"channels": {c: {"delivered": err is None, "error": err} for c, err in results.items()}})
    else:
        for channel, err in results.items():
            print(f"{channel}: " + ("test message delivered" if err is None else f"NOT delivered: {err}"))
    return 0 if all(err is None for err in results.values()) else 1


def cmd_demo(args) -> int:
    from .demo import run_demo  # the fakes, spyne, waitress

    return run_demo(keep=args.keep, as_json=args.json, source=args.source)


def cmd_credentials(args) -> int:
    from connector.credentials import (  # cryptography
        CredentialError, CredentialInputError, CredentialStore, prompt_and_store, read_piped)

    settings = _settings(args)
    try:
        if _interactive():  # a person at a terminal: prompts, the password without echo (twice)
            store = CredentialStore.for_settings(settings, generate_key=True)
            prompt_and_store(args.name, store)
        else:  # a pipe or a file: two lines, read before anything is created
            username, password = read_piped(sys.stdin)
            store = CredentialStore.for_settings(settings, generate_key=True)
            store.set(args.name, username, password)
    except CredentialInputError as e:
        print(f"credentials not stored: {e}", file=sys.stderr)
        return 2
    except CredentialError as e:
        print(f"credentials not stored: {e}", file=sys.stderr)
        return 1
    print(f"stored credentials {args.name!r} encrypted in {store.path} "
          f"(key: $QBEDI_SECRET_KEY or {settings.resolve(settings.credentials.key_file)})")
    return 0


def _source_address(settings: Settings, cfg) -> str | None:
    """Where a ``sources:`` entry reads from, for a person: the folder, or the adapter's address."""
    from connector.sources import source_type

    if cfg.type == "folder":
        return str(settings.resolve(cfg.path))
    opts = cfg.options()
    registered = source_type(cfg.type)
    try:
        model = registered.settings_model.model_validate(opts) if registered is not None else None
    except Exception:  # noqa: BLE001 - only a label: fall back to what is written
        model = None
    if model is not None and callable(getattr(model, "api_base_url", None)):
        return model.api_base_url()
    return opts.get("base_url") or opts.get("url") or opts.get("host")


def _check_source(src) -> dict:
    """One source's read-only check, as a report entry; never raises (a verdict for every source)."""
    from connector.sources import SourceError

    check = getattr(src, "test_connection", None)
    try:
        detail = check() if check is not None else {"files_waiting": len(list(src.list_new()))}
    except SourceError as e:
        return {"name": src.name, "ok": False, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - a diagnostic command reports every source, whatever happens
        return {"name": src.name, "ok": False, "error": f"unexpected error ({type(e).__name__}): {e}"}
    src_ok = detail.get("ok", True) if isinstance(detail, dict) else True
    entry = {"name": src.name, "ok": src_ok, "detail": detail}
    if not src_ok:
        entry["error"] = (detail.get("error") if isinstance(detail, dict) else None) or _what_failed(detail)
    return entry


def _what_failed(detail) -> str:
    if not isinstance(detail, dict):
        return "the check failed"
    bad = [f"connection {c.get('alias')!r}" for c in detail.get("connections") or [] if not c.get("found")]
    bad += [f"action {a!r}" for a, st in (detail.get("actions") or {}).items() if st != "found"]
    if bad:
        return "logged in, but cannot read " + ", ".join(bad) + " (below)"
    return "; ".join(detail.get("warnings") or []) or "the check failed"


def _source_lines(s: dict) -> list[str]:
    """A source's verdict on one line, then what a person may need below it, indented."""
    d = s.get("detail") if isinstance(s.get("detail"), dict) else {}
    summary = []
    if d.get("authenticated") and d.get("user"):
        summary.append(f"logged in as {d['user']!r}" + (f" at {d['base_url']}" if d.get("base_url") else ""))
    if "files_waiting" in d:
        summary.append(f"{d['files_waiting']} file(s) waiting")
    verdict = ("OK" + (", " + ", ".join(summary) if summary else "")) if s["ok"] else f"FAILED: {s['error']}"
    out = [f"source {s['name']}: {verdict}"]
    if d.get("server"):
        out.append(f"  server: {d['server']}" + ("  ** VULNERABLE VERSION: upgrade it **" if d.get("vulnerable") else ""))
    for c in d.get("connections") or []:
        out.append(f"  connection {c.get('alias')!r}: " + (f"{c.get('inbound_files')} file(s) waiting" if c.get("found")
                                                           else f"NOT OK: {c.get('error')}"))
    for a, st in (d.get("actions") or {}).items():
        out.append(f"  action {a!r}: {'found' if st == 'found' else st}")
    out += [f"  warning: {w}" for w in d.get("warnings") or []]
    return out


def cmd_test_connection(args) -> int:
    from connector.delivery import last_contact  # sqlalchemy

    from .runtime import SchemaOutdated

    settings = _settings(args)
    _setup_logging(settings, argparse.Namespace(quiet_logs=True))  # the report is the output: warnings only
    rt = build_runtime(settings, migrate=False)  # read-only: reports the QuickBooks side if the database has one
    from connector import control
    from connector.checks import quickbooks_check
    from connector.status import SyncKind

    try:
        rt.require_schema()
        quickbooks, checks = last_contact(rt.store), quickbooks_check(rt.store, settings)
        if args.refresh_lists:
            control.request_sync(rt.store, SyncKind.REFRESH_LISTS, None, by=getpass.getuser())
    except SchemaOutdated:
        quickbooks, checks = [], []  # not set up yet: nobody has called
    report = {"sources": [], "quickbooks": quickbooks, "quickbooks_check": checks}
    for cfg, src in zip(settings.sources, rt.sources):
        where = _source_address(settings, cfg)
        # said before the wait: an unreachable source can take its connect/read timeouts (and retries)
        print(f"checking source {src.name}" + (f" ({where})" if where else "") + " ...", file=sys.stderr, flush=True)
        report["sources"].append(_check_source(src))
    ok = all(s["ok"] for s in report["sources"])
    if args.json:
        _print_json(report)
        return 0 if ok else 1
    for s in report["sources"]:
        print("\n".join(_source_lines(s)))
    for c in checks:
        print(f"QuickBooks via {c['company']}: " + ("OK" if c["ok"] else "NEEDS A LOOK")
              + f"; last Web Connector contact {c['last_contact'] or 'never'}; company file {c['company_file']}"
              + (f" (open at the last session: {c['open_company_file']})" if c["open_company_file"] else "")
              + (f"; {c['product']}" if c["product"] else "")
              + (f"; qbXML {c['qbxml_version']}" if c["qbxml_version"] else ""))
        for name, st in c["lists"].items():
            print(f"  {name.lower()} list: " + (f"{st['entries']} entries read {st['read_at'][:19]}"
                                                if st["read_at"] else "not read yet")
                  + ("" if st["current"] or not st["read_at"] else " (being read again)"))
        for problem in c["problems"]:
            print(f"  PROBLEM: {problem}")
        if c["unknown"]:
            print(f"  {len(c['unknown'])} mapped name(s) not checked yet (lists not read): the next Web Connector "
                  "session reads them" + ("" if args.refresh_lists else "; --refresh-lists asks it to read them again"))
    if not checks:
        print("QuickBooks: the Web Connector has not called yet")
    if args.refresh_lists and checks:
        print("asked: QuickBooks' lists are read again at the next Web Connector session (read-only)")
    return 0 if ok else 1


def cmd_dry_run(args) -> int:
    from connector.checks import dry_run

    rt = build_runtime(_settings(args), with_sources=False, read_only=True)
    rows = dry_run(rt.store, rt.settings, limit=None if args.all else args.limit)
    if args.json:
        _print_json({"documents": rows})
        return 0
    if not rows:
        print("nothing pending: no document is queued or awaiting approval")
    for r in rows:
        print(f"#{r['id']:<5} {r['transaction_set']} {r['document_number'] or '-':<16} {r['supplier'] or '?':<14} "
              f"{r['total'] or '':>12} -> {r['company']}: {r['request'] or '?'} {r['vendor'] or ''}: {r['would']}")
    return 0


# ---------------------------------------------------------------- parser

JSON_HELP = "machine-readable output (JSON) instead of text"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qbedi", description="Suppliers' X12 EDI into QuickBooks Desktop via the Web Connector",
                                epilog="exit codes: 0 done (held documents are done: they wait for a person); 1 a file, "
                                       "a document or a service could not be read, or an action was refused; 2 the "
                                       "configuration or the command line is wrong")
    p.add_argument("--version", action="version", version=f"qbedi {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_, config=True, description=None):
        sp = sub.add_parser(name, help=help_, description=description or help_)
        sp.set_defaults(func=func)
        if config:
            sp.add_argument("--config", "-c", metavar="FILE",
                            help="the workspace's config file (default: $QBEDI_CONFIG or ./qbedi.yaml)")
        return sp

    for commands in (_service_commands, _file_commands, _review_commands, _control_commands, _vendor_commands,
                     _setup_commands):
        commands(add)
    return p


PORT_HELP = "listen on this port (default: web_connector.listen.port in the config, 8080)"


def _doc_id(text: str) -> int:
    """A document number as qbedi documents shows it (1 to 2,147,483,647)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 0 < n < 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is not a document number (the # in qbedi documents)")
    return n


def _how_many(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 0 < n < 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (1 or more; --all for every one)")
    return n


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 1 to 65535")
    return port
VERBOSE_HELP = "log more detail (debug level)"


def _service_commands(add) -> None:
    sp = add("demo", cmd_demo, "run the whole flow on sample invoices with an emulated QuickBooks", config=False)
    sp.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.add_argument("--source", choices=["folder", "cleo"], default="folder",
                    help="where the sample invoices come from: a folder, or the bundled Cleo emulator (default folder)")

    sp = add("run", cmd_run, "poll the sources and serve the Web Connector until Ctrl-C (the main job)")
    sp.add_argument("--port", type=_port, help=PORT_HELP)
    sp.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)

    sp = add("serve", cmd_serve, "serve the Web Connector SOAP endpoint only (until Ctrl-C or SIGTERM)")
    sp.add_argument("--port", type=_port, help=PORT_HELP)
    sp.add_argument("--host", help="listen on this address (default: web_connector.listen.host in the config, "
                                   "127.0.0.1)")
    sp.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)

    sp = add("init", cmd_init, "write a ready-to-run workspace (config, inbox, database, .qwc)", config=False)
    sp.add_argument("dir", help="the folder to create the workspace in")
    sp.add_argument("--user", default="qbedi", help="Web Connector user name (password from $QBEDI_QBWC_PASSWORD or a prompt)")
    sp.add_argument("--port", type=_port, default=8080, help="the port the Web Connector service will listen on "
                                                          "(default 8080)")
    sp.add_argument("--url", help="URL the Web Connector will call (default http://localhost:PORT/qbwc)")
    sp.add_argument("--company-file", default="", metavar="PATH",
                    help="the QuickBooks company file this user posts into (e.g. C:\\QB\\Northwind.qbw): a session on "
                         "another one is refused")


def _file_commands(add) -> None:
    sp = add("translate", cmd_translate, "parse and translate EDI files without posting anything")
    sp.add_argument("files", nargs="+", metavar="FILE", help="X12 file(s) to read")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("ack", cmd_ack, "print the 997 functional acknowledgment for EDI files")
    sp.add_argument("files", nargs="+", metavar="FILE", help="X12 file(s) to acknowledge")
    sp.add_argument("--control-number", type=int, default=1,
                    help="interchange control number of the first 997 (one more for each further file; default 1)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP + ": each file's 997 and the files that failed")

    sp = add("qwc", cmd_qwc, "write a .qwc file for QuickBooks Web Connector")
    sp.add_argument("--url", help="SOAP URL QBWC calls (https unless localhost; default web_connector.public_url)")
    sp.add_argument("--user", required=True, help="the Web Connector user (one of web_connector.users)")
    sp.add_argument("--company", help="company file path (informational)")
    sp.add_argument("--app-name", default="qbedi", help="the name the Web Connector shows (default qbedi)")
    sp.add_argument("--support-url", help="the support page QBWC links to (default: /support on the --url host)")
    sp.add_argument("--every", type=int, metavar="MINUTES",
                    help="how often the Web Connector runs, in minutes (default web_connector.run_every_minutes)")
    sp.add_argument("--out", "-o", help="write to this file instead of standard output")

    sp = add("poll", cmd_poll, "poll the sources once and print what was fetched")
    sp.add_argument("--once", action="store_true", help="(default) one poll of each source")
    sp.add_argument("--source", help="only this source")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)


def _listing_options(sp) -> None:
    """A listing pages, and says how many there are in all (see _more)."""
    sp.add_argument("--limit", type=_how_many, default=200, help="list at most this many (default 200)")
    sp.add_argument("--all", action="store_true", help="list every one")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)


def _review_commands(add) -> None:
    sp = add("status", cmd_status, "documents by status, source health, last Web Connector contact")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("documents", cmd_documents, "list documents (e.g. --status held for AP review)")
    sp.add_argument("--file", type=_doc_id, metavar="ID", help="only the documents of this received file (qbedi files)")
    sp.add_argument("--status", help="only documents in this state: received, translated, awaiting_approval, queued, "
                                     "sent, posted, held, failed, rejected, dismissed")
    sp.add_argument("--company", metavar="USER", help="only this company's documents (a Web Connector user), as its "
                                                       "clerks see them on the web page")
    _listing_options(sp)

    sp = add("files", cmd_files, "every received file with its verdict (parsed, empty, not_x12, failed, ...)")
    sp.add_argument("--verdict", help="only files with this verdict (parsed, empty, not_x12, unreadable, "
                                      "parser_error, failed, received)")
    _listing_options(sp)

    sp = add("resync", cmd_resync, "post again a document whose transaction was deleted in QuickBooks "
                                   "(reconciliation found it gone)")
    sp.add_argument("id", type=_doc_id, help="the document's number (the # in qbedi documents)")

    sp = add("retry-file", cmd_retry_file, "translate again a received file whose translation failed "
                                           "(e.g. after an upgrade)")
    sp.add_argument("id", type=_doc_id, help="the file's number (the 'file N' in qbedi files --verdict failed)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("show", cmd_show, "one document with its full audit trail")
    sp.add_argument("id", type=_doc_id, help="the document's number (the # in qbedi documents)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("release", cmd_release, "translate held documents again with the current mappings (one, or --all)")
    sp.add_argument("id", type=_doc_id, nargs="?", help="the document's number (the # in qbedi documents)")
    sp.add_argument("--all", action="store_true",
                    help="every held and failed document, oldest first (narrowed by the options below), e.g. a big "
                         "file's invoices after their supplier was mapped")
    sp.add_argument("--held-for", metavar="CODE", help="with --all: only those held for this reason (e.g. "
                                                        "unknown_supplier)")
    sp.add_argument("--supplier", help="with --all: only this supplier's (-: those no supplier mapping matched)")
    sp.add_argument("--company", help="with --all: only this Web Connector user's")
    sp.add_argument("--status", choices=["held", "failed"], help="with --all: only held, or only failed, ones")
    sp.add_argument("--since", metavar="YYYY-MM-DD", help="with --all: only those received on or after that day")
    sp.add_argument("--until", metavar="YYYY-MM-DD", help="with --all: only those received on or before that day")
    sp.add_argument("--not-duplicate", action="store_true",
                    help="it is held as duplicate_document but is a different document that reuses the number: "
                         "post it (needs --reason; audited)")
    sp.add_argument("--accept-variance", action="store_true",
                    help="it is held as price_variance / quantity_variance but is right as invoiced: post it as it "
                         "is (needs --reason; audited with the variances)")
    sp.add_argument("--receive-open", action="store_true",
                    help="it is a ship notice held as over_receipt: receive what the purchase order has open and "
                         "leave the rest out (needs --reason; audited, and the page says what was not received)")
    sp.add_argument("--reason", help="why (with --not-duplicate, --accept-variance or --receive-open)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("dismiss", cmd_dismiss, "close a held document without posting it (e.g. entered by hand)")
    sp.add_argument("id", type=_doc_id, help="the document's number (the # in qbedi documents)")
    sp.add_argument("--reason", required=True, help="why it is closed (kept in its audit trail)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("approve", cmd_approve, "approve documents awaiting approval (auto_post: false): they go to QuickBooks")
    sp.add_argument("ids", type=_doc_id, nargs="*", metavar="ID", help="the documents' numbers (qbedi documents --status "
                                                                  "awaiting_approval)")
    sp.add_argument("--all", action="store_true", help="every document awaiting approval (with --supplier: its only)")
    sp.add_argument("--supplier", help="with --all: only this supplier's documents")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("reject", cmd_reject, "refuse documents awaiting approval: they never reach QuickBooks (kept)")
    sp.add_argument("ids", type=_doc_id, nargs="+", metavar="ID", help="the documents' numbers")
    sp.add_argument("--reason", required=True, help="why (kept in each document's audit trail)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)


def _vendor_commands(add) -> None:
    sp = add("vendors", cmd_vendors, "suppliers seen in EDI beside QuickBooks' vendors; map / unmap them",
             description="reconcile: every supplier seen in EDI or configured, beside the QuickBooks vendor list the "
                         "Web Connector last read: mapped, unmapped with suggested vendors and why, vendors no "
                         "supplier maps to. map / unmap: change suppliers.yaml (its comments and order kept; checked "
                         "before it is saved).")
    sp.add_argument("action", choices=["reconcile", "map", "unmap"],
                    help="reconcile: show both sides; map SUPPLIER VENDOR: map a supplier; unmap SUPPLIER: remove it")
    sp.add_argument("supplier", nargs="?", help="map / unmap: the supplier id (ISA, GS or N1 id)")
    sp.add_argument("vendor", nargs="?", help="map: the QuickBooks vendor name")
    sp.add_argument("--company", help="reconcile: one Web Connector user's suppliers; map: its company")
    sp.add_argument("--default-account", help="map: the expense account for lines no rule matches")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("notify", cmd_notify, "send a test message on every notification channel (e-mail, webhook)")
    sp.add_argument("what", choices=["test"], help="test: a message that only says notifications work")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("suppliers", cmd_suppliers, "the configured suppliers with their documents (--csv for a spreadsheet)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.add_argument("--csv", action="store_true", help="comma-separated values, one supplier a row")


def _control_commands(add) -> None:
    for name, help_ in (("pause", "pause a source (nothing fetched) or a company (nothing sent to QuickBooks)"),
                        ("resume", "resume a paused source or company: it carries on where it stopped")):
        sp = add(name, cmd_pause, help_)
        which = sp.add_mutually_exclusive_group(required=True)
        which.add_argument("--source", help="a source's name (as in the config's sources:)")
        which.add_argument("--company", help="a Web Connector user name (its company file)")
        if name == "pause":
            sp.add_argument("--reason", help="why (shown on the dashboard and in qbedi status)")
        sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("sync", cmd_sync, "ask the running qbedi to poll now, or to re-read QuickBooks' lists")
    sp.add_argument("what", choices=["now", "refresh-lists"],
                    help="now: poll the sources at once (past their schedule and backoff); refresh-lists: read "
                         "QuickBooks' vendor, account, class and item lists at the next Web Connector session")
    sp.add_argument("--source", help="with now: only this source (default every source)")
    sp.add_argument("--company", help="with refresh-lists: only this Web Connector user (default every company)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)


def _setup_commands(add) -> None:
    add("check", cmd_check, "validate the configuration file")
    add("migrate", cmd_migrate, "create or upgrade the database schema (qbedi run and serve do it on start; "
                                "read commands never do)")
    add("hash-password", cmd_hash_password, "hash a password for the config (Web Connector or web page user)",
        config=False,
        description="Print the hash to put in web_connector.users[].password_hash (or web.users[].password_hash "
                    "for a person who signs in to the web page). On a terminal it asks for the "
                    "password (not shown as you type); otherwise it reads it from the first line of standard input "
                    "(e.g. a pipe). $QBEDI_QBWC_PASSWORD, when set, is used instead.")

    sp = add("credentials", cmd_credentials, "store source credentials encrypted (prompts without echo)",
             description="Store a source's user name and password encrypted beside the config. On a terminal it "
                         "asks for them (the password twice, not shown as you type); otherwise it reads two lines "
                         "from standard input: the user name, then the password. "
                         "Example: printf '%s\\n%s\\n' \"$CLEO_USER\" \"$CLEO_PASSWORD\" | "
                         "qbedi credentials set cleo")
    sp.add_argument("action", choices=["set"], help="set: store (or replace) the credentials")
    sp.add_argument("name", help="the credentials' name: a Cleo source's credentials_name (default cleo)")

    sp = add("backup", cmd_backup, "a consistent copy of the database, taken while qbedi runs")
    sp.add_argument("--to", required=True, metavar="FILE", help="the backup file to write (never overwritten)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("copy-database", cmd_copy_database, "copy the whole database into an empty one, e.g. SQLite to "
                                                 "PostgreSQL (qbedi stopped)")
    sp.add_argument("--to", required=True, metavar="URL", help="the empty database, e.g. "
                                                               "postgresql+psycopg://qbedi@dbhost/qbedi")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("restore", cmd_restore, "put an SQLite backup back (qbedi stopped); the database it replaces is kept")
    sp.add_argument("--from", dest="source", required=True, metavar="FILE", help="the backup (from qbedi backup)")
    sp.add_argument("--yes", action="store_true", help="do it without asking (scripts)")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)

    sp = add("test-connection", cmd_test_connection, "check source credentials read-only; report the QuickBooks side")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.add_argument("--refresh-lists", action="store_true",
                    help="also ask the next Web Connector session to read QuickBooks' lists again (read-only), so "
                         "every mapped vendor, account, class and item is checked afresh")

    sp = add("dry-run", cmd_dry_run, "what the next Web Connector sessions would post, checked against QuickBooks' "
                                     "lists; posts nothing")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.add_argument("--limit", type=_how_many, default=200, help="at most this many documents (default 200)")
    sp.add_argument("--all", action="store_true", help="every pending document")


def main(argv: list[str] | None = None) -> int:
    """The ``qbedi`` command. ``argv`` None: the process's own arguments (the process is this command's:
    see :func:`_started`); a list: a command run inside another program (a test)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.own_process = argv is None
        from connector.settings import ConfigError

        from .runtime import DatabaseUnavailable, SchemaOutdated
        try:
            code = args.func(args)
        except ConfigError as e:
            print(f"configuration error: {e}", file=sys.stderr)
            return 2
        except (NoConfig, DatabaseUnavailable, SchemaOutdated) as e:
            print(f"qbedi: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        sys.stdout.flush()  # here, not at exit: a reader that went away (| head) is handled below
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 1


def _quiet_stdout() -> None:
    """Standard output was closed by its reader (``qbedi ... | head``): say nothing more. Python's docs
    (signal, "Note on SIGPIPE"): point stdout at devnull so the flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stdout (a test's capture)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
