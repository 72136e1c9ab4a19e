"""One ticket in the desk against a real feedback_db: what the page shows, and every change an
officer makes: scope, the optimistic check, the workflow, roles, the audit trail
(services/desk_tickets.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server_sync_api.domain import Officer
from server_sync_api.services import desk_tickets
from server_sync_api.services.desk_tickets import ChangeRefused, StaleTicket, TicketNotFound
from tests.helpers import desk
from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import category_id, insert_ticket, row_version, ticket_number, update_ticket

pytestmark = pytest.mark.anyio

Conn = psycopg.Connection[tuple[Any, ...]]
AConn = psycopg.AsyncConnection[Any]


def snapshot(conn: Conn, number: str) -> tuple[object, ...]:
    """Everything a change could touch: the row, its activities, notes and breaches."""
    return (
        conn.execute("SELECT * FROM tickets WHERE ticket_number = %s", (number,)).fetchall(),
        conn.execute(
            "SELECT a.* FROM ticket_activities a JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s "
            "ORDER BY activity_id",
            (number,),
        ).fetchall(),
        conn.execute(
            "SELECT n.* FROM ticket_notes n JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s",
            (number,),
        ).fetchall(),
        conn.execute(
            "SELECT b.* FROM sla_breaches b JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s",
            (number,),
        ).fetchall(),
    )


def activities(conn: Conn, number: str) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT a.activity_type, a.old_value, a.new_value, a.changed_by FROM ticket_activities a "
        "JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s AND a.activity_type <> 'created' "
        "ORDER BY a.activity_id",
        (number,),
    ).fetchall()


@pytest.fixture
def people(conn: Conn) -> dict[str, Officer]:
    return {
        "officer": desk.officer(conn, "ana@gov.gd", "DEPT-003"),
        "colleague": desk.officer(conn, "ben@gov.gd", "DEPT-003"),
        "supervisor": desk.officer(conn, "sup@gov.gd", "MIN-003", "supervisor"),
        "admin": desk.officer(conn, "root@gov.gd", "GOV-000", "admin"),
        "immigration": desk.officer(conn, "imm@gov.gd", "AGY-002", "supervisor"),
        "gone": desk.officer(conn, "gone@gov.gd", "DEPT-003", active=False),
    }


@pytest.fixture
def registry_ticket(conn: Conn) -> str:
    """An open DEPT-003 ticket with no feedback behind it."""
    return ticket_number(conn, insert_ticket(conn, description="Walk-in: the certificate has a typo."))


# -- The ticket page -----------------------------------------------------------------------------


async def test_a_ticket_from_a_kiosk_complaint_shows_the_citizen_the_clocks_and_one_timeline(
    conn: Conn, aconn: AConn, people: dict[str, Officer]
) -> None:
    device = conn.execute(
        "INSERT INTO kiosk_devices (name, entity_id) VALUES ('Registry counter 1', 'MIN-003') "
        "RETURNING device_id, device_code"
    ).fetchone()
    assert device is not None
    recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    feedback_id = insert_feedback(
        conn,
        rating=1,
        service_quality=2,
        staff_behavior=1,
        waiting_time=None,
        cleanliness=4,
        grievance_flag=True,
        feedback_text="Nobody answered for two hours.",
        reference_code=f"{device[1]}-000123-7QX4",
        device_id=device[0],
        recorded_at=recorded,
    )
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    number = str(row[0])
    ana = people["officer"]
    version = row_version(conn, number)
    version = await desk_tickets.assign(aconn, ana, number, version, ana.email)
    await desk_tickets.add_note(aconn, ana, number, None, "Called the citizen back.", True)
    version = await desk_tickets.change_status(aconn, ana, number, version, "in_progress")
    await desk_tickets.add_note(aconn, ana, number, None, "Counter 2 was closed that day.", False)

    view = await desk_tickets.ticket(aconn, ana, number)
    assert view is not None
    assert (view.ticket_number, view.status_code, view.status_name) == (number, "in_progress", "In Progress")
    assert view.title == "Grievance: Birth Certificate Request"
    assert view.description == "Nobody answered for two hours."
    assert (view.priority_id, view.priority_name) == (2, "High")
    assert (view.service_id, view.service_name) == ("SVC-003", "Birth Certificate Request")
    assert (view.entity_id, view.entity_name) == ("DEPT-003", "Civil Registry and Vital Statistics")
    assert (view.assigned_to, view.assignee_name) == ("ana@gov.gd", "Ana")
    assert view.row_version == version == row_version(conn, number)
    assert view.responded_at is not None
    assert view.resolved_at is None
    assert view.closed_at is None
    assert view.sla_start is not None
    assert view.response_target is not None
    assert view.next_deadline == view.resolution_target
    assert (view.breached, view.reopened) == (False, False)
    assert view.category_name is not None
    assert view.breaches == ()

    f = view.feedback
    assert f is not None
    assert (f.rating, f.service_quality, f.staff_behavior, f.waiting_time, f.cleanliness) == (
        1,
        2,
        1,
        None,
        4,
    )
    assert (f.feedback_text, f.channel, f.grievance_flag) == ("Nobody answered for two hours.", "kiosk", True)
    assert f.reference_code == f"{device[1]}-000123-7QX4"
    assert (f.device_code, f.device_name) == (device[1], "Registry counter 1")
    assert f.office_name == "Ministry of Legal Affairs, Labour and Consumer Affairs"  # where the kiosk stands
    assert f.recorded_at == recorded
    assert f.created_at is not None
    assert f.created_at > recorded

    kinds = [(e.kind, e.activity_type, e.new_value, e.text, e.is_public, e.actor) for e in view.timeline]
    assert kinds == [
        ("activity", "created", number, None, None, "system"),
        ("activity", "assignment_change", "ana@gov.gd", None, None, "ana@gov.gd"),
        ("note", None, None, "Called the citizen back.", True, "ana@gov.gd"),
        ("activity", "status_change", "In Progress", None, None, "ana@gov.gd"),
        ("note", None, None, "Counter 2 was closed that day.", False, "ana@gov.gd"),
    ]
    assert [e.at for e in view.timeline] == sorted(e.at for e in view.timeline)
    assert view.timeline[1].actor_name == "Ana"
    assert view.timeline[0].actor_name is None

    assert [code for code, _ in view.allowed_statuses] == ["waiting", "resolved", "closed"]
    assert view.assignees == ()  # an officer assigns nobody but themselves
    assert [name for _, name in view.categories] == [
        "Certificate errors", "Registry counter service", "Labour services", "General",
    ]  # fmt: skip
    assert [pid for pid, _ in view.priorities] == [1, 2, 3, 4]


async def test_breaches_and_a_staff_ticket_without_feedback(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    past = datetime.now(UTC) - timedelta(days=2)  # General: 4 h to respond, 72 to resolve
    late = ticket_number(conn, insert_ticket(conn, sla_start=past, created_at=past))
    conn.execute("SELECT count(*) FROM detect_sla_breaches()")
    view = await desk_tickets.ticket(aconn, people["officer"], late)
    assert view is not None
    assert view.breached
    assert [(b.breach_type, b.actual_time, b.escalated) for b in view.breaches] == [
        ("response_breach", None, True),
    ]
    plain = await desk_tickets.ticket(aconn, people["officer"], registry_ticket)
    assert plain is not None
    assert plain.feedback is None
    assert plain.description == "Walk-in: the certificate has a typo."
    assert [e.activity_type for e in plain.timeline] == ["created"]


async def test_archived_activities_stay_in_the_timeline(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ticket_id = conn.execute(
        "SELECT ticket_id FROM tickets WHERE ticket_number = %s", (registry_ticket,)
    ).fetchone()
    assert ticket_id is not None
    conn.execute(
        "INSERT INTO ticket_activities_archive (activity_id, ticket_id, activity_type, old_value, new_value, "
        "changed_by, created_at) VALUES (-1, %s, 'status_change', 'Open', 'Waiting', 'old@gov.gd', "
        "now() - interval '2 years')",
        (ticket_id[0],),
    )
    view = await desk_tickets.ticket(aconn, people["officer"], registry_ticket)
    assert view is not None
    assert [(e.activity_type, e.actor) for e in view.timeline] == [
        ("status_change", "old@gov.gd"),
        ("created", "postgres"),
    ]


async def test_unknown_malformed_out_of_scope_or_disabled_is_none(
    aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    assert await desk_tickets.ticket(aconn, people["officer"], registry_ticket) is not None
    assert await desk_tickets.ticket(aconn, people["supervisor"], registry_ticket) is not None
    assert await desk_tickets.ticket(aconn, people["admin"], registry_ticket) is not None
    assert await desk_tickets.ticket(aconn, people["immigration"], registry_ticket) is None
    assert await desk_tickets.ticket(aconn, people["gone"], registry_ticket) is None
    for bad in ("209901-000001", "nonsense", "", "202601-1", "202601-000001' OR '1'='1", "2" * 500):
        assert await desk_tickets.ticket(aconn, people["admin"], bad) is None


# -- Scope: every action -------------------------------------------------------------------------


def every_action(
    number: str, version: int | None, conn: Conn
) -> dict[str, Callable[[AConn, Officer], Awaitable[int]]]:
    general = category_id(conn, "General")
    v = version if version is not None else 1
    return {
        "assign to self": lambda c, o: desk_tickets.assign(c, o, number, v, o.email),
        "assign to another": lambda c, o: desk_tickets.assign(c, o, number, v, "ana@gov.gd"),
        "unassign": lambda c, o: desk_tickets.assign(c, o, number, v, None),
        "status": lambda c, o: desk_tickets.change_status(c, o, number, v, "in_progress"),
        "resolve with notes": lambda c, o: desk_tickets.change_status(c, o, number, v, "resolved", "Fixed."),
        "priority": lambda c, o: desk_tickets.change_priority(c, o, number, v, 1),
        "category": lambda c, o: desk_tickets.change_category(c, o, number, v, general),
        "resolution notes": lambda c, o: desk_tickets.set_resolution_notes(c, o, number, v, "Reprinted."),
        "internal note": lambda c, o: desk_tickets.add_note(c, o, number, None, "Internal.", False),
        "public note": lambda c, o: desk_tickets.add_note(c, o, number, v, "Public.", True),
    }


@pytest.mark.parametrize("who", ["immigration", "gone"])
async def test_every_action_out_of_scope_is_not_found_and_changes_nothing(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str, who: str
) -> None:
    update_ticket(conn, number_id(conn, registry_ticket), assigned_to="ana@gov.gd")
    before = snapshot(conn, registry_ticket)
    for name, action in every_action(registry_ticket, row_version(conn, registry_ticket), conn).items():
        with pytest.raises(TicketNotFound) as caught:
            await action(aconn, people[who])
        assert caught.value.message == desk_tickets.NOT_FOUND_MESSAGE, name
        assert snapshot(conn, registry_ticket) == before, name
    # ... exactly as for a ticket that does not exist, or a number that is not one.
    for missing in ("209901-000001", "not-a-number"):
        for name, action in every_action(missing, 1, conn).items():
            with pytest.raises(TicketNotFound):
                await action(aconn, people["admin"])
            assert snapshot(conn, registry_ticket) == before, name


def number_id(conn: Conn, number: str) -> int:
    row = conn.execute("SELECT ticket_id FROM tickets WHERE ticket_number = %s", (number,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_stale_version_is_refused_and_changes_nothing(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    seen = row_version(conn, registry_ticket)
    update_ticket(conn, number_id(conn, registry_ticket), title="Edited meanwhile")  # someone else
    assert row_version(conn, registry_ticket) == seen + 1
    before = snapshot(conn, registry_ticket)
    for name, action in every_action(registry_ticket, seen, conn).items():
        if "note" in name:
            continue  # notes need no version (below)
        with pytest.raises(StaleTicket) as caught:
            await action(aconn, people["supervisor"])
        assert caught.value.message == (
            "This ticket was changed by someone else since you opened it. "
            "Reload it to see the change, then try again."
        )
        assert snapshot(conn, registry_ticket) == before, name


async def test_notes_need_no_version(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ana = people["officer"]
    first = await desk_tickets.add_note(aconn, ana, registry_ticket, None, "  Internal, trimmed.  ", False)
    second = await desk_tickets.add_note(aconn, ana, registry_ticket, 999, "We are on it.", True)
    assert second > first
    notes = conn.execute(
        "SELECT note_id, note_text, is_public, created_by FROM ticket_notes ORDER BY note_id"
    ).fetchall()
    assert notes == [
        (first, "Internal, trimmed.", False, "ana@gov.gd"),
        (second, "We are on it.", True, "ana@gov.gd"),
    ]
    assert row_version(conn, registry_ticket) == 1  # a note changes no field of the ticket
    for text in ("", "   \n ", "x" * 5001):
        with pytest.raises(ChangeRefused):
            await desk_tickets.add_note(aconn, ana, registry_ticket, None, text, False)
    await desk_tickets.add_note(aconn, ana, registry_ticket, None, "y" * 5000, False)
    assert conn.execute("SELECT count(*) FROM ticket_notes").fetchone() == (3,)


# -- Each action, its audit row and its rules ----------------------------------------------------


async def test_each_action_is_recorded_with_the_officer_as_actor(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ana, number = people["officer"], registry_ticket
    v = row_version(conn, number)
    v2 = await desk_tickets.assign(aconn, ana, number, v, "ANA@gov.gd")
    assert v2 == v + 1 == row_version(conn, number)
    v = await desk_tickets.change_status(aconn, ana, number, v2, "in_progress")
    v = await desk_tickets.change_priority(aconn, ana, number, v, 1)
    v = await desk_tickets.change_category(
        aconn, ana, number, v, category_id(conn, "Registry counter service")
    )
    v = await desk_tickets.set_resolution_notes(aconn, ana, number, v, "Certificate reprinted.")
    v = await desk_tickets.change_status(aconn, ana, number, v, "resolved", "Reprinted and posted.")
    v = await desk_tickets.set_resolution_notes(aconn, ana, number, v, "   ")
    assert v == row_version(conn, number)
    assert activities(conn, number) == [
        ("assignment_change", None, "ana@gov.gd", "ana@gov.gd"),  # the officer's own spelling
        ("status_change", "Open", "In Progress", "ana@gov.gd"),
        ("priority_change", "Medium", "Critical", "ana@gov.gd"),
        ("category_change", None, "Registry counter service", "ana@gov.gd"),
        ("resolution_notes_change", None, "Certificate reprinted.", "ana@gov.gd"),
        ("status_change", "In Progress", "Resolved", "ana@gov.gd"),
        ("resolution_notes_change", "Certificate reprinted.", "Reprinted and posted.", "ana@gov.gd"),
        ("resolution_notes_change", "Reprinted and posted.", None, "ana@gov.gd"),
    ]
    row = conn.execute(
        "SELECT assigned_to, priority_id, resolution_notes, resolved_at IS NOT NULL FROM tickets "
        "WHERE ticket_number = %s",
        (number,),
    ).fetchone()
    assert row == ("ana@gov.gd", 1, None, True)
    # The actor was the transaction's alone: the connection carries no leftover.
    cursor = await aconn.execute("SELECT current_setting('gea.actor', true)")
    assert (await cursor.fetchone()) in ((None,), ("",))


async def test_a_change_that_changes_nothing_keeps_the_version(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    sup, number = people["supervisor"], registry_ticket
    v = row_version(conn, number)
    assert await desk_tickets.assign(aconn, sup, number, v, None) == v
    assert await desk_tickets.change_priority(aconn, sup, number, v, 3) == v
    assert await desk_tickets.set_resolution_notes(aconn, sup, number, v, "") == v
    assert activities(conn, number) == []


async def test_the_workflow(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ana, number = people["officer"], registry_ticket
    v = row_version(conn, number)

    async def refused(to: str, message: str) -> None:
        before = snapshot(conn, number)
        with pytest.raises(ChangeRefused) as caught:
            await desk_tickets.change_status(aconn, ana, number, v, to)
        assert caught.value.message == message
        assert snapshot(conn, number) == before

    async def allowed() -> list[str]:
        view = await desk_tickets.ticket(aconn, ana, number)
        assert view is not None
        return [code for code, _ in view.allowed_statuses]

    assert await allowed() == ["in_progress", "waiting", "resolved", "closed"]
    await refused("reopened", "A ticket that is Open cannot be moved to Reopened.")
    await refused("open", "The ticket is already Open.")
    await refused("nonsense", "There is no status “nonsense”.")
    for to, expected_next in [
        ("waiting", ["in_progress", "resolved", "closed"]),
        ("in_progress", ["waiting", "resolved", "closed"]),
        ("resolved", ["reopened", "closed"]),
        ("closed", ["reopened"]),
        ("reopened", ["in_progress", "waiting", "resolved", "closed"]),
        ("closed", ["reopened"]),
    ]:
        v = await desk_tickets.change_status(aconn, ana, number, v, to)
        assert await allowed() == expected_next, to
    await refused("in_progress", "A ticket that is Closed cannot be moved to In Progress.")
    await refused("resolved", "A ticket that is Closed cannot be moved to Resolved.")
    v = await desk_tickets.change_status(aconn, ana, number, v, "reopened")
    await refused("open", "A ticket that is Reopened cannot be moved to Open.")


async def test_statuses_an_administrator_added(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    conn.execute(
        "INSERT INTO ticket_status (status_id, status_name, status_order, status_code) "
        "VALUES (7, 'Awaiting parts', 3, 'awaiting_parts'), (8, 'With legal', 3, 'with_legal')"
    )
    ana, number = people["officer"], registry_ticket
    v = row_version(conn, number)
    view = await desk_tickets.ticket(aconn, ana, number)
    assert view is not None
    assert [c for c, _ in view.allowed_statuses] == [
        "in_progress", "waiting", "awaiting_parts", "with_legal", "resolved", "closed",
    ]  # fmt: skip
    v = await desk_tickets.change_status(aconn, ana, number, v, "awaiting_parts")
    view = await desk_tickets.ticket(aconn, ana, number)
    assert view is not None
    # Anywhere, but Resolved, Closed and Reopened only as from In Progress.
    assert [c for c, _ in view.allowed_statuses] == [
        "open", "in_progress", "waiting", "with_legal", "resolved", "closed",
    ]  # fmt: skip
    with pytest.raises(ChangeRefused):
        await desk_tickets.change_status(aconn, ana, number, v, "reopened")
    v = await desk_tickets.change_status(aconn, ana, number, v, "with_legal")
    v = await desk_tickets.change_status(aconn, ana, number, v, "resolved")
    with pytest.raises(ChangeRefused):  # a resolved ticket is reopened first
        await desk_tickets.change_status(aconn, ana, number, v, "awaiting_parts")


async def test_assignment_rules(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ana, ben, sup, admin = people["officer"], people["colleague"], people["supervisor"], people["admin"]
    number = registry_ticket

    async def refused(who: Officer, to: str | None, message: str) -> None:
        before = snapshot(conn, number)
        with pytest.raises(ChangeRefused) as caught:
            await desk_tickets.assign(aconn, who, number, row_version(conn, number), to)
        assert caught.value.message == message
        assert snapshot(conn, number) == before

    def assignee() -> object:
        row = conn.execute("SELECT assigned_to FROM tickets WHERE ticket_number = %s", (number,)).fetchone()
        assert row is not None
        return row[0]

    only_supervisors = "You can take a ticket yourself; only a supervisor can assign it to someone else."
    await refused(ana, "ben@gov.gd", only_supervisors)
    await desk_tickets.assign(aconn, ana, number, row_version(conn, number), "ana@gov.gd")  # takes it
    assert assignee() == "ana@gov.gd"
    await refused(
        ben, "ben@gov.gd", "This ticket is assigned to ana@gov.gd. Only a supervisor can reassign it."
    )
    await refused(ben, None, "This ticket is assigned to ana@gov.gd. Only a supervisor can unassign it.")
    await desk_tickets.assign(aconn, ana, number, row_version(conn, number), None)  # gives it up
    assert assignee() is None

    await desk_tickets.assign(aconn, sup, number, row_version(conn, number), "ben@gov.gd")
    assert assignee() == "ben@gov.gd"
    await desk_tickets.assign(aconn, admin, number, row_version(conn, number), "Sup@Gov.gd")
    assert assignee() == "sup@gov.gd"
    await desk_tickets.assign(aconn, sup, number, row_version(conn, number), None)
    assert assignee() is None
    # An administrator can see the ticket, but works above the supervisor: not theirs to give.
    await refused(sup, "root@gov.gd", "root@gov.gd is not an active officer who can see this ticket.")
    await refused(sup, "imm@gov.gd", "imm@gov.gd is not an active officer who can see this ticket.")
    await refused(sup, "gone@gov.gd", "gone@gov.gd is not an active officer who can see this ticket.")
    await refused(sup, "nobody@gov.gd", "nobody@gov.gd is not an active officer who can see this ticket.")
    assert [a[2] for a in activities(conn, number)] == [
        "ana@gov.gd", None, "ben@gov.gd", "sup@gov.gd", None,
    ]  # fmt: skip
    assert [a[3] for a in activities(conn, number)] == [
        "ana@gov.gd", "ana@gov.gd", "sup@gov.gd", "root@gov.gd", "sup@gov.gd",
    ]  # fmt: skip

    view = await desk_tickets.ticket(aconn, sup, number)
    assert view is not None
    assert list(view.assignees) == [("ana@gov.gd", "Ana"), ("ben@gov.gd", "Ben"), ("sup@gov.gd", "Sup")]
    view = await desk_tickets.ticket(aconn, admin, number)
    assert view is not None
    assert list(view.assignees) == [
        ("ana@gov.gd", "Ana"), ("ben@gov.gd", "Ben"), ("root@gov.gd", "Root"), ("sup@gov.gd", "Sup"),
    ]  # fmt: skip
    await desk_tickets.assign(aconn, admin, number, row_version(conn, number), "root@gov.gd")
    assert assignee() == "root@gov.gd"


async def test_a_supervisor_assigns_within_their_own_entity_not_above_it(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    """Security review: a supervisor of DEPT-003 was offered, and could assign to, the officers
    of MIN-003 above it and every administrator. The assignee must see the ticket and work in
    the supervisor's own scope; an administrator's scope is everything."""
    sue = desk.officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    desk.officer(conn, "min@gov.gd", "MIN-003")
    ana, sup, admin, number = people["officer"], people["supervisor"], people["admin"], registry_ticket

    async def assignees(viewer: Officer) -> list[str]:
        view = await desk_tickets.ticket(aconn, viewer, number)
        assert view is not None
        return [a.email for a in view.assignees]

    def assignee() -> object:
        row = conn.execute("SELECT assigned_to FROM tickets WHERE ticket_number = %s", (number,)).fetchone()
        assert row is not None
        return row[0]

    assert await assignees(sue) == ["ana@gov.gd", "ben@gov.gd", "sue@gov.gd"]
    for above in ("min@gov.gd", "sup@gov.gd", "root@gov.gd"):
        before = snapshot(conn, number)
        with pytest.raises(ChangeRefused) as caught:
            await desk_tickets.assign(aconn, sue, number, row_version(conn, number), above)
        assert caught.value.message == f"{above} is not an active officer who can see this ticket."
        assert snapshot(conn, number) == before
    await desk_tickets.assign(aconn, sue, number, row_version(conn, number), "ben@gov.gd")
    assert assignee() == "ben@gov.gd"
    await desk_tickets.assign(aconn, sue, number, row_version(conn, number), "sue@gov.gd")
    assert assignee() == "sue@gov.gd"

    # MIN-003's supervisor offers MIN-003 and DEPT-003; an administrator everyone who sees it.
    assert await assignees(sup) == ["ana@gov.gd", "ben@gov.gd", "min@gov.gd", "sue@gov.gd", "sup@gov.gd"]
    assert "root@gov.gd" in await assignees(admin)
    await desk_tickets.assign(aconn, sup, number, row_version(conn, number), "min@gov.gd")
    assert assignee() == "min@gov.gd"
    await desk_tickets.assign(aconn, admin, number, row_version(conn, number), "root@gov.gd")
    assert assignee() == "root@gov.gd"
    with pytest.raises(ChangeRefused):  # sees the ticket? no: Immigration is another ministry
        await desk_tickets.assign(aconn, admin, number, row_version(conn, number), "imm@gov.gd")

    # An officer still takes an unassigned ticket themselves.
    await desk_tickets.assign(aconn, admin, number, row_version(conn, number), None)
    await desk_tickets.assign(aconn, ana, number, row_version(conn, number), "ana@gov.gd")
    assert assignee() == "ana@gov.gd"


async def test_category_must_be_in_the_services_chain_and_targets_follow(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    ana, number = people["officer"], registry_ticket
    before = snapshot(conn, number)
    not_in_chain = "That category is not one this ticket's service can use."
    for outside, message in [
        (category_id(conn, "Passport delays"), not_in_chain),  # AGY-002's
        (999_999, not_in_chain),
        (2**40, "There is no such choice."),
        (-1, "There is no such choice."),
    ]:
        with pytest.raises(ChangeRefused) as caught:
            await desk_tickets.change_category(aconn, ana, number, row_version(conn, number), outside)
        assert caught.value.message == message
        assert snapshot(conn, number) == before

    labour = category_id(conn, "Labour services")  # MIN-003's, the service's ministry: in the chain
    await desk_tickets.change_category(aconn, ana, number, row_version(conn, number), labour)
    targets = conn.execute(
        "SELECT response_target - sla_start, resolution_target - sla_start FROM tickets "
        "WHERE ticket_number = %s",
        (number,),
    ).fetchone()
    assert targets == (timedelta(hours=24), timedelta(hours=120))  # Labour services, Medium
    with pytest.raises(ChangeRefused) as refused:
        await desk_tickets.change_priority(aconn, ana, number, row_version(conn, number), 7)
    assert refused.value.message == "There is no such priority."


# -- Control characters --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
async def test_a_control_character_is_refused_before_any_sql(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str, bad: str
) -> None:
    """Security review: a NUL in a form's text answered 500 (PostgreSQL's "text fields cannot
    contain NUL" from psycopg). Every text an officer types is refused first, with a message."""
    sup, number = people["supervisor"], registry_ticket
    v = row_version(conn, number)
    before = snapshot(conn, number)
    for name, action, where in [
        ("note", desk_tickets.add_note(aconn, sup, number, None, f"a{bad}b", True), "the note"),
        (
            "resolution notes",
            desk_tickets.set_resolution_notes(aconn, sup, number, v, f"a{bad}b"),
            "the resolution notes",
        ),
        (
            "status with notes",
            desk_tickets.change_status(aconn, sup, number, v, "resolved", f"done{bad}"),
            "the resolution notes",
        ),
        ("status", desk_tickets.change_status(aconn, sup, number, v, f"in{bad}"), "the status"),
        ("assignee", desk_tickets.assign(aconn, sup, number, v, f"ana{bad}@gov.gd"), "the email address"),
    ]:
        with pytest.raises(ChangeRefused) as caught:
            await action
        assert caught.value.message == (
            f"There is a control character (such as NUL) in {where}, which cannot be saved. "
            "Remove it and try again."
        ), name
        assert snapshot(conn, number) == before, name
    # The connection is fine afterwards: nothing reached the server.
    cursor = await aconn.execute("SELECT 1")
    assert await cursor.fetchone() == (1,)


async def test_tabs_and_new_lines_are_text(
    conn: Conn, aconn: AConn, people: dict[str, Officer], registry_ticket: str
) -> None:
    sup, number = people["supervisor"], registry_ticket
    await desk_tickets.add_note(aconn, sup, number, None, "Called:\r\n\tno answer.", False)
    await desk_tickets.set_resolution_notes(aconn, sup, number, row_version(conn, number), "Line 1\nLine 2")
    assert conn.execute("SELECT note_text FROM ticket_notes").fetchall() == [("Called:\r\n\tno answer.",)]
    row = conn.execute("SELECT resolution_notes FROM tickets WHERE ticket_number = %s", (number,)).fetchone()
    assert row == ("Line 1\nLine 2",)
