"""The public channel under test: the app with a CAPTCHA cheap enough to solve in a test, a
client per citizen address (X-Forwarded-For, which uvicorn trusts from 127.0.0.1 as it would
from a reverse proxy), and a solver for the challenges (the altcha library's own)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import altcha
import httpx
from sqlalchemy.engine import URL

from tests.helpers import server

# A challenge of 1 PBKDF2 iteration and at most 20 tries: solved in milliseconds.
CHEAP_CAPTCHA = {"captcha_cost": 1, "captcha_max_tries": 20}
POSTER = "QR-SVC001-STG-COUNTER1"  # seed-demo's poster for SVC-001
POSTER_SERVICE = "SVC-001"


@contextmanager
def serve_public(db_url: URL, port: int | None = None, **overrides: Any) -> Iterator[server.LiveServer]:
    with server.serve(server.settings_for(db_url, **{**CHEAP_CAPTCHA, **overrides}), port) as live:
        yield live


def citizen(live: server.LiveServer, address: str, **kwargs: Any) -> httpx.Client:
    """A client whose requests come from `address` as the app sees it."""
    return httpx.Client(base_url=live.base_url, headers={"X-Forwarded-For": address}, timeout=30, **kwargs)


def solve(challenge: dict[str, Any]) -> str:
    """The payload a browser's widget would send for this challenge."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=30)
    assert solution is not None, "the challenge could not be solved"
    return altcha.Payload(parsed, solution).to_base64()


def tampered(payload: str) -> str:
    """The same payload claiming another counter: a wrong solution."""
    data = json.loads(base64.b64decode(payload))
    data["solution"]["counter"] += 1
    data["solution"]["derivedKey"] = "00" * 32
    return base64.b64encode(json.dumps(data).encode()).decode()
