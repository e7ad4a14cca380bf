"""Keep secrets out of logs: a structlog processor.

Put :func:`redact_secrets` in the processor chain *after* anything that turns
objects or exceptions into strings (``format_exc_info``, ``StackInfoRenderer``)
and *before* the renderer, e.g.::

    structlog.configure(processors=[
        structlog.processors.add_log_level,
        structlog.processors.format_exc_info,
        redact_secrets,
        structlog.processors.JSONRenderer(),
    ])

It masks

* the value under any key whose name looks sensitive (password, secret, token,
  authorization, access_token, client_secret, api_key, cookie, ...), whatever
  its type, at any depth of nested dicts / lists / tuples;
* any occurrence, inside any string, of a value registered at runtime with
  :func:`register_secret` (the Cleo password once loaded, the bearer token
  once issued, ...);
* ``Bearer <token>`` / ``Basic <b64>`` credentials and ``user:pass@`` in URLs
  inside strings;
* :class:`connector.credentials.Secret` instances (anything with a
  ``__qbedi_secret__`` attribute).

The input event dict is not mutated beyond its top-level keys; nested
containers are copied.
"""
from __future__ import annotations

import functools
import re
import threading
from typing import Any

MASK = "***"

# Key names (normalised: lower case, '-' -> '_') that hold secrets. A key is
# sensitive when any of these appears in it, so "cleo_password" and
# "X-Api-Key" are caught too. Over-masking a harmless "token_count" is the
# accepted price.
SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "fernet_key",
    "secret_key",
)

_MIN_REGISTERED_LEN = 4  # shorter values would mask half of every log line

_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()

_AUTH_SCHEME_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*")
_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+):[^@\s/]+@")


def register_secret(value: Any) -> None:
    """Mask this exact value wherever it appears in a logged string from now on."""
    if value is None:
        return
    if hasattr(value, "__qbedi_secret__"):
        value = value.reveal()
    value = str(value)
    if len(value) < _MIN_REGISTERED_LEN:
        return
    global _pattern
    with _lock:
        if value in _registered:
            return
        _registered.add(value)
        _pattern = _compile()


def unregister_secret(value: Any) -> None:
    global _pattern
    if hasattr(value, "__qbedi_secret__"):
        value = value.reveal()
    with _lock:
        _registered.discard(str(value))
        _pattern = _compile()


def clear_registered_secrets() -> None:
    """For tests."""
    global _pattern
    with _lock:
        _registered.clear()
        _pattern = None


def _compile() -> re.Pattern[str] | None:
    if not _registered:
        return None
    # longest first so a secret containing another is masked whole
    alts = sorted(_registered, key=len, reverse=True)
    return re.compile("|".join(re.escape(a) for a in alts))


def is_sensitive_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    return _sensitive(key)


@functools.lru_cache(maxsize=4096)  # (a log line's keys are mostly the same few names: decided once each)
def _sensitive(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(part in k for part in SENSITIVE_KEY_PARTS)


def redact_string(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if text.isalnum():  # (no space, no "://": neither a credential scheme nor a URL can be in it)
        return text
    text = _AUTH_SCHEME_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if "://" in text:
        text = _URL_USERINFO_RE.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return text


def redact_value(value: Any, _depth: int = 0) -> Any:
    if _depth > 20:  # pathological nesting / cycles: give up safely
        return MASK
    if hasattr(value, "__qbedi_secret__"):
        return MASK
    if isinstance(value, str):
        return redact_string(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            decoded, utf8 = bytes(value).decode("utf-8"), True
        except UnicodeDecodeError:  # (any bytes read as latin-1: a secret in them is still found)
            decoded, utf8 = bytes(value).decode("latin-1"), False
        red = redact_string(decoded)
        if red == decoded:
            return value
        return red.encode("utf-8") if utf8 and isinstance(value, bytes) else red
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {
            k: (MASK if is_sensitive_key(k) and value[k] is not None else redact_value(value[k], _depth + 1))
            for k in value
        }
    if isinstance(value, list):
        return [redact_value(v, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, _depth + 1) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(redact_value(v, _depth + 1) for v in value)
    if isinstance(value, BaseException):
        return redact_string(f"{type(value).__name__}: {value}")
    # anything else is rendered by its repr (structlog's JSON and console renderers): masked there if need be
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not stop a log line
        return value
    red = redact_string(shown)
    return value if red == shown else red


# Keys whose values later processors must see unchanged (format_exc_info needs the real exception).
_PASSTHROUGH_KEYS = frozenset({"exc_info", "_record", "_from_structlog"})


def redact_rendered(logger: Any, method: str, event_dict: dict) -> dict:
    """structlog processor for after ``format_exc_info``: mask the text it rendered (``exception``,
    ``stack``), when :func:`redact_secrets` has already masked the rest of the event."""
    for key in ("exception", "stack"):
        value = event_dict.get(key)
        if isinstance(value, str):
            event_dict[key] = redact_string(value)
    return event_dict


def redact_secrets(logger: Any, method: str, event_dict: dict) -> dict:
    """structlog processor: mask secrets in the whole event dict (see module doc).

    ``exc_info`` is passed through untouched so ``format_exc_info`` can still render it; put this
    processor *after* ``format_exc_info`` too if tracebacks may carry secrets.
    """
    return {k: (v if k in _PASSTHROUGH_KEYS else
                MASK if is_sensitive_key(k) and v is not None else redact_value(v))
            for k, v in event_dict.items()}
