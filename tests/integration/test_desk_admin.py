"""Administrators' pages over real HTTP: officers and kiosks as `gea-server officers ...` and
`gea-server devices ...` do them, nobody else reaching them, and refusals that change nothing.
The browser test (tests/browser/test_desk_admin_browser.py) clicks through the same pages."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute
from sqlalchemy.engine import URL

from server_sync_api import security
from server_sync_api.desk import admin, i18n
from tests.helpers import desk, server

NEW_PASSWORD = "a brand new passphrase for Bo"
_CODE = re.compile(r'<p class="code" translate="no">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</p>')


@pytest.fixture
def staff(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """An administrator, a supervisor, an officer and Bo, the officer the administrator manages."""
    return {
        "root@gov.gd": desk.add_officer(conn, "root@gov.gd", "MIN-003", "admin", name="Rita Root"),
        "sue@gov.gd": desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor"),
        "ana@gov.gd": desk.add_officer(conn, "ana@gov.gd", "DEPT-003"),
        "bo@gov.gd": desk.add_officer(conn, "bo@gov.gd", "DEPT-003", name="Bo Brown"),
    }


def _officers(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT officer_id, email, display_name, entity_id, role, active, disabled_at, password_hash "
        "FROM officers ORDER BY officer_id"
    ).fetchall()
    return [tuple(row) for row in rows]


def _kiosks(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT device_code, name, entity_id, is_active, token_hash, enrollment_code_hash, "
        "enrollment_expires_at FROM kiosk_devices ORDER BY device_code"
    ).fetchall()
    return [tuple(row) for row in rows]


def _state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """Officers, kiosks, and what was recorded beyond signing in."""
    sign_ins = conn.execute("SELECT count(*) FROM officer_sign_ins WHERE outcome <> 'ok'").fetchone()
    return (_officers(conn), _kiosks(conn), sign_ins)


def _admin_routes(officer_id: int, device_code: str) -> list[tuple[str, str]]:
    """Every route of the administrators' router, with its path filled in."""
    found: list[tuple[str, str]] = []
    for route in admin.router.routes:
        assert isinstance(route, APIRoute)
        path = route.path.format(officer_id=officer_id, device_code=device_code)
        found.extend((method, path) for method in sorted(route.methods or ()))
    return found


# Form data that would change something, were the request allowed.
_FORMS = {
    "/desk/admin/officers": {
        "email": "eve@gov.gd",
        "name": "Eve",
        "entity": "MIN-003",
        "role": "admin",
        "password": NEW_PASSWORD,
        "again": NEW_PASSWORD,
    },
    "/desk/admin/devices": {"name": "Eve's kiosk", "entity": "AGY-002"},
}


def _form_for(path: str) -> dict[str, str]:
    if path.endswith("/password"):
        return {"password": NEW_PASSWORD, "again": NEW_PASSWORD}
    if path.endswith("/revoke"):
        return {"confirm": "yes"}
    return dict(_FORMS.get(path, {}))


def _code_of(page: str) -> str:
    found = _CODE.search(page)
    assert found, "the page shows no enrollment code"
    return found.group(1)


def test_officers_and_supervisors_find_nothing_on_any_admin_page_or_action(
    live_desk: server.LiveServer, db_url: URL, conn: psycopg.Connection[Any], staff: dict[str, int]
) -> None:
    kiosk = server.enroll(live_desk, db_url, "AGY-002")
    routes = _admin_routes(staff["bo@gov.gd"], kiosk.device_code)
    assert len(routes) == 11
    assert {method for method, _ in routes} == {"GET", "POST"}
    before = _state(conn)
    for email in ("ana@gov.gd", "sue@gov.gd"):
        with desk.sign_in(live_desk, email) as client:
            queue = client.get("/desk/")
            assert queue.status_code == 200
            assert "/desk/admin/" not in queue.text
            assert "Administration" not in queue.text
            token = desk.csrf_of(queue.text)
            nothing = client.get("/desk/admin/nothing-here")
            assert nothing.status_code == 404
            assert "There is nothing at this address." in nothing.text
            generic = nothing.text.replace("/desk/admin/nothing-here", "PATH")
            for method, path in routes:
                # With the right CSRF token and form, and with nothing at all.
                for data in ({"csrf_token": token, **_form_for(path)}, {}):
                    response = client.request(method, path, data=data if method == "POST" else None)
                    assert response.status_code == 404, (email, method, path)
                    # The very page of an address where nothing is (which names the path).
                    assert response.text.replace(path, "PATH") == generic
            assert client.post("/desk/admin/officers/x/disable", data={}).status_code == 404
    assert _state(conn) == before


