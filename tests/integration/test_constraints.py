"""Bad input is refused by the database itself, and the error names the broken rule.

Every refusal asserts the psycopg exception class and `diag.constraint_name`, which is what
the API reads to turn a database error into a clear rejection.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.helpers.feedback import insert_feedback

Conn = psycopg.Connection[tuple[Any, ...]]


def _constraint(exc: psycopg.Error) -> str | None:
    return exc.diag.constraint_name


def _category_id(conn: Conn, entity_id: str, name: str) -> int:
    row = conn.execute(
        "SELECT category_id FROM ticket_categories WHERE entity_id = %s AND category_name = %s",
        (entity_id, name),
    ).fetchone()
    assert row is not None
    category_id: int = row[0]
    return category_id


def _insert_ticket(conn: Conn, **overrides: object) -> int:
    columns: dict[str, object] = {
        "entity_id": "DEPT-003",
        "service_id": "SVC-003",
        "title": "Walk-in complaint",
    }
    columns.update(overrides)
    query = psycopg.sql.SQL("INSERT INTO tickets ({}) VALUES ({}) RETURNING ticket_id").format(
        psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in columns),
        psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() for _ in columns),
    )
    row = conn.execute(query, tuple(columns.values())).fetchone()
    assert row is not None
    ticket_id: int = row[0]
    return ticket_id


def _feedback_count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM service_feedback").fetchone()
    assert row is not None
    count: int = row[0]
    return count


# ---------------------------------------------------------------------------------------
# service_feedback
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rating", [0, 6, -1])
def test_feedback_rating_out_of_range_is_refused(conn: Conn, rating: int) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, rating=rating)
    assert _constraint(exc_info.value) == "ck_service_feedback_rating_range"
    assert _feedback_count(conn) == 0


@pytest.mark.parametrize("rating", [1, 5])
def test_feedback_rating_at_the_bounds_is_accepted(conn: Conn, rating: int) -> None:
    insert_feedback(conn, rating=rating)
    assert _feedback_count(conn) == 1


@pytest.mark.parametrize("column", ["service_quality", "staff_behavior", "waiting_time", "cleanliness"])
@pytest.mark.parametrize("value", [0, 6])
def test_feedback_sub_rating_out_of_range_is_refused(conn: Conn, column: str, value: int) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, **{column: value})
    assert _constraint(exc_info.value) == f"ck_service_feedback_{column}_range"


def test_feedback_sub_ratings_in_range_or_absent_are_accepted(conn: Conn) -> None:
    insert_feedback(conn, service_quality=1, staff_behavior=5, waiting_time=3, cleanliness=None)
    assert _feedback_count(conn) == 1


def test_feedback_for_unknown_service_is_refused(conn: Conn) -> None:
    # By the (service, entity) pair's key since 0011: the pair must be a row of service_master.
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        insert_feedback(conn, service_id="SVC-999", entity_id="DEPT-003")
    assert _constraint(exc_info.value) == "fk_service_feedback_service_entity"


def test_feedback_for_service_of_another_entity_is_refused(conn: Conn) -> None:
    # SVC-001 (passports) belongs to AGY-002, not to the registry.
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        insert_feedback(conn, service_id="SVC-001", entity_id="DEPT-003")
    assert _constraint(exc_info.value) == "fk_service_feedback_service_entity"


def test_feedback_for_a_parent_entity_of_the_service_is_refused(conn: Conn) -> None:
    # SVC-002's entity is UNIT-001; its parent AGY-003 is still not "the service's entity".
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        insert_feedback(conn, service_id="SVC-002", entity_id="AGY-003")
    assert _constraint(exc_info.value) == "fk_service_feedback_service_entity"


@pytest.mark.parametrize("channel", ["email", "Portal", "", "sms"])
def test_feedback_unknown_channel_is_refused(conn: Conn, channel: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, channel=channel)
    assert _constraint(exc_info.value) == "ck_service_feedback_channel"


@pytest.mark.parametrize("channel", ["portal", "qr_code", "walk_in", "api", "kiosk"])
def test_feedback_known_channels_are_accepted(conn: Conn, channel: str) -> None:
    insert_feedback(conn, channel=channel)
    assert _feedback_count(conn) == 1


def test_feedback_text_over_10000_characters_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, feedback_text="x" * 10_001)
    assert _constraint(exc_info.value) == "ck_service_feedback_text_length"


def test_feedback_text_of_exactly_10000_characters_is_accepted(conn: Conn) -> None:
    # Multi-byte characters: the limit is in characters, not bytes.
    text = "é" * 10_000
    feedback_id = insert_feedback(conn, feedback_text=text)
    row = conn.execute(
        "SELECT char_length(feedback_text) FROM service_feedback WHERE feedback_id = %s", (feedback_id,)
    ).fetchone()
    assert row == (10_000,)


def test_feedback_duplicate_client_uuid_is_refused(conn: Conn) -> None:
    client_uuid = uuid.uuid4()
    insert_feedback(conn, client_uuid=client_uuid)
    with pytest.raises(errors.UniqueViolation) as exc_info:
        insert_feedback(conn, client_uuid=client_uuid, rating=2)
    assert _constraint(exc_info.value) == "uq_service_feedback_client_uuid"
    assert _feedback_count(conn) == 1
    # The refused duplicate made no ticket either.
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)


def test_feedback_duplicate_reference_code_is_refused(conn: Conn) -> None:
    insert_feedback(conn, reference_code="K0001-000042-7QX2")
    with pytest.raises(errors.UniqueViolation) as exc_info:
        insert_feedback(conn, reference_code="K0001-000042-7QX2")
    assert _constraint(exc_info.value) == "uq_service_feedback_reference_code"


def test_feedback_without_reference_code_may_repeat(conn: Conn) -> None:
    insert_feedback(conn, reference_code=None)
    insert_feedback(conn, reference_code=None)
    assert _feedback_count(conn) == 2


@pytest.mark.parametrize("code", ["k0001-000042-7qx2", "K0001--1", "K0001 0042", "-K0001"])
def test_feedback_malformed_reference_code_is_refused(conn: Conn, code: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, reference_code=code)
    assert _constraint(exc_info.value) == "ck_service_feedback_reference_code_format"


@pytest.mark.parametrize(
    "ip_hash",
    [
        "0" * 63,
        "A" * 64,  # upper case
        "d41d8cd98f00b204e9800998ecf8427e",  # an MD5 (ARCHITECTURE 4.9)
        "203.0.113.42",  # a raw address
    ],
)
def test_feedback_ip_hash_that_is_not_a_sha256_hex_is_refused(conn: Conn, ip_hash: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, channel="portal", ip_hash=ip_hash)
    assert _constraint(exc_info.value) == "ck_service_feedback_ip_hash_format"


def test_feedback_unknown_priority_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        insert_feedback(conn, channel="walk_in", priority_id=9)
    assert _constraint(exc_info.value) == "fk_service_feedback_priority"


# ---------------------------------------------------------------------------------------
# Categories must be in the service's chain (entity, its ancestors, General)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_id", "name"),
    [
        ("DEPT-003", "Certificate errors"),  # another ministry's department
        ("AGY-002", "Passport delays"),  # a sibling under the same ministry (MIN-004)
    ],
)
def test_feedback_category_outside_the_service_chain_is_refused(
    conn: Conn, entity_id: str, name: str
) -> None:
    category_id = _category_id(conn, entity_id, name)
    with pytest.raises(errors.CheckViolation) as exc_info:
        insert_feedback(conn, service_id="SVC-002", channel="walk_in", category_id=category_id, rating=1)
    assert _constraint(exc_info.value) == "ck_service_feedback_category_in_chain"
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)


@pytest.mark.parametrize(
    ("entity_id", "name"),
    [
        ("UNIT-001", "Driver's licence issues"),  # the service's own entity
        ("AGY-003", "Licensing and registration"),  # its parent
        ("MIN-004", "National security services"),  # its grandparent
        ("GOV-000", "General"),  # the fallback
    ],
)
def test_feedback_category_in_the_service_chain_is_accepted(conn: Conn, entity_id: str, name: str) -> None:
    category_id = _category_id(conn, entity_id, name)
    insert_feedback(conn, service_id="SVC-002", channel="walk_in", category_id=category_id, rating=1)
    assert conn.execute("SELECT category_id FROM tickets").fetchall() == [(category_id,)]


def test_feedback_category_changed_to_outside_the_chain_is_refused(conn: Conn) -> None:
    feedback_id = insert_feedback(conn, service_id="SVC-002", channel="walk_in")
    outside = _category_id(conn, "DEPT-003", "Certificate errors")
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "UPDATE service_feedback SET category_id = %s WHERE feedback_id = %s", (outside, feedback_id)
        )
    assert _constraint(exc_info.value) == "ck_service_feedback_category_in_chain"


# ---------------------------------------------------------------------------------------
# Entities, priorities, categories, QR codes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_id", "new_parent"),
    [
        ("GOV-000", "MIN-001"),  # the root under its own child
        ("MIN-004", "UNIT-001"),  # UNIT-001 -> AGY-003 -> MIN-004: three levels down
    ],
)
def test_entity_cycle_is_refused(conn: Conn, entity_id: str, new_parent: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "UPDATE entity_master SET parent_entity_id = %s WHERE unique_entity_id = %s",
            (new_parent, entity_id),
        )
    assert _constraint(exc_info.value) == "ck_entity_master_no_cycle"
    row = conn.execute("SELECT parent_entity_id FROM entity_master WHERE unique_entity_id = %s", (entity_id,))
    assert row.fetchone() != (new_parent,)


def test_entity_as_its_own_parent_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id)"
            " VALUES ('UNIT-099', 'Loop Unit', 'UNIT', 'UNIT-099')"
        )
    # Being its own parent is the shortest cycle.
    assert _constraint(exc_info.value) == "ck_entity_master_no_cycle"


def test_entity_moved_under_another_branch_is_accepted(conn: Conn) -> None:
    conn.execute("UPDATE entity_master SET parent_entity_id = 'MIN-001' WHERE unique_entity_id = 'AGY-003'")
    row = conn.execute("SELECT parent_entity_id FROM entity_master WHERE unique_entity_id = 'AGY-003'")
    assert row.fetchone() == ("MIN-001",)


@pytest.mark.parametrize("entity_type", ["BOARD", "min", ""])
def test_entity_unknown_type_is_refused(conn: Conn, entity_type: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id)"
            " VALUES ('BRD-001', 'Tourism Board', %s, 'GOV-000')",
            (entity_type,),
        )
    assert _constraint(exc_info.value) == "ck_entity_master_entity_type"


@pytest.mark.parametrize("multiplier", ["0", "-0.50", "0.00"])
def test_priority_multiplier_not_positive_is_refused(conn: Conn, multiplier: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "UPDATE priority_levels SET sla_multiplier = %s::numeric WHERE priority_id = 4", (multiplier,)
        )
    assert _constraint(exc_info.value) == "ck_priority_levels_sla_multiplier_positive"
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "INSERT INTO priority_levels (priority_id, priority_name, priority_order, sla_multiplier)"
            " VALUES (5, 'Trivial', 5, %s::numeric)",
            (multiplier,),
        )
    assert _constraint(exc_info.value) == "ck_priority_levels_sla_multiplier_positive"


@pytest.mark.parametrize("column", ["default_response_hours", "default_resolution_hours"])
def test_category_hours_not_positive_are_refused(conn: Conn, column: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            psycopg.sql.SQL("UPDATE ticket_categories SET {} = 0 WHERE category_name = 'General'").format(
                psycopg.sql.Identifier(column)
            )
        )
    assert _constraint(exc_info.value) == f"ck_ticket_categories_{column.removeprefix('default_')}_positive"


def test_qr_code_for_service_of_another_entity_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        conn.execute(
            "INSERT INTO qr_codes (qr_code_value, entity_id, service_id)"
            " VALUES ('QR-BAD', 'DEPT-003', 'SVC-001')"
        )
    assert _constraint(exc_info.value) == "fk_qr_codes_service_entity"


# ---------------------------------------------------------------------------------------
# Tickets and breaches
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["2025-000001", "202501-00001", "202501000001", "202501-ABCDEF", "T-1"])
def test_ticket_number_in_wrong_format_is_refused(conn: Conn, number: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        _insert_ticket(conn, ticket_number=number)
    assert _constraint(exc_info.value) == "ck_tickets_ticket_number_format"


@pytest.mark.parametrize("number", ["202501-000001", "202501-1000000"])
def test_ticket_number_in_right_format_is_accepted(conn: Conn, number: str) -> None:
    _insert_ticket(conn, ticket_number=number)
    assert conn.execute("SELECT ticket_number FROM tickets").fetchall() == [(number,)]


def test_ticket_for_service_of_another_entity_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.ForeignKeyViolation) as exc_info:
        _insert_ticket(conn, service_id="SVC-001", entity_id="DEPT-003")
    assert _constraint(exc_info.value) == "fk_tickets_service_entity"


def test_sla_breach_recorded_twice_for_same_ticket_type_and_clock_is_refused(conn: Conn) -> None:
    ticket_id = _insert_ticket(conn)
    insert = (
        "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time)"
        " VALUES (%s, %s, '2025-01-01T00:00Z')"
    )
    conn.execute(insert, (ticket_id, "response_breach"))
    conn.execute(insert, (ticket_id, "resolution_breach"))  # the other type is a separate breach
    with pytest.raises(errors.UniqueViolation) as exc_info:
        conn.execute(insert, (ticket_id, "response_breach"))
    assert _constraint(exc_info.value) == "uq_sla_breaches_ticket_type_clock"
    assert conn.execute("SELECT count(*) FROM sla_breaches").fetchone() == (2,)


def test_sla_breach_unknown_type_is_refused(conn: Conn) -> None:
    ticket_id = _insert_ticket(conn)
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute(
            "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time)"
            " VALUES (%s, 'quality_breach', '2025-01-01T00:00Z')",
            (ticket_id,),
        )
    assert _constraint(exc_info.value) == "ck_sla_breaches_breach_type"


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America/Grenda", ""])
def test_app_settings_unknown_timezone_is_refused(conn: Conn, zone: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute("UPDATE app_settings SET timezone = %s", (zone,))
    assert _constraint(exc_info.value) == "ck_app_settings_timezone"
    assert conn.execute("SELECT timezone FROM app_settings").fetchall() == [("America/Grenada",)]


def test_app_settings_known_timezone_is_accepted(conn: Conn) -> None:
    conn.execute("UPDATE app_settings SET timezone = 'Europe/London'")
    assert conn.execute("SELECT app_timezone()").fetchone() == ("Europe/London",)


def test_app_settings_second_row_is_refused_by_its_named_primary_key(conn: Conn) -> None:
    with pytest.raises(errors.UniqueViolation) as exc_info:
        conn.execute("INSERT INTO app_settings (singleton, timezone) VALUES (TRUE, 'UTC')")
    assert conn.execute("SELECT count(*) FROM app_settings").fetchone() == (1,)
    # Named after the schema's own convention (pk_<table>), like every other primary key.
    assert _constraint(exc_info.value) == "pk_app_settings"


def test_app_settings_row_other_than_the_singleton_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        conn.execute("INSERT INTO app_settings (singleton, timezone) VALUES (FALSE, 'UTC')")
    assert _constraint(exc_info.value) == "ck_app_settings_singleton"
    assert conn.execute("SELECT count(*) FROM app_settings").fetchone() == (1,)


# ---------------------------------------------------------------------------------------
# Kiosk devices
# ---------------------------------------------------------------------------------------


def _insert_device(conn: Conn, **overrides: object) -> str:
    columns: dict[str, object] = {"name": "Registry counter 1", "entity_id": "DEPT-003"}
    columns.update(overrides)
    query = psycopg.sql.SQL("INSERT INTO kiosk_devices ({}) VALUES ({}) RETURNING device_code").format(
        psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in columns),
        psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() for _ in columns),
    )
    row = conn.execute(query, tuple(columns.values())).fetchone()
    assert row is not None
    code: str = row[0]
    return code


def test_kiosk_device_code_defaults_to_k_and_four_digits(conn: Conn) -> None:
    assert [_insert_device(conn) for _ in range(3)] == ["K0001", "K0002", "K0003"]


@pytest.mark.parametrize("code", ["k0001", "K-001", "K", "1K001", "K0001X0000000000Z"])
def test_kiosk_device_code_in_wrong_format_is_refused(conn: Conn, code: str) -> None:
    # The last one is 17 characters: over the column's 16 before the check can see it.
    expected = errors.StringDataRightTruncation if len(code) > 16 else errors.CheckViolation
    with pytest.raises(expected) as exc_info:
        _insert_device(conn, device_code=code)
    if expected is errors.CheckViolation:
        assert _constraint(exc_info.value) == "ck_kiosk_devices_device_code_format"


def test_kiosk_device_code_duplicate_is_refused(conn: Conn) -> None:
    _insert_device(conn, device_code="K0007")
    with pytest.raises(errors.UniqueViolation) as exc_info:
        _insert_device(conn, device_code="K0007")
    assert _constraint(exc_info.value) == "uq_kiosk_devices_device_code"


@pytest.mark.parametrize("state", ["jammed", "OK", ""])
def test_kiosk_device_unknown_printer_state_is_refused(conn: Conn, state: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        _insert_device(conn, printer_state=state)
    assert _constraint(exc_info.value) == "ck_kiosk_devices_printer_state"


@pytest.mark.parametrize("state", ["ok", "error", "none", None])
def test_kiosk_device_known_printer_state_is_accepted(conn: Conn, state: str | None) -> None:
    _insert_device(conn, printer_state=state)
    assert conn.execute("SELECT printer_state FROM kiosk_devices").fetchall() == [(state,)]


def test_kiosk_device_negative_queue_depth_is_refused(conn: Conn) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        _insert_device(conn, queue_depth=-1)
    assert _constraint(exc_info.value) == "ck_kiosk_devices_queue_depth_not_negative"


DISK_FULL = {"last_error_code": "disk_full", "last_error_message": "Only 120 MB left."}


@pytest.mark.parametrize("code", ["Disk_full", "disk full", "1disk", "_disk", "disk-full", "disk_full\n", ""])
def test_kiosk_device_last_error_code_not_in_snake_case_is_refused(conn: Conn, code: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        _insert_device(conn, last_error_code=code, last_error_message="Disk full.", last_error_at="now")
    assert _constraint(exc_info.value) == "ck_kiosk_devices_last_error_code_format"


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"last_error_code": "disk_full"}, id="code-alone"),
        pytest.param({**DISK_FULL}, id="without-its-time"),
        pytest.param({"last_error_message": "Disk full.", "last_error_at": "now"}, id="without-a-code"),
        pytest.param({"last_error_code": "disk_full", "last_error_at": "now"}, id="without-a-message"),
    ],
)
def test_kiosk_device_last_error_in_part_is_refused(conn: Conn, columns: dict[str, object]) -> None:
    with pytest.raises(errors.CheckViolation) as exc_info:
        _insert_device(conn, **columns)
    assert _constraint(exc_info.value) == "ck_kiosk_devices_last_error_complete"


@pytest.mark.parametrize(("column", "size"), [("last_error_code", 50), ("last_error_message", 300)])
def test_kiosk_device_last_error_longer_than_its_column_is_refused(
    conn: Conn, column: str, size: int
) -> None:
    columns: dict[str, object] = {**DISK_FULL, "last_error_at": "now", column: "e" * (size + 1)}
    with pytest.raises(errors.StringDataRightTruncation):
        _insert_device(conn, **columns)


def test_kiosk_device_whole_last_error_is_accepted(conn: Conn) -> None:
    code = "e" * 50
    _insert_device(conn, last_error_code=code, last_error_message="m" * 300, last_error_at="now")
    assert conn.execute(
        "SELECT last_error_code, length(last_error_message) FROM kiosk_devices"
    ).fetchall() == [(code, 300)]
