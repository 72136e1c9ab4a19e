"""Who is asking: the client's address as the per-address limits key it.

The address is uvicorn's: behind a reverse proxy it comes from X-Forwarded-For only when the
proxy is trusted (`--forwarded-allow-ips`, docs/operations.md), so a client cannot choose it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

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


_SAME_SITE = frozenset({"same-origin", "none"})


def _origin(url: str) -> str:
    parts = urlsplit(url.lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def same_origin(request: Request, settings: ServerSettings) -> bool:
    """No session and no CSRF token on public pages (ARCHITECTURE 4.13), so a browser's own
    word decides: a POST another site makes a citizen's browser send says so in Sec-Fetch-Site
    or Origin, and is refused. Without either header (curl, a kiosk, an old browser) it is let
    through: the reference code is the secret. Origin may be the server's public address (behind
    a proxy) or the address the request came to."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in _SAME_SITE:
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {_origin(settings.public_base_url), _origin(str(request.base_url))}
    return _origin(origin.strip()) in own - {""}
