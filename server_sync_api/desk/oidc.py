"""Sign-in through the government's identity provider (OpenID Connect, the seed's Keycloak).

Authlib's Starlette client does the protocol: the authorization code flow with PKCE (S256),
a random state and nonce kept in the sign-in flow's signed cookie until the provider answers,
the code exchanged for tokens, and the ID token's signature (the provider's published keys),
issuer, audience, expiry and nonce checked before any claim is read. Officers are then linked
by the provider's subject (`sub`); an email links an account only when the provider says it is
verified (services/officers.py decides).
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from fastapi import APIRouter, Request
from fastapi.responses import Response

from server_sync_api.api.client import client_hash
from server_sync_api.api.deps import POOL_TIMEOUT_S, Pool
from server_sync_api.core.config import ServerSettings
from server_sync_api.desk import auth, pages, web
from server_sync_api.desk.auth import Settings
from server_sync_api.services import officers

log = logging.getLogger("server_sync_api.desk")

router = APIRouter(prefix="/desk", include_in_schema=False)

CALLBACK_PATH = "/desk/login/oidc/callback"

SCOPES = "openid email profile"
# Outcomes of services.officers.sign_in_with_oidc, as the sign-in page says them.
REFUSALS = {
    "email_not_verified": (
        "Your identity provider did not confirm your email address, so it cannot be linked to an account."
    ),
    "throttled": "Sign-in through the identity provider failed. Try again.",
}
NOT_AN_OFFICER = (
    "This account cannot sign in with the identity provider yet. Ask an administrator to add you."
)


def provider(request: Request) -> StarletteOAuth2App:
    client: StarletteOAuth2App = request.app.state.oidc_client
    return client


def register(settings: ServerSettings) -> StarletteOAuth2App | None:
    """The identity provider's client, or None when GEA_SERVER_OIDC_* are not set."""
    if not settings.oidc_enabled or settings.oidc_client_secret is None:
        return None
    oauth = OAuth()
    client = oauth.register(
        "government",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256", "timeout": 10.0},
    )
    assert isinstance(client, StarletteOAuth2App)
    return client


@router.get("/login/oidc")
async def start(request: Request, settings: Settings, next: str = "/desk/") -> Response:
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        return web.see_other("/desk/login")
    request.session["oidc_next"] = auth.safe_next(next)
    try:
        # The server's public address, never the request's Host header: the provider must have
        # this one registered (docs/desk.md).
        response: Response = await client.authorize_redirect(
            request, settings.public_base_url + CALLBACK_PATH
        )
    except Exception as exc:  # the provider unreachable or its metadata broken
        log.warning("identity provider unavailable: %s", type(exc).__name__)
        return _refused(request, settings, "Sign-in through the identity provider failed. Try again.", 502)
    return response


@router.get("/login/oidc/callback")
async def callback(request: Request, settings: Settings, pool: Pool) -> Response:
    """The provider's answer. The pool, not a connection: none is taken until the exchange of
    the code with the provider (up to its 10 s timeout) is over, so a slow or flooded callback
    cannot hold the connections kiosks need. Every attempt is recorded, refusals included."""
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        return web.see_other("/desk/login")
    ip_hash = client_hash(request, settings)
    failed = "Sign-in through the identity provider failed. Try again."

    async def refused(outcome: str, status_code: int) -> Response:
        # Nobody is known yet: the account is recorded as ''.
        async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
            await officers.record_oidc_refusal(conn, ip_hash=ip_hash, outcome=outcome)
        return _refused(request, settings, failed, status_code)

    try:
        token: dict[str, Any] = await client.authorize_access_token(request)
    except OAuthError as exc:
        # A wrong or replayed state, a refused code (invalid_grant), the person cancelling at the
        # provider (access_denied), a bad nonce or signature: nobody signs in.
        log.warning("identity provider sign-in refused: %s", exc.error)
        return await refused("oidc_refused", 400)
    except Exception as exc:
        log.warning("identity provider sign-in failed: %s", type(exc).__name__)
        return await refused("oidc_failed", 502)
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    subject = str(claims.get("sub") or "")
    if not subject:
        return await refused("oidc_refused", 400)
    email = claims.get("email")
    async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
        attempt = await officers.sign_in_with_oidc(
            conn,
            issuer=str(claims.get("iss") or settings.oidc_issuer),
            subject=subject,
            email=str(email) if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") is True,
            ip_hash=ip_hash,
        )
        await conn.commit()
        if attempt.officer is None:
            return _refused(request, settings, REFUSALS.get(attempt.outcome, NOT_AN_OFFICER), 403)
        next_path = str(request.session.get("oidc_next") or "/desk/")
        return await web.signed_in(request, settings, conn, attempt.officer.officer_id, "oidc", next_path)


def _refused(request: Request, settings: ServerSettings, message: str, status_code: int) -> Response:
    request.session.pop("oidc_next", None)
    flow_token = request.session.setdefault("login_csrf", auth.new_flow_token())
    request.state.csrf_token = flow_token
    return pages.render(
        request,
        settings,
        "login.html",
        {"next": "/desk/", "notice": None, "errors": [("email", message)], "email": ""},
        status_code=status_code,
    )
