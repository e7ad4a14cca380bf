"""Notifications (connector/notify.py) against a real SMTP server (aiosmtpd) and a real HTTP server on
127.0.0.1, with documents made by the ingest service. The settings model alone: unit/test_notify_settings.py."""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
from datetime import timedelta

import pytest
import structlog
from sqlalchemy import select, update

from connector.notify import NotificationSettings, Notifier
from connector.services import IngestService
from connector.settings import load_settings
from connector.store import (CompanyState, Document, NotificationState, QueuedRequest, SourceState, Store,
                             utcnow)
from tests.support.builders import write_config, x12, x12_file
from tests.support.hooks import webhook_server

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="pip install aiosmtpd (the test extras)")


# ---------------------------------------------------------------- the servers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Mailbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 (plain; logins allowed without TLS, for the test only)."""
    box = _Mailbox()
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.password == b"s3cret-smtp-pass"
        return AuthResult(success=ok, handled=ok)  # not handled: the server answers 535 itself

    ctl = aiosmtpd_controller.Controller(box, hostname="127.0.0.1", port=_free_port(), auth_require_tls=False,
                                         authenticator=authenticator)
    ctl.start()
    box.port, box.logins = ctl.port, logins
    yield box
    ctl.stop()


@pytest.fixture
def webhook():
    """A real HTTP server on 127.0.0.1 that records each POST and answers ``hook.status``."""
    with webhook_server() as hook:
        yield hook


# ---------------------------------------------------------------- the world

@pytest.fixture
def world(tmp_path, db_url):
    settings = load_settings(write_config(tmp_path, db_url))
    store = Store(settings.database_url)
    store.migrate()
    yield store, IngestService(store, settings)
    store.dispose()


def _email(port, **kw) -> dict:
    return {"host": "127.0.0.1", "port": port, "starttls": False, "from_addr": "qbedi@northwind.example",
            "to": ["ap@northwind.example", "admin@northwind.example"], **kw}


def notifier(store, *, digest_at=None, source_failing_after=None, web_connector_silent_after=None, **kw) -> Notifier:
    """Only the topics a test names are on (the others would rightly speak up too: work waits, no contact)."""
    return Notifier(store, NotificationSettings.model_validate({
        "digest_at": digest_at, "timezone": "UTC", "source_failing_after": source_failing_after,
        "web_connector_silent_after": web_connector_silent_after, **kw}))


def unknown_invoice(number: str, sender: str = "HOOLIEDI", name: str = "HOOLI XYZ") -> bytes:
    return x12("IN", "810", [f"BIG*20261120*{number}**PO-7810", f"N1*SU*{name}*92*{sender}",
                             "IT1*1*1*EA*120.00**VN*HX-1", "PID*F****SERVER RACK", "TDS*12000", "CTT*1"],
               sender=sender, ctrl=int(number[-4:]))


def text_of(mail) -> str:
    return mail.get_content().replace("\r\n", "\n")


def ingest(service, data: bytes, name: str):
    return service.ingest(data, source="inbox", remote_id=name, name=name)


# ---------------------------------------------------------------- held documents

def test_held_documents_are_told_once_and_then_only_the_new_ones(world, smtp):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")  # unknown supplier: held
    ingest(service, x12_file("acme_INV-10045.edi"), "acme.edi")  # queued: nothing to tell
    now = utcnow()
    told = notifier(store, email=_email(smtp.port)).check(now)
    assert [(t.channel, t.message.kind, t.delivered) for t in told] == [("email", "held", True)]
    [mail] = smtp.messages
    assert "88812" in mail["Subject"] and "unknown_supplier" in mail["Subject"]
    assert mail["To"] == "ap@northwind.example, admin@northwind.example"
    body = text_of(mail)
    assert "invoice 88812 from INITECH PARTS" in body and "450.00 USD" in body and "held: unknown_supplier" in body
    assert "INV-10045" not in body and "Release" in body

    # a restart (a new notifier on the same store) tells nothing again
    assert notifier(store, email=_email(smtp.port)).check(now + timedelta(hours=1)) == []
    ingest(service, unknown_invoice("HX-2001"), "hooli.edi")
    told = notifier(store, email=_email(smtp.port)).check(now + timedelta(hours=2))
    assert [t.message.kind for t in told] == ["held"] and len(smtp.messages) == 2
    body = text_of(smtp.messages[1])
    assert "HX-2001" in body and "HOOLI XYZ" in body and "88812" not in body


