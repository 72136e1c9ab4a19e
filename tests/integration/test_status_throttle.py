"""Status look-ups that cannot be mined (issue 15, ARCHITECTURE 5 "Status"): per client address
(an IPv6 address by its /64), at most 30 misses in 10 minutes, then 429 `rate_limited` with
Retry-After, for the status API, the status page and both "not resolved" posts, one count for
all four; a throttled answer is the same for a known code and an unknown one; a kiosk with a
valid device token is not limited. Over real HTTP against real PostgreSQL.

The test server trusts X-Forwarded-For from 127.0.0.1 (uvicorn's default), so each request
says which address it comes from. Misses are placed in time by writing `submission_attempts`
rows with a past `created_at`, never by waiting.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from kiosk.sync.client import SyncClient
from server_sync_api.services import lookup_throttle
from server_sync_api.services.devices import revoke_device
from tests.helpers import server
from tests.helpers.feedback import insert_feedback
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]

KNOWN = "K0042-000001-7QX4"  # a rating without a ticket: found, and "not resolved" is 409
ADDRESS = "203.0.113.7"
OTHER = "198.51.100.23"
LIMIT = lookup_throttle.MAX_MISSES
WINDOW_S = lookup_throttle.WINDOW_MINUTES * 60
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def unknown(n: int) -> str:
    """A well-formed reference code nobody has."""
    return f"K0042-{n + 100:06d}-ZZZZ"


def sent_from(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


def api(client: httpx.Client, code: str, address: str = ADDRESS, **headers: str) -> httpx.Response:
    return client.get(f"/api/v1/status/{code}", headers=sent_from(address, **headers))


def page(client: httpx.Client, code: str, address: str = ADDRESS) -> httpx.Response:
    return client.get(f"/s/{code}", headers=sent_from(address))


def api_appeal(client: httpx.Client, code: str, address: str = ADDRESS) -> httpx.Response:
    return client.post(
        f"/api/v1/status/{code}/not-resolved", json={"reason": "Still wrong."}, headers=sent_from(address)
    )


def form_appeal(client: httpx.Client, code: str, address: str = ADDRESS) -> httpx.Response:
    return client.post(f"/s/{code}/not-resolved", data={"reason": "Still wrong."}, headers=sent_from(address))


def place_misses(conn: Conn, address: str, count: int, seconds_ago: float) -> None:
    """`count` misses of `address`, `seconds_ago` seconds before now."""
    conn.execute(
        "INSERT INTO submission_attempts (ip_address, attempt_type, success, error_message, created_at) "
        "SELECT %s, %s, FALSE, %s, now() - make_interval(secs => %s) FROM generate_series(1, %s)",
        (address, lookup_throttle.ATTEMPT_TYPE, lookup_throttle.MISS_CODE, seconds_ago, count),
    )


def misses(conn: Conn, address: str | None = None) -> int:
    row = conn.execute(
        "SELECT count(*) FROM submission_attempts WHERE attempt_type = %s "
        "AND (%s::text IS NULL OR ip_address = %s)",
        (lookup_throttle.ATTEMPT_TYPE, address, address),
    ).fetchone()
    assert row is not None
    return int(row[0])


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    value = int(response.headers["Retry-After"])
    assert 1 <= value <= WINDOW_S
    return value


def assert_rate_limited(response: httpx.Response) -> int:
    """The JSON answer to a throttled look-up; its Retry-After."""
    wait = retry_after(response)
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == "rate_limited", body
    assert f"Try again in {math.ceil(wait / 60)} minute" in body["error"]["message"], body
    return wait


def assert_throttled_page(response: httpx.Response) -> int:
    """The status page's answer to a throttled look-up; its Retry-After."""
    wait = retry_after(response)
    assert response.headers["content-type"].startswith("text/html"), response.headers
    text = response.text
    assert "Too many reference codes were looked up from this network" in text, text
    minutes = max(1, math.ceil(wait / 60))
    assert f"Try again in {minutes} minute{'' if minutes == 1 else 's'}." in text, text
    assert "Your reference is not lost" in text, text
    return wait


_WAIT = re.compile(r"\d+ minutes?")


def assert_alike(a: httpx.Response, b: httpx.Response) -> None:
    """Two throttled answers the same but for the wait, which may tick between them."""
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
    assert abs(int(a.headers["Retry-After"]) - int(b.headers["Retry-After"])) <= 1
    assert _WAIT.sub("N minutes", a.text) == _WAIT.sub("N minutes", b.text)


