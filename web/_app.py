"""The Flask app: pages people read and the actions they take.

Invariants:

- Every page but ``/login`` and ``/support`` (and ``/static``) needs a signed-in user; every action is a POST
  with the session's CSRF token; admin actions (pause, resume, sync now, refresh lists) answer 403 with words
  to a clerk. What a person does is recorded with who (``<user> (web)``) by the core service it calls.
- Release translates with the mapping on disk *now* (the config is read again, so an admin's edit to the
  suppliers file counts without restarting qbedi); a config that no longer reads releases nothing and says why.
- Nothing the store or a file holds reaches a page unescaped (Jinja autoescape); no error shows a traceback.
"""
from __future__ import annotations

import functools
from urllib.parse import urlsplit
import secrets
import time
from datetime import timedelta

import structlog
from sqlalchemy import select
from flask import (Flask, abort, current_app, flash, g, has_request_context, redirect, render_template, request,
                   session, url_for)
from flask.sessions import SecureCookieSessionInterface

from connector import control, views
from connector.services import IngestService
from connector.settings import ConfigError, LiveSettings, Settings, load_settings
from connector.status import DocStatus, Scope, SyncKind
from connector.store import Document, Store

from ._auth import LoginThrottle, Sessions, WebUser, check_password, known, secret_key, support_company
from ._mount import CLIENT_ADDR

log = structlog.get_logger(__name__)

PAGE = 50  # rows a listing shows
MAX_ID = 2**31 - 1  # document ids are 32-bit integers in the database: anything above is no document
REVIEW_FILTERS = ("status", "reason", "supplier", "company", "since", "until")  # the held page's filters
RELEASE_SECONDS = 20.0  # "release all" stops after about this long (one request); pressed again, it carries on
SHOWN_FAILURES = 20  # documents a "release all" could not release named in its message


class Forbidden(Exception):
    """A signed-in user asked for something their role may not do (answered 403 with ``str()``)."""


class BadForm(Exception):
    """A POST without the session's CSRF token (answered 400 with words)."""


def create_app(*, settings: Settings, store: Store, ingest: IngestService | None = None, clock=time.time,
               key: bytes | None = None, throttle: LoginThrottle | None = None) -> Flask:
    """The web page on ``store``. ``clock`` (seconds) drives session expiry and the login throttle (tests
    move it); ``key`` signs the cookies (default: :func:`secret_key`, which may raise ``WebSetupError``)."""
    app = Flask(__name__)
    app.session_interface = _Cookies()
    app.config.update(
        SECRET_KEY=key or secret_key(settings), SESSION_COOKIE_NAME="qbedi_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.web.session_minutes, hours=8),
        TEMPLATES_AUTO_RELOAD=False, MAX_CONTENT_LENGTH=1 << 20)
    app.jinja_env.autoescape = True
    # what the templates' macros need (imported macros see globals, not the request's context)
    app.jinja_env.globals.update(csrf_token=_csrf, STATES=views.STATE_WORDS, REQUESTS=views.REQUEST_WORDS,
                                query_with=_query_with)
    app.extensions["qbedi"] = deps = _Deps(settings, store, ingest or IngestService(store, settings),
                                           Sessions(settings.web.session_minutes, clock),
                                           throttle or LoginThrottle(clock))
    _hooks(app, deps)
    _pages(app, deps)
    _actions(app, deps)
    return app


