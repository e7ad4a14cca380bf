"""Cleo adapter against the live emulator on 127.0.0.1: auth, retries, errors, timeouts (the Server header
check on its own: tests/unit/test_cleo_offline.py)."""
from __future__ import annotations

import socket
import time

import pytest
import structlog

from cleo_client import (
    CleoAccountError,
    CleoAuthError,
    CleoPermissionError,
    CleoRateLimitedError,
    CleoSettings,
    CleoSource,
    CleoTimeoutError,
    CleoUnavailableError,
)
from connector.credentials import Credentials
from connector.sources import SourceError
from fakes.cleo import CleoEmulator

USER, PW = "apiuser", "Harmony-pw-123"
X810 = (b"ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *240101*1200*U*00401*000000001*0*P*>~"
        b"GS*IN*SUPPLIER*BUYER*20240101*1200*1*X*004010~ST*810*0001~BIG*20240101*INV1~SE*3*0001~GE*1*1~"
        b"IEA*1*000000001~")


@pytest.fixture
def emu():
    with CleoEmulator(users={USER: PW}) as e:
        yield e


def make_source(emu, **overrides) -> CleoSource:
    kw = dict(base_url=emu.api_url, connections=["ACME"], backoff_factor=0.01, backoff_jitter=0.0,
              retries=3, connect_timeout=2, read_timeout=5)
    kw.update(overrides)
    creds = overrides.pop("credentials", None) or Credentials(USER, PW)
    kw.pop("credentials", None)
    return CleoSource("cleo", CleoSettings(**kw), creds)


def statuses(emu, contains: str) -> list[int]:
    return [st for (_m, p, st) in emu.requests if contains in p]


def test_auth_and_token_reuse(emu):
    for i in range(3):
        emu.add_file("ACME", f"inv{i}.edi", X810)
    src = make_source(emu)
    files = list(src.list_new())
    for f in files:
        assert src.fetch(f) == X810
    list(src.list_new())
    assert emu.token_requests == 1  # one login for the whole run
    assert all(st == 200 for (_m, _p, st) in emu.requests)


def test_401_mid_run_renews_once_and_succeeds(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu)
    files = list(src.list_new())
    emu.expire_token_now()
    assert src.fetch(files[0]) == X810
    assert emu.token_requests == 2
    assert statuses(emu, "/incoming/").count(401) == 1


def test_401_again_after_fresh_login_is_an_auth_error(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu)
    emu.fail_next(401, times=2, path_contains="/connections")
    with pytest.raises(CleoAuthError, match="freshly issued token"):
        list(src.list_new())
    assert emu.token_requests == 2  # renewed exactly once, no loop


def test_proactive_renewal_when_expires_in_is_short():
    with CleoEmulator(users={USER: PW}, token_ttl=1) as emu:
        emu.add_file("ACME", "a.edi", X810)
        src = make_source(emu, token_refresh_skew=0.5)
        list(src.list_new())
        time.sleep(0.7)
        list(src.list_new())
        assert emu.token_requests == 2
        assert 401 not in [st for (_m, _p, st) in emu.requests]


def test_429_retry_after_is_honoured(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu, backoff_factor=0.0)
    emu.fail_next(429, times=1, path_contains="/incoming", retry_after=1)
    t0 = time.monotonic()
    files = list(src.list_new())
    elapsed = time.monotonic() - t0
    assert len(files) == 1
    assert elapsed >= 0.95, elapsed  # waited for Retry-After, not the ~0s backoff
    assert statuses(emu, "/incoming") == [429, 200]


def test_persistent_429_is_rate_limited_error(emu):
    src = make_source(emu, retries=1, backoff_factor=0.0)
    emu.add_connection("ACME")
    emu.fail_next(429, times=5, path_contains="/incoming", retry_after=0)
    with pytest.raises(CleoRateLimitedError, match="429"):
        list(src.list_new())


def test_500_retried_then_succeeds(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu)
    emu.fail_next(500, times=2, path_contains="/incoming")
    files = list(src.list_new())
    assert [f.name for f in files] == ["a.edi"]
    assert statuses(emu, "/incoming") == [500, 500, 200]


def test_persistent_500_is_a_clear_source_error(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu, retries=2)
    emu.fail_next(503, times=100, path_contains="/incoming", message="maintenance")
    with pytest.raises(CleoUnavailableError) as ei:
        list(src.list_new())
    msg = str(ei.value)
    assert "HTTP 503" in msg and "after retries" in msg and "maintenance" in msg and "Cleo is down" in msg
    assert isinstance(ei.value, SourceError)
    assert statuses(emu, "/incoming") == [503, 503, 503]  # 1 try + 2 retries


def test_wrong_password_is_clear_and_not_retried(emu):
    emu.add_connection("ACME")
    src = make_source(emu, credentials=Credentials(USER, "wrong-password"))
    with pytest.raises(CleoAuthError) as ei:
        list(src.list_new())
    assert "rejected the username/password" in str(ei.value)
    assert "qbedi credentials set" in str(ei.value)
    assert "wrong-password" not in str(ei.value)
    assert emu.token_requests == 1
    # the next poll does not hammer Cleo (account lockout protection)
    with pytest.raises(CleoAuthError, match="not retried"):
        list(src.list_new())
    assert emu.token_requests == 1


