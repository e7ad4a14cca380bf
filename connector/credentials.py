"""Credentials (e.g. the Cleo API user) encrypted at rest.

* The store is one file holding a Fernet token (AES-128-CBC + HMAC-SHA256,
  from ``cryptography``) of a JSON document ``{"version": 1, "credentials":
  {name: {"username": ..., "password": ...}}}``. Written atomically (temp
  file in the same folder, fsync, rename) with mode 0600.
* The key is a urlsafe-base64 Fernet key, taken from the environment variable
  ``QBEDI_SECRET_KEY`` or from a key file. On POSIX the key file must not be
  readable or writable by group/others (0600 or stricter); looser permissions
  are refused with an error saying how to fix them. :func:`load_key` can
  create the key file (mode 0600) when asked to.
* :class:`Secret` wraps the password so ``repr``/``str``/logs never show it;
  call ``.reveal()`` at the one place the plain text is needed. Passwords
  returned by :meth:`CredentialStore.get` are registered with
  :mod:`connector.redact`, so they are masked in logs even if they leak into a
  message.

CLI hook: ``qbedi credentials set <name>`` calls
``prompt_and_store(name, CredentialStore(path, key_from_environment(base_dir, generate=True)))`` on a
terminal, and :func:`read_piped` (two lines: the user name, then the password) when standard input is not
one (a pipe, a file, a script).
"""
from __future__ import annotations

import builtins
import getpass as _getpass
import hmac
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from cryptography.fernet import Fernet, InvalidToken

from connector import redact

ENV_KEY = "QBEDI_SECRET_KEY"
ENV_KEY_FILE = "QBEDI_SECRET_KEY_FILE"
DEFAULT_KEY_FILE = "qbedi.key"  # beside the config file
_FORMAT_VERSION = 1


class CredentialError(Exception):
    """Anything wrong with stored credentials or their key; the message says what to do."""


class CredentialKeyError(CredentialError):
    """The encryption key is missing, malformed, wrong, or its file is too open."""


class CredentialInputError(CredentialError):
    """What was typed or piped in cannot be stored (nothing given, the two passwords differ): the
    person's to correct, not a fault of the store."""


class CredentialNotFound(CredentialError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "credentials not found"


class Secret:
    """A string that never shows itself in repr/str/format/logs."""

    __slots__ = ("_value",)
    __qbedi_secret__ = True

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name, value):  # immutable
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other) -> bool:
        if isinstance(other, Secret):
            other = other.reveal()
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other.encode("utf-8"))

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self):
        raise TypeError("Secret values are not picklable")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: Secret

    def __post_init__(self):
        if not isinstance(self.password, Secret):
            object.__setattr__(self, "password", Secret(self.password))

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=Secret('********'))"

    __str__ = __repr__


# --------------------------------------------------------------------------- key


def _check_key(key: bytes | str | Secret, origin: str) -> bytes:
    if isinstance(key, Secret):
        key = key.reveal()
    if isinstance(key, str):
        key = key.strip().encode("ascii", "replace")
    key = key.strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise CredentialKeyError(
            f"the secret key from {origin} is not a valid Fernet key (32 bytes, urlsafe base64, 44 characters); "
            f"generate one with `python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`"
        ) from None
    return key


def check_key_file_permissions(path: str | os.PathLike) -> None:
    """Refuse a key file readable/writable by group or others (POSIX only)."""
    if os.name != "posix":
        return  # NTFS ACLs are not expressed in st_mode; protect the folder with ACLs on Windows
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise CredentialKeyError(
            f"key file {path} has permissions {mode:04o}; it must be 0600 (owner read/write only). "
            f"Fix with: chmod 600 {path}"
        )


