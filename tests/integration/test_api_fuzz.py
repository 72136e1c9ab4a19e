"""Property-based fuzz of the served OpenAPI schema (issue 3, ARCHITECTURE section 8).

Schemathesis reads the schema from the live server and generates requests for every
operation, both ones the schema allows (positive) and ones it forbids (negative), sent with a
valid device token so the authorized endpoints run their real code. Whatever comes in, the
server must never answer 5xx, and every answer must match the schema: a documented status,
a body of the documented shape and the documented content type.

Requests generated from the schema alone almost never carry a reference code of the calling
device and a service it may use, so they stop at the first check and never reach the insert.
Two more properties therefore draw, from the published schema, every other field of items that
pass those checks, and every field of the device status a heartbeat records: the database
path gets fuzzed too, and each item's verdict is compared with the rules of section 5.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.helpers import pg
from tests.helpers.server import EnrolledDevice, LiveServer, enroll, serve, settings_for

# Every operation of the published schema; a new one fails the coverage test below until it
# is listed here, so nothing the API serves goes unfuzzed.
OPERATIONS = (
    "POST /api/v1/devices/enroll",
    "POST /api/v1/submissions",
    "GET /api/v1/catalog",
    "GET /api/v1/status/{reference_code}",
    "POST /api/v1/status/{reference_code}/not-resolved",
    "GET /api/v1/tickets/{ticket_number}",
    "POST /api/v1/public/feedback",
    "GET /healthz",
    "GET /readyz",
)
EXAMPLES = 300  # generated requests per operation, at most (fewer where the inputs run out)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@dataclass(frozen=True)
class FuzzTarget:
    server: LiveServer
    device: EnrolledDevice
    schema: schemathesis.BaseSchema
    published: dict[str, Any]  # the OpenAPI document as served

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.device.token}"}

    def component(self, name: str) -> dict[str, Any]:
        """A component's schema, with the components it refers to written in place."""
        schema: dict[str, Any] = inline_refs(self.published["components"]["schemas"][name], self.published)
        return schema


def inline_refs(schema: Any, published: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [inline_refs(part, published) for part in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return inline_refs(published["components"]["schemas"][name], published)
    return {key: inline_refs(value, published) for key, value in schema.items()}


@pytest.fixture(scope="module")
def target(pg_template: str) -> Iterator[FuzzTarget]:
    """One server and database for the module: the fuzz needs no clean slate per operation."""
    with pg.fresh_database(pg_template) as url:
        # Enough wrong enrollment codes are allowed to fuzz the enrollment itself, and then
        # the refusal (429) too.
        with serve(settings_for(url, enroll_max_failures=100)) as live:
            device = enroll(live, url, "AGY-002")
            schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
            with live.client() as client:
                published = client.get("/openapi.json").raise_for_status().json()
            yield FuzzTarget(live, device, schema, published)


def test_every_served_operation_is_fuzzed(target: FuzzTarget) -> None:
    paths: dict[str, dict[str, Any]] = target.published["paths"]
    served = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    assert served == set(OPERATIONS)
    for label in OPERATIONS:
        assert target.schema.find_operation_by_label(label) is not None, label


@pytest.mark.slow
@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_never_get_a_5xx_and_every_answer_matches_the_schema(
    target: FuzzTarget, label: str
) -> None:
    operation = target.schema.find_operation_by_label(label)
    assert operation is not None, label
    # Requests the schema allows and requests it forbids, drawn alike. Where nothing can be
    # made invalid (no parameters, or only a string header), the negative side draws nothing.
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    auth = target.auth
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=strategy)
    def fuzz(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=target.server.base_url, headers=auth, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=auth)

    fuzz()
    assert statuses, "no request was generated"


# --- the database path ---------------------------------------------------------------------

OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))]
SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
HEARTBEAT_EXAMPLES = 200
ITEM_BATCH_EXAMPLES = 200


def value_of(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value the published JSON schema of one property allows."""
    if "anyOf" in prop:
        return st.one_of([value_of(option) for option in prop["anyOf"]])
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=prop.get("minimum"), max_value=prop.get("maximum"))
    if kind == "string" and prop.get("format") == "date-time":
        zones = st.one_of(st.none(), st.sampled_from(OFFSETS))
        return st.datetimes(timezones=zones).map(lambda moment: moment.isoformat())
    if kind == "string" and prop.get("format") == "uuid":
        return st.uuids().map(str)
    if kind == "object":
        return optional_fields(prop, {})
    if kind == "string":
        shortest, longest = prop.get("minLength", 0), prop.get("maxLength", 300)
        text = st.text(min_size=shortest, max_size=longest)
        if "pattern" not in prop:
            return text
        # Any text mostly breaks a pattern such as snake_case; text that keeps it is drawn as
        # often, so the values a kiosk really sends reach the database too.
        pattern = prop["pattern"]
        matching = (
            st.from_regex(pattern, fullmatch=True)
            .map(lambda value: value[:longest])
            .filter(lambda value: len(value) >= shortest and re.fullmatch(pattern, value) is not None)
        )
        return st.one_of(matching, text)
    raise AssertionError(f"the fuzz does not know how to draw {prop}")


def conforms(value: Any, prop: dict[str, Any]) -> bool:
    """Whether a value drawn by value_of keeps every pattern of its schema (the only rule
    value_of may break on purpose). Python's fullmatch reads `^...$` as pydantic's engine does:
    `$` never matches before a final newline."""
    if "anyOf" in prop:
        return any(conforms(value, option) for option in prop["anyOf"])
    kind = prop.get("type")
    if kind == "null":
        return value is None
    if kind == "object":
        return isinstance(value, dict) and all(conforms(v, prop["properties"][k]) for k, v in value.items())
    if kind == "string":
        pattern = prop.get("pattern")
        return isinstance(value, str) and (pattern is None or re.fullmatch(pattern, value) is not None)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def optional_fields(schema: dict[str, Any], fixed: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of the schema: required fields always, optional ones sometimes, some fixed."""
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: st.just(fixed[name]) if name in fixed else value_of(props[name]) for name in required},
        optional={name: value_of(props[name]) for name in props if name not in required | set(fixed)},
    )


