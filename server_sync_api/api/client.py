"""Who is asking: the client's address as the per-address limits key it.

The address is uvicorn's: behind a reverse proxy it comes from X-Forwarded-For only when the
proxy is trusted (`--forwarded-allow-ips`, docs/operations.md), so a client cannot choose it.
"""

from __future__ import annotations

import ipaddress

from fastapi import Request

from server_sync_api import security
from server_sync_api.core.config import ServerSettings


def client_address(request: Request) -> str:
    """The address as the limits count it: an IPv6 address by its /64 (ARCHITECTURE 5: one
    subscriber has the whole /64, and rotating through it must not buy fresh attempts), an
    IPv4-mapped IPv6 address as the IPv4 one. At most 45 characters, the width of
    `submission_attempts.ip_address`."""
    address = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:45]  # not an address (a test client's name): kept as it is
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        return str(mapped) if mapped else str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def client_hash(request: Request, settings: ServerSettings) -> str:
    """The keyed HMAC of `client_address` (ARCHITECTURE 4.9), the key of every per-address rule
    that must not keep the address itself."""
    secret = settings.ip_hash_secret.get_secret_value() if settings.ip_hash_secret else ""
    return security.ip_hash(client_address(request), secret)
