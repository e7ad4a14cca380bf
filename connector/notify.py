"""Notifications: an immediate message when documents are held or refused, when a source keeps failing
or the Web Connector stays away while work waits, and a daily digest; by e-mail (SMTP) and/or a webhook.

Invariants:

- Each channel (``email``, ``webhook``) keeps its own record of what it told, one
  :class:`~connector.store.NotificationState` row per topic (``held``, ``source:<name>``,
  ``company:<name>``, ``digest``, and ``last:<kind>`` for ``min_interval``). A row moves on only once its
  message was delivered on that channel: a failed delivery is logged, recorded (``last_error``) and the
  same news is offered again at the next :meth:`Notifier.check`. A webhook that is down therefore never
  makes the e-mail repeat itself, and a restart neither repeats a message nor loses one.
- Held documents are told once each time they are held (an ``audit_event`` of kind ``held`` or
  ``failed`` after the channel's cursor) and only while they are still held or failed when the check runs:
  one released and posted meanwhile is not worth a message.
- A failing source is told once per failure (its ``last_ok_at``: a source that recovers and fails again is
  a new failure), after ``source_failing_after``; "working again" is told only for a failure that was told.
  The same for a company whose Web Connector has not come for ``web_connector_silent_after`` while
  requests wait for it (measured from the later of its last contact and the oldest waiting request).
- At most one immediate message of a kind per ``min_interval`` per channel: news that comes sooner waits
  and goes in the next message (several sources failing at once are one message). The digest and the
  "working again" messages are not held back.
- :meth:`Notifier.deliver` and :meth:`Notifier.check` never raise on a delivery problem, and never log a
  password or a webhook secret: both are read from environment variables at send time (never from the
  YAML), registered with :mod:`connector.redact`, and errors are redacted before they are logged or stored.
- Times in the store are naive UTC (``store.utcnow``); ``digest_at`` is a wall-clock time in ``timezone``
  (default: the machine's local time).

Its settings are ``Settings.notifications`` (:class:`connector.settings.NotificationSettings`); ``qbedi run``
calls :meth:`Notifier.check` every minute.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl as ssl_module
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import requests
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .redact import redact_string, register_secret
from .settings import EmailSettings, NotificationSettings, WebhookSettings
from .status import Activity, DocStatus, RqState, Scope
from .store import (AuditEvent, CompanyState, Document, NotificationState, Pause, QueuedRequest, SourceState,
                    Store, SyncEvent)

log = structlog.get_logger(__name__)

LISTED = 20  # documents named in one immediate message at most (the count says how many in all)
DIGEST_LISTED = 50  # held documents / postings named in the digest at most
WAITING = (RqState.QUEUED, RqState.UNKNOWN)  # requests a Web Connector session still has to deal with
REVIEW = (DocStatus.HELD, DocStatus.FAILED)
SET_NAMES = {"810": "invoice", "850": "purchase order", "856": "ship notice"}




# ---------------------------------------------------------------- messages

@dataclass
class Message:
    """What a person is told: ``subject`` and ``text`` in plain words; ``fields`` the same facts, structured
    (the webhook's JSON). ``marks``: the topics it settles once delivered, with what to record for each."""

    kind: str  # held, source_failing, source_recovered, web_connector_silent, web_connector_back, digest
    subject: str
    text: str
    fields: dict = field(default_factory=dict)
    marks: dict[str, dict] = field(default_factory=dict, repr=False)

    def payload(self) -> dict:
        """The webhook's JSON body."""
        return {"kind": self.kind, "subject": self.subject, "text": self.text, "fields": _jsonable(self.fields)}


@dataclass
class Told:
    """One message offered on one channel; ``error`` is None when it was delivered."""

    channel: str
    message: Message
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


class DeliveryError(Exception):
    """A message could not be delivered (the words are safe to log: no secrets)."""


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") + " UTC" if moment else "never"


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _amount(value: Decimal | str | None, currency: str = "USD") -> str:
    return "no amount" if value is None else f"{Decimal(value):,.2f} {currency or 'USD'}"


def _doc_words(d: Document) -> str:
    what = SET_NAMES.get(d.transaction_set, f"X12 {d.transaction_set}")
    party = (d.parsed or {}).get("supplier") or {}
    who = party.get("name") or d.supplier_id or d.sender_id or "an unknown supplier"
    ids = f" ({d.supplier_id or d.sender_id})" if (d.supplier_id or d.sender_id) and who != (
        d.supplier_id or d.sender_id) else ""
    return f"#{d.id} {what} {d.document_number or '(no number)'} from {who}{ids}, {_amount(d.total, d.currency)}"


def _doc_fields(d: Document) -> dict:
    return {"id": d.id, "transaction_set": d.transaction_set, "number": d.document_number,
            "supplier_id": d.supplier_id, "sender_id": d.sender_id,
            "supplier_name": ((d.parsed or {}).get("supplier") or {}).get("name"),
            "total": None if d.total is None else str(d.total), "currency": d.currency, "status": d.status,
            "reason_code": d.reason_code, "reason": d.reason, "company": d.company}


# ---------------------------------------------------------------- the notifier

class Notifier:
    """Finds what to tell (:meth:`check`) and tells it (:meth:`deliver`). Safe to call from a scheduler:
    nothing here raises for a delivery problem."""

    def __init__(self, store: Store, settings: NotificationSettings):
        self.store, self.settings = store, settings

    # ------------------------------------------------------------ the whole round
    def check(self, now: datetime | None = None) -> list[Told]:
        """Work out what each channel has not been told yet, send it, and record what was delivered.
        ``now``: aware, or naive UTC (the store's clock); default the current time."""
        now = _naive_utc(now or datetime.now(UTC))
        told: list[Told] = []
        for channel in self.settings.channels:
            for message in self.due(channel, now):
                error = self._send(channel, message)
                self._remember(channel, message, now, error)
                told.append(Told(channel, message, error))
        return told

    def due(self, channel: str, now: datetime) -> list[Message]:
        """The messages ``channel`` owes at ``now`` (naive UTC), sending nothing."""
        with self.store.session() as s:
            state = self._state(s, channel)
            found = [self._held(s, state, now), *self._sources(s, state, now), *self._companies(s, state, now),
                     self._digest(s, state, now)]
        return [m for m in found if m is not None]

    @staticmethod
    def test_message() -> Message:
        """A message that says only that notifications work (for a "send a test message" button / command);
        it settles nothing."""
        return Message("test", "qbedi: test message",
                       "This is a test message from qbedi: notifications reach you here.\n\nNothing to do.",
                       {"test": True})

    def deliver(self, message: Message, channels: list[str] | None = None) -> dict[str, str | None]:
        """Send ``message`` on every configured channel (or those named): channel -> None when delivered,
        else the error in words. Never raises; a failure is logged without secrets."""
        return {c: self._send(c, message) for c in (channels or self.settings.channels)}

    # ------------------------------------------------------------ state
    @staticmethod
    def _state(s: Session, channel: str) -> dict[str, NotificationState]:
        prefix = f"{channel}:"
        rows = s.scalars(select(NotificationState).where(NotificationState.key.startswith(prefix, autoescape=True)))
        return {r.key[len(prefix):]: r for r in rows}

    def _quiet(self, state: dict[str, NotificationState], kind: str, now: datetime) -> bool:
        """A message of this kind went out less than ``min_interval`` ago on this channel."""
        last = state.get(f"last:{kind}")
        return bool(last and last.last_sent_at and
                    (now - last.last_sent_at).total_seconds() < self.settings.seconds("min_interval"))

    def _remember(self, channel: str, message: Message, now: datetime, error: str | None) -> None:
        """Delivered: each topic the message settles moves on, and ``last:<kind>`` records the time. Not
        delivered: only the attempt and the error are recorded (the news is offered again next time)."""
        marks = dict(message.marks)
        marks.setdefault(f"last:{message.kind}", {})
        with self.store.session() as s:
            for topic, values in marks.items():
                key = f"{channel}:{topic}"[:300]
                row = s.get(NotificationState, key) or NotificationState(key=key)
                row.last_attempt_at, row.last_error = now, error
                if error is None:
                    row.last_sent_at = now
                    for name, value in values.items():
                        setattr(row, name, value)
                s.merge(row)

    # ------------------------------------------------------------ held and failed documents
    def _held(self, s: Session, state: dict[str, NotificationState], now: datetime) -> Message | None:
        if not self.settings.held_alert or self._quiet(state, "held", now):
            return None
        cursor = (state.get("held").cursor if state.get("held") else None) or 0
        newest = s.scalar(select(func.max(AuditEvent.id)).where(
            AuditEvent.id > cursor, AuditEvent.kind.in_(("held", "failed")), AuditEvent.document_id.is_not(None)))
        if newest is None:
            return None
        told = select(AuditEvent.document_id).where(
            AuditEvent.id > cursor, AuditEvent.id <= newest, AuditEvent.kind.in_(("held", "failed")))
        still = (Document.id.in_(told), Document.status.in_(REVIEW))
        count = s.scalar(select(func.count()).select_from(Document).where(*still))
        if not count:
            return None
        docs = list(s.scalars(select(Document).where(*still).order_by(Document.id).limit(LISTED)))
        return _held_message(docs, count, cursor=newest)

    # ------------------------------------------------------------ sources
    def _sources(self, s: Session, state: dict[str, NotificationState], now: datetime) -> list[Message]:
        after = self.settings.seconds("source_failing_after")
        if after is None:
            return []
        paused = {name for (name,) in s.execute(select(Pause.name).where(Pause.scope == Scope.SOURCE))}
        failing, recovered = [], []
        for st in s.scalars(select(SourceState).order_by(SourceState.name)):
            told = state.get(f"source:{st.name}")
            if st.consecutive_failures and st.name not in paused:
                since = st.last_ok_at or self._first_failure(s, st.name)
                episode = _episode(st.last_ok_at)
                if since and (now - since).total_seconds() >= after and not (told and told.episode == episode):
                    failing.append((st, since, episode))
            elif told and told.episode and not st.consecutive_failures:
                recovered.append(st)
        out = []
        if failing and not self._quiet(state, "source_failing", now):
            out.append(_failing_message(failing, now))
        if recovered:
            out.append(_recovered_message(recovered))
        return out

    @staticmethod
    def _first_failure(s: Session, name: str) -> datetime | None:
        """A source that never worked: when its first failed poll on record was."""
        return s.scalar(select(func.min(SyncEvent.at)).where(
            SyncEvent.scope == Scope.SOURCE, SyncEvent.name == name, SyncEvent.kind == Activity.POLL_FAILED))

    # ------------------------------------------------------------ the Web Connector
    def _companies(self, s: Session, state: dict[str, NotificationState], now: datetime) -> list[Message]:
        after = self.settings.seconds("web_connector_silent_after")
        if after is None:
            return []
        paused = {name for (name,) in s.execute(select(Pause.name).where(Pause.scope == Scope.COMPANY))}
        waiting = dict(s.execute(select(QueuedRequest.company, func.min(QueuedRequest.created_at)).where(
            QueuedRequest.state.in_(WAITING)).group_by(QueuedRequest.company)).all())
        counts = dict(s.execute(select(QueuedRequest.company, func.count()).where(
            QueuedRequest.state.in_(WAITING)).group_by(QueuedRequest.company)).all())
        contacts = {c.company: c.last_contact for c in s.scalars(select(CompanyState))}
        silent, back = [], []
        for company in sorted(set(waiting) | {k[len("company:"):] for k in state if k.startswith("company:")}):
            told, contact = state.get(f"company:{company}"), contacts.get(company)
            if company in waiting and company not in paused:
                since = max(contact, waiting[company]) if contact else waiting[company]
                episode = _episode(contact)
                if (now - since).total_seconds() >= after and not (told and told.episode == episode):
                    silent.append((company, contact, since, counts[company]))
                    continue
            if told and told.episode and _episode(contact) != told.episode:
                back.append((company, contact))
        out = []
        if silent and not self._quiet(state, "web_connector_silent", now):
            out.append(_silent_message(silent, now))
        if back:
            out.append(_back_message(back))
        return out

    # ------------------------------------------------------------ the daily digest
    def _local(self, now: datetime) -> datetime:
        return now.replace(tzinfo=UTC).astimezone(self.settings.zone())

    def _digest(self, s: Session, state: dict[str, NotificationState], now: datetime) -> Message | None:
        if self.settings.digest_at is None:
            return None
        local = self._local(now)
        hour, minute = (int(x) for x in self.settings.digest_at.split(":"))
        if local.time() < time(hour, minute):
            return None
        last = state.get("digest")
        if last and last.last_sent_at and self._local(last.last_sent_at).date() >= local.date():
            return None
        return self.digest(s, local.date())

    def digest(self, s: Session, today: date) -> Message:
        """The day's summary: documents by status, what waits for a person and why, what was posted the day
        before ``today`` (local) with amounts, and the health of each source and Web Connector."""
        zone = self.settings.zone()
        start = datetime.combine(today - timedelta(days=1), time(0)).replace(tzinfo=zone)
        if zone is None:
            start = start.astimezone()  # the machine's local time
        day = (_naive_utc(start), _naive_utc(start + timedelta(days=1)))
        return _digest_message(
            today=today,
            counts=dict(s.execute(select(Document.status, func.count()).group_by(Document.status)).all()),
            review=list(s.scalars(select(Document).where(Document.status.in_(REVIEW)).order_by(Document.id)
                                  .limit(DIGEST_LISTED))),
            review_count=s.scalar(select(func.count()).select_from(Document).where(Document.status.in_(REVIEW))),
            posted=list(s.scalars(select(Document).where(Document.posted_at >= day[0], Document.posted_at < day[1],
                                                         Document.status == DocStatus.POSTED)
                                  .order_by(Document.posted_at, Document.id))),
            sources=list(s.scalars(select(SourceState).order_by(SourceState.name))),
            companies=list(s.scalars(select(CompanyState).order_by(CompanyState.company))),
            waiting=dict(s.execute(select(QueuedRequest.company, func.count()).where(
                QueuedRequest.state.in_(WAITING)).group_by(QueuedRequest.company)).all()),
            paused={(p.scope, p.name) for p in s.scalars(select(Pause))},
            marks={"digest": {}})

    # ------------------------------------------------------------ sending
    def _send(self, channel: str, message: Message) -> str | None:
        try:
            if channel == "email":
                send_email(self.settings.email, message)
            elif channel == "webhook":
                send_webhook(self.settings.webhook, message)
            else:
                raise DeliveryError(f"no channel called {channel!r}")
        except Exception as e:  # noqa: BLE001 - a delivery problem is recorded and retried, never raised
            error = redact_string(f"{type(e).__name__}: {e}" if not isinstance(e, DeliveryError) else str(e))[:2000]
            log.warning("notify.delivery_failed", channel=channel, kind=message.kind, subject=message.subject,
                        error=error, detail="offered again at the next check")
            return error
        log.info("notify.delivered", channel=channel, kind=message.kind, subject=message.subject)
        return None


def _episode(moment: datetime | None) -> str:
    """A failure or silence is known by the last good moment before it (``never`` when there was none)."""
    return moment.isoformat(timespec="seconds") if moment else "never"


def _secret(env: str, what: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise DeliveryError(f"the {what} is read from the environment variable {env}, which is not set")
    register_secret(value)
    return value


def send_email(cfg: EmailSettings, message: Message) -> None:
    """One e-mail to every address in ``cfg.to`` (raises on any failure; :meth:`Notifier.deliver` catches)."""
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = message.subject, cfg.from_addr, ", ".join(cfg.to)
    mail["Date"], mail["Message-ID"] = formatdate(localtime=True), make_msgid(domain="qbedi")
    mail["X-Qbedi-Kind"] = message.kind
    mail.set_content(message.text)
    password = _secret(cfg.password_env, "SMTP password") if cfg.username else None
    if cfg.ssl:
        smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds,
                                context=ssl_module.create_default_context())
    else:
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
    with smtp:
        if cfg.starttls and not cfg.ssl:
            smtp.starttls(context=ssl_module.create_default_context())
        if cfg.username:
            smtp.login(cfg.username, password)
        refused = smtp.send_message(mail)
    if refused:
        raise DeliveryError(f"the mail server refused {', '.join(sorted(refused))}")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Qbedi-Signature`` header's value: ``sha256=`` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send_webhook(cfg: WebhookSettings, message: Message) -> None:
    """POST the message's JSON (raises on any failure or a non-2xx answer)."""
    body = json.dumps(message.payload(), sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "qbedi-notify"}
    if cfg.secret_env:
        headers["X-Qbedi-Signature"] = signature(_secret(cfg.secret_env, "webhook secret"), body)
    answer = requests.post(cfg.url, data=body, headers=headers, timeout=cfg.timeout_seconds)
    if not 200 <= answer.status_code < 300:
        raise DeliveryError(f"the webhook answered HTTP {answer.status_code} {answer.reason or ''}".strip())


# ---------------------------------------------------------------- the words

_WHAT_TO_DO = ("What to do: open each one on the web page (Held & failed) or run `qbedi show ID`. Fix the cause "
               "(often the supplier mapping, or a name missing in QuickBooks) and press Release, or Dismiss it "
               "with a reason.")


def _held_message(docs: list[Document], count: int, *, cursor: int) -> Message:
    if count == 1:
        d = docs[0]
        what = SET_NAMES.get(d.transaction_set, "document")
        subject = f"qbedi: {what} {d.document_number or '#' + str(d.id)} needs a person ({d.reason_code})"
    else:
        subject = f"qbedi: {count} documents need a person (held, or refused by QuickBooks)"
    lines = ["These documents did not go to QuickBooks and wait for a person:", ""]
    for d in docs:
        verb = "refused by QuickBooks" if d.status == DocStatus.FAILED else "held"
        lines += [f"  {_doc_words(d)}", f"    {verb}: {d.reason_code or 'no reason code'}: {d.reason or ''}".rstrip()]
    if count > len(docs):
        lines.append(f"  ... and {count - len(docs)} more.")
    lines += ["", _WHAT_TO_DO]
    return Message("held", subject, "\n".join(lines),
                   {"count": count, "documents": [_doc_fields(d) for d in docs]},
                   marks={"held": {"cursor": cursor}})


def _failing_message(failing: list[tuple[SourceState, datetime, str]], now: datetime) -> Message:
    names = ", ".join(st.name for st, _, _ in failing)
    subject = (f"qbedi: source {names} has been failing for {_ago((now - failing[0][1]).total_seconds())}"
               if len(failing) == 1 else f"qbedi: {len(failing)} sources are failing ({names})")
    lines = ["qbedi cannot fetch files from:", ""]
    for st, since, _ in failing:
        lines += [f"  {st.name}: failing for {_ago((now - since).total_seconds())} "
                  f"({st.consecutive_failures} failed polls in a row; last worked {_at(st.last_ok_at)})",
                  f"    last error: {redact_string(st.last_error or 'none recorded')}"]
    lines += ["", "Nothing received so far is lost, and qbedi keeps trying. Until it works again no new invoices "
                  "come in: check the source's address, credentials (`qbedi test-connection`) and network."]
    return Message("source_failing", subject, "\n".join(lines),
                   {"sources": [{"name": st.name, "failing_since": since, "consecutive_failures":
                                 st.consecutive_failures, "last_ok_at": st.last_ok_at,
                                 "last_error": redact_string(st.last_error or "")} for st, since, _ in failing]},
                   marks={f"source:{st.name}": {"episode": episode} for st, _, episode in failing})


def _recovered_message(sources: list[SourceState]) -> Message:
    names = ", ".join(st.name for st in sources)
    return Message("source_recovered", f"qbedi: source {names} is working again",
                   "\n".join([f"qbedi fetches files from {names} again (last good poll "
                              f"{', '.join(_at(st.last_ok_at) for st in sources)}).", "",
                              "Files that arrived meanwhile are fetched now; nothing else to do."]),
                   {"sources": [{"name": st.name, "last_ok_at": st.last_ok_at} for st in sources]},
                   marks={f"source:{st.name}": {"episode": None} for st in sources})


def _silent_message(silent: list[tuple[str, datetime | None, datetime, int]], now: datetime) -> Message:
    names = ", ".join(c for c, _, _, _ in silent)
    subject = (f"qbedi: the Web Connector for {names} has not come for {_ago((now - silent[0][2]).total_seconds())}"
               " and work is waiting" if len(silent) == 1 else
               f"qbedi: the Web Connector has not come for {len(silent)} companies ({names})")
    lines = ["QuickBooks Web Connector has not connected while documents wait to be posted:", ""]
    for company, contact, since, count in silent:
        lines.append(f"  {company}: {count} request{'s' if count != 1 else ''} waiting; last contact {_at(contact)}"
                     f" (silent for {_ago((now - since).total_seconds())})")
    lines += ["", "Nothing is lost: it all goes at the Web Connector's next run. Check on the QuickBooks machine "
                  "that QuickBooks and the Web Connector are running, the application is checked with "
                  "Auto-Run, and its password is right."]
    return Message("web_connector_silent", subject, "\n".join(lines),
                   {"companies": [{"company": c, "last_contact": contact, "waiting_since": since, "waiting": n}
                                  for c, contact, since, n in silent]},
                   marks={f"company:{c}": {"episode": _episode(contact)} for c, contact, _, _ in silent})


def _back_message(back: list[tuple[str, datetime | None]]) -> Message:
    names = ", ".join(c for c, _ in back)
    return Message("web_connector_back", f"qbedi: the Web Connector for {names} is connecting again",
                   "\n".join(f"The Web Connector for {c} connected at {_at(contact)}." for c, contact in back)
                   + "\n\nWhat waited goes to QuickBooks in its sessions; nothing else to do.",
                   {"companies": [{"company": c, "last_contact": contact} for c, contact in back]},
                   marks={f"company:{c}": {"episode": None} for c, _ in back})


def _digest_message(*, today: date, counts: dict, review: list[Document], review_count: int,
                    posted: list[Document], sources: list[SourceState], companies: list[CompanyState],
                    waiting: dict[str, int], paused: set, marks: dict) -> Message:
    yesterday = today - timedelta(days=1)
    subject = (f"qbedi daily summary {today.isoformat()}: {review_count} waiting for a person, "
               f"{len(posted)} posted yesterday")
    lines = [f"qbedi summary for {today.isoformat()}", "", "Documents by state:"]
    lines += [f"  {status.replace('_', ' ')}: {n}" for status, n in sorted(counts.items())] or ["  none yet"]
    lines += ["", f"Waiting for a person (held, or refused by QuickBooks): {review_count}"]
    for d in review:
        lines += [f"  {_doc_words(d)}", f"    {d.reason_code or 'no reason code'}: {d.reason or ''}".rstrip()]
    if review_count > len(review):
        lines.append(f"  ... and {review_count - len(review)} more (web page: Held & failed).")
    total = sum((d.qb_amount if d.qb_amount is not None else d.total or Decimal(0) for d in posted), Decimal(0))
    lines += ["", f"Posted to QuickBooks on {yesterday.isoformat()}: {len(posted)}"
                  + (f", {total:,.2f} in all" if posted else "")]
    for d in posted[:DIGEST_LISTED]:
        amount = d.qb_amount if d.qb_amount is not None else d.total
        lines.append(f"  {_doc_words(d).rsplit(', ', 1)[0]}: {_amount(amount, d.currency)} "
                     f"({d.qb_txn_type or 'transaction'} {d.qb_txn_id or ''})".rstrip())
    if len(posted) > DIGEST_LISTED:
        lines.append(f"  ... and {len(posted) - DIGEST_LISTED} more.")
    lines += ["", "Sources:"] + ([f"  {_source_words(st, paused)}" for st in sources] or ["  none has polled yet"])
    lines += ["", "QuickBooks Web Connector:"]
    known = {c.company for c in companies}
    lines += [f"  {c.company}: last contact {_at(c.last_contact)}"
              f"{'; paused' if (Scope.COMPANY, c.company) in paused else ''}"
              f"; {waiting.get(c.company, 0)} request(s) waiting" for c in companies]
    lines += [f"  {c}: never connected; {n} request(s) waiting" for c, n in sorted(waiting.items()) if c not in known]
    if not companies and not waiting:
        lines.append("  has not connected yet, and nothing waits for it")
    fields = {
        "date": today, "counts": counts, "waiting_for_a_person": review_count,
        "held": [_doc_fields(d) for d in review],
        "posted_yesterday": [{**_doc_fields(d), "qb_txn_id": d.qb_txn_id, "qb_txn_type": d.qb_txn_type,
                              "qb_amount": d.qb_amount, "posted_at": d.posted_at} for d in posted[:DIGEST_LISTED]],
        "posted_yesterday_count": len(posted), "posted_yesterday_total": total,
        "sources": [{"name": st.name, "failing": bool(st.consecutive_failures), "paused":
                     (Scope.SOURCE, st.name) in paused, "last_ok_at": st.last_ok_at,
                     "consecutive_failures": st.consecutive_failures} for st in sources],
        "companies": [{"company": c.company, "last_contact": c.last_contact, "waiting": waiting.get(c.company, 0),
                       "paused": (Scope.COMPANY, c.company) in paused} for c in companies],
    }
    return Message("digest", subject, "\n".join(lines), fields, marks=marks)


def _source_words(st: SourceState, paused: set) -> str:
    if (Scope.SOURCE, st.name) in paused:
        return f"{st.name}: paused"
    if st.consecutive_failures:
        return (f"{st.name}: FAILING ({st.consecutive_failures} polls in a row; last worked {_at(st.last_ok_at)}): "
                f"{redact_string(st.last_error or '')}")
    return f"{st.name}: working (last good poll {_at(st.last_ok_at)}, {st.files_fetched or 0} files fetched in all)"
