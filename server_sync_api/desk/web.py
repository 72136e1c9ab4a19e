"""The officers' ticket desk at /desk/ (ARCHITECTURE 2 and 4.13): server-rendered pages, a
little vendored htmx, every form with a CSRF token, every read and write through the
officer's scope in the services below.

Routes stay thin: they parse what the browser sent, call a service, and render or redirect
(POST, then 303 to a page, so a reload never repeats an action).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from server_sync_api.api.client import client_hash
from server_sync_api.api.deps import POOL_TIMEOUT_S, Connection, Pool, get_settings
from server_sync_api.core.config import ServerSettings
from server_sync_api.desk import auth, i18n, pages
from server_sync_api.desk.auth import CheckedPost, Settings, SignedIn
from server_sync_api.services import desk_queue, desk_sessions, desk_tickets, officers

log = logging.getLogger("server_sync_api.desk")

router = APIRouter(prefix="/desk", include_in_schema=False)

# What a redirect after an action says on the page it lands on.
DONE_MESSAGES = {"saved": "The change was saved.", "note": "The note was added."}


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


# -- Sign-in and out -------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, settings: Settings, next: str = "/desk/", notice: str = ""
) -> Response:
    flow_token = request.session.setdefault("login_csrf", auth.new_flow_token())
    request.state.csrf_token = flow_token
    notices = {"signed_out": "You were signed out.", "ended": "Your session ended. Sign in again."}
    return pages.render(
        request,
        settings,
        "login.html",
        {"next": auth.safe_next(next), "notice": notices.get(notice), "errors": [], "email": ""},
    )


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    settings: Settings,
    pool: Pool,
    # No max_length on what a person types: a value over the limit is a wrong sign-in with the
    # usual message and the form kept, not FastAPI's 422 ("This form has expired").
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form()] = "/desk/",
) -> Response:
    expected = request.session.get("login_csrf")
    if not isinstance(expected, str) or not auth.same_token(csrf_token, expected):
        raise auth.CsrfRejected
    request.state.csrf_token = expected
    if len(next) > 2000:
        next = "/desk/"
    errors: list[tuple[str, str]] = []
    if not email.strip():
        errors.append(("email", "Enter your email address."))
    if not password:
        errors.append(("password", "Enter your password."))
    status_code = 422
    if not errors:
        # The pool, not a connection: the service takes one for each of its short phases and
        # holds none while argon2 runs (services/officers.py).
        attempt = await officers.sign_in_with_password(
            pool, email=email, password=password, ip_hash=client_hash(request, settings)
        )
        if attempt.officer is not None:
            async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
                return await signed_in(request, settings, conn, attempt.officer.officer_id, "password", next)
        if attempt.outcome == "throttled":
            errors.append(
                (
                    "email",
                    i18n.translator(pages.language(request))(
                        "Too many attempts from here. Wait {seconds} seconds, then try again.",
                        seconds=attempt.retry_after_s,
                    ),
                )
            )
            status_code = 429
        else:
            # One message whatever went wrong, so the page never says which accounts exist.
            errors.append(("email", "The email address or the password is not right."))
            status_code = 401
    response = pages.render(
        request,
        settings,
        "login.html",
        {
            "next": auth.safe_next(next),
            "notice": None,
            "errors": errors,
            "email": email[: officers.EMAIL_MAX_LENGTH],
        },
        status_code=status_code,
    )
    if status_code == 429:
        response.headers["Retry-After"] = str(attempt.retry_after_s)
    return response


async def signed_in(
    request: Request, settings: ServerSettings, conn: Any, officer_id: int, method: str, next_path: str
) -> Response:
    """A new session (the token rotates at every sign-in) and the way back to where they were."""
    token = await desk_sessions.start(
        conn,
        officer_id,
        "oidc" if method == "oidc" else "password",
        auth.absolute_limit(settings),
        replacing=request.cookies.get(auth.SESSION_COOKIE) or None,
    )
    await conn.commit()
    request.session.clear()
    response = see_other(auth.safe_next(next_path))
    _set_session_cookie(request, settings, response, token)
    return response


def _set_session_cookie(request: Request, settings: ServerSettings, response: Response, token: str) -> None:
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=int(auth.absolute_limit(settings).total_seconds()),
        **auth.cookie_options(request),
    )


@router.post("/logout")
async def logout(request: Request, session: CheckedPost, conn: Connection) -> Response:
    await desk_sessions.end(conn, request.state.session_token)
    await conn.commit()
    log.info("officer %s signed out", session.officer.officer_id)
    response = see_other("/desk/login?notice=signed_out")
    response.delete_cookie(auth.SESSION_COOKIE, **auth.cookie_options(request))
    return response


@router.get("/language/{code}")
async def choose_language(request: Request, code: str, next: str = "/desk/") -> Response:
    """Remembers the officer's language in a cookie (a preference, not a change to any record)."""
    response = see_other(auth.safe_next(next) if next != "/desk/login" else "/desk/login")
    if code in i18n.LANGUAGES:
        response.set_cookie(
            auth.LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, **auth.cookie_options(request)
        )
    return response


