"""The delivery service: the durable queue <-> QuickBooks, one Web Connector session at a time.

It is the Web Connector adapter's ``WorkProvider`` (``qbwc_server.contracts``), satisfied by
shape: the core imports no adapter. A session is anything with the attributes of
:class:`Conversation`.

Exactly-once rules:

* A request is marked ``sent`` (and committed) *before* its qbXML leaves us.
* An answer that never comes back (QBWC crash, timeout, connectionError, out-of-sequence call,
  server restart) turns ``sent`` into ``unknown``.
* An ``unknown`` Add is never re-sent blindly: the next batch first asks QuickBooks (a query by
  vendor + RefNumber, matched on the ExternalGUID we wrote); only when QuickBooks has no such
  transaction does the request go back to ``queued``.
* Transient QuickBooks codes (record in use, 3170/3175/3176/3180, and 3231 "not processed") are
  retried a bounded number of times; one failing document never blocks the others
  (``continueOnError`` + per-request state).

Batches fit a time budget: each request's QuickBooks time is predicted per type and learned from
the time between our answer and QBWC's receiveResponseXML (:mod:`._cost`).
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

import qbxml_templates as qx

from .. import control, lifecycle
from ..settings import Settings
from ..plans import RequestMeta
from ..status import PENDING_REQUEST, Activity, DocStatus, RqState, Scope
from ..store import CompanyState, Document, QueuedRequest, Store, audit, utcnow
from ..upkeep import Upkeep
from ._answers import Answers
from ._batch import Batch, Progress, RequestKey
from ._building import BatchBuilder, Limits, reconcile_due
from ._cost import CostBook
from ._lists import NameLists

log = structlog.get_logger(__name__)

PROGRESS = "delivery"  # the key of this service's Progress in a session's state
REFUSED = "delivery.refused"  # why a session was refused work (the wrong company file open): its close says so
PARSE_ERROR_HRESULT = "0x80040400"  # QuickBooks could not parse the message set: nothing of it ran
MAX_PARSE_RETRIES = 3
REFUSAL_RECORD_SECONDS = 60


class Conversation(Protocol):
    """What delivery reads of one Web Connector session (``qbwc_server.contracts.QBSession``)."""

    ticket: str
    username: str  # the company whose queue this session drains
    company_file: str
    qbxml_version: str
    company_info: dict
    last_error: str
    state: dict  # PROGRESS -> Progress; "summary" when the session closes


class DeliveryService:
    def __init__(self, store: Store, settings: Settings, *, clock=time.monotonic, live=None):
        """``live``: a :class:`connector.settings.LiveSettings` whose current settings the Web Connector
        settings are read from at each batch (an admin turns auto_create_vendors on: no restart)."""
        self.store = store
        self.clock = clock
        self._settings, self._live, self._built, self._limits_set = settings, live, None, None
        self._refusals: dict[tuple[str, str | None], float] = {}  # last recorded refused login, by user + address
        self._unrecorded: dict[tuple[str, str | None], int] = {}  # refused since, not counted in the store yet
        self._idle_seen: dict[str, float] = {}  # last recorded login with nothing to do, by user
        self.upkeep = Upkeep(store)  # PostgreSQL's statistics as the drain changes the queue

    def _web_connector(self) -> tuple:
        settings = self._live.current() if self._live is not None else self._settings
        if self._built is None or self._built[0] is not settings:
            wc = settings.web_connector
            self._built = (settings, Limits(budget=wc.batch_budget_seconds, max_requests=wc.max_requests_per_batch,
                                            validate=wc.validate_qbxml, auto_create_vendors=wc.auto_create_vendors),
                           wc.reference_refresh_minutes * 60)
        return self._built

    @property
    def limits(self) -> Limits:
        """What a batch may hold and do (the Web Connector settings as they are now)."""
        return self._limits_set if self._limits_set is not None else self._web_connector()[1]

    @limits.setter
    def limits(self, value: Limits) -> None:  # (a test's, or a bench's, own limits)
        self._limits_set = value

    @property
    def refresh_after(self) -> int:
        return self._web_connector()[2]

    # ------------------------------------------------------------ WorkProvider
    def has_work(self, user) -> bool:
        """False for a paused company: its Web Connector is told "none" and nothing is sent."""
        with self.store.session() as s:
            if control.is_paused(s, Scope.COMPANY, user.username):
                log.info("qbwc.company_paused", user=user.username, detail="paused: nothing is sent until resumed")
                # the admin sees that the Web Connector still calls while the company is paused
                cs = s.get(CompanyState, user.username) or CompanyState(company=user.username, info={})
                cs.last_contact, cs.last_result = utcnow(), "paused: told there is nothing to do"
                s.merge(cs)
                control.record(s, Scope.COMPANY, user.username, Activity.SESSION_OK,
                               "the Web Connector called; the company is paused, so it was told there is nothing "
                               "to do")
                return False
            return _any(s, user.username, *PENDING_REQUEST, RqState.SENT) or reconcile_due(s, user.username)

    def next_request(self, session: Conversation) -> str | None:
        progress = session.state.get(PROGRESS)
        with self.store.session() as s:
            if progress is None and self._wrong_company_file(s, session):
                return None
            if progress is None:
                progress = session.state[PROGRESS] = Progress()
                self._recover_stale(s, session.username)
                self._remember_company(s, session)
            elif progress.batch is not None:  # we answered sendRequestXML but no receiveResponseXML came
                self._lost(s, progress.batch, "sendRequestXML called again before receiveResponseXML")
                progress.batch = None
            if control.is_paused(s, Scope.COMPANY, session.username):  # paused during the session
                return None
            with s.no_autoflush:  # nothing below reads back what it wrote: flush once, at commit
                elements, batch = BatchBuilder(
                    s, company=session.username, ticket=session.ticket, qbxml_version=session.qbxml_version,
                    progress=progress, limits=self.limits, costs=CostBook(s),
                    lists=NameLists(s, session.username, self.refresh_after)).build()
            if not elements:
                return None
            batch.sent_at = self.clock()
            log.info("qbwc.batch", user=session.username, batch=batch.id, adds=len(batch.requests),
                     verifications=len(batch.verify), lookups=len(batch.lookups),
                     predicted_seconds=round(batch.predicted, 2), budget_seconds=self.limits.budget)
            xml = qx.message_set(elements, on_error="continueOnError", version=session.qbxml_version)
        progress.batch = batch
        return xml

    def handle_response(self, session: Conversation, response_xml: str) -> int:
        progress: Progress | None = session.state.get(PROGRESS)
        batch = progress.batch if progress else None
        if batch is None:
            log.warning("qbwc.unexpected_response", user=session.username,
                        detail="receiveResponseXML without a batch in flight; ignored")
            return self._percent(session)
        progress.batch = None
        try:
            items = qx.parse_response(response_xml)
        except Exception as e:  # unreadable answer: we cannot know what QuickBooks did
            with self.store.session() as s:
                self._lost(s, batch, f"QuickBooks response could not be read: {e}")
            session.last_error = f"QuickBooks' response could not be read ({e}); the batch will be verified"
            return -1
        elapsed = self.clock() - batch.sent_at
        before = (progress.posted, progress.held, progress.failed)
        with self.store.session() as s, s.no_autoflush:
            lost = self._apply(s, session, progress, batch, items)
            CostBook(s).learn(batch.load, elapsed, batch.predicted)
            percent = self._percent(session, s)  # in the same unit of work: one session per answer
        self.upkeep.changed(2 * len(items))  # (each answer changes its request and its document)
        log.info("qbwc.batch_done", user=session.username, batch=batch.id, seconds=round(elapsed, 2),
                 predicted_seconds=round(batch.predicted, 2), answers=len(items), lost=lost,
                 **{k: now - then for k, now, then in zip(("posted", "held", "failed"),
                                                           (progress.posted, progress.held, progress.failed), before)})
        return percent

    def handle_failure(self, session: Conversation, hresult: str, message: str) -> None:
        progress: Progress | None = session.state.get(PROGRESS)
        batch = progress.batch if progress else None
        if batch is None:
            session.last_error = f"QuickBooks could not be reached: {message or hresult}".strip()
            control.record_event(self.store, Scope.COMPANY, session.username, Activity.SESSION_ERROR,
                                 session.last_error, hresult=hresult)
            return
        progress.batch = None
        said = f"{hresult}: {message}" if hresult else message or "no reason given"
        with self.store.session() as s:
            if (hresult or "").lower() == PARSE_ERROR_HRESULT:
                progress.solo = True  # one request at a time until the session ends
                self._unparsed(s, batch, f"QuickBooks cannot parse this request ({said})")
            else:
                self._lost(s, batch, f"QuickBooks failed to run the request ({said})")
            session.last_error = (f"QuickBooks could not process the last batch ({said}). "
                                  "Nothing is lost: the requests will be checked and sent again.")
            control.record(s, Scope.COMPANY, session.username, Activity.SESSION_ERROR, session.last_error,
                           hresult=hresult)

    def close(self, session: Conversation) -> None:
        progress: Progress = session.state.get(PROGRESS) or Progress()
        with self.store.session() as s:
            if progress.batch is not None:
                self._lost(s, progress.batch, "session closed before QuickBooks' answer arrived")
                progress.batch = None
            NameLists(s, session.username, self.refresh_after).end_session()
            cs = s.get(CompanyState, session.username) or CompanyState(company=session.username, info={})
            summary = progress.summary(waiting=_count(s, session.username, *PENDING_REQUEST))
            refused = session.state.get(REFUSED)
            if refused:  # (its error is in the history already: not a session that went well)
                summary = f"nothing sent: {refused}"
            cs.last_contact, cs.last_result = utcnow(), summary
            s.merge(cs)
            if not refused:
                control.record(s, Scope.COMPANY, session.username, Activity.SESSION_OK, summary,
                               posted=progress.posted, held=progress.held, failed=progress.failed)
        session.state["summary"] = ("Refused: " if refused else "OK: ") + summary

    def login_refused(self, username: str, reason: str, remote_addr: str | None) -> None:
        """A configured user's Web Connector login was refused: kept for `qbedi status` and `show` (at most
        once a minute per user and address: a flood of refused logins is not a flood of writes). The count
        (``refused_logins``) takes every refusal: those between two writes are added by the next one."""
        now, key = self.clock(), (username, remote_addr)
        self._idle_seen.pop(username, None)  # (the next good login is recorded, whenever it comes)
        if now - self._refusals.get(key, float("-inf")) < REFUSAL_RECORD_SECONDS:
            self._unrecorded[key] = self._unrecorded.get(key, 0) + 1
            return
        self._refusals[key] = now
        refused = 1 + self._unrecorded.pop(key, 0)
        if len(self._refusals) > 10_000:
            self._refusals.clear()
            self._unrecorded.clear()
        with self.store.session() as s:
            cs = s.get(CompanyState, username) or CompanyState(company=username, info={})
            info = dict(cs.info or {})
            info["last_refused_login"] = {"at": utcnow().isoformat(timespec="seconds"), "remote": remote_addr,
                                          "reason": "too many failed logins (locked for a while)" if reason == "locked"
                                          else "the password did not match"}
            info["refused_logins"] = int(info.get("refused_logins") or 0) + refused
            cs.info = info
            s.merge(cs)
            control.record(s, Scope.COMPANY, username, Activity.SESSION_ERROR,
                           f"Web Connector login refused: {info['last_refused_login']['reason']}", remote=remote_addr)

    def login_idle(self, username: str) -> None:
        """A configured user's Web Connector logged in and was told there is nothing to do: its last contact
        (at most once a minute), and, after a refused login or a failed session, a good one in the history, so
        `qbedi status` and the pages stop saying the password is wrong once it is right."""
        now = self.clock()
        if now - self._idle_seen.get(username, float("-inf")) < REFUSAL_RECORD_SECONDS:
            return
        self._idle_seen[username] = now
        with self.store.session() as s:
            if control.is_paused(s, Scope.COMPANY, username):
                return  # (has_work said so already: "paused")
            cs = s.get(CompanyState, username) or CompanyState(company=username, info={})
            cs.last_contact, cs.last_result = utcnow(), "OK: nothing queued"
            s.merge(cs)
            last = control.history_in(s, scope=Scope.COMPANY, name=username,
                                      kinds=(Activity.SESSION_OK, Activity.SESSION_ERROR), limit=1)
            if last and last[0]["kind"] == Activity.SESSION_ERROR:
                control.record(s, Scope.COMPANY, username, Activity.SESSION_OK,
                               "the Web Connector logged in; nothing was queued for QuickBooks")

    # ------------------------------------------------------------ pieces
    def _apply(self, s: Session, session: Conversation, progress: Progress, batch: Batch, items) -> int:
        """Apply every answer of the batch; what QuickBooks did not answer is lost. Returns how many."""
        ids = [*batch.requests, *batch.verify, *batch.lookups]
        # one query for every request of the batch (and its document); held here so the identity map
        # keeps them for the s.get() calls that follow
        s.info["preloaded"] = list(s.scalars(
            select(QueuedRequest).options(selectinload(QueuedRequest.document).defer(Document.parsed))
            .where(QueuedRequest.id.in_(ids)))) if ids else []
        lists = NameLists(s, session.username, self.refresh_after)
        answers = Answers(s, progress, lists, company_file=session.company_file, username=session.username,
                          ticket=session.ticket)
        seen: set[str] = set()
        refused: list[str] = []
        for item in items:
            key = RequestKey.parse(item.request_id)
            if key is None or not batch.expects(key):
                self._refused(s, session, batch, item)
                refused.append((item.request_id or "")[:60])
                continue
            seen.add(str(key))
            answers.apply(key, item)
        if refused:  # (in the sync history: an admin sees it on the dashboard and in `qbedi status`)
            control.record(s, Scope.COMPANY, session.username, Activity.SESSION_ERROR,
                           f"{len(refused)} answer(s) for requests this session did not send were ignored, and "
                           f"nothing was changed (requestID {', '.join(map(repr, refused[:3]))}"
                           f"{', ...' if len(refused) > 3 else ''}). If it happens again, check which QuickBooks "
                           "and Web Connector use this login", refused=len(refused))
        missing = batch.unanswered(seen)
        if missing.requests or missing.verify:
            self._lost(s, missing, "QuickBooks returned no answer for the request")
        answers.finish()
        return len(missing.requests) + len(missing.verify)

    @staticmethod
    def _refused(s: Session, session: Conversation, batch: Batch, item) -> None:
        """An answer for something this batch did not send: nothing is touched; the attempt is audited."""
        audit(s, "answer_refused", company=session.username, ticket=session.ticket[:8], batch=batch.id,
              request_id=(item.request_id or "")[:60], status_code=item.status_code,
              message="an answer for a request this session's batch did not send was ignored")
        log.warning("qbwc.answer_refused", user=session.username, batch=batch.id,
                    request_id=(item.request_id or "")[:60])

    @staticmethod
    def _lost(s: Session, batch: Batch, why: str) -> None:
        for rid in [*batch.requests, *batch.verify]:
            rq = s.get(QueuedRequest, rid)
            if rq is not None and rq.state in (RqState.SENT, RqState.UNKNOWN):
                lifecycle.answer_lost(s, rq, why)
        log.warning("qbwc.answer_lost", batch=batch.id, requests=len(batch.requests), reason=why)

    @staticmethod
    def _unparsed(s: Session, batch: Batch, why: str) -> None:
        """QuickBooks rejected the whole message set unread: nothing of it ran. Each request goes again
        (alone from now on); one that alone cannot be parsed after a few tries fails."""
        for rid in batch.requests:
            rq = s.get(QueuedRequest, rid)
            if rq is None or rq.state != RqState.SENT:
                continue
            if len(batch.requests) == 1 and rq.attempts >= MAX_PARSE_RETRIES:
                lifecycle.fail_request(s, rq, None, why)
            else:
                lifecycle.resend(s, rq, None, "requeued", f"{why}; nothing of the batch ran, it goes again")
        # lost answers being looked up stay unknown: they are looked up again next round

    @staticmethod
    def _recover_stale(s: Session, company: str) -> None:
        """``sent`` rows left by an earlier session (crash, restart) become ``unknown`` (a range of the
        (company, state, id) index: the drained rows are not read)."""
        for rq in s.scalars(select(QueuedRequest).where(QueuedRequest.company == company,
                                                        QueuedRequest.state == RqState.SENT)
                            .order_by(QueuedRequest.company, QueuedRequest.state, QueuedRequest.id)):
            lifecycle.answer_lost(s, rq, "an earlier session ended without QuickBooks' answer; will verify "
                                         "before re-sending")

    @staticmethod
    def _wrong_company_file(s: Session, session: Conversation) -> bool:
        """QuickBooks has another company file open than the one configured for this Web Connector user:
        nothing is sent (it would post into the wrong books), the session says why, and the dashboard and
        `qbedi status` show it until a session opens the right file."""
        want = (session.company_file or "").strip()
        got = ((session.company_info or {}).get("company_file_name") or "").strip()
        cs = s.get(CompanyState, session.username) or CompanyState(company=session.username, info={})
        info = dict(cs.info or {})
        if not want or not got or _same_file(want, got):
            if info.pop("file_mismatch", None) is not None:
                cs.info = info
                s.merge(cs)
            return False
        message = (f"QuickBooks has '{got}' open, but '{session.username}' posts into '{want}': nothing was sent. "
                   "Open the right company file in QuickBooks (or correct company_file in qbedi's config) and run "
                   "the Web Connector again")
        info["file_mismatch"] = {"at": utcnow().isoformat(timespec="seconds"), "open": got, "configured": want}
        cs.info = info
        s.merge(cs)
        session.last_error = message
        session.state["done"] = True  # no waiting for work: this session can do none
        session.state[REFUSED] = "QuickBooks has another company file open than the one configured"
        control.record(s, Scope.COMPANY, session.username, Activity.SESSION_ERROR, message)
        log.error("qbwc.wrong_company_file", user=session.username, open=got, configured=want)
        return True

    @staticmethod
    def _remember_company(s: Session, session: Conversation) -> None:
        cs = s.get(CompanyState, session.username) or CompanyState(company=session.username, info={})
        info = dict(cs.info or {})
        info.update({k: v for k, v in (session.company_info or {}).items() if isinstance(v, (str, int, float, list))})
        info["company_file"] = session.company_file
        info["qbxml_version"] = session.qbxml_version
        cs.info, cs.last_contact = info, utcnow()
        s.merge(cs)

    def _percent(self, session: Conversation, s: Session | None = None) -> int:
        """How much of the company's work this session has done (100: nothing left, the session ends).

        Counted from the (company, state, id) index, at most ``COUNT_CAP`` per state; a longer queue is
        counted in full once a session and then estimated from what this session did, with no count at
        all while that estimate is over twice the cap (the end is far: a per-call count would only say
        "over 1,000"), so a call costs the same with 1,000 or 100,000 waiting."""
        progress: Progress = session.state.get(PROGRESS) or Progress()
        done = progress.processed
        first = session.state.get(PENDING_SEEN)
        if first is not None and first[0] - (done - first[1]) > 2 * COUNT_CAP:
            return max(0, min(99, int(100 * done / (done + first[0] - (done - first[1])))))
        if s is None:
            with self.store.session() as s:
                return self._percent(session, s)
        s.flush()
        remaining = _count(s, session.username, *PENDING_REQUEST, at_most=COUNT_CAP)
        if remaining == 0:  # finish a list read: its iterator dies with the session
            return 99 if NameLists(s, session.username, 0).reading() else 100
        if remaining >= COUNT_CAP:
            if first is None:
                first = session.state[PENDING_SEEN] = (_count(s, session.username, *PENDING_REQUEST), done)
            remaining = max(remaining, first[0] - (done - first[1]))
        return max(0, min(99, int(100 * done / (done + remaining))))


COUNT_CAP = 1000  # pending requests counted exactly per call up to this many (see _percent)
PENDING_SEEN = "delivery_pending"  # session state: (pending requests counted in full, processed then)


def _in_state(company: str, state: str):
    """This company's requests in one state, in the order of the (company, state, id) index: a range of it
    that the planner cannot trade for a scan in id order filtering out the drained rows (it would with a
    LIMIT and no ORDER BY, or ORDER BY id alone, once most of the table is queued or done)."""
    return select(QueuedRequest.id).where(QueuedRequest.company == company, QueuedRequest.state == state) \
        .order_by(QueuedRequest.company, QueuedRequest.state, QueuedRequest.id)


def _same_file(a: str, b: str) -> bool:
    """Windows paths: case and slash direction do not matter."""
    return a.replace("/", "\\").rstrip("\\").lower() == b.replace("/", "\\").rstrip("\\").lower()


def _count(s: Session, company: str, *states: str, at_most: int | None = None) -> int:
    """This company's requests in these states (at most ``at_most`` of each state), read from the index,
    never from the drained rows."""
    n = 0
    for state in states:
        q = _in_state(company, state)
        if at_most is not None:
            q = q.limit(at_most)
        n += s.scalar(select(func.count()).select_from(q.subquery()))
    return n


def _any(s: Session, company: str, *states: str) -> bool:
    return any(s.scalar(_in_state(company, state).limit(1)) is not None for state in states)


def last_contact(store: Store) -> list[dict]:
    """Each company's last Web Connector session: when, what it did, the last refused login, and what
    QuickBooks told us about itself (not the name lists: those are qbedi's working copy). A live session's
    ticket is a password while it lasts: only its first 8 characters are given, as the log gives them."""
    with store.session() as s:
        return [{"company": c.company, "last_contact": c.last_contact.isoformat() if isinstance(c.last_contact, datetime)
                 else None, "last_result": c.last_result,
                 "last_refused_login": (c.info or {}).get("last_refused_login"),
                 "info": {k: _masked(k, v) for k, v in (c.info or {}).items() if k not in ("refs", "last_refused_login")}}
                for c in s.scalars(select(CompanyState))]


def _masked(key: str, value):
    if key == "session" and isinstance(value, dict) and value.get("ticket"):
        return {**value, "ticket": str(value["ticket"])[:8] + "..."}
    return value


def why_waiting(s: Session, doc: Document) -> str | None:
    """In words, why a queued or sent document has not reached QuickBooks yet (None for the others)."""
    if doc.status == DocStatus.AWAITING_APPROVAL:
        return ("it waits for a person's approval (auto_post: false): approve it on the web page or with qbedi "
                f"approve {doc.id}; reject it with qbedi reject {doc.id} --reason ...")
    if doc.status not in (DocStatus.QUEUED, DocStatus.SENT):
        return None
    rq = next((r for r in reversed(doc.requests) if r.state in (*PENDING_REQUEST, RqState.SENT)), None)
    if rq is not None:
        meta = RequestMeta.from_json(rq.meta)
        if meta.not_before and meta.not_before > utcnow().isoformat():
            return (f"QuickBooks said the record was in use ({rq.status_code}); it is tried again after "
                    f"{meta.not_before[:19]} UTC")
        if rq.state == RqState.UNKNOWN:
            return "QuickBooks' answer was lost; the next Web Connector run checks QuickBooks before sending again"
        if meta.waits_for_link:
            return f"waiting to read purchase order(s) {', '.join(meta.link_plan.po_numbers) or '?'} from QuickBooks"
        if meta.waits_for_bill_link:
            return (f"waiting to read purchase order(s) {', '.join(meta.bill_pos)} from QuickBooks, to link its item "
                    "lines to them")
        if meta.parts is not None and meta.parts.txn_id:
            return (f"too big for one Web Connector round trip, it is posted in parts: {meta.parts.said}; the next "
                    "Web Connector runs add the rest to the same bill")
    if doc.company and control.is_paused(s, Scope.COMPANY, doc.company):
        from ..store import Pause

        p = s.get(Pause, (Scope.COMPANY, doc.company))
        return (f"company {doc.company!r} is paused (since {p.paused_at.isoformat(timespec='seconds')} UTC by "
                f"{p.by or '?'}{': ' + p.reason if p.reason else ''}): nothing is sent to its QuickBooks until it "
                f"is resumed (qbedi resume --company {doc.company})")
    cs = s.get(CompanyState, doc.company) if doc.company else None
    mismatch = ((cs.info or {}) if cs else {}).get("file_mismatch")
    if mismatch:
        return (f"QuickBooks had '{mismatch['open']}' open at the last Web Connector run, not '{mismatch['configured']}': "
                "nothing is posted until the right company file is open")
    refused = ((cs.info or {}) if cs else {}).get("last_refused_login")
    if refused and (cs.last_contact is None or refused["at"] > cs.last_contact.isoformat()):
        return (f"the Web Connector's last login for {doc.company!r} was refused at {refused['at']} UTC "
                f"({refused['reason']}, from {refused.get('remote') or '?'}): check its password")
    if cs is None or cs.last_contact is None:
        return (f"no Web Connector has connected for company {doc.company!r} yet: add its .qwc file in QuickBooks "
                "Web Connector (qbedi qwc) and run it")
    return (f"waiting for the next Web Connector run for {doc.company!r} (last contact "
            f"{cs.last_contact.isoformat(timespec='seconds')} UTC: {cs.last_result or 'no summary'})")
