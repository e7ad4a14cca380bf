"""Encrypted credential store and key handling, on real files (Secret and the log redaction processor:
tests/unit/test_redaction.py)."""
from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from connector import redact
from connector.credentials import (
    ENV_KEY,
    CredentialError,
    CredentialKeyError,
    CredentialNotFound,
    CredentialStore,
    generate_key_file,
    load_key,
    prompt_and_store,
)

PASSWORD = "S3cret-Harmony-pw!"


@pytest.fixture(autouse=True)
def _clean_registry():
    redact.clear_registered_secrets()
    yield
    redact.clear_registered_secrets()


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


def test_round_trip(tmp_path, key):
    store = CredentialStore(tmp_path / "creds.enc", key)
    store.set("cleo", "apiuser", PASSWORD)
    store.set("other", "bob", "x-pass-2")
    again = CredentialStore(tmp_path / "creds.enc", key)
    c = again.get("cleo")
    assert c.username == "apiuser"
    assert c.password.reveal() == PASSWORD
    assert c.password == PASSWORD
    assert again.names() == ["cleo", "other"]
    assert again.delete("other") and again.names() == ["cleo"]


def test_file_is_not_plaintext_and_0600(tmp_path, key):
    path = tmp_path / "creds.enc"
    CredentialStore(path, key).set("cleo", "apiuser", PASSWORD)
    blob = path.read_bytes()
    assert PASSWORD.encode() not in blob
    assert b"apiuser" not in blob
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # no temp files left behind by the atomic write
    assert [p.name for p in tmp_path.iterdir()] == ["creds.enc"]


def test_wrong_key_is_a_clear_error(tmp_path, key):
    path = tmp_path / "creds.enc"
    CredentialStore(path, key).set("cleo", "apiuser", PASSWORD)
    with pytest.raises(CredentialKeyError, match="cannot decrypt credential store.*not the one it was written with"):
        CredentialStore(path, Fernet.generate_key()).get("cleo")


def test_malformed_key_is_a_clear_error(tmp_path):
    with pytest.raises(CredentialKeyError, match="not a valid Fernet key"):
        CredentialStore(tmp_path / "c.enc", "not-a-key")
    with pytest.raises(CredentialKeyError, match="not a valid Fernet key"):
        load_key(env={ENV_KEY: "short"})


def test_missing_name(tmp_path, key):
    store = CredentialStore(tmp_path / "c.enc", key)
    with pytest.raises(CredentialNotFound, match="qbedi credentials set cleo"):
        store.get("cleo")


def test_key_from_env_wins(tmp_path, key):
    assert load_key(tmp_path / "nope", env={ENV_KEY: key.decode()}) == key


def test_key_file_permissions_enforced(tmp_path, key):
    kf = tmp_path / "qbedi.key"
    kf.write_bytes(key)
    os.chmod(kf, 0o644)
    with pytest.raises(CredentialKeyError, match=r"permissions 0644; it must be 0600.*chmod 600"):
        load_key(kf, env={})
    os.chmod(kf, 0o640)
    with pytest.raises(CredentialKeyError, match="0640"):
        load_key(kf, env={})
    os.chmod(kf, 0o600)
    assert load_key(kf, env={}) == key
    os.chmod(kf, 0o400)
    assert load_key(kf, env={}) == key


def test_key_file_generated_0600(tmp_path):
    kf = tmp_path / "sub" / "qbedi.key"
    with pytest.raises(CredentialKeyError, match="does not exist"):
        load_key(kf, env={})
    k = load_key(kf, env={}, generate=True)
    assert stat.S_IMODE(os.stat(kf).st_mode) == 0o600
    assert load_key(kf, env={}) == k
    with pytest.raises(CredentialKeyError, match="already exists"):
        generate_key_file(kf)
    store = CredentialStore.open(tmp_path / "c.enc", key_file=kf, env={})
    store.set("cleo", "u", PASSWORD)
    assert store.get("cleo").password.reveal() == PASSWORD


def test_no_key_at_all(tmp_path):
    with pytest.raises(CredentialKeyError, match=ENV_KEY):
        load_key(None, env={})


def test_prompt_and_store(tmp_path, key):
    store = CredentialStore(tmp_path / "c.enc", key)
    prompts = []
    answers = iter([PASSWORD, PASSWORD])

    def fake_getpass(prompt):
        prompts.append(prompt)
        return next(answers)

    c = prompt_and_store("cleo", store, input=lambda p: "apiuser", getpass=fake_getpass)
    assert c.username == "apiuser"
    assert store.get("cleo").password.reveal() == PASSWORD
    assert len(prompts) == 2 and all(PASSWORD not in p for p in prompts)

    # mismatch: nothing changes
    answers = iter(["new-one-1", "new-one-2"])
    with pytest.raises(CredentialError, match="do not match"):
        prompt_and_store("cleo", store, input=lambda p: "", getpass=lambda p: next(answers))
    assert store.get("cleo").password.reveal() == PASSWORD
    # empty username (and no previous one) refused
    with pytest.raises(CredentialError, match="username"):
        prompt_and_store("new", store, input=lambda p: "  ", getpass=lambda p: "x")


# ------------------------------------- what the store reads is redacted (the processor: tests/unit/test_redaction.py)


def test_store_get_registers_password(tmp_path, key):
    store = CredentialStore(tmp_path / "c.enc", key)
    store.set("cleo", "apiuser", PASSWORD)
    redact.clear_registered_secrets()
    store.get("cleo")
    assert redact.redact_string(f"oops {PASSWORD}") == "oops ***"


def test_key_from_environment(tmp_path, key):
    from connector.credentials import ENV_KEY_FILE, key_from_environment

    assert key_from_environment(tmp_path, env={ENV_KEY: key.decode()}) == key
    with pytest.raises(CredentialKeyError, match="does not exist"):
        key_from_environment(tmp_path, env={}, generate=False)  # read path (daemon)
    k = key_from_environment(tmp_path, env={})  # `qbedi credentials set` on a fresh install creates it
    assert stat.S_IMODE(os.stat(tmp_path / "qbedi.key").st_mode) == 0o600
    assert key_from_environment(tmp_path, env={}) == k
    other = tmp_path / "elsewhere.key"
    other.write_bytes(key)
    os.chmod(other, 0o600)
    assert key_from_environment(tmp_path, env={ENV_KEY_FILE: str(other)}) == key