def test_a_document_released_or_dismissed_before_the_check_is_not_told(world, smtp):
    store, service = world
    out = ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    service.dismiss(out.documents[0].document_id, "entered by hand as bill 1041", by="carol")
    assert notifier(store, email=_email(smtp.port)).check(utcnow()) == [] and smtp.messages == []


def test_min_interval_holds_back_the_next_message_of_the_same_kind(world, smtp):
    store, service = world
    n = notifier(store, email=_email(smtp.port), min_interval="15m")
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    t0 = utcnow()
    assert len(n.check(t0)) == 1
    ingest(service, unknown_invoice("HX-2002"), "hooli.edi")
    assert n.check(t0 + timedelta(minutes=5)) == []  # too soon after the last one: it waits
    ingest(service, unknown_invoice("HX-2003", sender="PIEDPIPER", name="PIED PIPER"), "pied.edi")
    told = n.check(t0 + timedelta(minutes=16))
    assert len(told) == 1 and len(smtp.messages) == 2
    body = text_of(smtp.messages[1])
    assert smtp.messages[1]["Subject"] == "qbedi: 2 documents need a person (held, or refused by QuickBooks)"
    assert "HX-2002" in body and "HX-2003" in body and "88812" not in body


# ---------------------------------------------------------------- sources and the Web Connector

def test_a_failing_source_is_told_after_the_threshold_once_and_when_it_recovers(world, smtp):
    store, _ = world
    t0 = utcnow()
    with store.session() as s:
        s.add(SourceState(name="cleo", consecutive_failures=4, last_poll_at=t0, last_ok_at=t0 - timedelta(minutes=10),
                          last_error="ConnectionError: cleo.example.com refused the connection", files_fetched=12))
    n = notifier(store, email=_email(smtp.port), source_failing_after="30m")
    assert n.check(t0) == []  # failing for 10 minutes: not yet
    assert n.check(t0 + timedelta(minutes=19)) == []  # 29 minutes
    told = n.check(t0 + timedelta(minutes=21))
    assert [t.message.kind for t in told] == ["source_failing"]
    mail = smtp.messages[0]
    assert mail["Subject"] == "qbedi: source cleo has been failing for 31 minutes"
    assert "4 failed polls in a row" in text_of(mail) and "refused the connection" in text_of(mail)
    assert n.check(t0 + timedelta(hours=3)) == []  # told once per failure
    with store.session() as s:
        s.execute(update(SourceState).values(consecutive_failures=0, last_error=None,
                                             last_ok_at=t0 + timedelta(hours=3)))
    told = n.check(t0 + timedelta(hours=3, minutes=1))
    assert [t.message.kind for t in told] == ["source_recovered"]
    assert smtp.messages[1]["Subject"] == "qbedi: source cleo is working again"
    assert n.check(t0 + timedelta(hours=4)) == []


