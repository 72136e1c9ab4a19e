"""Administrators' pages in the desk: officers and kiosks, as `gea-server officers ...` and
`gea-server devices ...` do them, with the same services, rules and (desk-worded) messages.

Only an administrator reaches any of these routes: everyone else gets the desk's ordinary
"Page not found", for every GET and POST, before the CSRF token or the form is even looked at,
so the pages' existence is not confirmed to officers. The check is a dependency of the whole
router, so a route added here later cannot forget it. The services take no actor (the CLI is
IT on the server), so there is no second check to make inside them.

The devices service is synchronous psycopg, as the CLI uses it; each call runs in a thread on
a short-lived connection of its own (`asyncio.to_thread`), committed when the call returns.

Every POST but two ends in a redirect (POST-redirect-GET). Adding a kiosk and re-enrolling one
answer with the page that shows the one-time enrollment code: only its digest is stored, so it
can be shown only in the answer to the POST that made it, never in a URL and never in a log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from server_sync_api.api.deps import Connection
from server_sync_api.core.config import ServerSettings
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.desk import i18n, pages
from server_sync_api.desk.auth import CheckedPost, Settings, SignedIn
from server_sync_api.desk.web import see_other
from server_sync_api.domain import ROLES, Officer, Role
from server_sync_api.services import desk_sessions, officers
from server_sync_api.services import devices as device_admin

log = logging.getLogger("server_sync_api.desk.admin")

_T = TypeVar("_T")

# What kiosk_devices.device_code can hold (ck_kiosk_devices_device_code_format), any case.
_DEVICE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]{1,15}")

# A short-lived connection for the devices service waits at most this long for the database.
CONNECT_TIMEOUT_S = 5


async def admin_session(session: SignedIn) -> desk_sessions.Session:
    """The session of an administrator; anyone else is told there is nothing here."""
    if not session.officer.is_admin:
        raise HTTPException(status_code=404)
    return session


async def admin_post(
    admin: Annotated[desk_sessions.Session, Depends(admin_session)], session: CheckedPost
) -> desk_sessions.Session:
    """An administrator's POST with the right CSRF token (checked after the role, so others
    get 404 whatever they send)."""
    del admin
    return session


Admin = Annotated[desk_sessions.Session, Depends(admin_session)]
AdminPost = Annotated[desk_sessions.Session, Depends(admin_post)]

router = APIRouter(prefix="/desk/admin", include_in_schema=False, dependencies=[Depends(admin_session)])

# Form fields are plain strings: the services say what is wrong with a value, on the page.
Text = Annotated[str, Form()]

# What the officers page says after an action; {email} is the officer's.
OFFICER_NOTICES = {
    "added": "Officer {email} added; they sign in with a password.",
    "added_idp": (
        "Officer {email} added; they sign in through the identity provider, linked at their first "
        "sign-in by their verified email."
    ),
    "disabled": "Officer {email} disabled: their desk sessions have ended and they cannot sign in.",
    "already_disabled": "Officer {email} was already disabled; nothing changed.",
    "enabled": "Officer {email} enabled: they can sign in again.",
    "password": (
        "New password set for {email}: their desk sessions have ended, and failed sign-ins before "
        "it no longer slow them down."
    ),
}
NO_IDENTITY_PROVIDER = (
    "No identity provider is configured here, so they cannot sign in until one is, or until you "
    "reset their password."
)
DEVICE_NOTICES = {
    "revoked": "Kiosk {code} revoked: its next request is refused. To bring it back, re-enroll it.",
}
# Refusals said by the desk itself (the services' own sentences are shown as they are).
MESSAGES = (
    "Enter the officer's email address.",
    "Choose the entity they work for.",
    "Choose a role.",
    "The two passwords are not the same.",
    "An officer with the email {email} exists already: see the list of officers.",
    "You cannot disable your own account: ask another administrator.",
    "This is your own account: change your password on Your account page, which asks for the current one.",
    "There is no such officer. Check the list of officers.",
    "Enter where the kiosk stands, e.g. 'Passport office, counter 2'.",
    "Choose the entity the kiosk serves.",
    "There is no kiosk {code}. Check the list of kiosks.",
    "Tick the box to confirm, then revoke the kiosk.",
    "Write the name on one line, without control characters.",
)


def _printable(text: str) -> bool:
    """No control characters (which PostgreSQL's text may refuse, NUL, or a table cannot show)."""
    return text.isprintable()


def _translator(request: Request, officer: Officer) -> Callable[..., str]:
    return i18n.translator(pages.language(request, officer.language))


async def _entities(conn: Any) -> list[tuple[str, str]]:
    cursor = await conn.execute(
        "SELECT unique_entity_id, entity_name FROM entity_master WHERE is_active ORDER BY unique_entity_id"
    )
    return [(row[0], row[1]) for row in await cursor.fetchall()]


async def _devices(settings: ServerSettings, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
    """Runs a call of the (synchronous) devices service in a thread, on its own connection,
    committed when it returns and rolled back when it raises."""

    def run() -> _T:
        with psycopg.connect(libpq_conninfo(settings.url), connect_timeout=CONNECT_TIMEOUT_S) as conn:
            return work(conn)

    return await asyncio.to_thread(run)


# -- Officers --------------------------------------------------------------------------------


async def _officers_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    *,
    errors: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    listing = await officers.list_officers(conn)
    entities = await _entities(conn)
    await conn.commit()
    _ = _translator(request, session.officer)
    notice: list[str] = []
    done = request.query_params.get("done", "")
    shown = request.query_params.get("officer", "")
    target = next((item.officer for item in listing if str(item.officer.officer_id) == shown), None)
    if errors is None and done in OFFICER_NOTICES and target is not None:
        notice.append(_(OFFICER_NOTICES[done], email=target.email))
        if done == "added_idp" and not settings.oidc_enabled:
            notice.append(_(NO_IDENTITY_PROVIDER))
    return pages.render(
        request,
        settings,
        "admin_officers.html",
        {
            "officer": session.officer,
            "listing": listing,
            "entities": entities,
            "roles": ROLES,
            "errors": errors or [],
            "form": form or {"email": "", "name": "", "entity": "", "role": "officer"},
            "notice": notice,
            "disabled_count": sum(1 for item in listing if not item.officer.active),
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


@router.get("/officers", response_class=HTMLResponse)
async def officers_page(request: Request, settings: Settings, session: Admin, conn: Connection) -> Response:
    return await _officers_page(request, settings, session, conn)


def _field_of(exc: officers.OfficerError) -> str:
    """The form field an officers-service refusal is about, for the error summary's link."""
    if isinstance(exc, officers.WeakPassword):
        return "password"
    text = str(exc)
    if text.startswith("The name"):
        return "name"
    if text.startswith("Unknown role"):
        return "role"
    return "email"


@router.post("/officers", response_class=HTMLResponse)
async def add_officer(
    request: Request,
    settings: Settings,
    session: AdminPost,
    conn: Connection,
    email: Text = "",
    name: Text = "",
    entity: Text = "",
    role: Text = "",
    password: Text = "",
    again: Text = "",
) -> Response:
    """As `gea-server officers add`: an empty password makes an identity-provider account."""
    _ = _translator(request, session.officer)
    form = {"email": email, "name": name, "entity": entity, "role": role}
    errors: list[tuple[str, str]] = []
    entities = {entity_id for entity_id, _name in await _entities(conn)}
    if not email.strip():
        errors.append(("email", _("Enter the officer's email address.")))
    if not _printable(name):
        errors.append(("name", _("Write the name on one line, without control characters.")))
    if entity not in entities:
        errors.append(("entity", _("Choose the entity they work for.")))
    chosen: Role | None = next((r for r in ROLES if r == role), None)
    if chosen is None:
        errors.append(("role", _("Choose a role.")))
    if password != again:
        errors.append(("password", _("The two passwords are not the same.")))
    if not errors and chosen is not None:
        try:
            added = await officers.add(
                conn,
                email=email,
                display_name=name,
                entity_id=entity,
                role=chosen,
                password=password or None,
            )
        except officers.OfficerExists:
            await conn.rollback()
            exists = "An officer with the email {email} exists already: see the list of officers."
            errors.append(("email", _(exists, email=email.strip().lower())))
        except officers.UnknownEntity:
            await conn.rollback()
            errors.append(("entity", _("Choose the entity they work for.")))
        except officers.OfficerError as exc:
            await conn.rollback()
            errors.append((_field_of(exc), _(str(exc))))
        else:
            await conn.commit()
            log.info(
                "administrator %s added officer %s (%s)",
                session.officer.officer_id,
                added.officer_id,
                added.role,
            )
            done = "added" if password else "added_idp"
            return see_other(f"/desk/admin/officers?done={done}&officer={added.officer_id}")
    return await _officers_page(request, settings, session, conn, errors=errors, form=form, status_code=422)


async def _target(conn: Any, officer_id: int) -> Officer | None:
    return await officers.by_id(conn, officer_id)


def _no_such_officer(request: Request, officer: Officer) -> list[tuple[str, str]]:
    return [
        ("officers", _translator(request, officer)("There is no such officer. Check the list of officers."))
    ]


@router.post("/officers/{officer_id}/disable", response_class=HTMLResponse)
async def disable_officer(
    request: Request, officer_id: int, settings: Settings, session: AdminPost, conn: Connection
) -> Response:
    """As `gea-server officers disable`: they cannot sign in and their sessions end at once."""
    target = await _target(conn, officer_id)
    if target is None:
        errors = _no_such_officer(request, session.officer)
        return await _officers_page(request, settings, session, conn, errors=errors, status_code=404)
    if target.officer_id == session.officer.officer_id:
        _ = _translator(request, session.officer)
        errors = [("officers", _("You cannot disable your own account: ask another administrator."))]
        return await _officers_page(request, settings, session, conn, errors=errors, status_code=422)
    await officers.disable(conn, target.email)
    await conn.commit()
    if target.active:
        log.info("administrator %s disabled officer %s", session.officer.officer_id, target.officer_id)
    done = "disabled" if target.active else "already_disabled"
    return see_other(f"/desk/admin/officers?done={done}&officer={target.officer_id}")


@router.post("/officers/{officer_id}/enable", response_class=HTMLResponse)
async def enable_officer(
    request: Request, officer_id: int, settings: Settings, session: AdminPost, conn: Connection
) -> Response:
    """As `gea-server officers enable`."""
    target = await _target(conn, officer_id)
    if target is None:
        errors = _no_such_officer(request, session.officer)
        return await _officers_page(request, settings, session, conn, errors=errors, status_code=404)
    await officers.enable(conn, target.email)
    await conn.commit()
    log.info("administrator %s enabled officer %s", session.officer.officer_id, target.officer_id)
    return see_other(f"/desk/admin/officers?done=enabled&officer={target.officer_id}")


async def _password_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    officer_id: int,
    *,
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    target = await _target(conn, officer_id)
    await conn.commit()
    if target is None:
        errors = _no_such_officer(request, session.officer)
        return await _officers_page(request, settings, session, conn, errors=errors, status_code=404)
    if target.officer_id == session.officer.officer_id:
        _ = _translator(request, session.officer)
        own = (
            "This is your own account: change your password on Your account page, which asks for "
            "the current one."
        )
        return await _officers_page(
            request, settings, session, conn, errors=[("officers", _(own))], status_code=422
        )
    return pages.render(
        request,
        settings,
        "admin_officer_password.html",
        {
            "officer": session.officer,
            "target": target,
            "errors": errors or [],
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


@router.get("/officers/{officer_id}/password", response_class=HTMLResponse)
async def password_form(
    request: Request, officer_id: int, settings: Settings, session: Admin, conn: Connection
) -> Response:
    return await _password_page(request, settings, session, conn, officer_id)


@router.post("/officers/{officer_id}/password", response_class=HTMLResponse)
async def reset_password(
    request: Request,
    officer_id: int,
    settings: Settings,
    session: AdminPost,
    conn: Connection,
    password: Text = "",
    again: Text = "",
) -> Response:
    """As `gea-server officers reset-password`: the password rules apply, the officer's sessions
    end, and the sign-in delay restarts. Not for the administrator's own account."""
    target = await _target(conn, officer_id)
    if target is None or target.officer_id == session.officer.officer_id:
        return await _password_page(request, settings, session, conn, officer_id)
    _ = _translator(request, session.officer)
    error: str | None = None
    if password != again:
        error = _("The two passwords are not the same.")
    else:
        try:
            await officers.reset_password(conn, target.email, password)
        except officers.OfficerError as exc:
            await conn.rollback()
            error = _(str(exc))
    if error is not None:
        return await _password_page(
            request, settings, session, conn, officer_id, errors=[("password", error)], status_code=422
        )
    await conn.commit()
    log.info("administrator %s reset the password of officer %s", session.officer.officer_id, officer_id)
    return see_other(f"/desk/admin/officers?done=password&officer={officer_id}")


# -- Kiosks ----------------------------------------------------------------------------------


async def _devices_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    *,
    errors: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    entities = await _entities(conn)
    await conn.commit()
    silent_after = timedelta(hours=settings.silent_after_hours)
    fleet = await _devices(settings, lambda sync: device_admin.fleet(sync, silent_after))
    _ = _translator(request, session.officer)
    notice = None
    done = request.query_params.get("done", "")
    code = request.query_params.get("device", "")
    if errors is None and done in DEVICE_NOTICES and any(row.device_code == code for row in fleet):
        notice = _(DEVICE_NOTICES[done], code=code)
    return pages.render(
        request,
        settings,
        "admin_devices.html",
        {
            "officer": session.officer,
            "fleet": fleet,
            "one_line": device_admin.one_line,
            "flagged": sum(1 for row in fleet if row.problems),
            "entities": entities,
            "errors": errors or [],
            "form": form or {"name": "", "entity": ""},
            "notice": notice,
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


@router.get("/devices", response_class=HTMLResponse)
async def devices_page(request: Request, settings: Settings, session: Admin, conn: Connection) -> Response:
    return await _devices_page(request, settings, session, conn)


def _code_page(
    request: Request, settings: ServerSettings, session: desk_sessions.Session, new: Any, added: bool
) -> Response:
    """The one page that ever shows this enrollment code (only its digest is stored)."""
    return pages.render(
        request,
        settings,
        "admin_device_code.html",
        {
            "officer": session.officer,
            "new": new,
            "added": added,
            "server": settings.public_base_url,
        },
        officer_language=session.officer.language,
    )


@router.post("/devices", response_class=HTMLResponse)
async def add_device(
    request: Request,
    settings: Settings,
    session: AdminPost,
    conn: Connection,
    name: Text = "",
    entity: Text = "",
) -> Response:
    """As `gea-server devices add`: a pending kiosk and its one-time enrollment code."""
    _ = _translator(request, session.officer)
    errors: list[tuple[str, str]] = []
    if not name.strip():
        errors.append(("name", _("Enter where the kiosk stands, e.g. 'Passport office, counter 2'.")))
    elif not _printable(name):
        errors.append(("name", _("Write the name on one line, without control characters.")))
    if entity not in {entity_id for entity_id, _name in await _entities(conn)}:
        errors.append(("entity", _("Choose the entity the kiosk serves.")))
    await conn.commit()
    if not errors:
        ttl = settings.enrollment_code_ttl_hours
        try:
            new = await _devices(settings, lambda sync: device_admin.add_device(sync, name, entity, ttl))
        except device_admin.DeviceError:
            # Only an unknown entity is left (the name was checked above).
            errors.append(("entity", _("Choose the entity the kiosk serves.")))
        else:
            log.info("administrator %s added kiosk %s", session.officer.officer_id, new.device_code)
            return _code_page(request, settings, session, new, added=True)
    form = {"name": name, "entity": entity}
    return await _devices_page(request, settings, session, conn, errors=errors, form=form, status_code=422)


def _no_such_device(request: Request, officer: Officer, device_code: str) -> list[tuple[str, str]]:
    text = "There is no kiosk {code}. Check the list of kiosks."
    shown = device_admin.one_line(device_code).upper()[:20]
    return [("fleet", _translator(request, officer)(text, code=shown))]


def _well_formed(device_code: str) -> bool:
    """Whether it could be a device code at all (else it is not looked up: a NUL, say, would
    make the database refuse the query rather than find nothing)."""
    return _DEVICE_CODE.fullmatch(device_code) is not None


@router.post("/devices/{device_code}/reenroll", response_class=HTMLResponse)
async def reenroll_device(
    request: Request, device_code: str, settings: Settings, session: AdminPost, conn: Connection
) -> Response:
    """As `gea-server devices reenroll`: a new code for the same kiosk; its current token works
    until the code is used."""
    ttl = settings.enrollment_code_ttl_hours
    try:
        if not _well_formed(device_code):
            raise device_admin.DeviceError(device_code)
        new = await _devices(settings, lambda sync: device_admin.reenroll_device(sync, device_code, ttl))
    except device_admin.DeviceError:
        errors = _no_such_device(request, session.officer, device_code)
        return await _devices_page(request, settings, session, conn, errors=errors, status_code=404)
    log.info("administrator %s re-enrolled kiosk %s", session.officer.officer_id, new.device_code)
    return _code_page(request, settings, session, new, added=False)


async def _revoke_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    device_code: str,
    *,
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    silent_after = timedelta(hours=settings.silent_after_hours)
    fleet = await _devices(settings, lambda sync: device_admin.fleet(sync, silent_after))
    row = next((r for r in fleet if r.device_code == device_code.upper()), None)
    if row is None or not _well_formed(device_code):
        errors = _no_such_device(request, session.officer, device_code)
        return await _devices_page(request, settings, session, conn, errors=errors, status_code=404)
    return pages.render(
        request,
        settings,
        "admin_device_revoke.html",
        {
            "officer": session.officer,
            "row": row,
            "one_line": device_admin.one_line,
            "errors": errors or [],
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


@router.get("/devices/{device_code}/revoke", response_class=HTMLResponse)
async def revoke_form(
    request: Request, device_code: str, settings: Settings, session: Admin, conn: Connection
) -> Response:
    """The confirmation step before a kiosk is revoked."""
    return await _revoke_page(request, settings, session, conn, device_code)


@router.post("/devices/{device_code}/revoke", response_class=HTMLResponse)
async def revoke_device(
    request: Request,
    device_code: str,
    settings: Settings,
    session: AdminPost,
    conn: Connection,
    confirm: Text = "",
) -> Response:
    """As `gea-server devices revoke`, once the box on the confirmation page is ticked."""
    if confirm != "yes":
        _ = _translator(request, session.officer)
        errors = [("confirm", _("Tick the box to confirm, then revoke the kiosk."))]
        return await _revoke_page(
            request, settings, session, conn, device_code, errors=errors, status_code=422
        )
    try:
        if not _well_formed(device_code):
            raise device_admin.DeviceError(device_code)
        await _devices(settings, lambda sync: device_admin.revoke_device(sync, device_code))
    except device_admin.DeviceError:
        errors = _no_such_device(request, session.officer, device_code)
        return await _devices_page(request, settings, session, conn, errors=errors, status_code=404)
    code = device_code.upper()
    log.info("administrator %s revoked kiosk %s", session.officer.officer_id, code)
    return see_other(f"/desk/admin/devices?done=revoked&device={quote(code)}")