# -- The queue -------------------------------------------------------------------------------


def _query_params(request: Request) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values if len(values) > 1 or key in ("status", "priority") else values[0]
    return params


@router.get("/", response_class=HTMLResponse)
async def queue_page(request: Request, settings: Settings, session: SignedIn, conn: Connection) -> Response:
    filters, problems = desk_queue.parse_filters(_query_params(request))
    after = request.query_params.get("after") or None
    page = None
    if not problems:
        try:
            page = await desk_queue.queue(conn, session.officer, filters, after=after)
        except desk_queue.BadCursor as exc:
            problems.append(str(exc))
    choices = await desk_queue.filter_choices(conn, session.officer)
    await conn.commit()
    query = desk_queue.to_query(filters)
    template = "queue_results.html" if request.headers.get("hx-target") == "queue-results" else "queue.html"
    return pages.render(
        request,
        settings,
        template,
        {
            "officer": session.officer,
            "filters": filters,
            "choices": choices,
            "page": page,
            "problems": problems,
            "query": query,
            "next_link": "/desk/?" + urlencode([*query, ("after", page.next_cursor)])
            if page and page.next_cursor
            else None,
            "first_link": "/desk/?" + urlencode(query) if after else None,
            "csv_link": "/desk/export.csv?" + urlencode(query),
        },
        officer_language=session.officer.language,
    )


@router.get("/export.csv")
async def export_csv(request: Request, session: SignedIn, conn: Connection) -> Response:
    """The queue of the URL's filters as CSV, streamed a batch at a time (never whole in memory).
    `conn` stays this request's until the last byte is sent: FastAPI (0.118 and later) leaves a
    yield dependency of the default "request" scope, such as get_connection, open until the
    response has been sent, and only then returns its connection to the pool."""
    filters, problems = desk_queue.parse_filters(_query_params(request))
    if problems:
        return Response("; ".join(problems) + "\n", status_code=422, media_type="text/plain; charset=utf-8")

    async def rows() -> AsyncIterator[str]:
        async for chunk in desk_queue.export_csv(conn, session.officer, filters):
            yield chunk
        await conn.commit()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="tickets.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- One ticket ------------------------------------------------------------------------------


