"""The public form's routes: `/q/{value}` (a QR poster's service) and `/feedback` (the portal,
with a service picker), each a GET that shows the form and a POST to the same address.

Plain HTML forms: they work without JavaScript, except the CAPTCHA the third submission in an
hour needs (its script is only sent then). No session and no cookie: the browser's own
Sec-Fetch-Site / Origin headers refuse a post another site makes (as on the status page), and a
hidden submission key makes a reload or a double tap answer the first submission's reference
instead of sending it twice. The rules live in services/public_feedback.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server_sync_api.api import bodies
from server_sync_api.api.client import client_address, client_hash, same_origin
from server_sync_api.api.deps import Connection, Settings
from server_sync_api.api.routes.public import status_url
from server_sync_api.core.config import ServerSettings
from server_sync_api.protocol import COMMENT_MAX_CHARS
from server_sync_api.public import pages
from server_sync_api.services import captcha, public_feedback, waits
from server_sync_api.services.public_feedback import Problem, Target

router = APIRouter(include_in_schema=False)

FORM_MAX_BYTES = 64 * 1024  # a 2,000-character comment percent-encoded is at most 24 KB
FIELDS = ("rating", *public_feedback.SUB_RATINGS, "feedback_text", "grievance_flag", "service_id")
CAPTCHA_FIELD = "altcha"  # the widget's hidden input


def handles(path: str) -> bool:
    """The paths whose errors are pages, not JSON."""
    return path.startswith("/q/") or path == "/feedback"


@router.get("/q/{value}", response_class=HTMLResponse)
async def poster_form(value: str, request: Request, conn: Connection, settings: Settings) -> Response:
    """A poster's form; opening it counts one scan (switching its language does not: the
    poster's code has no `lang`, the switch's link has)."""
    lang = pages.language(request)
    try:
        target = await public_feedback.qr_target(conn, value, count_scan="lang" not in request.query_params)
    except public_feedback.UnknownQrCode:
        await conn.commit()
        return _unknown_poster(request, lang)
    except public_feedback.InactiveQrCode as retired:
        await conn.commit()
        return _retired_poster(request, lang, retired)
    return await _blank_form(request, conn, settings, lang, target=target)


@router.post("/q/{value}", response_class=HTMLResponse)
async def poster_submit(value: str, request: Request, conn: Connection, settings: Settings) -> Response:
    form, early = await _read_form(request, conn, settings)
    if early is not None:
        return early
    lang = pages.language(request, _one(form, "lang"))
    try:
        target = await public_feedback.qr_target(conn, value)
    except public_feedback.UnknownQrCode:
        await public_feedback.log_refusal(conn, client_address(request), "unknown_qr_code")
        return _unknown_poster(request, lang)
    except public_feedback.InactiveQrCode as retired:
        await public_feedback.log_refusal(conn, client_address(request), "qr_code_inactive")
        return _retired_poster(request, lang, retired)
    return await _submit(request, conn, settings, form, lang, target)


@router.get("/feedback", response_class=HTMLResponse)
async def portal_form(request: Request, conn: Connection, settings: Settings) -> Response:
    """The portal: any active service, picked from a list (`?service=SVC-001` preselects one)."""
    lang = pages.language(request)
    preselected = request.query_params.get("service", "")
    return await _blank_form(request, conn, settings, lang, target=None, service_id=preselected)


@router.post("/feedback", response_class=HTMLResponse)
async def portal_submit(request: Request, conn: Connection, settings: Settings) -> Response:
    form, early = await _read_form(request, conn, settings)
    if early is not None:
        return early
    lang = pages.language(request, _one(form, "lang"))
    target = await public_feedback.service_target(conn, _one(form, "service_id"))
    return await _submit(request, conn, settings, form, lang, target)


# -- Steps --------------------------------------------------------------------------------------


async def _blank_form(
    request: Request,
    conn: Connection,
    settings: ServerSettings,
    lang: str,
    *,
    target: Target | None,
    service_id: str = "",
) -> Response:
    """The empty form; at the address's limit, the page that says when to come back instead,
    so nobody types a comment that cannot be sent."""
    ip_hash = client_hash(request, settings)
    state = await public_feedback.rate_state(conn, ip_hash)
    if not state.allowed:
        await conn.commit()
        return _limited(request, settings, lang, state.retry_after_s, answers={})
    challenge = await captcha.issue(conn, ip_hash, settings) if state.needs_captcha else None
    choices = await public_feedback.services(conn) if target is None else []
    await conn.commit()
    answers = {"service_id": service_id} if service_id else {}
    return _form(request, lang, target, choices, answers=answers, challenge=challenge)


async def _submit(
    request: Request,
    conn: Connection,
    settings: ServerSettings,
    form: dict[str, list[str]],
    lang: str,
    target: Target | None,
) -> Response:
    address = client_address(request)
    answers = {name: _one(form, name) for name in FIELDS}
    key = _submission_key(_one(form, "client_uuid"))
    feedback, problems = public_feedback.check(
        answers["rating"],
        {name: answers[name] for name in public_feedback.SUB_RATINGS},
        answers["feedback_text"],
        answers["grievance_flag"] == "yes",
        key,
    )
    if target is None:  # the portal without a service chosen (or one since withdrawn)
        problems = {"service_id": ("Choose the service you used.", {}), **problems}
    portal = _is_portal(request)
    # The portal's page comes back with its picker (the service chosen stays selected).
    shown = None if portal else target
    if feedback is None or target is None:
        await public_feedback.log_refusal(conn, address, "invalid_request")
        choices = await public_feedback.services(conn) if portal else []
        await conn.commit()
        return _form(
            request, lang, shown, choices, answers=answers, problems=problems, key=key, status_code=422
        )
    try:
        accepted = await public_feedback.submit(
            conn,
            target,
            feedback,
            ip_hash=client_hash(request, settings),
            address=address,
            captcha_payload=_one(form, CAPTCHA_FIELD) or None,
            settings=settings,
        )
    except public_feedback.Refused as refused:
        if refused.retry_after_s:
            return _limited(request, settings, lang, refused.retry_after_s, answers=answers)
        if refused.challenge is not None:
            choices = await public_feedback.services(conn) if portal else []
            await conn.commit()
            problem: Problem = (
                "Tick the box to confirm you are a person, then send again."
                if refused.code == "captcha_required"
                else "The check that you are a person did not pass or has expired. Tick the box again.",
                {},
            )
            return _form(
                request,
                lang,
                shown,
                choices,
                answers=answers,
                problems={"captcha": problem},
                key=key,
                challenge=refused.challenge,
                status_code=400,
            )
        return _message(
            request, lang, "This form was already used", "Open the page again to send new feedback.", 409
        )
    return pages.render(
        request,
        "thanks.html",
        {
            "target": target,
            "reference": accepted.reference_code,
            "ticket_number": accepted.ticket_number,
            "status_link": status_url("", accepted.reference_code, lang),
            # The confirmation cannot be fetched again; the other language's link keeps the
            # reference on screen by opening its status page.
            "switch_url": f"/s/{accepted.reference_code}?lang={'en' if lang == 'es' else 'es'}",
        },
        lang=lang,
    )


def _form(
    request: Request,
    lang: str,
    target: Target | None,
    choices: list[public_feedback.ServiceChoice],
    *,
    answers: dict[str, str],
    problems: dict[str, Problem] | None = None,
    key: uuid.UUID | None = None,
    challenge: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    offices: dict[str, list[public_feedback.ServiceChoice]] = {}
    for choice in choices:
        offices.setdefault(choice.entity_name, []).append(choice)
    return pages.render(
        request,
        "form.html",
        {
            "target": target,
            "offices": offices,
            "answers": answers,
            "problems": problems or {},
            "client_uuid": str(key or uuid.uuid4()),
            "challenge": json.dumps(challenge, separators=(",", ":")) if challenge else None,
            "comment_max": COMMENT_MAX_CHARS,
            "sub_ratings": public_feedback.SUB_RATINGS,
            "action": request.url.path,
        },
        lang=lang,
        status_code=status_code,
    )


def _limited(
    request: Request, settings: ServerSettings, lang: str, retry_after_s: int, *, answers: dict[str, str]
) -> Response:
    until = datetime.now(UTC) + timedelta(seconds=retry_after_s)
    return pages.render(
        request,
        "limited.html",
        {
            "until": f"{until.astimezone(ZoneInfo(settings.timezone)):%H:%M}",
            "minutes": waits.minutes(retry_after_s),
            "comment": answers.get("feedback_text", ""),
        },
        lang=lang,
        status_code=429,
        headers={"Retry-After": str(retry_after_s)},
    )


def _unknown_poster(request: Request, lang: str) -> Response:
    return pages.render(request, "poster_unknown.html", {}, lang=lang, status_code=404)


def _retired_poster(request: Request, lang: str, retired: public_feedback.InactiveQrCode) -> Response:
    context = {"target": retired.target, "service_open": retired.service_open}
    return pages.render(request, "poster_retired.html", context, lang=lang, status_code=410)


def _message(
    request: Request, lang: str, heading: str, text: str, status_code: int, **values: object
) -> Response:
    """A page with a heading and a sentence (English keys, translated by the template)."""
    return pages.render(
        request,
        "message.html",
        {"heading": heading, "text": text, "values": values},
        lang=lang,
        status_code=status_code,
    )


def error_page(request: Request, status_code: int, exc: Exception) -> Response:
    """What the JSON API would answer as an error (404, 405, 500, 503), as a page."""
    del exc
    lang = pages.language(request)
    if status_code == 503:
        return _message(
            request,
            lang,
            "Sorry, we cannot take feedback right now",
            "Nothing was sent. Try again in a few minutes.",
            503,
        )
    if status_code >= 500:
        return _message(
            request, lang, "Sorry, something went wrong", "Nothing was sent. Try again in a few minutes.", 500
        )
    if status_code == 404:
        return _message(request, lang, "Page not found", "Check the address, or scan the poster again.", 404)
    return _message(
        request, lang, "We could not read the form", "Open the page again and send it.", status_code
    )


async def _read_form(
    request: Request, conn: Connection, settings: ServerSettings
) -> tuple[dict[str, list[str]], Response | None]:
    """The posted fields, or the page that says why they cannot be taken (logged)."""
    lang = pages.language(request)
    refusal: tuple[str, str, str, int] | None = None
    values: dict[str, object] = {}
    if not same_origin(request, settings):
        refusal = (
            "cross_site_request",
            "This form was sent from another site",
            "Open the feedback page yourself and send it from there.",
            403,
        )
    elif bodies.media_type(request) != "application/x-www-form-urlencoded":
        refusal = (
            "unsupported_media_type",
            "We could not read the form",
            "Send it from the feedback page.",
            415,
        )
    else:
        try:
            body = await bodies.read_bounded(request, FORM_MAX_BYTES)
        except bodies.BodyTooLarge:
            refusal = (
                "payload_too_large",
                "Your comment is too long",
                "Go back and shorten it to {limit} characters or fewer.",
                413,
            )
            values = {"limit": f"{COMMENT_MAX_CHARS:,}"}
        else:
            try:
                fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=40)
            except ValueError:  # more fields than the form has
                refusal = (
                    "invalid_request",
                    "We could not read the form",
                    "Open the page again and send it.",
                    400,
                )
            else:
                return fields, None
    code, heading, text, status_code = refusal
    await public_feedback.log_refusal(conn, client_address(request), code)
    return {}, _message(request, lang, heading, text, status_code, **values)


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _submission_key(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _is_portal(request: Request) -> bool:
    return not request.url.path.startswith("/q/")
