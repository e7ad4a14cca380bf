"""Secret and the log redaction processor (the encrypted credential store and its key files:
tests/integration/test_credentials.py)."""
from __future__ import annotations

import pytest
import structlog

from connector import redact
from connector.credentials import Credentials, Secret

PASSWORD = "S3cret-Harmony-pw!"


@pytest.fixture(autouse=True)
def _clean_registry():
    redact.clear_registered_secrets()
    yield
    redact.clear_registered_secrets()


def test_repr_hides_password():
    c = Credentials("apiuser", PASSWORD)
    assert isinstance(c.password, Secret)
    for text in (repr(c), str(c), f"{c}", repr(c.password), str(c.password), f"{c.password}", f"{c.password:>30}"):
        assert PASSWORD not in text
    assert "apiuser" in repr(c)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(c.password)


def _capture_chain():
    """A real structlog processor chain ending in a capturing processor."""
    captured: list[dict] = []

    def capture(logger, method, event_dict):
        captured.append(event_dict)
        raise structlog.DropEvent

    log = structlog.wrap_logger(None, processors=[redact.redact_secrets, capture])
    return log, captured


def test_redaction_masks_sensitive_keys_nested():
    log, captured = _capture_chain()
    log.info(
        "login",
        password="pw1234",
        config={"cleo": {"username": "u", "client_secret": "cs-9999", "hosts": [{"api_key": "k-1"}]}},
        headers={"Authorization": "Bearer abc.def.ghi", "Accept": "application/json"},
        items=[{"access_token": "tok-55555"}, "plain"],
        token_count=None,
    )
    ev = captured[0]
    assert ev["password"] == "***"
    assert ev["config"]["cleo"]["username"] == "u"
    assert ev["config"]["cleo"]["client_secret"] == "***"
    assert ev["config"]["cleo"]["hosts"][0]["api_key"] == "***"
    assert ev["headers"]["Authorization"] == "***"
    assert ev["headers"]["Accept"] == "application/json"
    assert ev["items"] == [{"access_token": "***"}, "plain"]
    assert ev["token_count"] is None


def test_redaction_masks_registered_values_and_bearer_in_strings():
    redact.register_secret(PASSWORD)
    log, captured = _capture_chain()
    log.warning(
        f"login failed for apiuser with {PASSWORD}",
        detail=["nested", {"why": f"server echoed '{PASSWORD}'"}],
        header_line="Authorization: Bearer eyJhbGciOi.xyz-123_ab==",
        url="https://apiuser:hunter22@cleo.example.com:6080/api",
        secret_obj=Secret("another-secret"),
    )
    text = repr(captured[0])
    assert PASSWORD not in text
    assert "eyJhbGciOi" not in text
    assert "hunter22" not in text
    assert "another-secret" not in text
    assert captured[0]["header_line"] == "Authorization: Bearer ***"
    assert captured[0]["url"] == "https://apiuser:***@cleo.example.com:6080/api"
    assert captured[0]["event"] == "login failed for apiuser with ***"


def test_redaction_with_structlog_testing_capture():
    redact.register_secret("registered-value-1")
    with structlog.testing.capture_logs(processors=[redact.redact_secrets]) as logs:
        structlog.get_logger().info("x", nested={"a": ["registered-value-1 here"]}, refresh_token="r")
    assert logs[0]["nested"] == {"a": ["*** here"]}
    assert logs[0]["refresh_token"] == "***"


def test_redaction_keeps_exc_info_for_format_exc_info_and_masks_the_traceback_after():
    redact.register_secret("pw-in-traceback-1")
    captured = []

    def capture(logger, method, event_dict):
        captured.append(event_dict)
        raise structlog.DropEvent

    log = structlog.wrap_logger(None, processors=[redact.redact_secrets, structlog.processors.format_exc_info,
                                                  redact.redact_secrets, capture])
    try:
        raise RuntimeError("login failed with pw-in-traceback-1")
    except RuntimeError as exc:
        log.error("boom", exc_info=exc)
    ev = captured[0]
    assert "RuntimeError" in ev["exception"] and "Traceback" in ev["exception"]
    assert "pw-in-traceback-1" not in repr(ev)


def test_bytes_that_are_not_utf8_a_bytearray_and_an_objects_repr_are_masked_too():
    from decimal import Decimal

    redact.register_secret("s3cret-in-bytes-1")

    class Holder:
        def __repr__(self):
            return "Holder(url='https://bob:hunter2@cleo.example.com/api', key='s3cret-in-bytes-1')"

    amount = Decimal("12.50")
    out = redact.redact_secrets(None, "info", {
        "latin": b"\xff s3cret-in-bytes-1 Bearer abc.def", "array": bytearray(b"token s3cret-in-bytes-1"),
        "obj": Holder(), "amount": amount, "n": 3, "plain": b"nothing here"})
    assert out["latin"] == "\u00ff *** Bearer ***" and out["array"] == "token ***"
    assert out["obj"] == "Holder(url='https://bob:***@cleo.example.com/api', key='***')"
    assert out["amount"] is amount and out["n"] == 3 and out["plain"] == b"nothing here"  # nothing to mask: as is
