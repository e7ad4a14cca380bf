"""Client addresses as proxies write them (IIS ARR and Azure add the client's port; IPv6 comes in
brackets; IPv4 may come mapped into IPv6): one client is one throttling key."""
from __future__ import annotations

from qbwc_server.server import _networks, client_address
from qbwc_server.sessions import LoginThrottle


def test_client_port_in_x_forwarded_for_does_not_escape_the_lockout():
    trusted = _networks(["10.0.0.5"])
    throttle = LoginThrottle(max_failures_per_user=5)
    for port in range(40000, 40020):  # 20 wrong passwords, one connection each
        env = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": f"203.0.113.9:{port}"}
        addr = client_address(env, trusted)
        if throttle.locked_until("clerk", addr):
            break
        throttle.record_failure("clerk", addr)
    addr = client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9:40100"}, trusted)
    assert throttle.locked_until("clerk", addr), f"never locked: key address {addr!r}"


def test_ipv6_with_port_in_brackets_is_one_client():
    trusted = _networks(["10.0.0.5"])
    a = client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "[2001:db8::7]:5000"}, trusted)
    b = client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "[2001:db8::7]:5001"}, trusted)
    assert a == b


def test_an_ipv4_mapped_proxy_address_is_the_trusted_proxy_and_garbage_is_not_believed():
    trusted = _networks(["10.0.0.5"])
    assert client_address({"REMOTE_ADDR": "::ffff:10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, trusted) == \
        "203.0.113.9"
    assert client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "not-an-address"}, trusted) == "10.0.0.5"