def test_the_administration_link_is_shown_to_administrators_only(
    live_desk: server.LiveServer, staff: dict[str, int]
) -> None:
    with desk.sign_in(live_desk, "root@gov.gd") as client:
        queue = client.get("/desk/")
        assert '<a href="/desk/admin/officers">Administration</a>' in queue.text
        page = client.get("/desk/admin/officers")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "Content-Security-Policy" in page.headers
        for email in staff:
            assert email in page.text
        assert "Bo Brown" in page.text


def test_every_admin_post_without_the_csrf_token_changes_nothing(
    live_desk: server.LiveServer, db_url: URL, conn: psycopg.Connection[Any], staff: dict[str, int]
) -> None:
    kiosk = server.enroll(live_desk, db_url, "AGY-002")
    before = _state(conn)
    with desk.sign_in(live_desk, "root@gov.gd") as client:
        for method, path in _admin_routes(staff["bo@gov.gd"], kiosk.device_code):
            if method != "POST":
                continue
            for token in (None, "0" * 64):
                data = _form_for(path)
                if token:
                    data["csrf_token"] = token
                response = client.post(path, data=data)
                assert response.status_code == 403, path
                assert "Nothing was changed" in response.text
    assert _state(conn) == before


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    page = client.get("/desk/admin/officers")
    return client.post(path, data={"csrf_token": desk.csrf_of(page.text), **data})


