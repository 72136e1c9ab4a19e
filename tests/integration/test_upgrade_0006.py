"""Upgrading a running deployment to 0006: the API's role, given the grants of docs/operations.md
as they were before the public form, takes the form's submissions the moment the upgrade
commits, and `migrate` says what it granted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import public
from tests.helpers.roles import documented_grants, login_role

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
# Lines for objects newer than 0005: 0006's grants, and later versions' tables.
NEW_AT_0006 = (
    "service_feedback_totals",
    "ticket_day_deltas",
    "compact_ticket_day_totals",
    "web_reference_seq",
    "ON submission_rate_limit TO",
    "ON captcha_challenges TO",
    "ON qr_codes TO",
)


def grants_at_0005() -> str:
    """Today's documented grants without the public form's additions (qr_codes read only)."""
    lines = documented_grants(OPERATIONS, "## The database role for the API").splitlines()
    kept = [line for line in lines if not any(new in line for new in NEW_AT_0006)]
    return "\n".join([*kept, "GRANT SELECT ON qr_codes TO gea_api;"])


def test_a_role_that_takes_submissions_takes_the_public_form_after_the_upgrade(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0005")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with login_role(empty_db_url, grants_at_0005(), prefix="gea_api_up6") as as_api:
        role = str(as_api.username)
        notes: list[str] = []
        migrate.upgrade(engine, on_notice=notes.append)
        engine.dispose()
        assert any(role in note and "web_reference_seq" in note for note in notes), notes
        with public.serve_public(as_api) as live, public.citizen(live, "198.51.100.77") as client:
            assert client.get(f"/q/{public.POSTER}").status_code == 200
            body = {"service_id": "SVC-002", "rating": 1, "grievance_flag": True}
            for _ in range(2):
                assert client.post("/api/v1/public/feedback", json=body).status_code == 201
            needed = client.post("/api/v1/public/feedback", json=body).json()["error"]
            solved = public.solve(needed["challenge"])
            assert client.post("/api/v1/public/feedback", json={**body, "captcha": solved}).status_code == 201
