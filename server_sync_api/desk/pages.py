"""Rendering desk pages: one Jinja2 environment, the officer's language, times in the server's
zone, and the headers every page carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server_sync_api.core.config import ServerSettings
from server_sync_api.desk import auth, i18n

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True

# Scripts and styles come from the app itself; nothing may frame the desk.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def language(request: Request, officer_language: str | None = None) -> str:
    return i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(auth.LANGUAGE_COOKIE),
        officer_language,
        accept_language=request.headers.get("accept-language", ""),
    )


def duration(seconds: float) -> str:
    """A short human duration: 45 min, 3 h 20 min, 4 d 2 h."""
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def render(
    request: Request,
    settings: ServerSettings,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    officer_language: str | None = None,
) -> HTMLResponse:
    lang = language(request, officer_language)
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)

    def when(moment: datetime | None) -> str:
        if moment is None:
            return ""
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    translate = i18n.translator(lang)

    def relative(moment: datetime | None) -> str:
        if moment is None:
            return ""
        seconds = (moment - now).total_seconds()
        key = "in {duration}" if seconds >= 0 else "{duration} ago"
        return translate(key, duration=duration(seconds))

    values = {
        "request": request,
        "_": translate,
        "lang": lang,
        "when": when,
        "relative": relative,
        "duration": duration,
        "now": now,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "csrf_field": auth.CSRF_FIELD,
        "oidc_enabled": settings.oidc_enabled,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Desk pages hold citizens' words: never kept by a shared cache or the browser's.
    response.headers["Cache-Control"] = "no-store"
    return response
