"""feedback_db's migrations: upgrade from empty, idempotence, downgrade, concurrency."""

from __future__ import annotations

import threading

import psycopg
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
        assert _names(conn, "SELECT extname FROM pg_extension") >= {"uuid-ossp", "pgcrypto", "pg_trgm"}
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
