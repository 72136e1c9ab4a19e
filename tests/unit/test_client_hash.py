"""The address the desk's sign-in delay and budget are keyed on (api/client.py client_hash): an
IPv6 address counts by its /64 (ARCHITECTURE 5), so rotating through one's own /64 buys no
fresh attempts; an IPv4-mapped IPv6 address is the IPv4 one."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from server_sync_api import security
from server_sync_api.api.client import client_hash
from server_sync_api.core.config import ServerSettings

SECRET = "unit-test-ip-hash-secret-" + "k" * 32


def _settings() -> ServerSettings:
    return ServerSettings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", ip_hash_secret=SecretStr(SECRET)
    )


def _hash(host: str | None) -> str:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/desk/login", "headers": []}
    if host is not None:
        scope["client"] = (host, 50123)
    return client_hash(Request(scope), _settings())


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"),
        ("2001:db8:1:2::1", "2001:DB8:1:2:0:0:0:abcd"),
        ("fe80::1%eth0", "fe80::2"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
    ],
)
def test_the_same_client_is_one_key(one: str, other: str) -> None:
    assert _hash(one) == _hash(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:3::1"),  # the next /64: another subscriber
        ("192.0.2.7", "192.0.2.8"),  # IPv4 addresses count one by one
        ("::ffff:192.0.2.7", "::ffff:192.0.2.8"),
        ("2001:db8::1", "2001:db9::1"),
    ],
)
def test_different_clients_are_different_keys(one: str, other: str) -> None:
    assert _hash(one) != _hash(other)


def test_the_key_is_the_hmac_of_the_network_or_address() -> None:
    assert _hash("2001:db8:1:2:3:4:5:6") == security.ip_hash("2001:db8:1:2::/64", SECRET)
    assert _hash("::ffff:192.0.2.7") == security.ip_hash("192.0.2.7", SECRET)
    assert _hash("192.0.2.7") == security.ip_hash("192.0.2.7", SECRET)


def test_a_client_that_is_not_an_address_is_hashed_as_it_is() -> None:
    assert _hash("testclient") == security.ip_hash("testclient", SECRET)
    assert _hash(None) == security.ip_hash("unknown", SECRET)
