"""Every answer body of the API, as pydantic models: the one description of their shapes.

`/openapi.json` is generated from these models, and the tests validate live answers against
it. The views keep building plain dicts that orjson writes directly (stored JSON included):
a model describes the shape of an answer without standing on its path. Answers are closed
(`extra="forbid"`), so a field added to an answer without its model fails the tests; what
Ingresse sends stays free-form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from service.delivery_model import FieldError

Int64 = Annotated[int, WithJsonSchema({"type": "integer", "format": "int64"})]
Position = Annotated[int, Field(ge=0, description="Place in the global log.")]
Version = Annotated[int, Field(ge=1)]
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
DeliveryId = Annotated[
    str,
    Field(pattern="^[0-9a-f]{64}$", description="SHA-256 of the delivery's raw body, in hex."),
]
AnyValue = Annotated[Any, Field(description="Any JSON value, as Ingresse sent it.")]
Cursor = Annotated[str | None, Field(description="Opaque; null on the last page.")]
KnownVia = Annotated[
    Literal["self", "group"],
    Field(description='"group": never delivered on its own, known from a group\'s children.'),
]
ChangeOp = Literal["add", "remove", "replace"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Intake


class DeliveryRecorded(Answer):
    status: Literal["recorded"]
    ticketId: Int64
    version: Version
    position: Position
    deliveryId: DeliveryId


class DeliveryDuplicate(Answer):
    """Nothing appended: names the version already recorded."""

    status: Literal["duplicate"]
    ticketId: Int64
    version: Version
    position: Position
    deliveryId: DeliveryId = ""


# Tickets


class Stale(Answer):
    """The ticket's earliest event that the answering projection could not apply (see
    `parked` in /v1/projections): the answer is the ticket's last good state. A rebuild
    after the fix clears it."""

    projection: str
    position: Position
    error: Annotated[str, Field(description="Why the event could not be applied.")]


# On one-ticket answers only, and only when the ticket has a parked event: never null.
StaleMark = Annotated[
    Stale | SkipJsonSchema[None],
    Field(description="Present when a projection could not apply an event of this ticket."),
]


class TicketState(Answer):
    ticketId: Int64
    eventId: Int64 | None
    version: Version | None
    position: Position
    sourceTimestamp: Timestamp
    receivedAt: Timestamp
    knownVia: KnownVia
    snapshot: Annotated[dict[str, Any], Field(description="`data` as delivered.")]
    stale: StaleMark = None


class TicketSummary(Answer):
    ticketId: Int64
    eventId: Int64 | None
    parent: Int64 | None
    version: Version | None
    sourceTimestamp: Timestamp
    knownVia: KnownVia
    name: AnyValue
    type: AnyValue
    quantity: AnyValue
    hidden: AnyValue
    archived: AnyValue
    salable: AnyValue
    available: AnyValue


class TicketPage(Answer):
    items: list[TicketSummary]
    next: Cursor


class TicketChildren(TicketPage):
    stale: StaleMark = None


class Change(Answer):
    path: str
    op: ChangeOp
    old: AnyValue
    new: AnyValue


class HistoryVersion(Answer):
    version: Version
    position: Position
    sourceTimestamp: Timestamp
    receivedAt: Timestamp
    late: Annotated[bool, Field(description="Arrived after a delivery with a later source time.")]
    created: Annotated[Literal[True], Field(description="Only on the first version.")] = True
    changes: list[Change]


class HistoryPage(Answer):
    items: list[HistoryVersion]
    next: Cursor
    stale: StaleMark = None


class FeedChange(Answer):
    position: Position
    ticketId: Int64
    eventId: Int64 | None
    version: Version
    sourceTimestamp: Timestamp
    receivedAt: Timestamp
    path: str
    op: ChangeOp
    old: AnyValue
    new: AnyValue
    recomputedAt: Annotated[
        Position | None,
        Field(
            description="Null for a change as its version was first recorded. Otherwise the "
            "position of the late delivery that recomputed this version's changes: these rows "
            "replace every row of the version with a lower (or null) `recomputedAt`, and come "
            "after every cursor given out before it."
        ),
    ]
    supersededBy: Annotated[
        Position | None,
        Field(
            description="Null for a current change. Otherwise the `recomputedAt` of the rows "
            "that replaced this one. History shows only current changes."
        ),
    ]


class ChangePage(Answer):
    items: list[FeedChange]
    next: Cursor


class QuantityPoint(Answer):
    sourceTimestamp: Timestamp
    version: Version
    quantity: int
    delta: Annotated[int | None, Field(description="Null on the first point.")]
    quantityDiff: Annotated[int | None, Field(description="Ingresse's own figure, when sent.")]


class QuantityTimeline(Answer):
    ticketId: Int64
    points: list[QuantityPoint]
    stale: StaleMark = None


class SalePeriodValues(Answer):
    start: AnyValue
    finish: AnyValue
    available: AnyValue


class SalePeriodState(Answer):
    sourceTimestamp: Timestamp
    version: Version
    start: AnyValue
    finish: AnyValue
    available: AnyValue


class SalePeriodTimeline(Answer):
    id: Int64
    appCategoryId: AnyValue
    current: SalePeriodValues | None
    firstSeen: Timestamp
    removedAt: Timestamp | None
    states: list[SalePeriodState]


class SalePeriodTimelines(Answer):
    ticketId: Int64
    salePeriods: list[SalePeriodTimeline]
    stale: StaleMark = None


# Admin


class ProjectionStatus(Answer):
    name: str
    position: Position
    head: Position
    lag: Annotated[int, Field(ge=0)]
    parked: Annotated[
        int,
        Field(
            ge=0,
            description="Events this projection could not apply, kept with their error; the "
            "tickets they touch answer with `stale` until a rebuild clears them.",
        ),
    ]
    state: Annotated[
        Literal["live", "rebuilding", "stalled", "failed"],
        Field(description="`stalled`: lag above zero and no progress for 10 s."),
    ]


class ProjectionList(RootModel[list[ProjectionStatus]]):
    pass


class RebuildStarted(Answer):
    name: str
    state: Literal["rebuilding"]


class Head(Answer):
    position: Position
    hash: str


class VerifyPassed(Answer):
    ok: Literal[True]
    checked: int
    head: Head


class VerifyFailed(Answer):
    ok: Literal[False]
    firstBadPosition: Position
    reason: str


class VerifyReport(RootModel[VerifyPassed | VerifyFailed]):
    pass


class Checkpoint(Answer):
    position: Position
    hash: Annotated[str | None, Field(description="Null while the log is empty.")]


class QuarantineSummary(Answer):
    id: int
    error: Annotated[str, Field(description="The error code the sender was answered.")]
    receivedAt: Timestamp
    size: Annotated[int, Field(description="Bytes received.")]


class QuarantinePage(Answer):
    items: list[QuarantineSummary]
    next: Cursor


class QuarantinedDelivery(Answer):
    id: int
    error: Annotated[str, Field(description="The error code the sender was answered.")]
    detail: Annotated[Any, Field(description="What the sender was told besides the code.")]
    receivedAt: Timestamp
    size: Annotated[int, Field(description="Bytes received.")]
    body: Annotated[str, Field(description="As text; invalid UTF-8 replaced.")]


# Operations


class Health(Answer):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Open: the body may say more about what it checked."""

    status: Literal["ready", "unavailable"]
    storage: Literal["ok", "unavailable"]
    cause: str = Field(default="", description="Why storage is unavailable, in words.")
    projections: str = Field(
        default="", description="Reported only: it does not make the service unready."
    )


# Errors: each a code, some with details.


class Unauthorized(Answer):
    error: Literal["unauthorized"]


class Forbidden(Answer):
    error: Literal["forbidden"]


class NotFound(Answer):
    error: Literal["not_found"]
    stale: StaleMark = None


class BadRequest(Answer):
    error: Literal["bad_request"]
    detail: str


class MalformedJSON(Answer):
    error: Literal["malformed_json"]
    detail: str


class InvalidPayload(Answer):
    error: Literal["invalid_payload"]
    detail: list[FieldError]


class UnsupportedWebhook(Answer):
    error: Literal["unsupported_webhook"]
    webhook: str


class IntakeRefusal(RootModel[InvalidPayload | UnsupportedWebhook]):
    pass


class PayloadTooLarge(Answer):
    error: Literal["payload_too_large"]
    limit: int


class RequestTimeout(Answer):
    error: Literal["request_timeout"]


class StorageUnavailable(Answer):
    error: Literal["storage_unavailable"]


class QueueFull(Answer):
    error: Literal["queue_full"]


class IntakeUnavailable(RootModel[StorageUnavailable | QueueFull]):
    pass


class ProjectionLag(Answer):
    error: Literal["projection_lag"]