def has_unstorable_text(item: dict[str, Any]) -> bool:
    return any(isinstance(value, str) and "\x00" in value for value in item.values())


def expected_rejection(item: dict[str, Any], categories: set[int], priorities: set[int]) -> str | None:
    """The rule of section 5 an item breaks first, in the order the server checks them."""
    if has_unstorable_text(item):
        return "invalid_item"
    if item.get("channel") in ("portal", "qr_code"):  # citizens' own channels, not a device's
        return "channel_not_allowed"
    ratings = [item["rating"], *(item.get(name) for name in SUB_RATINGS)]
    if any(value is not None and not 1 <= value <= 5 for value in ratings):
        return "rating_out_of_range"
    if len(item.get("feedback_text") or "") > 10_000:
        return "text_too_long"
    if item.get("category_id") is not None and item["category_id"] not in categories:
        return "category_not_allowed"
    if item.get("priority_id") is not None and item["priority_id"] not in priorities:
        return "unknown_priority"
    return None


@pytest.mark.slow
def test_any_device_status_the_schema_allows_is_recorded_or_refused_without_a_5xx(target: FuzzTarget) -> None:
    operation = target.schema.find_operation_by_label("POST /api/v1/submissions")
    assert operation is not None
    schema = target.component("DeviceStatus")
    statuses = optional_fields(schema, {})

    @settings(max_examples=HEARTBEAT_EXAMPLES, deadline=None, database=None)
    @given(status=statuses)
    def heartbeat(status: dict[str, Any]) -> None:
        case = operation.Case(body={"items": [], "device_status": status}, media_type="application/json")
        response = case.call(base_url=target.server.base_url, headers=target.auth, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=target.auth)
        if conforms(status, schema):
            assert response.status_code == 200, response.text
            assert response.json() == {"results": []}
        else:  # a NUL in app_version, a last_error code not in snake_case...: refused, never a 500
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "invalid_request", response.text

    heartbeat()


@pytest.mark.slow
def test_items_that_pass_the_identity_checks_are_settled_by_the_rules_whatever_their_other_fields(
    target: FuzzTarget,
) -> None:
    operation = target.schema.find_operation_by_label("POST /api/v1/submissions")
    assert operation is not None
    with target.server.client(target.device.token) as client:
        catalog = client.get("/api/v1/catalog").raise_for_status().json()
    [service] = [s for s in catalog["services"] if s["service_id"] == "SVC-001"]
    categories = set(service["category_ids"])
    priorities = {p["priority_id"] for p in catalog["priorities"]}
    numbers = itertools.count(1)
    # Known ids are drawn as often as arbitrary ones, so the insert path runs with them.
    item_schema = target.component("SubmissionItem")
    fields = optional_fields(
        item_schema,
        {"client_uuid": "", "reference_code": "", "service_id": "SVC-001", "entity_id": "AGY-002"},
    )
    known_ids = st.fixed_dictionaries(
        {},
        optional={
            "category_id": st.sampled_from(sorted(categories)),
            "priority_id": st.sampled_from(sorted(priorities)),
            "rating": st.integers(1, 5),
        },
    )
    items = st.lists(
        st.tuples(fields, known_ids).map(lambda pair: {**pair[0], **pair[1]}), min_size=1, max_size=4
    )
    verdicts: Counter[str] = Counter()

    @settings(max_examples=ITEM_BATCH_EXAMPLES, deadline=None, database=None)
    @given(drawn=items)
    def submit(drawn: list[dict[str, Any]]) -> None:
        for item in drawn:  # unique identities, so every verdict is the item's own
            item["client_uuid"] = str(uuid.uuid4())
            item["reference_code"] = f"{target.device.device_code}-{next(numbers):06d}-7QX4"
        body: dict[str, Any] = {"items": drawn}
        case = operation.Case(body=body, media_type="application/json")
        response = case.call(base_url=target.server.base_url, headers=target.auth, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=target.auth)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["client_uuid"] for r in results] == [item["client_uuid"] for item in drawn]
        for item, result in zip(drawn, results, strict=True):
            verdicts[result["status"]] += 1
            rejection = expected_rejection(item, categories, priorities)
            if rejection is None:
                assert result["status"] == "created", (item, result)
                assert isinstance(result["feedback_id"], int)
                makes_ticket = item.get("grievance_flag") or item["rating"] <= 2
                assert (result["ticket_number"] is not None) == bool(makes_ticket), (item, result)
            else:
                assert result["status"] == "rejected", (item, result)
                assert result["error"]["code"] == rejection, (item, result)

    submit()
    # Both paths were exercised: items stored and items refused.
    assert verdicts["created"] > 0, verdicts
    assert verdicts["rejected"] > 0, verdicts