@pytest.mark.usefixtures("staff")
def test_an_administrator_adds_officers_with_the_rules_of_the_command_line(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    good = {
        "email": " Cleo.Clarke@Gov.GD ",
        "name": "Cleo Clarke",
        "entity": "DEPT-003",
        "role": "supervisor",
        "password": NEW_PASSWORD,
        "again": NEW_PASSWORD,
    }
    with desk.sign_in(live_desk, "root@gov.gd") as client:
        refusals = [
            ({"email": ""}, "Enter the officer&#39;s email address."),
            ({"email": "cleo"}, "is not an email address"),
            ({"email": "ANA@gov.gd"}, "An officer with the email ana@gov.gd exists already"),
            ({"name": "  "}, "The name must not be empty"),
            ({"name": "Cleo\x00"}, "Write the name on one line"),
            ({"entity": ""}, "Choose the entity they work for."),
            ({"entity": "NOPE-1"}, "Choose the entity they work for."),
            ({"entity": "DEPT\x00"}, "Choose the entity they work for."),
            ({"role": "root"}, "Choose a role."),
            ({"password": "short", "again": "short"}, "at least 12 characters"),
            ({"password": "cleo.clarke@gov.gd", "again": "cleo.clarke@gov.gd"}, "must not be the email"),
            ({"password": "x" * 20, "again": "x" * 20}, "one character repeated"),
            ({"again": "something else entirely"}, "The two passwords are not the same."),
        ]
        before = _officers(conn)
        for change, message in refusals:
            response = _post(client, "/desk/admin/officers", **{**good, **change})
            assert response.status_code == 422, change
            assert "There is a problem" in response.text
            assert message in response.text, change
            assert NEW_PASSWORD not in response.text  # passwords are never sent back
            assert response.headers["cache-control"] == "no-store"
        assert _officers(conn) == before

        added = _post(client, "/desk/admin/officers", **good)
        assert added.status_code == 303
        page = client.get(added.headers["location"])
        assert "Officer cleo.clarke@gov.gd added; they sign in with a password." in page.text
        row = conn.execute(
            "SELECT display_name, entity_id, role, active, password_hash IS NOT NULL FROM officers "
            "WHERE email = 'cleo.clarke@gov.gd'"
        ).fetchone()
        assert row == ("Cleo Clarke", "DEPT-003", "supervisor", True, True)

        idp_only = {**good, "email": "dan@gov.gd", "role": "officer", "password": "", "again": ""}
        added = _post(client, "/desk/admin/officers", **idp_only)
        assert added.status_code == 303
        page = client.get(added.headers["location"])
        assert "they sign in through the identity provider" in page.text
        assert "No identity provider is configured here" in page.text
        row = conn.execute("SELECT password_hash FROM officers WHERE email = 'dan@gov.gd'").fetchone()
        assert row == (None,)
    with desk.sign_in(live_desk, "cleo.clarke@gov.gd", NEW_PASSWORD) as cleo:
        assert cleo.get("/desk/").status_code == 200
        assert cleo.get("/desk/admin/officers").status_code == 404  # a supervisor, not an administrator


def test_disabling_ends_the_officers_sessions_and_enabling_lets_them_back(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], staff: dict[str, int]
) -> None:
    bo_id = staff["bo@gov.gd"]
    with desk.sign_in(live_desk, "root@gov.gd") as root, desk.sign_in(live_desk, "bo@gov.gd") as bo:
        assert bo.get("/desk/").status_code == 200
        disabled = _post(root, f"/desk/admin/officers/{bo_id}/disable")
        assert disabled.status_code == 303
        page = root.get(disabled.headers["location"])
        assert "Officer bo@gov.gd disabled: their desk sessions have ended" in page.text
        assert bo.get("/desk/").status_code == 303  # sent to sign in
        assert conn.execute(
            "SELECT count(*) FROM officer_sessions WHERE officer_id = %s", (bo_id,)
        ).fetchone() == (0,)
        again = _post(root, f"/desk/admin/officers/{bo_id}/disable")
        already = root.get(again.headers["location"]).text
        assert "Officer bo@gov.gd was already disabled; nothing changed." in already

        # An administrator cannot disable themselves, nor an officer who does not exist.
        before = _officers(conn)
        own = _post(root, f"/desk/admin/officers/{staff['root@gov.gd']}/disable")
        assert own.status_code == 422
        assert "You cannot disable your own account: ask another administrator." in own.text
        missing = _post(root, "/desk/admin/officers/999999/disable")
        assert missing.status_code == 404
        assert "There is no such officer." in missing.text
        assert _officers(conn) == before
        assert root.get("/desk/").status_code == 200

        enabled = _post(root, f"/desk/admin/officers/{bo_id}/enable")
        assert enabled.status_code == 303
        assert "Officer bo@gov.gd enabled" in root.get(enabled.headers["location"]).text
    with desk.sign_in(live_desk, "bo@gov.gd") as bo:
        assert bo.get("/desk/").status_code == 200