class _Cookies(SecureCookieSessionInterface):
    """Session cookies are ``Secure`` whenever the page is served over https (directly, or by a trusted
    reverse proxy saying so): a cookie given over https is never sent back over plain http."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or bool(app.config.get("SESSION_COOKIE_SECURE"))


class _Deps:
    def __init__(self, settings: Settings, store: Store, ingest: IngestService, sessions: Sessions,
                 throttle: LoginThrottle):
        self.settings, self.store, self.ingest, self.sessions, self.throttle = settings, store, ingest, sessions, throttle
        self.live = LiveSettings(settings)  # (the page's own: it reads the files again only when they changed)

    def current_settings(self) -> Settings:
        """The config as it is on disk now (the mapping pages show what an admin just changed; web users
        removed, added or moved count at once), or while it does not read, the last one that did
        (:class:`connector.settings.LiveSettings`, which reads the files again only when they changed). Looked
        at once a request (a clerk of some companies needs it for every list and count the page shows)."""
        if not has_request_context():
            return self.live.current(now_please=True)
        if "settings_now" not in g:
            g.settings_now = self.live.current(now_please=True)
        return g.settings_now

    def within(self) -> list:
        """What the signed-in person may see: their companies' documents (:func:`views.scope`); [] for a person
        who works for every company."""
        user = getattr(g, "user", None)
        return views.scope(self.current_settings(), user.companies) if user is not None and user.companies else []

    def visible(self, doc_id: int) -> bool:
        """Is this document one the signed-in person may see and act on?"""
        within = self.within()
        if not within:
            return True
        with self.store.session() as s:
            return s.scalar(select(Document.id).where(Document.id == doc_id, *within)) is not None

    def ingest_now(self) -> IngestService:
        """An ingest service on the config as it is on disk now (release: the admin's new mapping counts)."""
        src = self.settings.source_file
        if not src or src.startswith("("):
            return self.ingest
        return IngestService(self.store, load_settings(src))


# ---------------------------------------------------------------- request hooks

def _client() -> str | None:
    return request.environ.get(CLIENT_ADDR) or request.remote_addr


def _csrf() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _by() -> str:
    return f"{g.user.username} (web)"


def _hooks(app: Flask, deps: _Deps) -> None:
    public = {"login", "support", "static"}

    @app.before_request
    def _who():
        g.user, why = deps.sessions.get(session.get("sid"))
        if g.user is not None and request.endpoint != "static":  # who they are in the config on disk now
            cfg_now = deps.current_settings()
            current = next((u for u in cfg_now.web.users if u.username == g.user.username), None)
            now = WebUser.of(cfg_now, current) if current is not None else None
            if now is None or now.password != g.user.password:  # removed, or given a new password, since: out
                deps.sessions.drop(session.get("sid"))
                g.user, why = None, "changed"
            else:  # (a role or companies changed since: at once)
                g.user = now
        if request.method == "POST":
            sent = request.form.get("csrf", "")
            if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
                raise BadForm()
        if g.user is None and request.endpoint not in public:
            if why in ("expired", "unknown", "changed"):
                session.pop("sid", None)
                flash({"expired": f"You were signed out after {deps.settings.web.session_minutes} minutes without "
                                  "activity. Sign in again.",
                       "unknown": "You were signed out after qbedi restarted or you signed out. Sign in again.",
                       "changed": "You were signed out: your user was removed, or given a new password, in qbedi's "
                                  "configuration."}[why], "info")
            if request.method == "POST":
                return redirect(url_for("login"))
            return redirect(url_for("login", next=request.full_path if request.query_string else request.path))

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.context_processor
    def _context():
        user = getattr(g, "user", None)
        return {"user": user, "is_admin": bool(user and user.is_admin),
                "counts": views.nav_counts(deps.store, within=deps.within()) if user else {},
                "scoped": bool(user and user.companies)}

    @app.errorhandler(BadForm)
    def _bad_form(_e):
        return render_template("error.html", code=400, title="This form cannot be accepted",
                               message="The form was missing its security token or came from an old page (for "
                                       "example after you were signed out). Nothing was changed. Go back, reload "
                                       "the page and try again."), 400

    @app.errorhandler(Forbidden)
    def _forbidden(e):
        title = "This page shows every company's work" if isinstance(e, _EveryCompany) else "Only an admin can do this"
        return render_template("error.html", code=403, title=title, message=str(e)), 403

    @app.errorhandler(404)
    def _not_found(_e):
        return render_template("error.html", code=404, title="Not found",
                               message="There is no such page or document."), 404

    @app.errorhandler(405)
    def _method(_e):
        return render_template("error.html", code=405, title="Not allowed",
                               message="This address does not take that kind of request."), 405

    @app.errorhandler(413)
    def _too_big(_e):
        return render_template("error.html", code=413, title="Too much data",
                               message="The form sent more than this page accepts."), 413

    @app.errorhandler(Exception)
    def _error(e):
        if hasattr(e, "code") and hasattr(e, "get_response"):  # an HTTP error werkzeug raised
            return e
        log.exception("web.error", path=request.path)
        return render_template("error.html", code=500, title="Something went wrong",
                               message="The page could not be shown; nothing was changed by it. The error is in "
                                       "qbedi's log (web.error)."), 500


def _query_with(**changes) -> str:
    args = request.args.to_dict()
    for k, v in changes.items():
        if v in (None, ""):
            args.pop(k, None)
        else:
            args[k] = str(v)
    from urllib.parse import urlencode

    return request.path + ("?" + urlencode(args) if args else "")


def admin_only(what: str):
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*a, **kw):
            if not g.user.is_admin:
                raise Forbidden(f"{what} is for admins. You are signed in as {g.user.username}, a clerk: ask an "
                                "admin. Nothing was changed.")
            return fn(*a, **kw)
        return inner
    return wrap