@pytest.fixture
def known(conn: Conn) -> str:
    insert_feedback(conn, reference_code=KNOWN)
    return KNOWN


@pytest.fixture
def public(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client with no token: citizens' phones, each request from the address it names."""
    with live_server.client() as client:
        yield client


# --- the rule ----------------------------------------------------------------------------------


def test_the_30th_miss_is_a_404_and_the_31st_a_429_with_retry_after(conn: Conn, public: httpx.Client) -> None:
    answers = [api(public, unknown(n)) for n in range(LIMIT)]

    assert [a.status_code for a in answers] == [404] * LIMIT
    assert {a.json()["error"]["code"] for a in answers} == {"unknown_reference_code"}
    wait = assert_rate_limited(api(public, unknown(LIMIT)))
    assert WINDOW_S - 60 < wait <= WINDOW_S  # until the first miss, a moment ago, is 10 minutes old
    # Each miss is one row of the security log, without the code guessed; the refusal adds none.
    rows = conn.execute(
        "SELECT ip_address, success, error_message, count(*) FROM submission_attempts "
        "WHERE attempt_type = 'status_lookup' GROUP BY 1, 2, 3"
    ).fetchall()
    assert rows == [(ADDRESS, False, "unknown_reference_code", LIMIT)]


def test_a_known_reference_is_throttled_like_an_unknown_one(
    conn: Conn, public: httpx.Client, known: str
) -> None:
    assert api(public, known).status_code == 200
    place_misses(conn, ADDRESS, LIMIT, seconds_ago=60)

    for ask in (api, page, api_appeal, form_appeal):
        of_known, of_unknown = ask(public, known), ask(public, unknown(1))
        assert of_known.status_code == 429, (ask.__name__, of_known.text)
        assert_alike(of_known, of_unknown)
        assert KNOWN not in of_known.text
    assert misses(conn) == LIMIT  # refusals are not counted


def test_hits_do_not_count(conn: Conn, public: httpx.Client, known: str) -> None:
    place_misses(conn, ADDRESS, LIMIT - 1, seconds_ago=60)

    assert [api(public, known).status_code for _ in range(50)] == [200] * 50
    assert page(public, known).status_code == 200
    assert misses(conn) == LIMIT - 1
    assert api(public, unknown(1)).status_code == 404  # the 30th
    assert_rate_limited(api(public, known))


def test_addresses_are_counted_apart_even_interleaved(conn: Conn, public: httpx.Client) -> None:
    answers = [
        api(public, unknown(n), address).status_code for n in range(LIMIT) for address in (ADDRESS, OTHER)
    ]

    assert answers == [404] * (2 * LIMIT)
    assert_rate_limited(api(public, unknown(LIMIT), ADDRESS))
    assert_rate_limited(api(public, unknown(LIMIT), OTHER))
    assert api(public, unknown(LIMIT), "192.0.2.99").status_code == 404
    assert (misses(conn, ADDRESS), misses(conn, OTHER)) == (LIMIT, LIMIT)


def test_an_ipv6_address_counts_by_its_64(conn: Conn, public: httpx.Client) -> None:
    one, another = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"
    answers = [api(public, unknown(n), one if n % 2 else another).status_code for n in range(LIMIT)]

    assert answers == [404] * LIMIT
    assert misses(conn, "2001:db8:1:2::/64") == LIMIT
    assert_rate_limited(api(public, unknown(LIMIT), "2001:db8:1:2:abcd::7"))  # same /64
    assert api(public, unknown(LIMIT), "2001:db8:1:3::1").status_code == 404  # the next /64


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_one(conn: Conn, public: httpx.Client) -> None:
    mapped = f"::ffff:{ADDRESS}"
    answers = [api(public, unknown(n), mapped if n % 2 else ADDRESS).status_code for n in range(LIMIT)]

    assert answers == [404] * LIMIT
    assert misses(conn, ADDRESS) == LIMIT
    assert_rate_limited(api(public, unknown(LIMIT), mapped))
    assert_rate_limited(api(public, unknown(LIMIT), ADDRESS))


# --- kiosks ------------------------------------------------------------------------------------


def test_a_valid_device_token_is_never_limited_nor_counted(
    conn: Conn, public: httpx.Client, device: EnrolledDevice, known: str
) -> None:
    bearer = f"Bearer {device.token}"
    answers = [api(public, unknown(n), OTHER, Authorization=bearer).status_code for n in range(LIMIT + 10)]

    assert answers == [404] * (LIMIT + 10)
    assert misses(conn) == 0
    # An office's kiosks share the address of phones that used up its misses.
    place_misses(conn, ADDRESS, LIMIT, seconds_ago=60)
    assert_rate_limited(api(public, known))
    assert api(public, known, Authorization=bearer).status_code == 200
    assert api(public, unknown(1), Authorization=bearer).status_code == 404


def test_an_invalid_or_revoked_token_is_limited_like_no_token(
    conn: Conn, public: httpx.Client, device: EnrolledDevice, known: str
) -> None:
    place_misses(conn, ADDRESS, LIMIT, seconds_ago=60)

    for authorization in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", ""):
        assert_rate_limited(api(public, known, Authorization=authorization))
    revoke_device(conn, device.device_code)
    assert_rate_limited(api(public, known, Authorization=f"Bearer {device.token}"))
    # Below the limit, a wrong token is a citizen's look-up: answered, and its miss counted.
    assert api(public, unknown(1), OTHER, Authorization="Bearer not-a-token").status_code == 404
    assert misses(conn, OTHER) == 1


def test_the_kiosks_own_look_up_sends_its_token(
    conn: Conn, live_server: LiveServer, public: httpx.Client, device: EnrolledDevice, known: str
) -> None:
    """kiosk.sync.client's status look-up, from the address (127.0.0.1) whose misses are spent."""
    place_misses(conn, "127.0.0.1", LIMIT, seconds_ago=60)
    assert_rate_limited(public.get(f"/api/v1/status/{known}"))

    with SyncClient(live_server.base_url, device.token) as kiosk:
        found = kiosk.status(known)
        missing = kiosk.status(unknown(1))

    assert found is not None
    assert found["reference_code"] == known
    assert missing is None
    assert misses(conn, "127.0.0.1") == LIMIT


# --- the page and the appeals ------------------------------------------------------------------


def test_the_status_page_counts_misses_and_answers_429_with_a_page(conn: Conn, public: httpx.Client) -> None:
    answers = [page(public, unknown(n)) for n in range(LIMIT)]

    assert [a.status_code for a in answers] == [404] * LIMIT
    assert "Reference not found" in answers[-1].text
    throttled = page(public, unknown(LIMIT))
    assert_throttled_page(throttled)
    assert unknown(LIMIT) not in throttled.text
    assert '<html lang="en">' in throttled.text
    assert misses(conn, ADDRESS) == LIMIT


def test_the_appeals_count_misses_and_are_throttled_with_one_count_for_all_four(
    conn: Conn, public: httpx.Client, known: str
) -> None:
    # A known code that cannot be appealed (no ticket) is 409 and not a miss.
    assert api_appeal(public, known).status_code == 409
    assert form_appeal(public, known).status_code == 409
    assert misses(conn) == 0

    asks = (api, page, api_appeal, form_appeal)
    answers = [asks[n % 4](public, unknown(n)) for n in range(LIMIT)]

    assert [a.status_code for a in answers] == [404] * LIMIT
    assert answers[2].json()["error"]["code"] == "unknown_reference_code"  # the JSON appeal
    assert "Reference not found" in answers[3].text  # the form
    assert misses(conn, ADDRESS) == LIMIT
    assert_rate_limited(api_appeal(public, known))
    assert_throttled_page(form_appeal(public, known))
    assert_rate_limited(api_appeal(public, unknown(LIMIT)))
    assert_throttled_page(form_appeal(public, unknown(LIMIT)))
    assert misses(conn) == LIMIT


def test_an_appeal_that_reopens_is_not_a_miss_and_is_kept(conn: Conn, public: httpx.Client) -> None:
    feedback_id = insert_feedback(conn, rating=1, grievance_flag=True, reference_code=KNOWN)
    conn.execute("UPDATE tickets SET status_id = 4 WHERE feedback_id = %s", (feedback_id,))  # Resolved
    place_misses(conn, ADDRESS, LIMIT - 1, seconds_ago=60)

    response = form_appeal(public, KNOWN)

    assert response.status_code == 303, response.text
    row = conn.execute(
        "SELECT s.status_code FROM tickets t JOIN ticket_status s USING (status_id) WHERE t.feedback_id = %s",
        (feedback_id,),
    ).fetchone()
    assert row == ("reopened",)  # committed before the answer
    assert misses(conn) == LIMIT - 1
    assert page(public, KNOWN).status_code == 200


# --- at once, and over time --------------------------------------------------------------------


def test_40_misses_at_once_from_one_address_are_30_404s_and_10_429s(
    conn: Conn, live_server: LiveServer
) -> None:
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    with live_server.client(limits=limits) as client, ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda n: api(client, unknown(n)).status_code, range(40)))

    assert Counter(answers) == {404: LIMIT, 429: 40 - LIMIT}
    assert misses(conn, ADDRESS) == LIMIT