def test_a_silent_web_connector_is_told_while_work_waits(world, smtp):
    store, service = world
    t0 = utcnow()
    with store.session() as s:  # the Web Connector came two days ago (nothing was waiting then)
        s.add(CompanyState(company="clerk", info={}, last_contact=t0 - timedelta(days=2), last_result="OK"))
    n = notifier(store, email=_email(smtp.port), web_connector_silent_after="2h")
    assert n.check(t0) == []  # nothing waits
    ingest(service, x12_file("acme_INV-10045.edi"), "acme.edi")  # queued for clerk now
    assert n.check(t0 + timedelta(minutes=90)) == []  # waiting 1.5 h: not yet
    told = n.check(t0 + timedelta(hours=2, minutes=5))
    assert [t.message.kind for t in told] == ["web_connector_silent"]
    mail = smtp.messages[0]
    assert "the Web Connector for clerk has not come for 2 h" in mail["Subject"]
    assert "1 request waiting" in text_of(mail) and "Auto-Run" in text_of(mail)
    assert n.check(t0 + timedelta(hours=5)) == []
    with store.session() as s:
        s.execute(update(CompanyState).values(last_contact=t0 + timedelta(hours=5, minutes=30)))
    told = n.check(t0 + timedelta(hours=6))
    assert [t.message.kind for t in told] == ["web_connector_back"]
    assert smtp.messages[1]["Subject"] == "qbedi: the Web Connector for clerk is connecting again"


# ---------------------------------------------------------------- the digest

def test_the_daily_digest_says_what_waits_what_was_posted_and_how_things_run(world, smtp):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    posted = ingest(service, x12_file("acme_INV-10045.edi"), "acme.edi").documents[0].document_id
    ingest(service, x12_file("globex_G-2026-0311.edi"), "globex.edi")
    today = utcnow().replace(hour=6, minute=59, second=0, microsecond=0)
    with store.session() as s:  # as if QuickBooks had recorded it yesterday afternoon
        s.execute(update(Document).where(Document.id == posted).values(
            status="posted", posted_at=today - timedelta(hours=16), qb_txn_id="1A2B-1700000000",
            qb_txn_type="Bill", qb_amount="289.00"))
        s.execute(update(QueuedRequest).where(QueuedRequest.document_id == posted).values(state="done"))
        s.add(SourceState(name="inbox", consecutive_failures=0, last_ok_at=today, files_fetched=3))
        s.add(CompanyState(company="clerk", info={}, last_contact=today - timedelta(minutes=3)))
    n = notifier(store, email=_email(smtp.port), digest_at="07:00", held_alert=False)
    assert n.check(today) == []  # 06:59
    told = n.check(today + timedelta(minutes=2))
    assert [t.message.kind for t in told] == ["digest"]
    mail = smtp.messages[0]
    assert " ".join(mail["Subject"].split()) == (f"qbedi daily summary {today.date().isoformat()}: 1 waiting for a person, "
                               "1 posted yesterday")
    body = text_of(mail)
    assert "  held: 1\n  posted: 1\n  queued: 1" in body
    assert "invoice 88812 from INITECH PARTS (INITECH" in body and "unknown_supplier" in body
    assert f"Posted to QuickBooks on {(today.date() - timedelta(days=1)).isoformat()}: 1, 289.00 in all" in body
    assert "INV-10045 from Acme Industrial Supply (ACMESUPPLY): 289.00 USD (Bill 1A2B-1700000000)" in body
    assert "inbox: working" in body and "clerk: last contact" in body and "1 request(s) waiting" in body
    assert n.check(today + timedelta(hours=12)) == []  # once a day
    assert [t.message.kind for t in n.check(today + timedelta(days=1, minutes=1))] == ["digest"]


# ---------------------------------------------------------------- the webhook

def test_the_webhook_is_signed_and_carries_the_facts(world, webhook, monkeypatch):
    store, service = world
    monkeypatch.setenv("QBEDI_TEST_HOOK_SECRET", "hook-secret-0123")
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    told = notifier(store, webhook={"url": webhook.url, "secret_env": "QBEDI_TEST_HOOK_SECRET"}).check(utcnow())
    assert [(t.channel, t.delivered) for t in told] == [("webhook", True)]
    [(headers, body)] = webhook.calls
    expected = "sha256=" + hmac.new(b"hook-secret-0123", body, hashlib.sha256).hexdigest()
    assert headers["x-qbedi-signature"] == expected and headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["kind"] == "held" and "88812" in data["subject"] and "INITECH PARTS" in data["text"]
    [doc] = data["fields"]["documents"]
    assert data["fields"]["count"] == 1
    assert doc["number"] == "88812" and doc["reason_code"] == "unknown_supplier" and doc["sender_id"] == "INITECHEDI"
    assert doc["total"] == "450.00" and doc["status"] == "held"


