"""Rendering the public pages: one Jinja2 environment, the citizen's language, and headers that
keep the pages private and scripts to the app's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from server_sync_api.api import language as languages
from server_sync_api.public import words

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True
STATIC = Path(__file__).with_name("static")
STATIC_PREFIX = "/public/static"

# Scripts, styles and the CAPTCHA's worker come from the app itself; no third party is asked.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; worker-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def language(request: Request, chosen: str | None = None) -> str:
    """What the citizen chose (the form's field, or ?lang=), else their browser's language."""
    return languages.choose(
        chosen, request.query_params.get("lang"), accept_language=request.headers.get("accept-language", "")
    )


def switch_url(request: Request, lang: str) -> str:
    """This page in the other language: the same address and query, `lang` replaced."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', lang)])}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    lang: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    other = "en" if lang == "es" else "es"
    values = {
        "request": request,
        "_": words.translator(lang),
        "lang": lang,
        "other_lang": other,
        "switch_url": switch_url(request, other),
        "static": STATIC_PREFIX,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Each form carries its own submission key and perhaps a challenge: never from a cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = lang
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class _Static(StaticFiles):
    """The stylesheet and the CAPTCHA's scripts: cached by phones for a day (then revalidated by
    ETag, so a new widget reaches them within a day)."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_files() -> ASGIApp:
    """Compressed: the CAPTCHA's widget is 83 KB as files, 30 KB gzipped, and a phone on a weak
    signal waits for it. Only these files are compressed, not the pages: they hold nothing
    secret, so compression cannot leak anything (BREACH), and the pages are small."""
    return GZipMiddleware(_Static(directory=STATIC), minimum_size=1024)