def test_retry_after_counts_down_to_when_the_oldest_miss_leaves_the_window(
    conn: Conn, public: httpx.Client
) -> None:
    place_misses(conn, ADDRESS, LIMIT, seconds_ago=120)
    first = assert_rate_limited(api(public, unknown(1)))
    assert WINDOW_S - 120 - 60 < first <= WINDOW_S - 120

    # Five minutes pass.
    conn.execute("UPDATE submission_attempts SET created_at = created_at - interval '5 minutes'")
    later = assert_rate_limited(api(public, unknown(1)))
    assert later < first
    assert WINDOW_S - 420 - 60 < later <= WINDOW_S - 420


def test_the_wait_is_until_enough_misses_leave_not_until_all_do(conn: Conn, public: httpx.Client) -> None:
    place_misses(conn, ADDRESS, 1, seconds_ago=WINDOW_S - 30)  # leaves the window in 30 s
    place_misses(conn, ADDRESS, LIMIT - 1, seconds_ago=60)
    assert_throttled_page(page(public, unknown(1)))
    assert 0 < assert_rate_limited(api(public, unknown(1))) <= 30

    # A minute passes: the oldest miss has left the window, one more is allowed.
    conn.execute("UPDATE submission_attempts SET created_at = created_at - interval '1 minute'")
    assert api(public, unknown(1)).status_code == 404
    wait = assert_rate_limited(api(public, unknown(2)))
    assert WINDOW_S - 120 - 60 < wait <= WINDOW_S - 120  # now the oldest of the 29


