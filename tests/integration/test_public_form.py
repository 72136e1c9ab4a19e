"""The public form's pages over real HTTP: /q/{value} and /feedback answer every outcome as a
page (never JSON, never a trace), count scans, keep what the citizen typed when something is
wrong, and follow the per-address rules of the JSON API. The browser tests drive the same
pages in Chromium; these cover the cases a browser would not send."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.helpers import pg
from tests.helpers.public import POSTER, citizen, serve_public, solve
from tests.helpers.server import LiveServer

PAGE = f"/q/{POSTER}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REFERENCE = re.compile(r"WEB-[0-9]{6}-[0-9A-HJKMNP-TV-Z]{8}")


@pytest.fixture
def live(db_url: URL) -> Iterator[LiveServer]:
    with serve_public(db_url) as server:
        yield server


def form(**changes: str) -> dict[str, str]:
    return {"rating": "4", "client_uuid": str(uuid.uuid4()), "lang": "en", **changes}


def scans(db_url: URL, value: str = POSTER) -> int:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        row = conn.execute("SELECT scan_count FROM qr_codes WHERE qr_code_value = %s", (value,)).fetchone()
    assert row is not None
    return int(row[0])


def stored(db_url: URL, sql: str = "SELECT count(*) FROM service_feedback WHERE ip_hash IS NOT NULL") -> Any:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def challenge_of(page: str) -> dict[str, Any]:
    found = re.search(r'<altcha-widget[^>]* challenge="([^"]+)"', page)
    assert found, "the page has no CAPTCHA widget"
    challenge: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return challenge


def is_page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    return response.text


def test_opening_a_poster_counts_a_scan_and_shows_its_service(live: LiveServer, db_url: URL) -> None:
    before = scans(db_url)
    with citizen(live, "203.0.113.1") as client:
        page = is_page(client.get(PAGE), 200)
    assert scans(db_url) == before + 1
    with citizen(live, "203.0.113.1") as client:
        switched = is_page(client.get(PAGE, params={"lang": "es"}), 200)
    assert scans(db_url) == before + 1  # the language link is the same visit, not a new scan
    assert f'href="/q/{POSTER}?lang=en"' in switched
    assert "How was Passport Application and Renewal?" in page
    assert "Immigration and Passport Office" in page
    assert "<script" not in page  # no CAPTCHA needed: the page works without JavaScript
    assert 'html lang="en"' in page


def test_the_citizen_language_comes_from_the_link_or_the_browser(live: LiveServer) -> None:
    with citizen(live, "203.0.113.2") as client:
        by_link = is_page(client.get(PAGE, params={"lang": "es"}), 200)
        by_browser = is_page(client.get(PAGE, headers={"Accept-Language": "es-419,es;q=0.9"}), 200)
        english = is_page(client.get(PAGE, headers={"Accept-Language": "fr-FR"}), 200)
    for page in (by_link, by_browser):
        assert 'html lang="es"' in page
        assert "¿Cómo fue su experiencia con Passport Application and Renewal?" in page
        assert "Enviar opinión" in page
    assert "Send feedback" in english


def test_unknown_and_retired_posters_are_pages_that_say_what_to_do(live: LiveServer, db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        conn.execute("UPDATE qr_codes SET is_active = FALSE WHERE qr_code_value = 'QR-SVC002-GRENVILLE'")
        conn.execute("UPDATE service_master SET is_active = FALSE WHERE service_id = 'SVC-003'")
    with citizen(live, "203.0.113.3") as client:
        unknown = is_page(client.get("/q/NO-SUCH-POSTER"), 404)
        nul = is_page(client.get("/q/%00"), 404)
        retired = is_page(client.get("/q/QR-SVC002-GRENVILLE"), 410)
        withdrawn = is_page(client.get("/q/QR-SVC003-REGISTRY"), 410)
        posted = is_page(client.post("/q/QR-SVC002-GRENVILLE", data=form()), 410)
        spanish = is_page(client.get("/q/NO-SUCH-POSTER?lang=es"), 404)
    assert "We do not know this code" in unknown
    assert 'href="/feedback' in unknown
    assert "We do not know this code" in nul
    for page in (retired, withdrawn, posted):
        assert "This poster is no longer in use" in page
    assert 'href="/feedback?lang=en&amp;service=SVC-002"' in retired  # still offered: the portal
    assert "is no longer offered here" in withdrawn  # not offered: no dead-end link to it
    assert "service=SVC-003" not in withdrawn
    assert "No conocemos este código" in spanish
    assert scans(db_url, "QR-SVC002-GRENVILLE") == 0  # a retired poster counts no scans
    assert stored(db_url) == 0


def test_a_submission_shows_its_reference_and_a_reload_does_not_send_it_twice(
    live: LiveServer, db_url: URL
) -> None:
    data = form(rating="1", feedback_text="Waited three hours.", grievance_flag="yes", cleanliness="2")
    with citizen(live, "203.0.113.4") as client:
        first = is_page(client.post(PAGE, data=data), 200)
        again = is_page(client.post(PAGE, data=data), 200)  # the browser's reload
    reference = REFERENCE.search(first)
    assert reference is not None
    assert "Feedback received" in first
    assert f'href="/s/{reference.group(0)}"' in first
    assert f'class="lang" href="/s/{reference.group(0)}?lang=es"' in first  # keeps the reference
    assert re.search(r"as ticket [0-9]{6}-[0-9]{6}", first)
    assert REFERENCE.search(again) is not None
    assert REFERENCE.search(again).group(0) == reference.group(0)  # type: ignore[union-attr]
    row = stored(
        db_url,
        "SELECT array[channel, feedback_text, cleanliness::text, grievance_flag::text] "
        "FROM service_feedback WHERE ip_hash IS NOT NULL",
    )
    assert row == ["qr_code", "Waited three hours.", "2", "true"]
    assert stored(db_url) == 1


def test_a_form_with_problems_comes_back_with_an_error_summary_and_what_was_typed(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "203.0.113.5") as client:
        no_rating = is_page(client.post(PAGE, data=form(rating="", feedback_text="<b>Rude</b> & slow")), 422)
        too_long = is_page(client.post(PAGE, data=form(feedback_text="x" * 2001)), 422)
        out_of_range = is_page(client.post(PAGE, data=form(waiting_time="9")), 422)
        spanish = is_page(client.post(PAGE, data=form(rating="", lang="es")), 422)
    assert "There is a problem" in no_rating
    assert 'href="#rating-1"' in no_rating
    assert "&lt;b&gt;Rude&lt;/b&gt; &amp; slow" in no_rating  # kept, escaped
    assert "<b>Rude</b>" not in no_rating
    assert "shorten it to 2,000 or fewer" in too_long
    assert "Choose a number from 1 to 5." in out_of_range
    assert "Hay un problema" in spanish
    assert "<title>Error:" in no_rating
    assert stored(db_url) == 0


def test_posts_from_another_site_or_not_as_a_form_are_refused(live: LiveServer, db_url: URL) -> None:
    with citizen(live, "203.0.113.6") as client:
        cross_site = client.post(PAGE, data=form(), headers={"Sec-Fetch-Site": "cross-site"})
        other_origin = client.post(PAGE, data=form(), headers={"Origin": "https://evil.example"})
        as_json = client.post(PAGE, json=form())
        oversize = client.post(PAGE, data=form(feedback_text="x" * 70_000))
    assert "This form was sent from another site" in is_page(cross_site, 403)
    is_page(other_origin, 403)
    is_page(as_json, 415)
    assert "Your comment is too long" in is_page(oversize, 413)
    with citizen(live, "203.0.113.6") as client:
        crowded = client.post(PAGE, content="&".join(f"f{i}=x" for i in range(50)), headers=FORM)
        odd_digit = client.post(PAGE, data=form(rating="²"))
    assert "We could not read the form" in is_page(crowded, 400)
    assert "Choose a number from 1 to 5." in is_page(odd_digit, 422)
    assert stored(db_url) == 0
    outcomes = stored(
        db_url,
        "SELECT array_agg(error_message ORDER BY attempt_id) FROM submission_attempts "
        "WHERE attempt_type = 'public_feedback'",
    )
    assert outcomes == [
        "cross_site_request",
        "cross_site_request",
        "unsupported_media_type",
        "payload_too_large",
        "invalid_request",
        "invalid_request",
    ]


def test_the_third_needs_the_captcha_and_the_sixth_is_refused_with_a_page(
    live: LiveServer, db_url: URL
) -> None:
    with citizen(live, "203.0.113.7") as client:
        for _ in range(2):
            assert "<altcha-widget" not in is_page(client.get(PAGE), 200)
            is_page(client.post(PAGE, data=form()), 200)
        for _ in range(3):
            page = is_page(client.get(PAGE), 200)
            assert "Confirm you are a person" in page
            assert '<script type="module" src="/public/static/altcha/altcha.min.js">' in page
            unsolved = is_page(client.post(PAGE, data=form(feedback_text="Kept")), 400)
            assert "Tick the box to confirm you are a person" in unsolved
            assert "Kept</textarea>" in unsolved
            payload = solve(challenge_of(unsolved))
            is_page(client.post(PAGE, data=form(altcha=payload)), 200)
        refused_page = client.get(PAGE)
        refused_post = client.post(PAGE, data=form(feedback_text="Please keep this comment"))
    assert "Please try again later" in is_page(refused_page, 429)
    assert 3500 < int(refused_page.headers["Retry-After"]) <= 3601
    text = is_page(refused_post, 429)
    assert "Please keep this comment" in text
    assert "Retry-After" in refused_post.headers
    assert stored(db_url) == 5


def test_the_portal_picks_a_service_and_stores_a_portal_submission(live: LiveServer, db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        conn.execute("UPDATE service_master SET is_active = FALSE WHERE service_id = 'SVC-003'")
        closed_office = conn.execute(
            "UPDATE entity_master SET is_active = FALSE WHERE unique_entity_id = "
            "(SELECT entity_id FROM service_master WHERE service_id = 'SVC-006') RETURNING 1"
        ).fetchone()
    assert closed_office is not None
    with citizen(live, "203.0.113.8") as client:
        closed = is_page(client.post("/feedback", data=form(service_id="SVC-006")), 422)
        assert 'value="SVC-006"' not in is_page(client.get("/feedback"), 200)
        page = is_page(client.get("/feedback", params={"service": "SVC-002"}), 200)
        missing = is_page(client.post("/feedback", data=form()), 422)
        withdrawn = is_page(client.post("/feedback", data=form(service_id="SVC-003")), 422)
        no_rating = is_page(client.post("/feedback", data=form(service_id="SVC-002", rating="")), 422)
        sent = is_page(client.post("/feedback", data=form(service_id="SVC-002")), 200)
    assert '<optgroup label="' in page
    assert '<option value="SVC-002" selected>' in page
    assert 'href="/feedback?service=SVC-002&amp;lang=es"' in page  # the language link keeps the choice
    assert 'value="SVC-003"' not in page
    assert "Choose the service you used." in missing
    assert 'href="#service_id"' in missing
    assert "Choose the service you used." in withdrawn
    assert "Choose the service you used." in closed  # its office is closed: not listed, not taken
    # The portal's page comes back with its picker and the service still chosen.
    assert '<option value="SVC-002" selected>' in no_rating
    assert "Give feedback on a service" in no_rating
    assert "Feedback received" in sent
    assert stored(db_url, "SELECT array_agg(channel) FROM service_feedback WHERE ip_hash IS NOT NULL") == [
        "portal"
    ]


def test_the_pages_files_are_compressed_and_cached(live: LiveServer) -> None:
    with citizen(live, "203.0.113.9") as client:
        widget = client.get("/public/static/altcha/altcha.min.js", headers={"Accept-Encoding": "gzip"})
        with client.stream(
            "GET", "/public/static/altcha/altcha.min.js", headers={"Accept-Encoding": "gzip"}
        ) as raw:
            sent = len(b"".join(raw.iter_raw()))
        style = client.get("/public/static/public.css", headers={"Accept-Encoding": "identity"})
        page = client.get(PAGE, headers={"Accept-Encoding": "gzip"})
    assert widget.status_code == 200
    assert widget.headers["content-encoding"] == "gzip"
    assert sent < len(widget.content) / 2  # 30 KB for 83 KB
    assert widget.headers["cache-control"] == "public, max-age=86400"
    assert "content-encoding" not in style.headers
    assert "customElements" in widget.text or "altcha" in widget.text
    # Pages are not compressed: they reflect what a citizen typed (BREACH), and are small.
    assert "content-encoding" not in page.headers
    assert page.headers["cache-control"] == "no-store"