def test_a_failed_delivery_is_retried_at_the_next_check_and_the_other_channel_does_not_repeat(world, smtp, webhook):
    store, service = world
    webhook.status = 503
    n = notifier(store, email=_email(smtp.port), webhook={"url": webhook.url})
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    t0 = utcnow()
    with structlog.testing.capture_logs() as logs:
        told = n.check(t0)
    assert {t.channel: t.error for t in told} == {"email": None, "webhook": "the webhook answered HTTP 503 "
                                                  "Service Unavailable"}
    assert any(e["event"] == "notify.delivery_failed" and e["channel"] == "webhook" for e in logs)
    with store.session() as s:
        row = s.get(NotificationState, "webhook:held")
        assert row.cursor is None and "503" in row.last_error and row.last_sent_at is None
    webhook.status = 200
    told = n.check(t0 + timedelta(minutes=1))
    assert [(t.channel, t.message.kind, t.delivered) for t in told] == [("webhook", "held", True)]
    assert len(webhook.calls) == 2 and len(smtp.messages) == 1  # the e-mail is not sent twice
    assert n.check(t0 + timedelta(hours=1)) == []


def test_nobody_listening_is_a_logged_failure_not_an_exception(world):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    n = notifier(store, email=_email(_free_port()), webhook={"url": f"http://127.0.0.1:{_free_port()}/x"})
    told = n.check(utcnow())
    assert {t.channel for t in told} == {"email", "webhook"} and all(t.error for t in told)
    assert "ConnectionRefusedError" in told[0].error or "Connection refused" in told[0].error


# ---------------------------------------------------------------- SMTP login and secrets

def test_smtp_login_reads_the_password_from_the_environment_and_never_logs_it(world, smtp, monkeypatch):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    cfg = _email(smtp.port, username="qbedi", password_env="QBEDI_TEST_SMTP_PASSWORD")
    n = notifier(store, email=cfg)
    with structlog.testing.capture_logs() as logs:
        told = n.check(utcnow())  # the variable is not set
    assert "QBEDI_TEST_SMTP_PASSWORD, which is not set" in told[0].error and smtp.messages == []

    monkeypatch.setenv("QBEDI_TEST_SMTP_PASSWORD", "wrong-password-9")
    with structlog.testing.capture_logs() as more:
        told = n.check(utcnow())
    assert told[0].error and "Authentication" in told[0].error
    logs += more
    monkeypatch.setenv("QBEDI_TEST_SMTP_PASSWORD", "s3cret-smtp-pass")
    with structlog.testing.capture_logs() as more:
        told = n.check(utcnow())
    logs += more
    assert told[0].delivered and len(smtp.messages) == 1
    assert smtp.logins[-1] == (b"qbedi", b"s3cret-smtp-pass")
    text = json.dumps(logs, default=str)
    with store.session() as s:
        text += json.dumps([r.last_error for r in s.scalars(select(NotificationState))])
    assert "wrong-password-9" not in text and "s3cret-smtp-pass" not in text


def test_starttls_is_required_by_default_and_a_server_without_it_is_not_used(world, smtp):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    told = notifier(store, email={**_email(smtp.port), "starttls": True}).check(utcnow())
    assert told[0].error and "STARTTLS" in told[0].error and smtp.messages == []


def test_a_test_message_goes_out_on_every_channel_and_settles_nothing(world, smtp, webhook):
    store, service = world
    ingest(service, x12_file("initech_88812.edi"), "initech.edi")
    n = notifier(store, email=_email(smtp.port), webhook={"url": webhook.url})
    assert n.deliver(n.test_message()) == {"email": None, "webhook": None}
    assert smtp.messages[0]["Subject"] == "qbedi: test message"
    assert json.loads(webhook.calls[0][1])["kind"] == "test"
    assert {(t.channel, t.message.kind) for t in n.check(utcnow())} == {("email", "held"), ("webhook", "held")}