def test_expired_account_is_distinguished(emu):
    emu.add_user("old", "pw-old-1", account_problem="Account expired")
    emu.add_connection("ACME")
    src = make_source(emu, credentials=Credentials("old", "pw-old-1"))
    with pytest.raises(CleoAccountError, match="because of the account.*Account expired"):
        list(src.list_new())


def test_forbidden_is_permission_error(emu):
    emu.add_connection("ACME")
    src = make_source(emu)
    emu.fail_next(403, times=1, path_contains="/connections", message="Access denied")
    with pytest.raises(SourceError, match="not permitted"):
        list(src.list_new())
    # raised through the per-connection summary; the underlying class is logged, the client call raises it directly
    emu.fail_next(403, times=1, path_contains="/connections")
    with pytest.raises(CleoPermissionError):
        src.client.list_connections()


def test_slow_response_is_a_timeout_error(emu):
    emu.add_file("ACME", "a.edi", X810)
    src = make_source(emu, read_timeout=0.3, retries=0)
    src.client.login()
    emu.set_delay(1.5, path_contains="/connections")
    t0 = time.monotonic()
    with pytest.raises(CleoTimeoutError, match="did not answer"):
        list(src.list_new())
    assert time.monotonic() - t0 < 1.4


def test_slow_response_retried_on_read_timeout(emu):
    emu.add_connection("ACME")
    src = make_source(emu, read_timeout=0.3, retries=1)
    src.client.login()
    emu.set_delay(1.0, path_contains="/connections")
    with pytest.raises(CleoTimeoutError):
        list(src.list_new())
    # both attempts reached the server (one read-timeout retry)
    assert len([p for (_m, p) in emu.received if p.startswith("/api/connections?")]) == 2


def test_cleo_down_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    src = CleoSource("cleo", CleoSettings(scheme="http", host="127.0.0.1", port=port, connections=["A"], retries=1,
                                          backoff_factor=0.0), Credentials(USER, PW))
    with pytest.raises(CleoUnavailableError, match="cannot reach Cleo|could not connect"):
        list(src.list_new())


def test_version_warning_for_vulnerable_server():
    with CleoEmulator(users={USER: PW}, server_version="Cleo Harmony/5.8.0.21 (Linux)") as emu:
        emu.add_connection("ACME")
        src = make_source(emu)
        with structlog.testing.capture_logs() as logs:
            list(src.list_new())
    warn = [e for e in logs if e["event"] == "cleo_server_vulnerable"]
    assert len(warn) == 1
    assert warn[0]["log_level"] == "warning"
    assert warn[0]["version"] == "5.8.0.21"
    assert set(warn[0]["cves"]) == {"CVE-2024-50623", "CVE-2024-55956"}
    info = [e for e in logs if e["event"] == "cleo_server_version"]
    assert info and info[0]["server"] == "Cleo Harmony/5.8.0.21 (Linux)"


def test_no_version_warning_for_fixed_server(emu):  # default emulator: 5.8.0.24
    emu.add_connection("ACME")
    src = make_source(emu)
    with structlog.testing.capture_logs() as logs:
        list(src.list_new())
    assert not [e for e in logs if e["event"] == "cleo_server_vulnerable"]
    assert src.server_version().version == "5.8.0.24"


def test_password_and_token_never_logged(emu):
    emu.add_file("ACME", "a.edi", X810)
    from connector import redact

    src = make_source(emu)
    with structlog.testing.capture_logs(processors=[redact.redact_secrets]) as logs:
        list(src.list_new())
        src.client.log.info("debug_dump", auth_header=f"Bearer {src.client._token.value}",
                            note=f"pw was {PW}")
    text = repr(logs)
    assert PW not in text
    assert src.client._token.value not in text


def test_basic_auth_mode():
    with CleoEmulator(users={USER: PW}, basic_auth=True) as emu:
        emu.add_file("ACME", "a.edi", X810)
        src = make_source(emu, auth_mode="basic")
        (f,) = list(src.list_new())
        assert src.fetch(f) == X810
        assert emu.token_requests == 0
        bad = make_source(emu, auth_mode="basic", credentials=Credentials(USER, "nope-nope"))
        with pytest.raises(CleoAuthError, match="basic auth"):
            list(bad.list_new())


def test_test_connection_retries_login_despite_cooldown(emu):
    emu.add_connection("ACME")
    src = make_source(emu, credentials=Credentials(USER, "wrong-password"))
    with pytest.raises(CleoAuthError):
        list(src.list_new())
    rep = src.test_connection()  # an explicit admin check is not suppressed by the cooldown
    assert emu.token_requests == 2 and rep.error_type == "CleoAuthError"


def _self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cleo-emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


def test_tls_verified_with_ca_bundle_and_refused_without(tmp_path, monkeypatch):
    import requests.certs

    # a system-wide bundle in the environment must not override the configured ca_bundle (psf/requests#3829)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    certfile, keyfile = _self_signed(tmp_path)
    with CleoEmulator(users={USER: PW}, tls=(certfile, keyfile)) as emu:
        emu.add_file("ACME", "a.edi", X810)
        assert emu.url.startswith("https://")
        untrusted = make_source(emu, retries=0)
        with pytest.raises(CleoUnavailableError, match="could not be verified.*ca_bundle") as ei:
            list(untrusted.list_new())
        assert type(ei.value).__name__ == "CleoTLSError"
        assert emu.token_requests == 0  # the password never left over an unverified connection
        trusted = make_source(emu, ca_bundle=certfile)
        (f,) = list(trusted.list_new())
        assert trusted.fetch(f) == X810
