"""The notifications: settings (connector/notify.py), pure. Delivery against real SMTP / HTTP servers:
integration/test_notify.py."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from connector.notify import NotificationSettings, signature
from connector.settings import parse_duration as duration_seconds


def test_defaults_send_nothing_until_a_channel_is_set():
    s = NotificationSettings()
    assert s.channels == [] and s.digest_at == "07:00" and s.held_alert
    assert (s.seconds("source_failing_after"), s.seconds("web_connector_silent_after"), s.seconds("min_interval")) \
        == (1800, 7200, 900)


def test_both_channels():
    s = NotificationSettings.model_validate({
        "email": {"host": "smtp.example.com", "from_addr": "qbedi@example.com", "to": ["ap@example.com"],
                  "username": "qbedi", "password_env": "QBEDI_SMTP_PASSWORD"},
        "webhook": {"url": "https://hooks.example.com/qbedi", "secret_env": "QBEDI_HOOK_SECRET"},
        "digest_at": "7:05", "timezone": "America/Chicago", "min_interval": 60})
    assert s.channels == ["email", "webhook"] and s.email.port == 587 and s.email.starttls and not s.email.ssl
    assert s.digest_at == "07:05" and s.seconds("min_interval") == 60


@pytest.mark.parametrize("config, words", [
    ({"email": {"host": "h", "from_addr": "a@b.c", "to": ["d@e.f"], "password": "hunter22"}}, "Extra inputs"),
    ({"email": {"host": "h", "from_addr": "a@b.c", "to": ["d@e.f"], "password_env": "hunter 22!"}},
     "name of an environment variable"),
    ({"email": {"host": "h", "from_addr": "a@b.c", "to": ["d@e.f"], "username": "u"}}, "username needs password_env"),
    ({"email": {"host": "h", "from_addr": "a@b.c", "to": []}}, "at least 1"),
    ({"email": {"host": "h", "from_addr": "not an address", "to": ["d@e.f"]}}, "not an e-mail address"),
    ({"webhook": {"url": "ftp://example.com"}}, "http:// or https://"),
    ({"digest_at": "25:00"}, "time of day"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"min_interval": "soon"}, "duration"),
])
def test_mistakes_are_refused_in_words(config, words):
    with pytest.raises(ValidationError) as e:
        NotificationSettings.model_validate(config)
    assert words in str(e.value)


def test_a_password_typed_where_its_variable_name_goes_is_not_repeated_in_the_error():
    with pytest.raises(ValidationError) as e:
        NotificationSettings.model_validate({"email": {"host": "h", "from_addr": "a@b.c", "to": ["d@e.f"],
                                                       "password_env": "pa$$w0rd!"}})
    assert "pa$$w0rd!" not in e.value.errors()[0]["msg"]


def test_durations_and_the_signature():
    assert [duration_seconds(v) for v in ("30s", "15m", "2h", "1d", 90)] == [30, 900, 7200, 86400, 90]
    assert signature("key", b'{"kind":"held"}') == \
        "sha256=" + __import__("hmac").new(b"key", b'{"kind":"held"}', "sha256").hexdigest()