class _EveryCompany(Forbidden):
    """A clerk of some companies only asked for a page that shows every company's work."""


def every_company(fn):
    """A page that shows every company's work (files, sources, suppliers, QuickBooks checks): not for a clerk
    who works for some companies only (``web.users[].companies``)."""
    @functools.wraps(fn)
    def inner(*a, **kw):
        if g.user.companies:
            raise _EveryCompany(f"You are signed in as {g.user.username}, who works for {', '.join(g.user.companies)} "
                                "only, and this page shows every company's files, sources or suppliers. Your "
                                "companies' documents are on the Held, Approval and Documents pages.")
        return fn(*a, **kw)
    return inner


MAX_PAGE = 1_000_000


def _page_arg() -> int:
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


def _cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula (=, +, -, @ first)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def safe_next(nxt: str | None) -> str | None:
    """A path on this site, or None: no scheme, no host, no control characters or white space (browsers
    drop tabs and new lines, so "/<tab>/evil.example" would be "//evil.example"), no backslash."""
    if not nxt or any(ord(c) < 33 or c in "\\\x7f" for c in nxt):
        return None
    parts = urlsplit(nxt)
    if parts.scheme or parts.netloc or not nxt.startswith("/") or nxt.startswith("//"):
        return None
    return nxt


def _after_arg(values) -> int:
    """The document a "release all" that ran out of time stopped after (0: none, or not a document number)."""
    raw = values.get("after", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else 0


def _back(default: str):
    return redirect(safe_next(request.form.get("next") or request.args.get("next")) or default)


# ---------------------------------------------------------------- pages

def _pages(app: Flask, deps: _Deps) -> None:
    st, cfg = deps.store, deps.settings

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            if g.user is not None:
                return redirect(url_for("dashboard"))
            return render_template("login.html", next=request.args.get("next", ""),
                                   no_users=not deps.current_settings().web.users)
        name, password, addr = request.form.get("username", "").strip(), request.form.get("password", ""), _client()
        cfg_now = deps.current_settings()  # (a user added, removed or given a new password: no restart)
        wait = deps.throttle.wait(name, addr, is_known=known(cfg_now, name))
        if wait:
            log.warning("web.login_throttled", user=name[:100], remote=addr, wait_seconds=wait)
            flash(f"Too many failed sign-ins for this name from your address. Wait {wait} seconds, then try again.",
                  "error")
            return render_template("login.html", next=request.form.get("next", ""), username=name), 429
        user = check_password(cfg_now, name, password)
        if user is None:
            deps.throttle.failed(name, addr)
            log.warning("web.login_failed", user=name[:100], remote=addr)
            flash("The user name or the password is wrong.", "error")
            return render_template("login.html", next=request.form.get("next", ""), username=name), 401
        deps.throttle.succeeded(name, addr)
        deps.sessions.drop(session.get("sid"))
        session.clear()
        # the cookie is signed again on every request and outlives the idle time, so the server's own idle
        # expiry decides, and can say so ("signed out after N minutes without activity")
        session.permanent = True
        session["sid"] = deps.sessions.create(user)
        session["csrf"] = secrets.token_urlsafe(32)  # a new token with the new session
        log.info("web.login", user=user.username, role=user.role, remote=addr)
        return _back(url_for("dashboard"))

    @app.post("/logout")
    def logout():
        deps.sessions.drop(session.get("sid"))
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("login"))

    @app.get("/")
    def dashboard():
        return render_template("dashboard.html", d=views.dashboard(st, deps.current_settings(), only=g.user.companies))

    @app.get("/held")
    def held():
        f = {k: request.args.get(k, "").strip() or None for k in REVIEW_FILTERS}
        n, filtered, after, pending = _page_arg(), True, _after_arg(request.args), 0
        now = deps.current_settings()  # (a supplier an admin just mapped: in the filter, its held documents found)
        within = deps.within()  # (now: read once this request, as deps.within reads it)
        try:
            page = views.review_page(st, **f, settings=now, within=within, limit=PAGE, offset=(n - 1) * PAGE)
            if after:  # a "release all" ran out of time: the rest, not tried yet
                pending = views.not_tried(st, after=after, settings=now, within=within, **f)
        except ValueError as e:
            flash(str(e), "error")
            page, filtered = views.review_page(st, settings=now, within=within, limit=PAGE), False  # (no Release all)
        return render_template("held.html", page=page, n=n, f=f, choices=views.review_choices(st, now, g.user.companies),
                               release_seconds=f"{RELEASE_SECONDS:.0f}", filtered=filtered, after=after,
                               pending=pending)

    @app.get("/approval")
    def approval():
        n = _page_arg()
        return render_template("approval.html", page=views.approval_page(st, within=deps.within(), limit=PAGE,
                                                                         offset=(n - 1) * PAGE), n=n)

    @app.get("/documents")
    def documents():
        status, number = request.args.get("status") or None, request.args.get("number", "").strip() or None
        find = request.args.get("find", "").strip()[:100]
        file_id = request.args.get("file", type=int)
        n = _page_arg()
        try:
            page = views.documents_page(st, status=status, number=number, find=find, file_id=file_id,
                                        settings=deps.current_settings(), within=deps.within(), limit=PAGE,
                                        offset=(n - 1) * PAGE)
        except ValueError as e:
            flash(str(e), "error")
            status, page = None, views.documents_page(st, within=deps.within(), limit=PAGE)
        views.with_company(deps.current_settings(), page.rows)
        return render_template("documents.html", page=page, n=n, status=status, number=number or "", find=find,
                               file_id=file_id, statuses=list(DocStatus))

    @app.get("/documents/<int(max=2147483647):doc_id>")
    def document(doc_id: int):
        d = views.document_detail(st, doc_id, within=deps.within())  # (another company's: not found)
        if d is None:
            abort(404)
        views.with_company(deps.current_settings(), [d])
        return render_template("document.html", d=d)

    @app.get("/files")
    @every_company
    def files():
        verdict = request.args.get("verdict") or None
        n = _page_arg()
        return render_template("files.html", page=views.files_page(st, verdict=verdict, limit=PAGE,
                                                                   offset=(n - 1) * PAGE),
                               n=n, verdict=verdict, verdicts=views.VERDICTS)

    @app.get("/sync")
    @every_company
    def sync():
        return render_template("sync.html", o=views.sync_overview(st, cfg))

    @app.get("/quickbooks")
    @every_company
    def quickbooks():
        from connector.checks import dry_run, quickbooks_check

        from connector.checks import flagged_posted

        return render_template("quickbooks.html", checks=quickbooks_check(st, cfg), pending=dry_run(st, cfg, limit=PAGE),
                               flagged=flagged_posted(st))

    @app.get("/vendors")
    @every_company
    def vendors():
        from connector.vendors import reconcile

        now = deps.current_settings()
        return render_template("vendors.html", rows=reconcile(now, st),
                               companies=[u.username for u in now.web_connector.users])

    @app.get("/suppliers.csv")
    @every_company
    def suppliers_csv():
        import csv
        import io

        from connector.vendors import suppliers_seen

        cur = deps.current_settings()
        seen = {r["supplier_id"].upper(): r for r in suppliers_seen(st) if r["mapped"]}
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\r\n")
        out.writerow(["supplier_id", "alias", "vendor", "company", "tags", "archived", "documents", "held",
                      "last_seen"])
        for sid, sup in cur.suppliers.items():
            r = seen.get(sid.upper()) or {}
            out.writerow([_cell(x) for x in (sid, sup.alias or "", sup.vendor, cur.company_for(sup), ",".join(sup.tags),
                                             sup.archived, r.get("documents", 0), r.get("held", 0),
                                             r.get("last_seen") or "")])
        return app.response_class(buf.getvalue(), mimetype="text/csv",
                                  headers={"Content-Disposition": "attachment; filename=suppliers.csv"})

    @app.get("/support")
    def support():
        """Everything for a person who works for every company; a clerk's companies for a clerk; for anybody
        else, everything with one company, and with several the one a support link names (its key right)."""
        cfg, user = deps.current_settings(), g.user
        full = user is not None and not user.companies  # (a clerk of some companies: no messages, as strangers)
        if user is not None:
            only = tuple(user.companies) if user.companies else None
        elif len(cfg.web_connector.users) <= 1:
            only = None
        else:
            named = support_company(cfg, app.secret_key, request.args.get("company"), request.args.get("key"))
            only = (named,) if named else ()
        return render_template("support.html", s=views.support_summary(st, cfg, full=full, only=only), full=full)


