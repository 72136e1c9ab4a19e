"""Request and response bodies of the sync protocol (ARCHITECTURE section 5).

They are the contract between kiosks and the server, so they live below both the API (which
validates and serves them) and the services (which build them): api -> services -> protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

# Input limits the catalog publishes and the server enforces (ARCHITECTURE 5).
COMMENT_MAX_CHARS = 2_000  # what kiosks let a citizen type
COMMENT_HARD_CAP = 10_000  # what the server refuses beyond
BATCH_MAX_ITEMS = 500
BATCH_MAX_BYTES = 2 * 1024 * 1024

INT4_MAX = 2**31 - 1  # the database's INT columns
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
# A kiosk's references end in 4 random characters, the server's WEB- ones (phones and the
# portal) in 8 (ARCHITECTURE 6); every pattern that recognises a reference takes 4 to 8. The
# number widens past 999,999 as ticket numbers do (web_reference_seq is an INT: 10 digits).
REFERENCE_CODE_PATTERN = r"^[A-Z][A-Z0-9]{1,15}-[0-9]{6,10}-[0-9A-HJKMNP-TV-Z]{4,8}$"
# A kiosk's error code has the form of the API's own codes (kiosk_devices.last_error_code has
# the same CHECK). `$` is the end of the text here: pydantic's regex engine, like PostgreSQL's,
# does not let it match before a final newline.
ERROR_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"
ERROR_CODE_MAX_CHARS = 50  # kiosk_devices.last_error_code VARCHAR(50)
ERROR_MESSAGE_MAX_CHARS = 300  # kiosk_devices.last_error_message VARCHAR(300)

Channel = Literal["kiosk", "walk_in", "portal", "qr_code", "api"]
# What an enrolled device may send. portal and qr_code are citizens' own phones and browsers,
# limited per address (ARCHITECTURE 4.10); a kiosk labelling its items so would skip that limit.
DEVICE_CHANNELS = ("kiosk", "walk_in", "api")
PrinterState = Literal["ok", "error", "none"]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["rating_out_of_range"])
    message: str = Field(examples=["rating must be between 1 and 5; it was 7."])


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- enrollment --------------------------------------------------------------------------


class EnrollRequest(BaseModel):
    enrollment_code: str = Field(min_length=1, max_length=64, examples=["7QX4-K2M9-A3DE"])


class EnrollResponse(BaseModel):
    device_code: str
    device_token: str
    entity_id: str
    public_base_url: str


# --- submissions -------------------------------------------------------------------------


class SubmissionItem(BaseModel):
    """One submission. Ranges and the comment cap are checked after parsing, so that each
    broken rule gets its own rejection code (rating_out_of_range, text_too_long...)."""

    model_config = ConfigDict(extra="ignore")

    client_uuid: UUID
    reference_code: str = Field(max_length=40)
    channel: Channel = "kiosk"
    service_id: str = Field(min_length=1, max_length=50)
    entity_id: str = Field(min_length=1, max_length=50)
    rating: StrictInt
    service_quality: StrictInt | None = None
    staff_behavior: StrictInt | None = None
    waiting_time: StrictInt | None = None
    cleanliness: StrictInt | None = None
    grievance_flag: StrictBool = False
    feedback_text: str | None = None
    category_id: StrictInt | None = None
    priority_id: StrictInt | None = None
    misuse_suspected: StrictBool = False
    submitted_by: str | None = Field(default=None, max_length=100)
    recorded_at: datetime


class LastError(BaseModel):
    """The error a kiosk has now (a full disk, a failing printer), for IT's fleet view. Short
    and never personal: a code to match on and a sentence for a person."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(
        min_length=1, max_length=ERROR_CODE_MAX_CHARS, pattern=ERROR_CODE_PATTERN, examples=["disk_full"]
    )
    message: str = Field(
        max_length=ERROR_MESSAGE_MAX_CHARS,
        pattern=NO_NUL,
        examples=["Only 120 MB left on the data disk; receipts cannot be saved."],
    )


class DeviceStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    queue_depth: StrictInt | None = Field(default=None, ge=0, le=INT4_MAX)
    oldest_pending_at: datetime | None = None
    device_time: datetime | None = None
    app_version: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    printer: PrinterState | None = None
    # The kiosk's current error, sent with every device_status: absent or null means it has
    # none now, so the server clears what it recorded before (older kiosks never send one).
    last_error: LastError | None = Field(
        default=None,
        description="The kiosk's current error; absent or null when it has none (clears the one recorded).",
    )


class SubmissionBatch(BaseModel):
    """The documented shape of POST /api/v1/submissions. The route parses items one by one,
    so a malformed item is rejected alone instead of failing the batch."""

    items: list[SubmissionItem] = Field(max_length=BATCH_MAX_ITEMS)
    device_status: DeviceStatus | None = None


class ItemResult(BaseModel):
    client_uuid: str | None
    status: Literal["created", "duplicate", "rejected"]
    feedback_id: int | None = None
    ticket_number: str | None = None
    error: ErrorDetail | None = None


class SubmissionResults(BaseModel):
    results: list[ItemResult]


# --- catalog -----------------------------------------------------------------------------


class CatalogEntity(BaseModel):
    entity_id: str
    name: str
    entity_type: str
    parent_entity_id: str | None
    active: bool


class CatalogService(BaseModel):
    service_id: str
    name: str
    entity_id: str
    service_category: str | None
    description: str | None
    active: bool
    category_ids: list[int] = Field(description="valid ticket categories, nearest first")


class CatalogCategory(BaseModel):
    category_id: int
    name: str
    entity_id: str
    response_hours: int
    resolution_hours: int


class CatalogPriority(BaseModel):
    priority_id: int
    name: str
    sla_multiplier: float


class CatalogLimits(BaseModel):
    comment_max_chars: int = COMMENT_MAX_CHARS
    comment_hard_cap: int = COMMENT_HARD_CAP
    batch_max_items: int = BATCH_MAX_ITEMS
    batch_max_bytes: int = BATCH_MAX_BYTES


class Catalog(BaseModel):
    device_code: str
    entity_id: str
    public_base_url: str
    entities: list[CatalogEntity]
    services: list[CatalogService]
    categories: list[CatalogCategory]
    priorities: list[CatalogPriority]
    limits: CatalogLimits


# --- status ------------------------------------------------------------------------------

# `received` (feedback that made no ticket) or a ticket status' stable code
# (ticket_status.status_code): the seed's six, or one an administrator added (its name in
# snake_case, or status_<id>). So a status added later never breaks a client, the API promises
# the form of a code, not a closed list.
STATUS_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"
SEEDED_STATUS_CODES = ("received", "open", "in_progress", "waiting", "resolved", "closed", "reopened")
StatusCode = Annotated[str, Field(pattern=STATUS_CODE_PATTERN, examples=list(SEEDED_STATUS_CODES))]


class StatusChange(BaseModel):
    """One state the ticket entered, and when. No actor: officers are not named to citizens."""

    status: StatusCode
    at: datetime


class Reply(BaseModel):
    """A public note (ticket_notes.is_public): the office's answer, without its author."""

    text: str
    at: datetime


class SubmissionStatus(BaseModel):
    reference_code: str | None
    received_at: datetime
    ticket_number: str | None
    status: StatusCode
    last_updated: datetime
    # Oldest first: the ticket's creation, then each status change. Empty without a ticket.
    history: list[StatusChange]
    # Oldest first: the public replies, never the internal notes. Empty without a ticket.
    replies: list[Reply]


class Health(BaseModel):
    status: Literal["ok", "ready"]
    revision: str | None = None
