"""feedback_db's migrations: upgrade from empty, idempotence, downgrade, concurrency, and for each
revision an upgrade of realistic rows of the one before and a downgrade back to it."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg

SEED_TABLES = {
    "entity_master", "service_master", "priority_levels", "service_feedback", "qr_codes",
    "submission_rate_limit", "tickets", "ticket_status", "ticket_categories",
    "ticket_activities", "ticket_notes", "sla_breaches", "submission_attempts",
    "captcha_challenges",
}  # fmt: skip
NEW_TABLES = {"kiosk_devices", "ticket_number_counters", "app_settings", "ticket_activities_archive"}
FUNCTIONS = {
    "set_created_at", "set_updated_at", "generate_ticket_number", "calculate_sla_targets",
    "create_ticket_from_feedback", "log_ticket_activity", "check_sla_breach",
    "detect_sla_breaches", "check_rate_limit", "requires_captcha", "validate_captcha",
    "archive_ticket_activities",
}  # fmt: skip
VIEWS = {
    "v_service_performance", "v_active_tickets_sla", "v_entity_ticket_queue",
    "v_qr_performance", "v_daily_ticket_stats",
}  # fmt: skip


def _names(conn: psycopg.Connection[tuple[object, ...]], query: str) -> set[str]:
    return {str(row[0]) for row in conn.execute(query)}


def _user_objects(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    return _names(
        conn,
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
        "UNION ALL SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
    )


def test_upgrade_from_empty_creates_every_object(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    engine.dispose()

    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        tables = _names(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables >= SEED_TABLES | NEW_TABLES
        functions = _names(conn, "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
        assert functions >= FUNCTIONS
        assert _names(conn, "SELECT viewname FROM pg_views WHERE schemaname = 'public'") == VIEWS
        # pg_trgm always; the seed's uuid-ossp and pgcrypto wherever the server offers them.
        offered = _names(conn, "SELECT name FROM pg_available_extensions")
        wanted = {"pg_trgm"} | ({"uuid-ossp", "pgcrypto"} & offered)
        assert _names(conn, "SELECT extname FROM pg_extension") >= wanted
        assert conn.execute("SELECT entity_name FROM entity_master").fetchall() == [
            ("Government of Grenada",)
        ]
        assert conn.execute("SELECT count(*) FROM ticket_status").fetchone() == (6,)
        assert conn.execute(
            "SELECT category_name, default_response_hours, default_resolution_hours FROM ticket_categories"
        ).fetchall() == [("General", 4, 72)]
        multipliers = conn.execute(
            "SELECT priority_name, sla_multiplier::text FROM priority_levels ORDER BY 1"
        )
        assert dict(multipliers.fetchall()) == {
            "Critical": "0.50",
            "High": "0.75",
            "Medium": "1.00",
            "Low": "1.50",
        }
        indexes = _names(conn, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        assert {"idx_service_name_trgm", "idx_feedback_created", "idx_ticket_status"} <= indexes
        methods: dict[str, str] = dict(
            conn.execute(
                "SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
                "WHERE c.relname IN ('idx_service_name_trgm', 'idx_feedback_created', 'idx_ticket_status')"
            ).fetchall()
        )
        assert methods == {
            "idx_service_name_trgm": "gin",
            "idx_feedback_created": "brin",
            "idx_ticket_status": "btree",
        }


def test_every_timestamp_column_has_a_time_zone(db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        naive = conn.execute(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'"
        ).fetchall()
    assert naive == []


def test_upgrade_again_changes_nothing_but_the_time_zone(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, timezone="America/Grenada")
    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        before = _user_objects(conn)
    migrate.upgrade(engine, timezone="UTC")
    engine.dispose()

    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        assert _user_objects(conn) == before
        assert conn.execute("SELECT count(*) FROM entity_master").fetchone() == (1,)
        assert conn.execute("SELECT timezone FROM app_settings").fetchall() == [("UTC",)]


def test_migrate_tells_the_operator_of_a_skipped_extension_and_nothing_else(empty_db_url: URL) -> None:
    """On the machine's PostgreSQL both optional extensions exist, so nothing is said; on the
    embedded one (no uuid-ossp, no pgcrypto) each is named once. PostgreSQL's own notices
    ("already exists, skipping") never reach the operator, on the first run or the second."""
    engine = make_engine(empty_db_url)
    notices: list[str] = []
    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        offered = _names(conn, "SELECT name FROM pg_available_extensions")
    migrate.upgrade(engine, on_notice=notices.append)
    migrate.upgrade(engine, on_notice=notices.append)
    engine.dispose()

    assert notices == [
        f"extension {name} is not available on this server; skipped (feedback_db does not use it)"
        for name in ("uuid-ossp", "pgcrypto")
        if name not in offered
    ]


def test_downgrade_base_removes_everything_and_upgrade_works_again(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        # Only Alembic's own bookkeeping table (and its key) is left.
        assert _user_objects(conn) == {"alembic_version", "alembic_version_pkc"}

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_two_migrations_at_once_both_succeed(empty_db_url: URL) -> None:
    """Two API hosts may start at the same moment; the advisory lock serialises them."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        engine = make_engine(empty_db_url)
        try:
            barrier.wait()
            migrate.upgrade(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    engine = make_engine(empty_db_url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_seed_demo_twice_changes_nothing(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        first = demo.seed_demo(connection)
    with engine.begin() as connection:
        second = demo.seed_demo(connection)
    engine.dispose()

    assert first.entities == len(demo.ENTITIES)
    assert first.services == len(demo.SERVICES)
    assert first.categories == len(demo.CATEGORIES)
    assert first.qr_codes == len(demo.QR_CODES)
    assert second.total == 0


def test_demo_catalog_hangs_under_the_root(db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        orphans = conn.execute(
            "SELECT unique_entity_id FROM entity_master "
            "WHERE parent_entity_id IS NULL AND unique_entity_id <> 'GOV-000'"
        ).fetchall()
        services_without_default_category = conn.execute(
            "SELECT service_id FROM service_master WHERE default_category_for_service(service_id) IS NULL"
        ).fetchall()
    assert orphans == []
    assert services_without_default_category == []


# --- 0002: the kiosk's last error ----------------------------------------------------------

LAST_ERROR_COLUMNS = ("last_error_code", "last_error_message", "last_error_at")
# kiosk_devices as 0001 knew it; written with plain SQL, so this stays true as the code moves on.
KIOSK_0001_COLUMNS = (
    "device_id", "device_code", "name", "entity_id", "token_hash", "enrollment_code_hash",
    "enrollment_expires_at", "is_active", "last_seen_at", "last_sync_at", "queue_depth",
    "oldest_pending_at", "clock_drift_seconds", "app_version", "printer_state", "created_at",
    "updated_at",
)  # fmt: skip


def _insert_0001_fleet(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """A realistic fleet at 0001: an enrolled kiosk in daily use (with a submission it sent), one
    waiting for its enrollment code and a revoked one."""
    conn.execute(
        "INSERT INTO service_master (service_id, service_name, entity_id) "
        "VALUES ('SVC-900', 'Passport Application and Renewal', 'GOV-000')"
    )
    conn.execute(
        """
        INSERT INTO kiosk_devices (
            name, entity_id, token_hash, is_active, last_seen_at, last_sync_at, queue_depth,
            oldest_pending_at, clock_drift_seconds, app_version, printer_state, created_at
        ) VALUES (
            'Passport office, counter 2', 'GOV-000', repeat('a', 64), TRUE,
            '2026-11-22 09:50:02+00', '2026-11-22 09:41:09+00', 2, '2026-11-22 09:41:07+00', -42,
            '1.0.0', 'error', '2026-10-01 08:00:00+00'
        )
        """
    )
    conn.execute(
        "INSERT INTO kiosk_devices (name, entity_id, enrollment_code_hash, enrollment_expires_at, is_active) "
        "VALUES ('Registry lobby', 'GOV-000', repeat('b', 64), '2026-11-25 09:00:00+00', FALSE)"
    )
    conn.execute(
        "INSERT INTO kiosk_devices (name, entity_id, is_active, last_seen_at, app_version, printer_state) "
        "VALUES ('Old lobby kiosk', 'GOV-000', FALSE, '2026-06-01 12:00:00+00', '0.9.1', 'none')"
    )
    conn.execute(
        """
        INSERT INTO service_feedback (
            client_uuid, reference_code, channel, service_id, entity_id, rating, recorded_at,
            clock_offset_s, device_id
        ) SELECT '0b7c6f4e-2f1a-4c1e-9a53-5d2f0c8e7a11', 'K0001-000123-7QX4', 'kiosk', 'SVC-900',
                 'GOV-000', 2, '2026-11-22 09:41:07+00', 42, device_id
          FROM kiosk_devices WHERE device_code = 'K0001'
        """
    )


def _kiosk_rows(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    columns = ", ".join(KIOSK_0001_COLUMNS)
    return conn.execute(f"SELECT {columns} FROM kiosk_devices ORDER BY device_id").fetchall()


def _schema(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, list[tuple[object, ...]]]:
    """What the database holds, in enough detail to tell two schema versions apart."""
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
        "is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "comments": "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relnamespace = 'public'::regnamespace "
        "AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NOT NULL "
        "UNION ALL SELECT relname, '', obj_description(oid, 'pg_class') FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND obj_description(oid, 'pg_class') IS NOT NULL",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal",
        "functions": "SELECT proname, pg_get_function_identity_arguments(oid), md5(prosrc) FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace",
        "views": "SELECT viewname, md5(definition) FROM pg_views WHERE schemaname = 'public'",
        "database settings": "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = 0 "
        "AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
    }
    return {name: sorted(conn.execute(query).fetchall(), key=repr) for name, query in queries.items()}


def test_0002_keeps_every_kiosk_of_0001_with_no_error_reported(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0001")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        _insert_0001_fleet(conn)
        before = _kiosk_rows(conn)
        feedback_before = conn.execute("SELECT * FROM service_feedback").fetchall()

    migrate.upgrade(engine, revision="0002")
    assert migrate.current_revision(engine) == "0002"
    engine.dispose()

    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _kiosk_rows(conn) == before  # updated_at too: adding columns touches no row
        errors = conn.execute(
            f"SELECT {', '.join(LAST_ERROR_COLUMNS)} FROM kiosk_devices ORDER BY device_id"
        ).fetchall()
        assert errors == [(None, None, None)] * 3
        assert conn.execute("SELECT * FROM service_feedback").fetchall() == feedback_before
        # The old kiosks take a reported error like new ones.
        conn.execute(
            "UPDATE kiosk_devices SET last_error_code = 'disk_full', last_error_message = 'Disk full.', "
            "last_error_at = now() WHERE device_code = 'K0001'"
        )
        with pytest.raises(psycopg.errors.CheckViolation) as exc_info:
            conn.execute("UPDATE kiosk_devices SET last_error_code = 'Disk Full' WHERE device_code = 'K0001'")
        assert exc_info.value.diag.constraint_name == "ck_kiosk_devices_last_error_code_format"
        comments = conn.execute(
            "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = 'kiosk_devices'::regclass AND a.attname LIKE 'last_error_%'"
        ).fetchall()
        assert {name for name, comment in comments if comment} == set(LAST_ERROR_COLUMNS)


def test_0002_downgrade_restores_0001_exactly_and_keeps_the_kiosks(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0001")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        _insert_0001_fleet(conn)
        schema_0001 = _schema(conn)
    migrate.upgrade(engine, revision="0002")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) != schema_0001
        conn.execute(
            "UPDATE kiosk_devices SET last_error_code = 'disk_full', last_error_message = 'Disk full.', "
            "last_error_at = now() WHERE device_code = 'K0001'"
        )
        # The downgrade drops what 0002 learned (the error), and nothing else.
        before = _kiosk_rows(conn)

    migrate.downgrade(engine, "0001")

    assert migrate.current_revision(engine) == "0001"
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0001
        assert _kiosk_rows(conn) == before
        assert conn.execute("SELECT count(*) FROM service_feedback").fetchone() == (1,)
    # And up again, as an operator would after rolling back a release.
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


STATUS_CODES_0003 = {
    1: "open", 2: "in_progress", 3: "waiting", 4: "resolved", 5: "closed", 6: "reopened",
    7: "awaiting_parts", 8: "escalado", 9: "status_9", 10: "status_10",
}  # fmt: skip


def test_0003_gives_every_status_a_stable_code_and_its_downgrade_restores_0002(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0002")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        # An administrator renamed a seeded status and added some of their own, before 0003.
        conn.execute("UPDATE ticket_status SET status_name = 'Being worked on' WHERE status_id = 2")
        conn.execute(
            "INSERT INTO ticket_status (status_id, status_name, status_order, color) VALUES "
            "(7, 'Awaiting Parts', 3, 'blue'), (8, '¡Escalado!', 3, 'red'), "
            "(9, '48h hold', 3, 'grey'), (10, 'Open!', 9, 'grey')"
        )
        schema_0002 = _schema(conn)
        statuses_0002 = conn.execute("SELECT * FROM ticket_status ORDER BY status_id").fetchall()

    migrate.upgrade(engine, revision="0003")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        codes: dict[object, object] = dict(
            conn.execute("SELECT status_id, status_code FROM ticket_status").fetchall()
        )
        assert codes == STATUS_CODES_0003  # a seeded status keeps its code whatever its name
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO ticket_status (status_id, status_name, status_code) VALUES (11, 'Again', 'open')"
            )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO ticket_status (status_id, status_name, status_code) VALUES (11, 'Bad', 'Bad')"
            )

    migrate.downgrade(engine, "0002")
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0002
        assert conn.execute("SELECT * FROM ticket_status ORDER BY status_id").fetchall() == statuses_0002