def generate_key_file(path: str | os.PathLike) -> bytes:
    """Create a new key file with mode 0600; refuses to overwrite an existing one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CredentialKeyError(f"key file {path} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    if os.name == "posix":
        os.chmod(path, 0o600)  # in case the umask narrowed it further: fine; never widen
    return key


def load_key(
    key_file: str | os.PathLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    generate: bool = False,
) -> bytes:
    """The Fernet key: ``$QBEDI_SECRET_KEY`` if set, else the key file (0600 enforced).

    With ``generate=True`` a missing key file is created (0600).
    """
    env = os.environ if env is None else env
    value = env.get(ENV_KEY)
    if value:
        return _check_key(value, f"${ENV_KEY}")
    if key_file is None:
        raise CredentialKeyError(
            f"no secret key: set {ENV_KEY} to a Fernet key or configure a key file (0600)"
        )
    path = Path(key_file)
    if not path.exists():
        if generate:
            return generate_key_file(path)
        raise CredentialKeyError(
            f"key file {path} does not exist; `qbedi credentials set <name>` creates it (mode 0600), "
            f"or set {ENV_KEY}"
        )
    check_key_file_permissions(path)
    return _check_key(path.read_bytes(), f"key file {path}")


def key_from_environment(base_dir: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
                         generate: bool = True) -> bytes:
    """The key as the CLI/daemon find it: ``$QBEDI_SECRET_KEY``, else the key file named by
    ``$QBEDI_SECRET_KEY_FILE``, else ``<base_dir>/qbedi.key`` (base_dir: the config file's folder).

    A missing key file is created (mode 0600) unless ``generate=False`` — read paths (the daemon) pass
    ``generate=False`` so a missing key is an error rather than a fresh key that cannot decrypt anything.
    """
    env = os.environ if env is None else env
    if env.get(ENV_KEY):
        return load_key(None, env=env)
    key_file = env.get(ENV_KEY_FILE) or (Path(base_dir) / DEFAULT_KEY_FILE if base_dir is not None else None)
    return load_key(key_file, env=env, generate=generate)


# --------------------------------------------------------------------------- store


class CredentialStore:
    """Named username/password pairs in one encrypted JSON file."""

    def __init__(self, path: str | os.PathLike, key: bytes | str | Secret):
        self.path = Path(path)
        self._fernet = Fernet(_check_key(key, "the supplied key"))

    @classmethod
    def open(cls, path: str | os.PathLike, *, key_file: str | os.PathLike | None = None,
             env: Mapping[str, str] | None = None, generate_key: bool = False) -> "CredentialStore":
        return cls(path, load_key(key_file, env=env, generate=generate_key))

    @classmethod
    def for_settings(cls, settings, *, generate_key: bool = False) -> "CredentialStore":
        """The store a qbedi config names (``credentials.file`` / ``key_file``, relative to the config)."""
        return cls.open(settings.resolve(settings.credentials.file),
                        key_file=settings.resolve(settings.credentials.key_file), generate_key=generate_key)

    # -- reading
    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        blob = self.path.read_bytes()
        if not blob.strip():
            return {}
        try:
            plain = self._fernet.decrypt(blob.strip())
        except InvalidToken:
            raise CredentialKeyError(
                f"cannot decrypt credential store {self.path}: the key ({ENV_KEY} or key file) is not the one it was "
                f"written with, or the file is damaged. Restore the right key, or re-enter the credentials with "
                f"`qbedi credentials set`"
            ) from None
        try:
            doc = json.loads(plain)
            creds = doc["credentials"]
            if not isinstance(creds, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise CredentialError(f"credential store {self.path} decrypted but is not in the expected format") from None
        return creds

    def names(self) -> list[str]:
        return sorted(self._load())

    def __contains__(self, name: str) -> bool:
        return name in self._load()

    def get(self, name: str) -> Credentials:
        entry = self._load().get(name)
        if entry is None:
            raise CredentialNotFound(
                f"no credentials named {name!r} in {self.path}; store them with `qbedi credentials set {name}`"
            )
        redact.register_secret(entry["password"])
        return Credentials(entry["username"], Secret(entry["password"]))

    # -- writing
    def set(self, name: str, username: str, password: str | Secret) -> None:
        if not name or not username:
            raise CredentialError("credential name and username must not be empty")
        pw = password.reveal() if isinstance(password, Secret) else password
        creds = self._load()
        creds[name] = {"username": username, "password": pw}
        self._save(creds)
        redact.register_secret(pw)

    def delete(self, name: str) -> bool:
        creds = self._load()
        if name not in creds:
            return False
        del creds[name]
        self._save(creds)
        return True

    def _save(self, creds: dict) -> None:
        plain = json.dumps({"version": _FORMAT_VERSION, "credentials": creds}, sort_keys=True).encode("utf-8")
        token = self._fernet.encrypt(plain)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)  # mkstemp already uses 0600; be explicit
            with os.fdopen(fd, "wb") as fh:
                fh.write(token)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        if os.name == "posix":
            try:
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            except OSError:
                pass


PIPED_FORMAT = "two lines on standard input: the user name, then the password"


def read_piped(stream) -> tuple[str, str]:
    """The user name and password from a non-interactive standard input: the first line is the user
    name (surrounding spaces dropped), the second the password (only its line ending dropped).

    Raises :class:`CredentialInputError` when either is missing."""
    lines = [] if stream is None else [stream.readline() for _ in range(2)]
    username = lines[0].strip() if lines else ""
    password = lines[1].rstrip("\r\n") if len(lines) > 1 else ""
    if not username:
        raise CredentialInputError(f"no user name on standard input: give {PIPED_FORMAT}")
    if not password:
        raise CredentialInputError(f"no password on standard input after the user name: give {PIPED_FORMAT}")
    return username, password


def prompt_and_store(
    name: str,
    store: CredentialStore,
    *,
    input: Callable[[str], str] = builtins.input,  # noqa: A002 - mirrors the builtin on purpose
    getpass: Callable[[str], str] = _getpass.getpass,
    username: str | None = None,
) -> Credentials:
    """Ask for a username (echoed) and a password twice (not echoed), then store them.

    Raises :class:`CredentialInputError` (a :class:`CredentialError`) on an empty username/password, a
    mismatch, or the end of input (Ctrl-D) at a prompt.
    """
    try:
        if username is None:
            default = None
            try:
                default = store.get(name).username
            except CredentialError:
                pass
            prompt = f"Username for {name}" + (f" [{default}]" if default else "") + ": "
            username = input(prompt).strip() or (default or "")
        if not username:
            raise CredentialInputError("username must not be empty")
        pw1 = getpass(f"Password for {username} ({name}): ")
        if not pw1:
            raise CredentialInputError("password must not be empty")
        pw2 = getpass("Repeat password: ")
    except EOFError:
        raise CredentialInputError("nothing typed (end of input); nothing stored") from None
    if not hmac.compare_digest(pw1.encode("utf-8"), pw2.encode("utf-8")):
        raise CredentialInputError("passwords do not match; nothing stored")
    store.set(name, username, pw1)
    return Credentials(username, Secret(pw1))
