"""What `gea-server osticket-push` sends to osTicket and what it makes of each answer or failure
(server_sync_api/services/osticket_api.py); the whole path over HTTP is in
tests/integration/test_osticket.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from server_sync_api.core.config import ServerSettings
from server_sync_api.services import osticket_api
from server_sync_api.services.osticket_api import Endpoint, OsticketNotConfigured, TicketFacts

KEY = "0123456789ABCDEF0123456789ABCDEF"
NUMBER = "202612-000123"


def settings(**values: Any) -> ServerSettings:
    base: dict[str, Any] = {
        "database_url": "postgresql://postgres@127.0.0.1/feedback",
        "public_base_url": "https://feedback.gov.gd",
        "osticket_url": "https://helpdesk.gov.gd/support",
        "osticket_api_key": KEY,
    }
    return ServerSettings(**{**base, **values})


def sender() -> Endpoint:
    return osticket_api.endpoint(settings())


def ticket(**values: Any) -> TicketFacts:
    base: dict[str, Any] = {
        "ticket_number": NUMBER,
        "title": "Grievance: Passport Renewal",
        "description": "Three hours in line.",
        "service_name": "Passport Renewal",
        "entity_id": "AGY-002",
        "entity_name": "Passport Office",
        "priority_name": "High",
        "category_name": "Waiting time",
        "created_at": datetime(2026, 12, 4, 19, 0, tzinfo=UTC),
        "response_target": datetime(2026, 12, 4, 22, 0, tzinfo=UTC),
        "resolution_target": None,
    }
    return TicketFacts(**{**base, **values})


# --- settings ----------------------------------------------------------------------------------


def test_the_endpoint_is_the_api_under_osticket_s_address() -> None:
    found = sender()
    assert found.url == "https://helpdesk.gov.gd/support/api/tickets.json"
    assert (found.sender_name, found.sender_email) == ("GEA Citizen Feedback", "feedback@feedback.gov.gd")
    assert KEY not in repr(found)


def test_the_sender_comes_from_the_osticket_email_setting_with_its_name() -> None:
    found = osticket_api.endpoint(settings(osticket_email="Ministry Feedback <feedback@gov.gd>"))
    assert (found.sender_name, found.sender_email) == ("Ministry Feedback", "feedback@gov.gd")


@pytest.mark.parametrize("base", ["http://127.0.0.1:8000", "http://localhost:8000", "https://[::1]"])
def test_no_sender_address_from_a_host_that_is_no_mail_domain(base: str) -> None:
    # Refused with the settings, before any push: every command says it at once.
    with pytest.raises(ValidationError, match="GEA_SERVER_OSTICKET_EMAIL is needed"):
        settings(public_base_url=base)


def test_without_osticket_settings_the_message_says_what_to_set() -> None:
    with pytest.raises(OsticketNotConfigured, match="GEA_SERVER_OSTICKET_URL"):
        osticket_api.endpoint(settings(osticket_url=None, osticket_api_key=None))


def test_a_key_with_spaces_is_refused_without_being_shown() -> None:
    with pytest.raises(OsticketNotConfigured) as refused:
        osticket_api.endpoint(settings(osticket_api_key=KEY + " \n"))
    assert KEY not in str(refused.value)


def test_the_shown_address_drops_credentials_in_the_url() -> None:
    found = osticket_api.endpoint(settings(osticket_url="https://admin:hunter2@helpdesk.gov.gd:8443"))
    assert found.shown_url == "https://helpdesk.gov.gd:8443/api/tickets.json"


# --- what is sent ------------------------------------------------------------------------------


def test_the_payload_has_osticket_s_fields_and_no_others() -> None:
    body = osticket_api.payload(ticket(), sender(), settings(timezone="America/Grenada"))
    assert set(body) == {"name", "email", "subject", "message", "source", "alert", "autorespond"}
    assert body["subject"] == f"[GEA {NUMBER}] Grievance: Passport Renewal"
    message = str(body["message"])
    assert message.startswith("data:text/html;charset=utf-8,<p>")
    assert "<tr><th>First response due</th><td>2026-12-04 18:00 (America/Grenada)</td></tr>" in message
    assert "<tr><th>Resolution due</th><td>not set</td></tr>" in message
    assert "Three hours in line." in message
    assert f"https://feedback.gov.gd/desk/tickets/{NUMBER}" in message


def test_a_ticket_without_a_comment_says_so() -> None:
    html = osticket_api.message_html(ticket(description="  "), settings())
    assert "The citizen wrote no comment." in html


# --- what answers mean -------------------------------------------------------------------------


def answer(status: int, body: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(status, text=body, headers=headers)


def test_201_is_sent_with_osticket_s_number() -> None:
    outcome = osticket_api.from_response(answer(201, "482913\n"), sender(), NUMBER)
    assert (outcome.verdict, outcome.remote_id) == ("sent", "482913")


@pytest.mark.parametrize("body", ["", "x" * 51, "<html><body>Created</body></html>"])
def test_201_without_a_usable_number_is_parked(body: str) -> None:
    outcome = osticket_api.from_response(answer(201, body), sender(), NUMBER)
    assert outcome.verdict == "parked"
    assert outcome.error is not None
    assert "--mark-sent" in outcome.error


@pytest.mark.parametrize(
    ("status", "body", "verdict", "stop", "words"),
    [
        (301, "", "retry", True, "redirecting to https://helpdesk.gov.gd/x"),
        (401, "Valid API key required", "retry", True, "IP Address"),
        (401, "API key not found/active or source IP not authorized", "retry", True, "Active"),
        (401, "API key not authorized", "retry", True, "Can Create Tickets"),
        (403, "Ticket denied", "retry", False, "banlist"),
        (404, "Not Found", "retry", True, "No osTicket API at https://helpdesk.gov.gd/support"),
        (400, "URL not supported", "retry", True, "api/.htaccess"),
        (400, "Syntax error, malformed JSON", "retry", False, "malformed JSON"),
        (500, "Unable to create new ticket :unknown error", "retry", False, "unknown error"),
        (500, "You've reached the maximum open tickets allowed.", "retry", False, "Maximum Open Tickets"),
        (503, "", "retry", True, "unavailable"),
        (502, "Bad Gateway", "parked", False, f"look for [GEA {NUMBER}]"),
        (504, "Gateway Time-out", "parked", False, "may still have created"),
    ],
)
def test_each_answer_has_its_outcome_and_words_for_it(
    status: int, body: str, verdict: str, stop: bool, words: str
) -> None:
    outcome = osticket_api.from_response(
        answer(status, body, location="https://helpdesk.gov.gd/x"), sender(), NUMBER
    )
    assert (outcome.verdict, outcome.stop_run) == (verdict, stop)
    assert outcome.error is not None
    assert words in outcome.error
    assert f"HTTP {status}" in outcome.error


def test_an_answer_s_control_characters_and_the_key_do_not_reach_the_error() -> None:
    outcome = osticket_api.from_response(answer(400, f"bad\x1b[31m\nkey {KEY}"), sender(), NUMBER)
    assert outcome.error is not None
    assert "\x1b" not in outcome.error
    assert "\n" not in outcome.error
    assert KEY not in outcome.error
    assert "[API key]" in outcome.error


REQUEST = httpx.Request("POST", "https://helpdesk.gov.gd/api/tickets.json")


@pytest.mark.parametrize(
    ("error", "verdict", "stop"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST), "retry", True),
        (httpx.ConnectTimeout("timed out", request=REQUEST), "retry", True),
        (httpx.WriteError("Broken pipe", request=REQUEST), "retry", False),
        (httpx.ReadTimeout("timed out", request=REQUEST), "parked", False),
        (httpx.ReadError("Connection reset by peer", request=REQUEST), "parked", False),
        (httpx.RemoteProtocolError("Server disconnected", request=REQUEST), "parked", False),
    ],
)
def test_a_request_that_never_left_is_retried_and_one_that_may_have_arrived_is_parked(
    error: httpx.TransportError, verdict: str, stop: bool
) -> None:
    outcome = osticket_api.from_error(error, sender(), NUMBER)
    assert (outcome.verdict, outcome.stop_run) == (verdict, stop)


def test_a_request_httpx_refused_to_make_does_not_repeat_its_words() -> None:
    error = httpx.LocalProtocolError(f"Illegal header value {KEY!r}", request=REQUEST)
    outcome = osticket_api.from_error(error, sender(), NUMBER)
    assert (outcome.verdict, outcome.stop_run) == ("retry", True)
    assert outcome.error is not None
    assert "Illegal" not in outcome.error
