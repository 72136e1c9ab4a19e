"""The kiosk's HTTP client for the sync protocol (ARCHITECTURE 5), over httpx.

One method per endpoint; each either returns what the contract promises or raises one of
`kiosk.sync.errors` (network error, timeout, 5xx, 429 → RetryLater; 401/403 → NotAuthorized;
413 → BatchTooLarge; any other refusal → RequestRefused). A 200 whose body is not the
contract's shape is a RetryLater too, logged: the server may be mid-upgrade or a proxy may
have answered for it, and retrying later is safe because every submission is idempotent.

The device token goes in the Authorization header only; it is never logged, never part of an
exception message and not shown by any repr. TLS is verified by default; a government PKI's
CA bundle can be given as `verify=<path>` (it then replaces the default trust store, as
`requests`' and curl's `--cacert` do).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple
from urllib.parse import quote

import httpx
from sqlalchemy import Engine

from kiosk import __version__
from kiosk.local_db import identity as identity_store
from kiosk.local_db.outbox import NotEnrolled, WireItem
from kiosk.sync.errors import (
    BatchTooLarge,
    EnrollmentRefused,
    NeedsAttention,
    NotAuthorized,
    RequestRefused,
    RetryLater,
    SyncError,
)

log = logging.getLogger("kiosk.sync")

API_PREFIX: Final = "/api/v1"
# How long to wait for a TCP/TLS connection: short, since an unreachable server is the
# common failure and the worker backs off anyway.
CONNECT_TIMEOUT_S: Final = 5.0
# How long to wait for each read or write on an open connection: long enough for a 500-item
# batch (2 MiB) over a slow office link and the server's inserts and triggers.
READ_WRITE_TIMEOUT_S: Final = 30.0
# Longest server message kept in an exception (a proxy's HTML error page is not a message).
MAX_MESSAGE_CHARS: Final = 300
RESULT_STATUSES: Final = frozenset({"created", "duplicate", "rejected"})
CATALOG_LISTS: Final = ("entities", "services", "categories", "priorities")
JSON_CONTENT: Final = {"Content-Type": "application/json"}

Verify = bool | str | os.PathLike[str]


@dataclass(frozen=True)
class Timeouts:
    """Seconds; see CONNECT_TIMEOUT_S and READ_WRITE_TIMEOUT_S for why these defaults."""

    connect: float = CONNECT_TIMEOUT_S
    read_write: float = READ_WRITE_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read_write <= 0:
            raise ValueError("timeouts must be positive numbers of seconds")

    def for_httpx(self) -> httpx.Timeout:
        # Waiting for a pooled connection is bounded like connecting: both mean "not yet talking".
        return httpx.Timeout(
            connect=self.connect, read=self.read_write, write=self.read_write, pool=self.connect
        )


def tls_verify(verify: Verify) -> ssl.SSLContext | bool:
    """What httpx takes for `verify`: True (the default trust store), False (no checking:
    for a lab only), or a context trusting exactly the CA bundle at the given path."""
    if isinstance(verify, bool):
        if not verify:
            log.warning("TLS certificate verification is OFF: use this only on a test network")
        return verify
    path = Path(os.fspath(verify))
    try:
        # httpx 0.28 deprecates verify=<path>; an SSLContext is its supported way.
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"The CA bundle {path} cannot be used ({exc}). Check the path and its PEM.") from exc


def normalize_server_url(server_url: str) -> str:
    """The server's base URL without a trailing slash; only http and https are accepted."""
    url = httpx.URL(server_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"The server URL must start with https:// (or http://); got {server_url!r}.")
    if url.scheme == "http" and not _is_loopback(url.host):
        log.warning("the server URL is plain http: the device token travels unencrypted; use https")
    return str(url).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110
    10.2.3). None when absent or unreadable; a date in the past means 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 850 / asctime forms are GMT by definition
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _server_error(response: httpx.Response) -> tuple[str | None, str]:
    """The {"error": {"code", "message"}} of a response, or (None, its reason phrase)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        message = error.get("message")
        text = message if isinstance(message, str) and message else error["code"]
        return error["code"][:50], " ".join(text.split())[:MAX_MESSAGE_CHARS]
    return None, response.reason_phrase or f"HTTP {response.status_code}"


def raise_for_response(response: httpx.Response, what: str) -> None:
    """Map a response that is not a success to the error the kiosk acts on. 2xx returns."""
    status = response.status_code
    if 200 <= status < 300:
        return
    code, message = _server_error(response)
    cause = httpx.HTTPStatusError(f"{what}: HTTP {status}", request=response.request, response=response)
    detail = f"{what}: the server answered {status}" + (f" ({code})" if code else "") + f": {message}"
    if status in (401, 403):
        if code is None:  # not our server's answer (a proxy's?), so say what it was
            message = f"This kiosk is not authorized (HTTP {status} {message}). Ask IT to re-enroll it."
        raise NotAuthorized(message, status=status, code=code) from cause
    if status == 413:
        raise BatchTooLarge(detail, status=status, code=code) from cause
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetryLater(detail, status=status, code=code, retry_after=retry_after) from cause
    # 3xx are not followed (a redirect means the configured URL is wrong) and other 4xx mean
    # this request will never succeed as it stands.
    location = response.headers.get("Location")
    if 300 <= status < 400 and location:
        detail = f"{what}: the server redirects to {location}: set the server URL to that address"
    raise RequestRefused(detail, status=status, code=code) from cause


def _contract_breach(what: str, reason: str, response: httpx.Response | None = None) -> RetryLater:
    """A 200 that is not the contract's shape: logged (never the body), retried later."""
    log.warning("%s: the server's answer is not the sync contract's shape (%s); will retry", what, reason)
    error = RetryLater(f"{what}: the server's answer was not understood ({reason})")
    if response is not None:
        error.__cause__ = httpx.HTTPStatusError(reason, request=response.request, response=response)
    return error


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    """JSON as httpx encodes a request's `json=` (compact, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _json_body(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        error = _contract_breach(what, "not JSON", response)
        raise error from exc


def _result_problem(result: Any, client_uuid: Any) -> str | None:
    """Why one submission result breaks the contract, or None if it is well-formed."""
    if not isinstance(result, dict):
        return "a result is not an object"
    if result.get("client_uuid") not in (None, client_uuid):
        return "results are not in the items' order"
    status = result.get("status")
    if status not in RESULT_STATUSES:
        return "a result has an unknown status"
    feedback_id = result.get("feedback_id")
    if feedback_id is not None and (not isinstance(feedback_id, int) or isinstance(feedback_id, bool)):
        return "a feedback_id is not an integer"
    if result.get("ticket_number") is not None and not isinstance(result["ticket_number"], str):
        return "a ticket_number is not a string"
    if status == "rejected":
        error = result.get("error")
        if not (isinstance(error, dict) and isinstance(error.get("code"), str)):
            return "a rejected result has no error code"
    elif feedback_id is None:
        return "an accepted result has no feedback_id"
    return None


class Enrollment(NamedTuple):
    device_code: str
    device_token: str
    entity_id: str
    public_base_url: str

    def __repr__(self) -> str:  # the token must never reach a log through a repr
        return (
            f"Enrollment(device_code={self.device_code!r}, device_token='***', "
            f"entity_id={self.entity_id!r}, public_base_url={self.public_base_url!r})"
        )


def _http_client(
    base_url: str, timeouts: Timeouts, verify: Verify, transport: httpx.BaseTransport | None
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url + API_PREFIX,
        timeout=timeouts.for_httpx(),
        verify=tls_verify(verify),
        transport=transport,
        headers={"User-Agent": f"gea-kiosk/{__version__}", "Accept": "application/json"},
        follow_redirects=False,
    )


def _send(client: httpx.Client, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures become RetryLater with the httpx error as cause."""
    try:
        return client.request(method, path, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryLater(f"{what}: the server did not answer in time ({type(exc).__name__})") from exc
    except httpx.RequestError as exc:
        # str(exc) names the failure ("[Errno 111] Connection refused"); it holds no header.
        raise RetryLater(f"{what}: the server cannot be reached ({type(exc).__name__}: {exc})") from exc


def enroll(
    server_url: str,
    enrollment_code: str,
    *,
    timeouts: Timeouts | None = None,
    verify: Verify = True,
    transport: httpx.BaseTransport | None = None,
) -> Enrollment:
    """Exchange a one-time enrollment code for this kiosk's device code and token.

    Raises EnrollmentRefused (a wrong, used or expired code), RetryLater (unreachable, or
    429 after too many wrong codes, with retry_after) or RequestRefused.
    """
    what = "enroll"
    base_url = normalize_server_url(server_url)
    with _http_client(base_url, timeouts or Timeouts(), verify, transport) as client:
        response = _send(client, what, "POST", "/devices/enroll", json={"enrollment_code": enrollment_code})
        if response.status_code in (400, 422):
            code, message = _server_error(response)
            cause = httpx.HTTPStatusError(what, request=response.request, response=response)
            raise EnrollmentRefused(message, status=response.status_code, code=code) from cause
        raise_for_response(response, what)
        body = _json_body(response, what)
    fields = ("device_code", "device_token", "entity_id", "public_base_url")
    if not isinstance(body, dict) or not all(isinstance(body.get(f), str) and body[f] for f in fields):
        raise _contract_breach(what, "missing device_code, device_token, entity_id or public_base_url")
    return Enrollment(*(str(body[f]) for f in fields))


class SyncClient:
    """The device's calls, with its bearer token. The worker has its own, which its two pushes
    use at once (httpx's client may be shared between threads, and this one keeps no state
    per request); a UI look-up makes another (httpx clients are cheap)."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        timeouts: Timeouts | None = None,
        verify: Verify = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_server_url(server_url)
        self.timeouts = timeouts or Timeouts()
        self._http = _http_client(self.base_url, self.timeouts, verify, transport)
        self.set_token(token)

    def set_token(self, token: str) -> None:
        """Use a new device token (after re-enrollment)."""
        if not token or any(c.isspace() for c in token):
            raise ValueError("the device token is empty or malformed: re-enroll the kiosk")
        self._http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncClient({self.base_url!r})"

    def submit(
        self, items: Sequence[Mapping[str, Any]], device_status: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """POST a batch (empty: a heartbeat). Returns one result dict per item, in order:
        {client_uuid, status: created|duplicate|rejected, feedback_id, ticket_number, error}."""
        body = {"items": [dict(item) for item in items], "device_status": dict(device_status)}
        return self._push({"json": body}, [item.get("client_uuid") for item in items])

    def submit_wire(
        self, items: Sequence[WireItem], device_status: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """submit() for items encoded already (outbox.claim_wire): the body is their JSON
        joined as they are, not decoded and encoded again; the same JSON as submit() sends.
        Raises ValueError, before sending anything, for an item whose payload is not JSON."""
        unreadable = [item.client_uuid for item in items if item.json is None]
        if unreadable:
            raise ValueError(f"queued submission {unreadable[0]} is not valid JSON (NaN or Infinity?)")
        body = b"".join(
            (
                b'{"items":[',
                ",".join([item.json for item in items if item.json is not None]).encode(),
                b'],"device_status":',
                _json_bytes(device_status),
                b"}",
            )
        )
        return self._push({"content": body, "headers": JSON_CONTENT}, [item.client_uuid for item in items])

    def _push(self, request: dict[str, Any], client_uuids: Sequence[Any]) -> list[dict[str, Any]]:
        what = "push"
        response = _send(self._http, what, "POST", "/submissions", **request)
        raise_for_response(response, what)
        answer = _json_body(response, what)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise _contract_breach(what, "no results list", response)
        if len(results) != len(client_uuids):
            raise _contract_breach(what, f"{len(results)} results for {len(client_uuids)} items", response)
        for client_uuid, result in zip(client_uuids, results, strict=True):
            problem = _result_problem(result, client_uuid)
            if problem:
                raise _contract_breach(what, problem, response)
        return results

    def catalog(self, etag: str | None = None) -> tuple[str | None, dict[str, Any]] | None:
        """GET the catalog: (its ETag, its body), or None when it has not changed since `etag` (304)."""
        what = "catalog"
        headers = {"If-None-Match": etag} if etag else {}
        response = _send(self._http, what, "GET", "/catalog", headers=headers)
        if response.status_code == 304:
            return None
        raise_for_response(response, what)
        body = _json_body(response, what)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), list) for k in CATALOG_LISTS):
            raise _contract_breach(what, "missing entities, services, categories or priorities", response)
        if not isinstance(body.get("limits"), dict):
            raise _contract_breach(what, "no limits", response)
        return response.headers.get("ETag"), body

    def status(self, reference_code: str) -> dict[str, Any] | None:
        """Where a submission is, by its reference code; None if the server does not know it."""
        return self._lookup("status", f"/status/{quote(reference_code, safe='')}")

    def ticket(self, ticket_number: str) -> dict[str, Any] | None:
        """The same, by ticket number, for this device's offices; None if unknown."""
        return self._lookup("ticket", f"/tickets/{quote(ticket_number, safe='')}")

    def _lookup(self, what: str, path: str) -> dict[str, Any] | None:
        response = _send(self._http, what, "GET", path)
        if response.status_code == 404:
            return None
        raise_for_response(response, what)
        body = _json_body(response, what)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str) or "received_at" not in body:
            raise _contract_breach(what, "no status or received_at", response)
        return body