async def _ticket_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    number: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    """The ticket's page; after a refused change, with the reason and what the officer typed."""
    view = await desk_tickets.ticket(conn, session.officer, number)
    await conn.commit()
    if view is None:
        return _not_found(request, settings, session, number)
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return pages.render(
        request,
        settings,
        "ticket.html",
        {
            "officer": session.officer,
            "t": view,
            "error": error,
            "done": None if error else done,
            "typed": typed or {},
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


def _not_found(
    request: Request, settings: ServerSettings, session: desk_sessions.Session | None, number: str
) -> Response:
    return pages.render(
        request,
        settings,
        "message.html",
        {
            "officer": session.officer if session else None,
            "title": "Page not found",
            "text": i18n.translator(pages.language(request))(
                "There is no ticket {number} that you can see. Check the number.", number=number[:40]
            ),
        },
        status_code=404,
    )


@router.get("/tickets/{number}", response_class=HTMLResponse)
async def ticket_page(
    request: Request, number: str, settings: Settings, session: SignedIn, conn: Connection
) -> Response:
    return await _ticket_page(request, settings, session, conn, number)


async def _act(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    number: str,
    action: Awaitable[object],
    done: str = "saved",
    typed: dict[str, str] | None = None,
) -> Response:
    """Runs one change; on success back to the ticket (303), else the ticket with the reason."""
    try:
        await action
    except desk_tickets.TicketNotFound:
        await conn.rollback()
        return _not_found(request, settings, session, number)
    except desk_tickets.StaleTicket as exc:
        await conn.rollback()
        return await _ticket_page(
            request, settings, session, conn, number, error=exc.message, status_code=409, typed=typed
        )
    except desk_tickets.DeskError as exc:
        await conn.rollback()
        return await _ticket_page(
            request, settings, session, conn, number, error=exc.message, status_code=422, typed=typed
        )
    await conn.commit()
    return see_other(f"/desk/tickets/{number}?done={done}")


Version = Annotated[int, Form(ge=0)]


@router.post("/tickets/{number}/assign")
async def assign(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    version: Version,
    assignee: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    action = desk_tickets.assign(conn, session.officer, number, version, assignee.strip() or None)
    return await _act(request, settings, session, conn, number, action)


@router.post("/tickets/{number}/status")
async def change_status(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    version: Version,
    status: Annotated[str, Form(max_length=30)],
    resolution_notes: Annotated[str, Form()] = "",
) -> Response:
    action = desk_tickets.change_status(
        conn, session.officer, number, version, status, resolution_notes.strip() or None
    )
    typed = {"resolution_notes": resolution_notes}
    return await _act(request, settings, session, conn, number, action, typed=typed)


@router.post("/tickets/{number}/priority")
async def change_priority(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    version: Version,
    priority: Annotated[int, Form()],
) -> Response:
    action = desk_tickets.change_priority(conn, session.officer, number, version, priority)
    return await _act(request, settings, session, conn, number, action)


@router.post("/tickets/{number}/category")
async def change_category(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    version: Version,
    category: Annotated[int, Form()],
) -> Response:
    action = desk_tickets.change_category(conn, session.officer, number, version, category)
    return await _act(request, settings, session, conn, number, action)


@router.post("/tickets/{number}/resolution")
async def resolution_notes(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    version: Version,
    resolution_notes: Annotated[str, Form()] = "",
) -> Response:
    action = desk_tickets.set_resolution_notes(conn, session.officer, number, version, resolution_notes)
    typed = {"resolution_notes": resolution_notes}
    return await _act(request, settings, session, conn, number, action, typed=typed)


@router.post("/tickets/{number}/notes")
async def add_note(
    request: Request,
    number: str,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    # No max_length on what an officer types: the service's refusal says the limit, and the
    # page keeps the text (FastAPI's own 422 would say only "This form has expired").
    text: Annotated[str, Form()] = "",
    visibility: Annotated[str, Form(max_length=10)] = "internal",
) -> Response:
    action = desk_tickets.add_note(conn, session.officer, number, None, text, visibility == "public")
    return await _act(request, settings, session, conn, number, action, done="note", typed={"text": text})


# -- The officer's own account ---------------------------------------------------------------


async def _account_page(
    request: Request,
    settings: ServerSettings,
    session: desk_sessions.Session,
    conn: Any,
    *,
    errors: list[str] | None = None,
    done: bool = False,
    status_code: int = 200,
) -> Response:
    sign_ins = await officers.recent_sign_ins(conn, session.officer.officer_id)
    has_password = await officers.has_password(conn, session.officer.officer_id)
    await conn.commit()
    return pages.render(
        request,
        settings,
        "account.html",
        {
            "officer": session.officer,
            "sign_ins": sign_ins,
            "has_password": has_password,
            "errors": errors or [],
            "done": done,
        },
        status_code=status_code,
        officer_language=session.officer.language,
    )


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, settings: Settings, session: SignedIn, conn: Connection) -> Response:
    return await _account_page(request, settings, session, conn, done=request.query_params.get("done") == "1")


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    settings: Settings,
    session: CheckedPost,
    conn: Connection,
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if new != again:
        return await _account_page(
            request,
            settings,
            session,
            conn,
            errors=["The two new passwords are not the same."],
            status_code=422,
        )
    officer_id = session.officer.officer_id
    try:
        # Slowed on the officer's account and this browser's address, like sign-in; the
        # service commits the attempt's record itself.
        await officers.change_own_password(
            conn, officer_id, current, new, ip_hash=client_hash(request, settings)
        )
    except officers.TooManyAttempts as exc:
        response = await _account_page(request, settings, session, conn, errors=[str(exc)], status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except officers.WrongPassword:
        return await _account_page(
            request, settings, session, conn, errors=["The current password is not right."], status_code=422
        )
    except officers.OfficerError as exc:
        await conn.rollback()
        return await _account_page(request, settings, session, conn, errors=[str(exc)], status_code=422)
    # A new session token for this browser (the one before the change may have been copied),
    # and every other session of the officer ends: all in one transaction.
    async with conn.transaction():
        token = await desk_sessions.start(
            conn,
            officer_id,
            "oidc" if session.method == "oidc" else "password",
            auth.absolute_limit(settings),
            replacing=request.state.session_token,
        )
        await desk_sessions.end_all(conn, officer_id, keeping=token)
    await conn.commit()
    response = see_other("/desk/account?done=1")
    _set_session_cookie(request, settings, response, token)
    return response


# -- Pages for errors ------------------------------------------------------------------------


def message(request: Request, title: str, text: str, status_code: int) -> Response:
    settings: ServerSettings = get_settings(request)
    return pages.render(
        request,
        settings,
        "message.html",
        {"officer": None, "title": title, "text": text},
        status_code=status_code,
    )