# ---------------------------------------------------------------- actions

def _done(message: str, category: str = "ok") -> None:
    flash(message, category)


def _doc_action(fn, doc_id: int, ok: str) -> None:
    if not current_app.extensions["qbedi"].visible(doc_id):
        _done(f"Document #{doc_id}: there is no such document.", "error")
        return
    try:
        fn()
    except (LookupError, ValueError) as e:  # IllegalTransition is a ValueError: the document moved meanwhile
        words = str(e).replace(" (--reason)", "").replace(f"document #{doc_id} ", "it ")  # a page, not the CLI
        _done(f"Document #{doc_id}: {words}", "error")
        return
    _done(ok)


def _actions(app: Flask, deps: _Deps) -> None:
    st = deps.store

    @app.post("/documents/<int(max=2147483647):doc_id>/release")
    def release(doc_id: int):
        not_dup = request.form.get("not_duplicate") == "1"
        accept = request.form.get("accept_variance") == "1"
        open_only = request.form.get("receive_open") == "1"
        reason = request.form.get("reason", "").strip()
        if (not_dup or accept or open_only) and not reason:
            _done(f"Document #{doc_id}: " + ("say why it is not a duplicate (a different document that reuses the "
                                             "number)." if not_dup else "say why the invoice is right as it is."
                                             if accept else "say why only what is open is received (e.g. the "
                                             "rest goes back to the supplier)."), "error")
            return _back(url_for("document", doc_id=doc_id))
        if not deps.visible(doc_id):
            _done(f"Document #{doc_id}: there is no such document.", "error")
            return _back(url_for("held"))
        try:
            ingest = deps.ingest_now()
        except ConfigError as e:
            _done(f"Nothing was released: the configuration does not read ({e}). An admin fixes it first.", "error")
            return _back(url_for("document", doc_id=doc_id))
        try:
            out = ingest.release(doc_id, not_duplicate=reason if not_dup else None,
                                 accept_variance=reason if accept else None,
                                 receive_open=reason if open_only else None, by=_by(), companies=g.user.companies)
        except (LookupError, ValueError) as e:
            _done(f"Document #{doc_id}: {e}", "error")
            return _back(url_for("document", doc_id=doc_id))
        words = {DocStatus.QUEUED: "queued for QuickBooks (sent at the next Web Connector run)",
                 DocStatus.AWAITING_APPROVAL: "ready, and waits for approval (Approval page)",
                 DocStatus.HELD: "still held", DocStatus.REJECTED: "rejected"}.get(out.status, out.status)
        reasons = "; ".join(f"{h.code}: {h.message}" for h in out.translation.holds)
        _done(f"Document #{doc_id} translated again with the current mapping: {words}" + (f" ({reasons})" if reasons
                                                                                           else "") + ".",
              "ok" if out.status in (DocStatus.QUEUED, DocStatus.AWAITING_APPROVAL) else "error")
        log.info("web.release", document_id=doc_id, by=g.user.username, status=out.status)
        return _back(url_for("document", doc_id=doc_id))

    @app.post("/held/release")
    def release_all():
        f = {k: request.form.get(k, "").strip() or None for k in REVIEW_FILTERS}
        back = url_for("held", **{k: v for k, v in f.items() if v})
        try:
            ingest = deps.ingest_now()
        except ConfigError as e:
            _done(f"Nothing was released: the configuration does not read ({e}). An admin fixes it first.", "error")
            return redirect(back)
        try:
            where = views.review_filter(**f, settings=ingest.settings, within=views.scope(ingest.settings,
                                                                                           g.user.companies))
        except ValueError as e:
            _done(f"Nothing was released: {e}.", "error")
            return redirect(back)
        report = ingest.release_all(where, by=_by(), seconds=RELEASE_SECONDS, after=_after_arg(request.form),
                                    companies=g.user.companies)
        _done(views.release_summary(report), "error" if report.not_released else "info" if report.left else "ok")
        if report.failed:
            _done("Not released: " + "; ".join(f"#{i}: {why}" for i, why in report.failed[:SHOWN_FAILURES]) +
                  (f"; and {report.not_released - SHOWN_FAILURES:,} more" if report.not_released > SHOWN_FAILURES
                   else ""), "error")
        log.info("web.release_all", by=g.user.username, **{k: v for k, v in f.items() if v},
                 matched=report.matched, released=report.released, not_released=report.not_released, left=report.left)
        if report.left:  # the list again, offering to carry on after the last one tried
            return redirect(url_for("held", **{k: v for k, v in f.items() if v}, after=report.last))
        return redirect(back)

    @app.post("/documents/<int(max=2147483647):doc_id>/resync")
    def resync(doc_id: int):
        _doc_action(lambda: deps.ingest.resync(doc_id, by=_by()), doc_id,
                    f"Document #{doc_id} queued again: it is posted at the next Web Connector run.")
        return _back(url_for("document", doc_id=doc_id))

    @app.post("/documents/<int(max=2147483647):doc_id>/dismiss")
    def dismiss(doc_id: int):
        reason = request.form.get("reason", "").strip()
        _doc_action(lambda: deps.ingest.dismiss(doc_id, reason, by=_by()), doc_id,
                    f"Document #{doc_id} dismissed: it will not be posted (kept, with your reason).")
        return _back(url_for("document", doc_id=doc_id))

    @app.post("/documents/<int(max=2147483647):doc_id>/approve")
    def approve(doc_id: int):
        _doc_action(lambda: deps.ingest.approve(doc_id, by=_by()), doc_id,
                    f"Document #{doc_id} approved: queued for QuickBooks (sent at the next Web Connector run).")
        return _back(url_for("document", doc_id=doc_id))

    @app.post("/documents/<int(max=2147483647):doc_id>/reject")
    def reject(doc_id: int):
        reason = request.form.get("reason", "").strip()
        _doc_action(lambda: deps.ingest.reject(doc_id, reason, by=_by()), doc_id,
                    f"Document #{doc_id} rejected: it will never reach QuickBooks (kept, with your reason).")
        return _back(url_for("document", doc_id=doc_id))

    @app.post("/approval")
    def approve_many():
        ids, action = [i for i in request.form.getlist("doc", type=int) if 0 < i <= MAX_ID], request.form.get("action")
        reason = request.form.get("reason", "").strip()
        if not ids:
            _done("Tick at least one document first.", "error")
            return redirect(url_for("approval"))
        if action not in ("approve", "reject"):
            _done("Press Approve or Reject.", "error")
            return redirect(url_for("approval"))
        if action == "reject" and not reason:
            _done("Say why the documents are rejected (the reason is kept with each).", "error")
            return redirect(url_for("approval"))
        done, failed = [], []
        for i in ids:
            if not deps.visible(i):
                failed.append(f"#{i}: there is no such document")
                continue
            try:
                (deps.ingest.approve(i, by=_by()) if action == "approve" else deps.ingest.reject(i, reason, by=_by()))
                done.append(i)
            except (LookupError, ValueError) as e:
                failed.append(f"#{i}: {e}")
        if done:
            _done(f"{len(done)} document(s) {'approved: queued for QuickBooks' if action == 'approve' else 'rejected'}"
                  f" ({', '.join(f'#{i}' for i in done)}).")
        if failed:
            _done("Not changed: " + "; ".join(failed), "error")
        return redirect(url_for("approval"))

    # admin: sync control
    @app.post("/sync/poll")
    @admin_only("Sync now")
    def sync_now():
        target = request.form.get("source") or None
        names = [s.name for s in deps.settings.sources]
        if target and target not in names:
            _done(f"There is no source {target!r}.", "error")
            return redirect(url_for("sync"))
        control.request_sync(st, SyncKind.POLL, target, by=_by())
        _done(f"Asked for a poll of {'source ' + target if target else 'every source'}: the running qbedi picks it up "
              "within seconds (see the history below).")
        return _back(url_for("sync"))

    @app.post("/sync/notify-test")
    @admin_only("Sending a test notification")
    def notify_test():
        from connector.notify import Notifier

        cfg = deps.current_settings().notifications
        if not cfg.channels:
            _done("No notification channel is configured.", "error")
            return redirect(url_for("sync"))
        results = Notifier(st, cfg).deliver(Notifier.test_message())
        for channel, err in results.items():
            _done(f"{channel}: test message delivered" if err is None else f"{channel}: NOT delivered: {err}",
                  "ok" if err is None else "error")
        log.info("web.notify_test", by=g.user.username, delivered=[c for c, e in results.items() if e is None])
        return redirect(url_for("sync") + "#notifications")

    @app.post("/sync/refresh")
    @admin_only("Refreshing QuickBooks lists")
    def refresh_lists():
        target = request.form.get("company") or None
        control.request_sync(st, SyncKind.REFRESH_LISTS, target, by=_by())
        _done(f"QuickBooks' vendor, account, class and item lists are read again for "
              f"{target or 'every company'} at the next Web Connector session.")
        return _back(url_for("sync"))

    @app.post("/vendors/map")
    @admin_only("Changing the supplier mapping")
    def vendor_map():
        from connector.vendors import map_supplier, unmap_supplier

        sid, vendor = request.form.get("supplier", "").strip(), request.form.get("vendor", "").strip()
        try:
            if request.form.get("action") == "unmap":
                unmap_supplier(deps.settings, sid)
                _done(f"Supplier {sid} removed from the mapping: its new documents are held until it is mapped again.")
            else:
                if not vendor:
                    raise ConfigError(deps.settings.source_file, "vendor", "name the QuickBooks vendor")
                fields = {k: request.form[k].strip() for k in ("default_account", "company")
                          if request.form.get(k, "").strip()}
                done = map_supplier(deps.settings, sid, vendor, **fields)
                _done(f"Supplier {sid} is mapped to {vendor!r}" + (f" for company {fields['company']}" if "company" in
                                                                   fields else "")
                      + f" ({'added' if done['created'] else 'changed'}). Release its held documents to translate them "
                        f"with it: the Held list, supplier {sid}, Release all.")
        except ConfigError as e:
            _done(f"Nothing was changed: {e}", "error")
        log.info("web.vendor_map", supplier=sid, vendor=vendor, by=g.user.username)
        return _back(url_for("vendors"))

    @app.post("/sync/pause")
    @admin_only("Pausing")
    def pause():
        scope, name, reason = request.form.get("scope", ""), request.form.get("name", ""), request.form.get("reason", "")
        if not _exists(deps.settings, scope, name):
            _done(f"There is no {scope or 'source or company'} {name!r}.", "error")
            return redirect(url_for("sync"))
        if control.pause(st, scope, name, by=_by(), reason=reason):
            _done(f"{scope.capitalize()} {name} is paused: " + ("nothing is fetched from it" if scope == Scope.SOURCE
                                                                 else "nothing is sent to its QuickBooks")
                  + " until it is resumed; every record is kept.")
        else:
            _done(f"{scope.capitalize()} {name} was paused already.", "info")
        return _back(url_for("sync"))

    @app.post("/sync/resume")
    @admin_only("Resuming")
    def resume():
        scope, name = request.form.get("scope", ""), request.form.get("name", "")
        if not _exists(deps.settings, scope, name) and (scope, name) not in control.pauses(st):
            _done(f"There is no {scope or 'source or company'} {name!r}.", "error")
            return redirect(url_for("sync"))
        if control.resume(st, scope, name, by=_by()):
            _done(f"{scope.capitalize()} {name} is resumed: it carries on where it stopped.")
        else:
            _done(f"{scope.capitalize()} {name} was not paused.", "info")
        return _back(url_for("sync"))


def _exists(settings: Settings, scope: str, name: str) -> bool:
    if scope == Scope.SOURCE:
        return any(s.name == name for s in settings.sources)
    if scope == Scope.COMPANY:
        return settings.user(name) is not None
    return False