def open_client(
    engine: Engine,
    data_dir: Path,
    *,
    timeouts: Timeouts | None = None,
    verify: Verify = True,
    transport: httpx.BaseTransport | None = None,
) -> SyncClient:
    """A client for the enrolled kiosk whose SQLite file and token file are given.
    Raises NotEnrolled if it has no identity or no token."""
    identity = identity_store.load(engine)
    token = identity_store.read_token(data_dir)
    if identity is None or token is None:
        raise NotEnrolled(
            "This kiosk is not enrolled yet (or its token file is missing): run gea-kiosk enroll."
        )
    return SyncClient(identity.server_url, token, timeouts=timeouts, verify=verify, transport=transport)


class EnrolledLookups:
    """Staff look-ups with the kiosk's enrollment as it is at each call: a client per look-up
    (httpx clients are cheap), so a kiosk enrolled or re-enrolled while it runs asks with its
    current token. Not enrolled is a SyncError like being offline: the outbox answers."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        *,
        timeouts: Timeouts | None = None,
        verify: Verify = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._engine = engine
        self._data_dir = data_dir
        self._timeouts = timeouts
        self._verify = verify
        self._transport = transport

    def status(self, reference_code: str) -> dict[str, Any] | None:
        with self._client() as client:
            return client.status(reference_code)

    def ticket(self, ticket_number: str) -> dict[str, Any] | None:
        with self._client() as client:
            return client.ticket(ticket_number)

    def _client(self) -> SyncClient:
        try:
            return open_client(
                self._engine,
                self._data_dir,
                timeouts=self._timeouts,
                verify=self._verify,
                transport=self._transport,
            )
        except NotEnrolled as exc:
            raise NeedsAttention(str(exc)) from exc
        except ValueError as exc:  # a CA bundle that cannot be used: said on the sync screen
            raise NeedsAttention(str(exc)) from exc


__all__ = [
    "CONNECT_TIMEOUT_S",
    "EnrolledLookups",
    "READ_WRITE_TIMEOUT_S",
    "Enrollment",
    "SyncClient",
    "SyncError",
    "Timeouts",
    "enroll",
    "open_client",
    "parse_retry_after",
    "raise_for_response",
]