def test_resetting_a_password_applies_the_rules_and_ends_the_officers_sessions(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], staff: dict[str, int]
) -> None:
    bo_id = staff["bo@gov.gd"]
    path = f"/desk/admin/officers/{bo_id}/password"
    with desk.sign_in(live_desk, "root@gov.gd") as root, desk.sign_in(live_desk, "bo@gov.gd") as bo:
        form = root.get(path)
        assert form.status_code == 200
        assert "Reset the password of bo@gov.gd" in form.text
        before = _officers(conn)
        for password, again, message in (
            ("BO@GOV.GD   ", "BO@GOV.GD   ", "must not be the email address"),
            ("short", "short", "at least 12 characters"),
            (NEW_PASSWORD, "not the same one", "The two passwords are not the same."),
        ):
            response = root.post(
                path, data={"csrf_token": desk.csrf_of(form.text), "password": password, "again": again}
            )
            assert response.status_code == 422
            assert message in response.text
        assert _officers(conn) == before
        assert bo.get("/desk/").status_code == 200

        new = {"csrf_token": desk.csrf_of(form.text), "password": NEW_PASSWORD, "again": NEW_PASSWORD}
        reset = root.post(path, data=new)
        assert reset.status_code == 303
        assert "New password set for bo@gov.gd" in root.get(reset.headers["location"]).text
        assert bo.get("/desk/").status_code == 303  # their session ended
        recorded = conn.execute(
            "SELECT outcome FROM officer_sign_ins WHERE officer_id = %s ORDER BY sign_in_id DESC LIMIT 1",
            (bo_id,),
        ).fetchone()
        assert recorded == ("password_reset",)

        # Not for the administrator's own account: that is Your account page, with the current one.
        own = f"/desk/admin/officers/{staff['root@gov.gd']}/password"
        assert root.get(own).status_code == 422
        refused = root.post(own, data=new)
        assert refused.status_code == 422
        assert "This is your own account" in refused.text
        assert root.get("/desk/").status_code == 200
    with desk.sign_in(live_desk, "bo@gov.gd", NEW_PASSWORD) as bo:
        assert bo.get("/desk/").status_code == 200
    with live_desk.client() as client:
        form = client.get("/desk/login")
        old = client.post(
            "/desk/login",
            data={"email": "bo@gov.gd", "password": desk.PASSWORD, "csrf_token": desk.csrf_of(form.text)},
        )
        assert old.status_code == 401


def _enroll(live: server.LiveServer, code: str) -> httpx.Response:
    with live.client() as client:
        return client.post("/api/v1/devices/enroll", json={"enrollment_code": code})


def _catalog(live: server.LiveServer, token: str) -> int:
    with live.client(token) as client:
        return client.get("/api/v1/catalog").status_code


