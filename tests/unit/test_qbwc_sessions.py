from __future__ import annotations

from datetime import timedelta

import pytest

import qbwc_server.sessions as sessions_mod
from qbwc_server.contracts import WebConnectorUser
from qbwc_server.sessions import Busy, LoginThrottle, SessionManager, company_key
from tests.support.qbwc import PASSWORD, Clock, make_users


def test_unknown_user_still_runs_a_password_check(monkeypatch):
    calls = []
    real = sessions_mod.verify_password

    def spy(pw, stored):
        calls.append(stored)
        return real(pw, stored)

    monkeypatch.setattr(sessions_mod, "verify_password", spy)
    sm = SessionManager(clock=Clock())
    users = make_users()
    assert sm.check_credentials(users, "ghost", PASSWORD) == (None, "bad")
    assert sm.check_credentials(users, "alice", "wrong") == (None, "bad")
    user, why = sm.check_credentials(users, "alice", PASSWORD)
    assert user is users["alice"] and why == ""
    assert len(calls) == 3 and calls[0].startswith("scrypt$")  # dummy hash for the unknown user


def test_locked_attempts_skip_the_hash(monkeypatch):
    clock = Clock()
    sm = SessionManager(clock=clock, throttle=LoginThrottle(clock=clock, max_failures_per_user=2))
    users = make_users()
    for _ in range(2):
        sm.check_credentials(users, "alice", "x", "10.0.0.1")
    monkeypatch.setattr(sessions_mod, "verify_password", lambda *a: pytest.fail("hash checked while locked"))
    assert sm.check_credentials(users, "alice", PASSWORD, "10.0.0.1") == (None, "locked")
    assert sm.check_credentials(users, "ALICE", PASSWORD, "10.0.0.1") == (None, "locked")  # user key, any case


def test_a_guesser_locks_out_only_himself():
    """1,000 wrong passwords for alice from one address, and 25 unknown names from another: the real
    Web Connector (its own address) logs in as alice, and bob from the guessers' address too."""
    clock = Clock()
    sm = SessionManager(clock=clock, throttle=LoginThrottle(clock=clock, max_failures_per_user=5))
    users = make_users()
    for _ in range(1000):
        sm.check_credentials(users, "alice", "guess", "203.0.113.7")
    for i in range(25):
        sm.check_credentials(users, f"nobody{i}", "guess", "198.51.100.9")
    assert sm.check_credentials(users, "alice", PASSWORD, "203.0.113.7") == (None, "locked")
    assert sm.check_credentials(users, "alice", PASSWORD, "10.0.0.5")[1] == ""  # the real one, elsewhere
    assert sm.check_credentials(users, "bob", PASSWORD, "198.51.100.9")[1] == ""
    assert sm.check_credentials(users, "bob", PASSWORD, "203.0.113.7")[1] == ""


def test_throttle_window_and_backoff():
    clock = Clock()
    th = LoginThrottle(clock=clock, max_failures_per_user=3, window=timedelta(minutes=15),
                       base_lockout=timedelta(minutes=1), max_lockout=timedelta(minutes=3))
    th.record_failure("u")
    th.record_failure("u")
    clock.advance(minutes=16)  # window passed: count restarts
    assert th.record_failure("u") is None and th.locked_until("u") is None
    th.record_failure("u")
    end = th.record_failure("u")
    assert end == clock.now + timedelta(minutes=1) and th.locked_until("u") == end
    spans = []
    for _ in range(3):
        clock.now = th.locked_until("u") + timedelta(seconds=1)
        for _ in range(3):
            e = th.record_failure("u")
        spans.append(e - clock.now)
    assert spans == [timedelta(minutes=2), timedelta(minutes=3), timedelta(minutes=3)]  # doubled, capped
    th.record_success("u")
    assert th.locked_until("u") is None


def test_sessions_busy_expiry_and_close():
    clock = Clock()
    sm = SessionManager(ttl=timedelta(minutes=30), clock=clock)
    bob = WebConnectorUser("bob", "x", company_file=r"C:\QB\Bob.qbw")
    carol = WebConnectorUser("carol", "x", company_file=r"c:\qb\bob.QBW")
    assert company_key(bob) == company_key(carol)
    assert company_key(WebConnectorUser("a", "x")) != company_key(WebConnectorUser("b", "x"))
    s = sm.open(bob)
    assert s.expires_at == clock.now + timedelta(minutes=30) and len(s.ticket) == 36
    with pytest.raises(Busy):
        sm.open(carol)
    assert sm.open_for_company(carol) is s
    clock.advance(minutes=29)
    assert sm.get(s.ticket) is s  # sliding expiry
    clock.advance(minutes=29)
    assert sm.get(s.ticket) is s
    clock.advance(minutes=31)
    assert sm.get(s.ticket) is None and sm.open_for_company(carol) is None
    assert sm.pop_expired() == [s] and s.closed
    s2 = sm.open(carol)
    assert sm.close(s2.ticket) is s2 and sm.get(s2.ticket) is None and sm.close(s2.ticket) is None
    assert sm.get(None) is None and sm.get("") is None


def test_notes_expire():
    clock = Clock()
    sm = SessionManager(ttl=timedelta(minutes=5), clock=clock)
    sm.note("t", "hello")
    assert sm.get_note("t") == "hello"
    clock.advance(minutes=6)
    sm.pop_expired()
    assert sm.get_note("t") is None


def test_throttle_memory_is_bounded():
    clock = Clock()
    th = LoginThrottle(clock=clock, max_failures_per_user=3, max_tracked=50)
    for i in range(40):
        th.record_failure(f"guess{i}", "10.0.0.9")
    clock.advance(minutes=20)
    for i in range(40, 80):
        th.record_failure(f"guess{i}")
    assert len(th._f) <= 50 + 2


def test_a_flood_of_unknown_names_from_one_address_stops_costing_the_server_a_hash(monkeypatch):
    clock = Clock()
    sm = SessionManager(clock=clock, throttle=LoginThrottle(clock=clock, max_unknown_per_address=20))
    users = make_users()
    for i in range(20):
        assert sm.check_credentials(users, f"guess{i}", "x", "198.51.100.7") == (None, "bad")
    real_verify = sessions_mod.verify_password
    monkeypatch.setattr(sessions_mod, "verify_password", lambda *a: pytest.fail("hashed a 21st unknown name"))
    assert sm.check_credentials(users, "guess21", "x", "198.51.100.7") == (None, "locked")
    monkeypatch.setattr(sessions_mod, "verify_password", real_verify)
    assert sm.check_credentials(users, "alice", PASSWORD, "198.51.100.7")[1] == ""  # known users: unaffected
    clock.advance(minutes=16)  # the window passed
    assert sm.check_credentials(users, "guess22", "x", "198.51.100.7") == (None, "bad")


def test_ipv6_callers_are_throttled_by_their_slash_64():
    clock = Clock()
    sm = SessionManager(clock=clock, throttle=LoginThrottle(clock=clock, max_failures_per_user=3))
    users = make_users()
    for i in range(3):
        sm.check_credentials(users, "alice", "x", f"2001:db8:1:2::{i + 1}")
    assert sm.check_credentials(users, "alice", PASSWORD, "2001:db8:1:2::99") == (None, "locked")
    assert sm.check_credentials(users, "alice", PASSWORD, "2001:db8:1:3::1")[1] == ""
