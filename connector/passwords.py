"""Slow password hashes for Web Connector users (scrypt, stdlib only).

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``. Comparison is
constant-time (``hmac.compare_digest``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${n}${r}${p}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def looks_hashed(value: str) -> bool:
    return value.startswith("scrypt$") and value.count("$") == 5


def hash_problem(value: str) -> str | None:
    """What is wrong with a stored hash, in words (None: one :func:`verify_password` can match). A hash cut
    short or with a cost scrypt refuses would refuse every password, whichever is typed."""
    if not looks_hashed(value):
        return "must be a scrypt hash (run `qbedi hash-password`), never a plain password"
    _, n, r, p, salt, digest = value.split("$")
    try:
        n_, r_, p_ = int(n), int(r), int(p)
        salt_, digest_ = base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except ValueError:
        return "is not a whole scrypt hash (cut short or edited?): run `qbedi hash-password` again and paste all of it"
    if n_ < 2 or n_ & (n_ - 1) or n_ > 2**20 or not 1 <= r_ <= 32 or not 1 <= p_ <= 16:
        return f"has scrypt costs no password can be checked with (n={n}, r={r}, p={p}): run `qbedi hash-password` again"
    if len(salt_) < 8 or len(digest_) < 16:
        return "is not a whole scrypt hash (cut short or edited?): run `qbedi hash-password` again and paste all of it"
    return None