@pytest.mark.usefixtures("staff")
def test_a_kiosk_added_in_the_desk_enrolls_with_the_code_shown_once_and_revoking_stops_it(
    live_desk: server.LiveServer,
    conn: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with desk.sign_in(live_desk, "root@gov.gd") as root:
        page = root.get("/desk/admin/devices")
        assert "No kiosks yet." in page.text
        token = desk.csrf_of(page.text)
        added = root.post(
            "/desk/admin/devices",
            data={"csrf_token": token, "name": "Passport office, counter 2", "entity": "AGY-002"},
        )
        assert added.status_code == 200
        assert added.headers["cache-control"] == "no-store"
        assert "location" not in added.headers
        code = _code_of(added.text)
        assert "This code is shown only once." in added.text
        assert f"gea-kiosk enroll --server {live_desk.settings.public_base_url} --code {code}" in added.text
        kiosks = _kiosks(conn)
        assert len(kiosks) == 1
        device_code, name, entity, active, token_hash, code_hash, _expires = kiosks[0]
        assert (name, entity, active, token_hash) == ("Passport office, counter 2", "AGY-002", False, None)
        assert code_hash == security.enrollment_code_digest(code)
        fleet = root.get("/desk/admin/devices")
        assert code not in fleet.text
        assert device_code in fleet.text
        assert "awaiting enrollment" in fleet.text

        enrolled = _enroll(live_desk, code)
        assert enrolled.status_code == 200
        first_token = enrolled.json()["device_token"]
        assert enrolled.json()["device_code"] == device_code
        assert _catalog(live_desk, first_token) == 200
        assert _enroll(live_desk, code).status_code == 400  # single use

        # Re-enrolling: a new code; the current token works until the new code is used.
        again = root.post(f"/desk/admin/devices/{device_code.lower()}/reenroll", data={"csrf_token": token})
        assert again.status_code == 200
        second = _code_of(again.text)
        assert second != code
        assert "its old token stops working when this code is used" in again.text
        assert _catalog(live_desk, first_token) == 200
        reenrolled = _enroll(live_desk, second)
        assert reenrolled.status_code == 200
        assert _catalog(live_desk, first_token) == 401
        second_token = reenrolled.json()["device_token"]
        assert _catalog(live_desk, second_token) == 200

        # Revoking asks first; without the box ticked nothing happens.
        confirm = root.get(f"/desk/admin/devices/{device_code}/revoke")
        assert confirm.status_code == 200
        assert f"Revoke kiosk {device_code}" in confirm.text
        unticked = root.post(f"/desk/admin/devices/{device_code}/revoke", data={"csrf_token": token})
        assert unticked.status_code == 422
        assert "Tick the box to confirm" in unticked.text
        assert _catalog(live_desk, second_token) == 200
        revoked = root.post(
            f"/desk/admin/devices/{device_code}/revoke", data={"csrf_token": token, "confirm": "yes"}
        )
        assert revoked.status_code == 303
        assert f"Kiosk {device_code} revoked" in root.get(revoked.headers["location"]).text
        assert _catalog(live_desk, second_token) == 401
        assert "<td>revoked</td>" in root.get("/desk/admin/devices").text
    for secret in (code, second, first_token, second_token):
        assert secret not in caplog.text


@pytest.mark.usefixtures("staff")
def test_bad_kiosk_input_gets_a_page_with_the_reason_not_a_500(
    live_desk: server.LiveServer, db_url: URL, conn: psycopg.Connection[Any]
) -> None:
    kiosk = server.enroll(live_desk, db_url, "AGY-002")
    before = _kiosks(conn)
    with desk.sign_in(live_desk, "root@gov.gd") as root:
        token = desk.csrf_of(root.get("/desk/admin/devices").text)
        for data, message in (
            ({"name": " ", "entity": "AGY-002"}, "Enter where the kiosk stands"),
            ({"name": "Hall\x00", "entity": "AGY-002"}, "Write the name on one line"),
            ({"name": "Hall", "entity": ""}, "Choose the entity the kiosk serves."),
            ({"name": "Hall", "entity": "NOPE\x00"}, "Choose the entity the kiosk serves."),
        ):
            response = root.post("/desk/admin/devices", data={"csrf_token": token, **data})
            assert response.status_code == 422, data
            assert "There is a problem" in response.text
            assert message in response.text
        for code in ("K9999", "%00", "K%0A1", "x" * 300):
            for path in (f"/desk/admin/devices/{code}/reenroll", f"/desk/admin/devices/{code}/revoke"):
                response = root.post(path, data={"csrf_token": token, "confirm": "yes"})
                assert response.status_code == 404, path
                assert "Check the list of kiosks." in response.text
            assert root.get(f"/desk/admin/devices/{code}/revoke").status_code == 404
        assert kiosk.device_code in root.get("/desk/admin/devices").text
    assert _kiosks(conn) == before


def test_the_admin_pages_messages_have_spanish() -> None:
    texts = {
        *admin.OFFICER_NOTICES.values(),
        *admin.DEVICE_NOTICES.values(),
        *admin.MESSAGES,
        admin.NO_IDENTITY_PROVIDER,
        # What the services and the fleet say that the pages show as they are.
        *("password", "identity provider", "both", "none yet", "active", "pending", "revoked"),
    }
    # And every text the routes pass to _ themselves.
    source = Path(admin.__file__).read_text("utf-8")
    texts.update(m.group(1) for m in re.finditer(r'_\(\s*"([^"]+)"', source))
    assert len(texts) > 25
    assert sorted(text for text in texts if text not in i18n.SPANISH) == []


@pytest.mark.usefixtures("staff")
def test_the_admin_pages_speak_spanish(live_desk: server.LiveServer) -> None:
    with desk.sign_in(live_desk, "root@gov.gd") as root:
        root.cookies.set("gea_desk_lang", "es", path="/desk")
        officers = root.get("/desk/admin/officers")
        assert '<html lang="es">' in officers.text
        assert "Añadir un funcionario" in officers.text
        assert "Administración" in officers.text
        weak = root.post(
            "/desk/admin/officers",
            data={
                "csrf_token": desk.csrf_of(officers.text),
                "email": "eva@gov.gd",
                "name": "Eva",
                "entity": "DEPT-003",
                "role": "officer",
                "password": "short",
                "again": "short",
            },
        )
        assert weak.status_code == 422
        assert "La contraseña debe tener al menos 12 caracteres" in weak.text
        assert "Añadir un quiosco" in root.get("/desk/admin/devices").text
