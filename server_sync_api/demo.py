"""The demo catalog `gea-server seed-demo` loads: a small, realistic slice of the
Government of Grenada's services, used by the demo and by later tests.

Every row is inserted with ON CONFLICT DO NOTHING on its natural key, so loading it twice
changes nothing and it never overwrites what an administrator edited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

# (id, name, type, parent). Ministries hang under the GOV-000 root the first migration made.
ENTITIES: tuple[tuple[str, str, str, str], ...] = (
    ("MIN-001", "Ministry of Finance and Economic Development", "MIN", "GOV-000"),
    ("MIN-002", "Ministry of Health, Wellness and Religious Affairs", "MIN", "GOV-000"),
    ("MIN-003", "Ministry of Legal Affairs, Labour and Consumer Affairs", "MIN", "GOV-000"),
    ("MIN-004", "Ministry of National Security and Home Affairs", "MIN", "GOV-000"),
    ("MIN-005", "Ministry of Education, Youth and Sports", "MIN", "GOV-000"),
    ("DEPT-001", "Inland Revenue Division", "DEPT", "MIN-001"),
    ("DEPT-002", "Customs and Excise Division", "DEPT", "MIN-001"),
    ("DEPT-003", "Civil Registry and Vital Statistics", "DEPT", "MIN-003"),
    ("DEPT-004", "General Hospital Outpatient Services", "DEPT", "MIN-002"),
    ("AGY-001", "Central Statistical Office", "AGY", "MIN-001"),
    ("AGY-002", "Immigration and Passport Office", "AGY", "MIN-004"),
    ("AGY-003", "Traffic and Licensing Department", "AGY", "MIN-004"),
    ("UNIT-001", "Driver Licensing Unit", "UNIT", "AGY-003"),
    ("UNIT-002", "Property Tax Unit", "UNIT", "DEPT-001"),
)

# (id, name, entity, category, description)
SERVICES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "SVC-001",
        "Passport Application and Renewal",
        "AGY-002",
        "Travel documents",
        "New passports, renewals and replacements for lost or damaged passports.",
    ),
    (
        "SVC-002",
        "Driver's Licence Renewal",
        "UNIT-001",
        "Licensing",
        "Renewal of driver's licences, including the eyesight check.",
    ),
    (
        "SVC-003",
        "Birth Certificate Request",
        "DEPT-003",
        "Civil registration",
        "Certified copies of birth records.",
    ),
    (
        "SVC-004",
        "Marriage Certificate Request",
        "DEPT-003",
        "Civil registration",
        "Certified copies of marriage records.",
    ),
    (
        "SVC-005",
        "Income Tax Return Filing",
        "DEPT-001",
        "Taxation",
        "Help filing personal income tax returns at the counter.",
    ),
    (
        "SVC-006",
        "Property Tax Payment",
        "UNIT-002",
        "Taxation",
        "Payment of annual property tax and arrears.",
    ),
    (
        "SVC-007",
        "Customs Clearance for Personal Goods",
        "DEPT-002",
        "Customs",
        "Clearing barrels and personal shipments.",
    ),
    (
        "SVC-008",
        "Vehicle Registration",
        "AGY-003",
        "Licensing",
        "First registration and transfer of ownership of motor vehicles.",
    ),
    (
        "SVC-009",
        "Outpatient Clinic Registration",
        "DEPT-004",
        "Health",
        "Registration and triage at the outpatient clinic.",
    ),
    (
        "SVC-010",
        "Trade Statistics Request",
        "AGY-001",
        "Statistics",
        "Requests for published and custom trade statistics.",
    ),
    ("SVC-011", "Work Permit Application", "MIN-003", "Labour", "Applications and renewals of work permits."),
    (
        "SVC-012",
        "School Transfer Request",
        "MIN-005",
        "Education",
        "Transfers between public primary and secondary schools.",
    ),
)

# (entity, name, response hours, resolution hours)
CATEGORIES: tuple[tuple[str, str, int, int], ...] = (
    ("AGY-002", "Passport delays", 4, 48),
    ("AGY-002", "Passport counter service", 8, 72),
    ("AGY-003", "Licensing and registration", 8, 72),
    ("UNIT-001", "Driver's licence issues", 4, 48),
    ("DEPT-003", "Certificate errors", 8, 120),
    ("DEPT-003", "Registry counter service", 8, 72),
    ("MIN-001", "Tax and revenue complaints", 24, 120),
    ("DEPT-001", "Income tax service", 8, 96),
    ("DEPT-002", "Customs delays", 4, 48),
    ("MIN-002", "Patient care", 2, 24),
    ("DEPT-004", "Waiting times at the clinic", 2, 24),
    ("MIN-003", "Labour services", 24, 120),
    ("MIN-004", "National security services", 8, 72),
    ("MIN-005", "School services", 24, 168),
)

# (value, service, location, scans)
QR_CODES: tuple[tuple[str, str, str, int], ...] = (
    ("QR-SVC001-STG-COUNTER1", "SVC-001", "St. George's Immigration Office, counter 1", 0),
    ("QR-SVC002-GRENVILLE", "SVC-002", "Grenville Licensing Office, waiting area", 0),
    ("QR-SVC003-REGISTRY", "SVC-003", "Registry, Church Street, St. George's", 0),
    ("QR-SVC006-CARRIACOU", "SVC-006", "Hillsborough Revenue Office, Carriacou", 0),
    ("QR-SVC009-GENHOSP", "SVC-009", "General Hospital outpatient entrance", 0),
)


@dataclass(frozen=True)
class SeedReport:
    entities: int
    services: int
    categories: int
    qr_codes: int

    @property
    def total(self) -> int:
        return self.entities + self.services + self.categories + self.qr_codes


def seed_demo(connection: Connection) -> SeedReport:
    """Insert the demo catalog; returns how many rows were new in each table."""
    entities = _insert_many(
        connection,
        "INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id) "
        "VALUES (:id, :name, :type, :parent) ON CONFLICT DO NOTHING",
        [{"id": i, "name": n, "type": t, "parent": p} for i, n, t, p in ENTITIES],
    )
    services = _insert_many(
        connection,
        "INSERT INTO service_master (service_id, service_name, entity_id, service_category, "
        "service_description) VALUES (:id, :name, :entity, :cat, :desc) ON CONFLICT DO NOTHING",
        [{"id": i, "name": n, "entity": e, "cat": c, "desc": d} for i, n, e, c, d in SERVICES],
    )
    categories = _insert_many(
        connection,
        "INSERT INTO ticket_categories (entity_id, category_name, default_response_hours, "
        "default_resolution_hours) VALUES (:entity, :name, :resp, :resol) "
        "ON CONFLICT (entity_id, category_name) DO NOTHING",
        [{"entity": e, "name": n, "resp": r, "resol": s} for e, n, r, s in CATEGORIES],
    )
    entity_of = {service[0]: service[2] for service in SERVICES}
    qr_codes = _insert_many(
        connection,
        "INSERT INTO qr_codes (qr_code_value, entity_id, service_id, location, scan_count) "
        "VALUES (:value, :entity, :service, :location, :scans) "
        "ON CONFLICT (qr_code_value) DO NOTHING",
        [
            {"value": v, "entity": entity_of[s], "service": s, "location": loc, "scans": n}
            for v, s, loc, n in QR_CODES
        ],
    )
    return SeedReport(entities, services, categories, qr_codes)


def _insert_many(connection: Connection, sql: str, rows: list[dict[str, object]]) -> int:
    statement = text(sql)
    return sum(connection.execute(statement, row).rowcount for row in rows)
