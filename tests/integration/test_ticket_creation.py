"""Tickets made from feedback: which feedback makes one, and the ticket's category, priority,
title, SLA clock start and targets (ARCHITECTURE 4.3-4.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.rows import dict_row

from tests.helpers.feedback import insert_feedback

T0 = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # noon in America/Grenada
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FACTOR = {1: 0.50, 2: 0.75, 3: 1.00, 4: 1.50}
SERVICE_NAME = "Birth Certificate Request"  # SVC-003, the helper's default service


def ticket_for(conn, feedback_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row: dict[str, Any] | None = cur.execute(
            "SELECT * FROM tickets WHERE feedback_id = %s", (feedback_id,)
        ).fetchone()
    return row


def only_ticket_for(conn, feedback_id: int) -> dict[str, Any]:
    ticket = ticket_for(conn, feedback_id)
    assert ticket is not None, f"feedback {feedback_id} made no ticket"
    return ticket


def category_id(conn, entity_id: str, name: str) -> int:
    row = conn.execute(
        "SELECT category_id FROM ticket_categories WHERE entity_id = %s AND category_name = %s",
        (entity_id, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_category(conn, entity_id: str, name: str, response_hours: int, resolution_hours: int) -> int:
    row = conn.execute(
        "INSERT INTO ticket_categories (entity_id, category_name, default_response_hours, "
        "default_resolution_hours) VALUES (%s, %s, %s, %s) RETURNING category_id",
        (entity_id, name, response_hours, resolution_hours),
    ).fetchone()
    return int(row[0])


def add_entity(conn, entity_id: str, entity_type: str, parent: str | None) -> None:
    conn.execute(
        "INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id) "
        "VALUES (%s, %s, %s, %s)",
        (entity_id, f"Test entity {entity_id}", entity_type, parent),
    )


def add_service(conn, service_id: str, entity_id: str, name: str | None = None) -> None:
    conn.execute(
        "INSERT INTO service_master (service_id, service_name, entity_id) VALUES (%s, %s, %s)",
        (service_id, name or f"Test service {service_id}", entity_id),
    )


# --- which feedback makes a ticket ---------------------------------------------------------


@pytest.mark.parametrize("rating", [1, 2])
def test_rating_of_1_or_2_creates_one_ticket(conn, rating):
    feedback_id = insert_feedback(conn, rating=rating)
    assert conn.execute("SELECT count(*) FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone() == (
        1,
    )


@pytest.mark.parametrize("rating", [3, 4, 5])
def test_rating_of_3_to_5_without_grievance_creates_no_ticket_and_uses_no_number(conn, rating):
    insert_feedback(conn, rating=rating)
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM ticket_number_counters").fetchone() == (0,)


def test_grievance_with_rating_5_creates_a_ticket(conn):
    feedback_id = insert_feedback(conn, rating=5, grievance_flag=True)
    assert ticket_for(conn, feedback_id) is not None


def test_ticket_copies_feedback_service_entity_text_and_back_filled_created_at(conn):
    feedback_id = insert_feedback(
        conn, service_id="SVC-001", rating=1, feedback_text="Waited four hours.", created_at=T0
    )
    ticket = only_ticket_for(conn, feedback_id)
    assert (ticket["service_id"], ticket["entity_id"]) == ("SVC-001", "AGY-002")
    assert ticket["description"] == "Waited four hours."
    assert ticket["created_at"] == T0
    assert ticket["status_id"] == 1


# --- category ------------------------------------------------------------------------------


def test_staff_category_wins_on_walk_in(conn):
    chosen = category_id(conn, "DEPT-003", "Registry counter service")  # not the default
    assert chosen != category_id(conn, "DEPT-003", "Certificate errors")
    feedback_id = insert_feedback(conn, rating=2, channel="walk_in", category_id=chosen)
    assert only_ticket_for(conn, feedback_id)["category_id"] == chosen


def test_staff_may_choose_a_parent_entitys_category(conn):
    parents = category_id(conn, "MIN-003", "Labour services")
    feedback_id = insert_feedback(conn, rating=1, channel="walk_in", category_id=parents)
    assert only_ticket_for(conn, feedback_id)["category_id"] == parents


def test_default_category_is_lowest_id_of_the_services_own_entity(conn):
    # A later category sorts first by name but has a higher id: the id decides.
    add_category(conn, "DEPT-003", "Aaa first by name", 1, 1)
    feedback_id = insert_feedback(conn, rating=1)
    lowest = conn.execute(
        "SELECT min(category_id) FROM ticket_categories WHERE entity_id = 'DEPT-003'"
    ).fetchone()
    assert only_ticket_for(conn, feedback_id)["category_id"] == lowest[0]
    assert lowest[0] == category_id(conn, "DEPT-003", "Certificate errors")


@pytest.mark.parametrize(
    ("service_id", "expected_entity", "expected_category"),
    [
        # UNIT-002 has no category; its parent DEPT-001 does (nearer than MIN-001's).
        ("SVC-006", "DEPT-001", "Income tax service"),
        # AGY-001 has no category; its parent MIN-001 does.
        ("SVC-010", "MIN-001", "Tax and revenue complaints"),
        # UNIT-001 has its own, although its parent AGY-003 has one too.
        ("SVC-002", "UNIT-001", "Driver's licence issues"),
    ],
)
def test_default_category_is_the_nearest_in_the_entity_chain(
    conn, service_id, expected_entity, expected_category
):
    feedback_id = insert_feedback(conn, service_id=service_id, rating=1)
    expected = category_id(conn, expected_entity, expected_category)
    assert only_ticket_for(conn, feedback_id)["category_id"] == expected


def test_service_whose_chain_has_no_category_gets_general(conn):
    add_entity(conn, "MIN-900", "MIN", "GOV-000")
    add_entity(conn, "DEPT-900", "DEPT", "MIN-900")
    add_service(conn, "SVC-900", "DEPT-900")
    feedback_id = insert_feedback(conn, service_id="SVC-900", rating=2)
    assert only_ticket_for(conn, feedback_id)["category_id"] == category_id(conn, "GOV-000", "General")


def test_service_of_an_entity_outside_the_gov_000_tree_still_gets_general(conn):
    add_entity(conn, "MIN-901", "MIN", None)
    add_service(conn, "SVC-901", "MIN-901")
    feedback_id = insert_feedback(conn, service_id="SVC-901", rating=2)
    assert only_ticket_for(conn, feedback_id)["category_id"] == category_id(conn, "GOV-000", "General")


# --- priority ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "grievance", "staff_priority"),
    [(1, False, 4), (2, False, 1), (5, True, 3), (2, True, 4)],
)
def test_staff_priority_wins_on_walk_in(conn, rating, grievance, staff_priority):
    feedback_id = insert_feedback(
        conn, rating=rating, grievance_flag=grievance, channel="walk_in", priority_id=staff_priority
    )
    assert only_ticket_for(conn, feedback_id)["priority_id"] == staff_priority


@pytest.mark.parametrize(
    ("rating", "grievance", "expected_priority"),
    [(1, False, 2), (2, False, 3), (5, True, 2), (2, True, 2), (1, True, 2)],
    ids=["rating1-high", "rating2-medium", "grievance5-high", "grievance2-high", "grievance1-high"],
)
def test_default_priority_is_high_for_grievance_or_rating_1_and_medium_for_rating_2(
    conn, rating, grievance, expected_priority
):
    feedback_id = insert_feedback(conn, rating=rating, grievance_flag=grievance)
    assert only_ticket_for(conn, feedback_id)["priority_id"] == expected_priority


# --- title ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "grievance", "expected"),
    [
        (1, False, f"Low rating (1/5): {SERVICE_NAME}"),
        (2, False, f"Low rating (2/5): {SERVICE_NAME}"),
        (5, True, f"Grievance: {SERVICE_NAME}"),
        (1, True, f"Grievance: {SERVICE_NAME}"),
    ],
)
def test_title_names_the_reason_and_the_service(conn, rating, grievance, expected):
    feedback_id = insert_feedback(conn, rating=rating, grievance_flag=grievance)
    assert only_ticket_for(conn, feedback_id)["title"] == expected


@pytest.mark.parametrize(
    ("rating", "grievance", "prefix"), [(2, False, "Low rating (2/5): "), (4, True, "Grievance: ")]
)
def test_title_from_a_255_character_service_name_is_cut_to_255(conn, rating, grievance, prefix):
    long_name = "Long service name " + "x" * (255 - len("Long service name "))
    assert len(long_name) == 255
    add_service(conn, "SVC-LONG", "DEPT-003", long_name)
    feedback_id = insert_feedback(conn, service_id="SVC-LONG", rating=rating, grievance_flag=grievance)
    title = only_ticket_for(conn, feedback_id)["title"]
    assert title == (prefix + long_name)[:255]
    assert len(title) == 255


# --- SLA targets ---------------------------------------------------------------------------


@pytest.mark.parametrize("priority_id", [1, 2, 3, 4])
def test_sla_targets_are_start_plus_category_hours_times_priority_factor(conn, priority_id):
    category = add_category(conn, "DEPT-003", "Seven and thirty-three", 7, 33)
    feedback_id = insert_feedback(
        conn, rating=1, channel="walk_in", category_id=category, priority_id=priority_id, created_at=T0
    )
    ticket = only_ticket_for(conn, feedback_id)
    factor = FACTOR[priority_id]
    assert ticket["sla_start"] == T0
    assert ticket["response_target"] == T0 + 7 * factor * HOUR
    assert ticket["resolution_target"] == T0 + 33 * factor * HOUR


def test_priority_factors_are_the_decided_ones(conn):
    rows = conn.execute("SELECT priority_id, sla_multiplier FROM priority_levels ORDER BY 1").fetchall()
    assert [(p, float(m)) for p, m in rows] == sorted(FACTOR.items())


@pytest.mark.parametrize(
    ("recorded_at", "clock_offset_s", "expected_start"),
    [
        pytest.param(T0 + 3 * DAY, None, T0, id="clock-days-ahead-clamped-to-created_at"),
        pytest.param(T0 + 3 * DAY, 0, T0, id="clock-days-ahead-zero-offset-clamped"),
        pytest.param(
            T0 + 3 * DAY - 5 * timedelta(minutes=1),
            -3 * 86400,
            T0 - timedelta(minutes=5),
            id="clock-days-ahead-corrected-by-offset",
        ),
        pytest.param(T0 - 5 * DAY, 2 * 86400, T0 - 3 * DAY, id="clock-behind-within-7-days-corrected"),
        pytest.param(T0 - 6 * DAY, None, T0 - 6 * DAY, id="behind-within-7-days-no-offset"),
        pytest.param(T0 - 7 * DAY, 0, T0 - 7 * DAY, id="exactly-7-days-behind"),
        pytest.param(T0 - 10 * DAY, 86400, T0 - 7 * DAY, id="more-than-7-days-behind-clamped"),
        pytest.param(None, 3600, T0, id="no-recorded_at"),
    ],
)
def test_sla_start_is_corrected_recorded_at_clamped_to_last_7_days(
    conn, recorded_at, clock_offset_s, expected_start
):
    feedback_id = insert_feedback(
        conn, rating=1, recorded_at=recorded_at, clock_offset_s=clock_offset_s, created_at=T0
    )
    ticket = only_ticket_for(conn, feedback_id)
    assert ticket["sla_start"] == expected_start
    # Certificate errors (8 h / 120 h), High (0.75), counted from sla_start.
    assert ticket["response_target"] == expected_start + 6 * HOUR
    assert ticket["resolution_target"] == expected_start + 90 * HOUR


def test_reprioritised_ticket_gets_targets_recomputed_from_the_same_sla_start(conn):
    feedback_id = insert_feedback(conn, rating=2, recorded_at=T0 - 2 * DAY, clock_offset_s=0, created_at=T0)
    ticket = only_ticket_for(conn, feedback_id)
    start = T0 - 2 * DAY
    assert (ticket["priority_id"], ticket["sla_start"]) == (3, start)
    assert ticket["response_target"] == start + 8 * HOUR

    for priority_id, response, resolution in [(1, 4, 60), (4, 12, 180)]:
        conn.execute(
            "UPDATE tickets SET priority_id = %s WHERE ticket_id = %s", (priority_id, ticket["ticket_id"])
        )
        after = only_ticket_for(conn, feedback_id)
        assert after["sla_start"] == start
        assert after["response_target"] == start + response * HOUR
        assert after["resolution_target"] == start + resolution * HOUR


def test_recategorised_ticket_gets_targets_of_the_new_category(conn):
    feedback_id = insert_feedback(conn, rating=2, created_at=T0)  # Medium, Certificate errors 8/120
    ticket = only_ticket_for(conn, feedback_id)
    assert ticket["resolution_target"] == T0 + 120 * HOUR
    counter = category_id(conn, "DEPT-003", "Registry counter service")  # 8/72
    conn.execute("UPDATE tickets SET category_id = %s WHERE ticket_id = %s", (counter, ticket["ticket_id"]))
    assert only_ticket_for(conn, feedback_id)["resolution_target"] == T0 + 72 * HOUR


def test_unrelated_ticket_update_keeps_targets(conn):
    feedback_id = insert_feedback(conn, rating=1, created_at=T0)
    before = only_ticket_for(conn, feedback_id)
    conn.execute("UPDATE tickets SET assigned_to = 'officer.a' WHERE ticket_id = %s", (before["ticket_id"],))
    after = only_ticket_for(conn, feedback_id)
    assert (after["response_target"], after["resolution_target"]) == (
        before["response_target"],
        before["resolution_target"],
    )


# --- calculate_sla_targets directly --------------------------------------------------------


def test_calculate_sla_targets_multiplies_hours_by_factor(conn):
    category = add_category(conn, "DEPT-003", "Seven and thirty-three", 7, 33)
    row = conn.execute("SELECT * FROM calculate_sla_targets(%s, 2, %s)", (category, T0)).fetchone()
    assert row == (T0 + timedelta(hours=5, minutes=15), T0 + timedelta(hours=24, minutes=45))


@pytest.mark.parametrize(
    ("priority_id", "response_hours", "resolution_hours"),
    [(1, 2, 36), (3, 4, 72), (None, 4, 72)],
)
def test_calculate_sla_targets_without_category_uses_general(
    conn, priority_id, response_hours, resolution_hours
):
    row = conn.execute("SELECT * FROM calculate_sla_targets(NULL, %s, %s)", (priority_id, T0)).fetchone()
    assert row == (T0 + response_hours * HOUR, T0 + resolution_hours * HOUR)


def test_calculate_sla_targets_without_priority_uses_factor_1(conn):
    category = add_category(conn, "DEPT-003", "Seven and thirty-three", 7, 33)
    row = conn.execute("SELECT * FROM calculate_sla_targets(%s, NULL, %s)", (category, T0)).fetchone()
    assert row == (T0 + 7 * HOUR, T0 + 33 * HOUR)


def test_calculate_sla_targets_starts_at_now_by_default(conn):
    category = add_category(conn, "DEPT-003", "Seven and thirty-three", 7, 33)
    row = conn.execute(
        "SELECT response_target - now(), resolution_target - now() FROM calculate_sla_targets(%s, 4)",
        (category,),
    ).fetchone()
    assert row == (timedelta(hours=10, minutes=30), timedelta(hours=49, minutes=30))


# --- activity and idempotence --------------------------------------------------------------


def test_creation_is_logged_in_ticket_activities_with_the_number(conn):
    feedback_id = insert_feedback(conn, rating=1, created_at=T0)
    ticket = only_ticket_for(conn, feedback_id)
    rows = conn.execute(
        "SELECT activity_type, old_value, new_value, changed_by, created_at "
        "FROM ticket_activities WHERE ticket_id = %s",
        (ticket["ticket_id"],),
    ).fetchall()
    assert rows == [("created", None, ticket["ticket_number"], "system", T0)]


def test_create_ticket_from_feedback_again_returns_the_same_ticket(conn):
    feedback_id = insert_feedback(conn, rating=1)
    ticket = only_ticket_for(conn, feedback_id)
    counter_before = conn.execute("SELECT * FROM ticket_number_counters").fetchall()

    for _ in range(2):
        again = conn.execute("SELECT create_ticket_from_feedback(%s)", (feedback_id,)).fetchone()
        assert again == (ticket["ticket_id"],)

    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM ticket_activities").fetchone() == (1,)
    assert conn.execute("SELECT * FROM ticket_number_counters").fetchall() == counter_before


def test_create_ticket_from_feedback_returns_null_when_none_is_needed(conn):
    feedback_id = insert_feedback(conn, rating=4)
    assert conn.execute("SELECT create_ticket_from_feedback(%s)", (feedback_id,)).fetchone() == (None,)
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