def test_misses_older_than_10_minutes_no_longer_count(conn: Conn, public: httpx.Client) -> None:
    place_misses(conn, ADDRESS, LIMIT, seconds_ago=WINDOW_S + 1)
    place_misses(conn, OTHER, LIMIT, seconds_ago=WINDOW_S - 60)

    assert api(public, unknown(1), ADDRESS).status_code == 404
    assert_rate_limited(api(public, unknown(1), OTHER))


# --- as the API's role -------------------------------------------------------------------------


@pytest.fixture
def api_role(db_url: URL) -> Iterator[URL]:
    grants = documented_grants(OPERATIONS, "## The database role for the API")
    with login_role(db_url, grants, prefix="gea_api") as url:
        yield url


def test_the_documented_grants_are_enough_to_count_and_throttle(api_role: URL, conn: Conn) -> None:
    with server.serve(server.settings_for(api_role)) as live, live.client() as client:
        answers = [api(client, unknown(n)).status_code for n in range(LIMIT)]
        assert answers == [404] * LIMIT
        assert_rate_limited(api(client, unknown(LIMIT)))
    assert misses(conn, ADDRESS) == LIMIT


def test_made_up_tokens_do_not_hold_two_connections_each(db_url: URL) -> None:
    """A look-up checks its token on its own connection: a burst of made-up tokens, more than
    the pool, is answered (404), never left waiting for a second connection (503)."""
    with server.serve(server.settings_for(db_url, db_pool_max_size=2)) as live:

        def ask(n: int) -> int:
            with live.client("made-up-token") as client:
                return client.get(
                    f"/api/v1/status/{unknown(n)}", headers=sent_from(f"198.51.100.{n}")
                ).status_code

        with ThreadPoolExecutor(8) as pool:
            answers = Counter(pool.map(ask, range(16)))
    assert answers == Counter({404: 16})


def test_a_form_with_more_fields_than_it_has_is_refused_not_a_500(public: httpx.Client, known: str) -> None:
    crowded = "&".join(f"reason={i}" for i in range(25))
    response = public.post(
        f"/s/{known}/not-resolved",
        content=crowded,
        headers={"Content-Type": "application/x-www-form-urlencoded", **sent_from(ADDRESS)},
    )
    assert response.status_code == 400
    assert "We could not read the form" in response.text
