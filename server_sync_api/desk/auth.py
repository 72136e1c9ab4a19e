"""Who is asking: the desk's session cookie, its CSRF token, and the sign-in flow's own cookie.

Two cookies, both HttpOnly, SameSite=Lax (the identity provider's redirect back is a top-level
GET, which Lax lets through) and Secure when GEA_SERVER_PUBLIC_BASE_URL is https:
- `gea_desk`: the session's random token; the session itself is a row in PostgreSQL.
- `gea_desk_flow`: a short-lived signed cookie (Starlette's SessionMiddleware) that carries the
  sign-in form's CSRF token and the OpenID Connect state, nonce and PKCE verifier between the
  redirect to the provider and its answer. It holds nothing that signs anyone in.

The CSRF token of a signed-in page is an HMAC of the session token under a key derived from
GEA_SERVER_SESSION_SECRET: every form carries it in a hidden field (htmx sends it as a header),
and a POST without the right one changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from psycopg import AsyncConnection

from server_sync_api.api.deps import get_connection, get_settings
from server_sync_api.core.config import ServerSettings
from server_sync_api.services import desk_sessions

SESSION_COOKIE = "gea_desk"
FLOW_COOKIE = "gea_desk_flow"
LANGUAGE_COOKIE = "gea_desk_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/desk"
# The sign-in flow must finish within this; the provider's page counts.
FLOW_MAX_AGE_S = 15 * 60


class DeskNotConfigured(Exception):
    """GEA_SERVER_SESSION_SECRET is not set: the desk answers with a page saying so."""


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A POST without the right CSRF token."""


def derived_key(settings: ServerSettings, purpose: str) -> bytes:
    """A key for one purpose, so the flow cookie's signature and CSRF tokens never share one."""
    if settings.session_secret is None:
        raise DeskNotConfigured
    secret = settings.session_secret.get_secret_value().encode("utf-8")
    return hmac.new(secret, purpose.encode("ascii"), hashlib.sha256).digest()


def csrf_token(settings: ServerSettings, session_token: str) -> str:
    return hmac.new(derived_key(settings, "csrf"), session_token.encode("utf-8"), hashlib.sha256).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("ascii")
    )


def new_flow_token() -> str:
    return secrets.token_urlsafe(32)


def configured_settings(settings: Annotated[ServerSettings, Depends(get_settings)]) -> ServerSettings:
    if settings.session_secret is None:
        raise DeskNotConfigured
    return settings


def safe_next(path: str | None) -> str:
    """Only a path inside the desk is a place to return to after sign-in (no open redirect)."""
    if not path or not path.startswith("/desk/") or path.startswith("//") or "\\" in path:
        return "/desk/"
    return path


def login_location(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/desk/login?next=" + quote(safe_next(target), safe="/")


def idle_limit(settings: ServerSettings) -> timedelta:
    return timedelta(minutes=settings.session_idle_minutes)


def absolute_limit(settings: ServerSettings) -> timedelta:
    return timedelta(hours=settings.session_absolute_hours)


async def current_session(
    request: Request,
    settings: Annotated[ServerSettings, Depends(configured_settings)],
    conn: Annotated[AsyncConnection[Any], Depends(get_connection)],
) -> desk_sessions.Session:
    """The signed-in officer's session; otherwise the browser goes to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await desk_sessions.resume(conn, token, idle_limit(settings)) if token else None
    await conn.commit()
    if session is None:
        raise SignInRequired(login_location(request))
    request.state.session_token = token
    request.state.csrf_token = csrf_token(settings, token)
    return session


async def checked_post(
    request: Request,
    session: Annotated[desk_sessions.Session, Depends(current_session)],
) -> desk_sessions.Session:
    """The session of a POST whose CSRF token (form field or htmx header) is right."""
    form = await request.form()
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(given, str) or not same_token(given, request.state.csrf_token):
        raise CsrfRejected
    return session


def served_over_https(settings: ServerSettings) -> bool:
    """Cookies are Secure when officers reach the server over HTTPS (its public address says)."""
    return settings.public_base_url.startswith("https://")


def cookie_options(request: Request) -> dict[str, Any]:
    settings: ServerSettings = request.app.state.settings
    return {"httponly": True, "samesite": "lax", "secure": served_over_https(settings), "path": COOKIE_PATH}


Settings = Annotated[ServerSettings, Depends(configured_settings)]
SignedIn = Annotated[desk_sessions.Session, Depends(current_session)]
CheckedPost = Annotated[desk_sessions.Session, Depends(checked_post)]
