"""POST /api/v1/public/feedback over real HTTP (ARCHITECTURE 4.10 and 5): references made by
the server, the per-address rules at and around every threshold, the CAPTCHA's single use and
expiry, posters unknown and retired, and bodies no client should send."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.protocol import REFERENCE_CODE_PATTERN
from tests.helpers import pg
from tests.helpers.public import POSTER, POSTER_SERVICE, citizen, serve_public, solve, tampered
from tests.helpers.server import LiveServer

URL_PATH = "/api/v1/public/feedback"
WEB_REFERENCE = re.compile(r"^WEB-[0-9]{6}-[0-9A-HJKMNP-TV-Z]{8}$")


@pytest.fixture
def live(db_url: URL) -> Iterator[LiveServer]:
    with serve_public(db_url) as server:
        yield server


def body(**changes: Any) -> dict[str, Any]:
    return {"service_id": "SVC-002", "rating": 4, **changes}


def send(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    return client.post(URL_PATH, json=payload)


def accepted_through_captcha(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    first = send(client, payload)
    assert first.status_code == 400, first.text
    assert first.json()["error"]["code"] == "captcha_required"
    return send(client, {**payload, "captcha": solve(first.json()["error"]["challenge"])})


def attempts(db_url: URL) -> list[tuple[str, bool, str]]:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        rows = conn.execute(
            "SELECT ip_address, success, error_message FROM submission_attempts "
            "WHERE attempt_type = 'public_feedback' ORDER BY attempt_id"
        ).fetchall()
    return [(str(a), bool(b), str(c)) for a, b, c in rows]


def test_a_portal_submission_gets_a_web_reference_and_its_status_page(live: LiveServer, db_url: URL) -> None:
    with citizen(live, "203.0.113.10") as client:
        response = send(client, body(feedback_text="  Quick and kind.  ", service_quality=5, language="es"))
        assert response.status_code == 201, response.text
        reference = response.json()["reference_code"]
        assert WEB_REFERENCE.fullmatch(reference)
        assert re.fullmatch(REFERENCE_CODE_PATTERN, reference)
        assert response.json()["status_url"] == f"https://feedback.example.gd/s/{reference}?lang=es"
        status = client.get(f"/api/v1/status/{reference}")
        assert status.status_code == 200
        assert status.json()["status"] == "received"
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        row = conn.execute(
            "SELECT channel, device_id, qr_code_id, ip_hash IS NOT NULL, feedback_text, service_quality "
            "FROM service_feedback WHERE reference_code = %s",
            (reference,),
        ).fetchone()
    assert row == ("portal", None, None, True, "Quick and kind.", 5)
    assert attempts(db_url) == [("203.0.113.10", True, "created")]


def test_a_poster_submission_is_a_qr_code_one_and_a_complaint_makes_a_ticket(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "203.0.113.11") as client:
        response = send(
            client,
            body(service_id=POSTER_SERVICE, qr_code_value=POSTER, rating=2, grievance_flag=True),
        )
        assert response.status_code == 201, response.text
        reference = response.json()["reference_code"]
        status = client.get(f"/api/v1/status/{reference}").json()
    assert status["ticket_number"] is not None
    assert status["status"] == "open"
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        channel, received = conn.execute(
            "SELECT f.channel, q.feedback_received FROM service_feedback f "
            "JOIN qr_codes q ON q.qr_code_id = f.qr_code_id WHERE f.reference_code = %s",
            (reference,),
        ).fetchone() or (None, None)
        performance = conn.execute(
            "SELECT feedback_received FROM v_qr_performance WHERE qr_code_value = %s", (POSTER,)
        ).fetchone()
    assert (channel, received) == ("qr_code", 1)
    assert performance == (1,)


def test_the_rules_at_and_around_every_threshold_with_two_addresses_interleaved(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "198.51.100.1") as a, citizen(live, "198.51.100.2") as b:
        # 1st and 2nd of each are free, interleaved.
        for client in (a, b, a, b):
            assert send(client, body()).status_code == 201
        # 3rd, 4th, 5th need a CAPTCHA, each its own.
        for _ in range(3):
            assert accepted_through_captcha(a, body()).status_code == 201
            assert accepted_through_captcha(b, body()).status_code == 201
        # 6th: refused, with a solved CAPTCHA or without, and refusals do not count.
        for client in (a, b):
            refused = send(client, body())
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "rate_limited"
            retry = int(refused.headers["Retry-After"])
            assert 3500 < retry <= 3601
        # A third address is untouched by the other two.
        with citizen(live, "198.51.100.3") as c:
            assert send(c, body()).status_code == 201
    outcomes = [outcome for address, _, outcome in attempts(db_url) if address == "198.51.100.1"]
    assert outcomes == ["created", "created"] + ["captcha_required", "created"] * 3 + ["rate_limited"]


def test_a_place_in_the_hour_frees_up_as_the_oldest_submission_leaves_it(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "198.51.100.20") as client:
        for _ in range(2):
            assert send(client, body()).status_code == 201
        for _ in range(3):
            assert accepted_through_captcha(client, body()).status_code == 201
        assert send(client, body()).status_code == 429
        # The oldest accepted one is now 61 minutes old: one place is free again, with a CAPTCHA.
        with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
            conn.execute(
                "UPDATE submission_rate_limit SET window_start = now() - interval '61 minutes' "
                "WHERE rate_limit_id = (SELECT min(rate_limit_id) FROM submission_rate_limit)"
            )
        assert accepted_through_captcha(client, body()).status_code == 201
        assert send(client, body()).status_code == 429


def test_an_ipv6_network_counts_as_one_address(live: LiveServer) -> None:
    with citizen(live, "2001:db8:5:1::1") as one, citizen(live, "2001:db8:5:1::ffff") as same_64:
        assert send(one, body()).status_code == 201
        assert send(same_64, body()).status_code == 201
        assert send(one, body()).json()["error"]["code"] == "captcha_required"
    with citizen(live, "2001:db8:5:2::1") as other_64:
        assert send(other_64, body()).status_code == 201


def test_a_challenge_is_single_use_and_bound_to_its_address(live: LiveServer) -> None:
    with citizen(live, "192.0.2.50") as a, citizen(live, "192.0.2.51") as b:
        for client in (a, a, b, b):
            assert send(client, body()).status_code == 201
        challenge = send(a, body()).json()["error"]["challenge"]
        payload = solve(challenge)
        # Another address cannot spend a's solution.
        stolen = send(b, body(captcha=payload))
        assert stolen.status_code == 400
        assert stolen.json()["error"]["code"] == "captcha_invalid"
        assert "challenge" in stolen.json()["error"]
        assert send(a, body(captcha=payload)).status_code == 201
        replayed = send(a, body(captcha=payload))
        assert replayed.status_code == 400
        assert replayed.json()["error"]["code"] == "captcha_invalid"
        fresh = replayed.json()["error"]["challenge"]
        assert fresh["parameters"]["nonce"] != challenge["parameters"]["nonce"]


def test_wrong_garbled_and_expired_solutions_are_refused_with_a_fresh_challenge(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "192.0.2.60") as client:
        for _ in range(2):
            assert send(client, body()).status_code == 201
        challenge = send(client, body()).json()["error"]["challenge"]
        payload = solve(challenge)
        for bad in (tampered(payload), "not base64 at all!", "eyJhIjoxfQ=="):
            refused = send(client, body(captcha=bad))
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["code"] == "captcha_invalid"
        # The database says the challenge has expired (the library's own clock says not yet).
        with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
            conn.execute(
                "UPDATE captcha_challenges SET expires_at = now() - interval '1 second' "
                "WHERE challenge_code = %s",
                (challenge["parameters"]["nonce"],),
            )
        expired = send(client, body(captcha=payload))
        assert expired.status_code == 400
        assert expired.json()["error"]["code"] == "captcha_invalid"
        assert send(client, body(captcha=solve(expired.json()["error"]["challenge"]))).status_code == 201


def test_the_same_client_uuid_answers_the_first_reference_and_counts_once(
    live: LiveServer, db_url: URL
) -> None:
    key = str(uuid.uuid4())
    with citizen(live, "192.0.2.70") as client:
        first = send(client, body(client_uuid=key))
        again = send(client, body(client_uuid=key, rating=1))
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["reference_code"] == first.json()["reference_code"]
        # Only one counted: the next is still free.
        assert send(client, body()).status_code == 201
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        count = conn.execute(
            "SELECT count(*) FROM service_feedback WHERE client_uuid = %s", (key,)
        ).fetchone()
    assert count == (1,)


def test_posters_unknown_retired_or_for_another_service(live: LiveServer, db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        conn.execute("UPDATE qr_codes SET is_active = FALSE WHERE qr_code_value = 'QR-SVC002-GRENVILLE'")
    with citizen(live, "192.0.2.80") as client:
        unknown = send(client, body(qr_code_value="NO-SUCH-POSTER"))
        retired = send(client, body(service_id="SVC-002", qr_code_value="QR-SVC002-GRENVILLE"))
        mismatch = send(client, body(service_id="SVC-003", qr_code_value=POSTER))
        lower = send(client, body(service_id=POSTER_SERVICE, qr_code_value=POSTER.lower()))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_qr_code")
    assert (retired.status_code, retired.json()["error"]["code"]) == (410, "qr_code_inactive")
    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (422, "qr_code_service_mismatch")
    assert lower.status_code == 201  # a value typed in lower case is the printed one


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (body(rating=6), "invalid_request"),
        (body(rating=0), "invalid_request"),
        (body(rating="5"), "invalid_request"),
        (body(waiting_time=9), "invalid_request"),
        (body(feedback_text="x" * 2001), "invalid_request"),
        (body(feedback_text="a\x00b"), "invalid_request"),
        (body(service_id="SVC-999"), "unknown_service"),
        ({"rating": 4}, "invalid_request"),
        (body(extra_field=1), "invalid_request"),
        (body(language="fr"), "invalid_request"),
        (body(client_uuid="not-a-uuid"), "invalid_request"),
        ([1, 2, 3], "invalid_request"),
    ],
)
def test_bad_bodies_get_a_clear_422_and_store_nothing(
    live: LiveServer, db_url: URL, payload: Any, code: str
) -> None:
    with citizen(live, "192.0.2.90") as client:
        response = client.post(URL_PATH, json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        stored = conn.execute("SELECT count(*) FROM service_feedback WHERE channel = 'portal'").fetchone()
    assert stored == (0,)
    assert attempts(db_url) == [("192.0.2.90", False, code)]


def test_malformed_oversize_and_wrong_type_bodies(live: LiveServer) -> None:
    with citizen(live, "192.0.2.91") as client:
        malformed = client.post(URL_PATH, content=b"{not json", headers={"Content-Type": "application/json"})
        oversize = client.post(
            URL_PATH, content=b"{" + b" " * (70 * 1024) + b"}", headers={"Content-Type": "application/json"}
        )
        form = client.post(URL_PATH, data={"service_id": "SVC-002", "rating": "4"})
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "malformed_json")
    assert (oversize.status_code, oversize.json()["error"]["code"]) == (413, "payload_too_large")
    assert (form.status_code, form.json()["error"]["code"]) == (415, "unsupported_media_type")
