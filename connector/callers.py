"""Who a caller is, for throttling failed sign-ins (the Web Connector's and the web page's)."""
from __future__ import annotations

import ipaddress


def caller_network(addr: str | None, unknown: str = "") -> str:
    """One caller is one network: an IPv4 address, or an IPv6 address's /64 (one host usually has the whole
    prefix, so walking through it is not a way round a lockout). Anything else is itself; none is ``unknown``."""
    try:
        ip = ipaddress.ip_address((addr or "").strip())
    except ValueError:
        return addr or unknown
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)
