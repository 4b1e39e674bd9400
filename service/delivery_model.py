"""What intake checks in a delivery, as one pydantic model, and its errors as the API names them.

The model only checks: its instance is dropped, and a recorded delivery keeps its body and its
`data` exactly as delivered, with the fields the model does not name (it ignores them). Every
typed field is checked against what the read models can store, so that whatever intake
accepts, every read model holds (identifiers land in BIGINT columns).

`plainly_valid` comes first: a fast check that passes the usual valid delivery without the
model, and never passes what the model would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
    WithJsonSchema,
    with_config,
)
from pydantic.config import JsonDict
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import TypedDict  # pydantic reads it on Python 3.11

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
_FITS_BIGINT = "must fit in a signed 64-bit integer"

# Strict: JSON true/false and 3.0 are not identifiers.
Identifier = Annotated[int, Strict(), Field(ge=BIGINT_MIN, le=BIGINT_MAX)]


# Each check is a predicate, asked both by the model's validators and by `plainly_valid`.


def _is_whole_number(value: object) -> bool:
    # Counts such as 100.0 are the same number as 100 (the contract treats 1 and 1.0 as
    # equal everywhere), so they are accepted and kept as delivered; 3.5 is not a count.
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())  # type: ignore[attr-defined]


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _fits_if_integer(value: object) -> bool:
    """Free-form, but an integer must fit the BIGINT column a group's child is listed with."""
    return type(value) is not int or BIGINT_MIN <= value <= BIGINT_MAX


def _parses_as_iso(value: object) -> bool:
    if type(value) is not str:
        return False
    try:
        # Whether it parses is all that is asked here: no zone is needed for that.
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _whole_number(value: object) -> object:
    if _is_whole_number(value):
        return value
    raise PydanticCustomError("integer", "must be an integer")


def _number(value: object) -> object:
    if _is_number(value):
        return value
    raise PydanticCustomError("number", "must be a number")


def _integer_that_fits(value: object) -> object:
    if _fits_if_integer(value):
        return value
    raise PydanticCustomError("bigint", _FITS_BIGINT)


def _iso_timestamp(value: object) -> object:
    if _parses_as_iso(value):
        return value
    raise PydanticCustomError("timestamp", "must be an ISO 8601 date-time string")


def _object(value: object) -> object:
    if type(value) is dict or (type(value) is list and not value):
        return value
    raise PydanticCustomError("object", "must be an object")


# `[]` and `{}` are the same empty value (Ingresse sends both): a list field may arrive as
# `{}` and an object field as `[]`.
def _empty_as_list(value: object) -> object:
    return [] if type(value) is dict and not value else value


def _empty_as_object(value: object) -> object:
    return {} if type(value) is list and not value else value


def _or_empty(empty: JsonDict) -> Callable[[JsonDict], None]:
    """Widen a field's schema to admit the other spelling of an empty value."""

    def widen(schema: JsonDict) -> None:
        spelled: JsonDict = dict(schema)
        schema.clear()
        schema["anyOf"] = [spelled, empty]

    return widen


Item = TypeVar("Item")
ListOf = Annotated[
    list[Item],
    BeforeValidator(_empty_as_list),
    Field(json_schema_extra=_or_empty({"type": "object", "maxProperties": 0})),
]
ObjectOf = Annotated[
    dict[str, Item],
    BeforeValidator(_empty_as_object),
    Field(json_schema_extra=_or_empty({"type": "array", "maxItems": 0})),
]


WholeNumber = Annotated[object, PlainValidator(_whole_number), WithJsonSchema({"type": "integer"})]
Number = Annotated[object, PlainValidator(_number), WithJsonSchema({"type": "number"})]
JSONObject = Annotated[
    object,
    PlainValidator(_object),
    WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "array", "maxItems": 0}]}),
]
IntegerThatFits = Annotated[
    object,
    PlainValidator(_integer_that_fits),
    WithJsonSchema({"description": "Free-form; an integer must fit in a signed 64-bit integer."}),
]
Timestamp = Annotated[
    str,
    PlainValidator(_iso_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 source time; without an offset, "
            "TICKET_AUDIT_SOURCE_TIMEZONE applies.",
        }
    ),
]


@with_config(ConfigDict(extra="forbid"))
class FieldError(TypedDict):
    loc: list[str | int]
    msg: str


class SalePeriod(BaseModel):
    id: Identifier


class ChildTicket(BaseModel):
    """A group's child: listed as a ticket of its own, so its ids land in BIGINT columns."""

    id: Identifier
    eventId: IntegerThatFits = None
    parent: IntegerThatFits = None


class TicketData(BaseModel):
    """The ticket as Ingresse sends it; fields not named here are free-form and kept as sent.

    `[]` and `{}` are interchangeable wherever a list or an object is expected.
    """

    id: Identifier
    # May be absent, but null is refused (only `parent` may be null); pydantic never
    # validates a default, so None stands for "absent" without admitting null.
    eventId: Identifier = None  # type: ignore[assignment]
    parent: Identifier | None = None
    quantity: WholeNumber = None
    quantityDiff: WholeNumber = None
    order: WholeNumber = None
    salePeriods: ListOf[SalePeriod] = []
    children: ListOf[ChildTicket] = []
    eventDates: ListOf[JSONObject] = []
    value: ObjectOf[Number] = {}
    attributes: Annotated[
        Any, Field(description="Free-form: an object, or `[]` (Ingresse sends both).")
    ] = None


class Delivery(BaseModel):
    """Ingresse's envelope, kept byte for byte."""

    webhook: Annotated[
        str,
        Strict(),
        Field(description='Only "ticket" is accepted; any other kind is 422 unsupported_webhook.'),
    ]
    timestamp: Timestamp
    data: TicketData


# pydantic's own wording for the checks that its core makes, in the contract's words.
_MESSAGES = {
    "missing": "field required",
    "int_type": "must be an integer",
    "less_than_equal": _FITS_BIGINT,
    "greater_than_equal": _FITS_BIGINT,
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def delivery_errors(document: dict[str, Any]) -> list[FieldError]:
    """Every problem of `document`, as `{"loc", "msg"}`; empty when it is a valid delivery."""
    if plainly_valid(document):
        return []
    return model_errors(document)


def model_errors(document: dict[str, Any]) -> list[FieldError]:
    """`delivery_errors` as the model alone finds them."""
    try:
        Delivery.model_validate(document)
    except ValidationError as invalid:
        return [_field_error(error) for error in invalid.errors(include_url=False)]
    return []


def plainly_valid(document: dict[str, Any]) -> bool:
    """True only when the model would accept `document`, at a fraction of its cost.

    Nearly every delivery is valid, and the model costs more than decoding the body (it
    builds an instance per object): this asks the usual delivery's questions once, inline,
    in about half the model's time. It only ever says yes to a subset of what the model
    accepts (tests/service/test_plainly_valid.py holds it to that); False sends the delivery
    to the model, which accepts it or names each problem.
    """
    data = document.get("data")
    if (
        type(document.get("webhook")) is not str
        or type(data) is not dict
        or not _is_identifier(data.get("id"))
        or ("eventId" in data and not _is_identifier(data["eventId"]))
        or not _parses_as_iso(document.get("timestamp"))
    ):
        return False
    parent = data.get("parent")
    if parent is not None and not _is_identifier(parent):
        return False
    for name in ("quantity", "quantityDiff", "order"):
        if name in data and not _is_whole_number(data[name]):
            return False
    for name in ("salePeriods", "children", "eventDates"):
        items = data.get(name, _NO_ITEMS)
        if type(items) is not list:
            return False
        for item in items:
            if type(item) is not dict:
                return False
            if name != "eventDates" and not _is_identifier(item.get("id")):
                return False
            if name == "children" and not (
                _fits_if_integer(item.get("eventId")) and _fits_if_integer(item.get("parent"))
            ):
                return False
    amounts = data.get("value", _NO_AMOUNTS)
    if type(amounts) is not dict:
        return False
    return all(_is_number(amount) for amount in amounts.values())


_NO_ITEMS: list[object] = []
_NO_AMOUNTS: dict[str, object] = {}


def _is_identifier(value: object) -> bool:
    # Exact ints only: bools are ints too, and identifiers land in BIGINT columns.
    return type(value) is int and BIGINT_MIN <= value <= BIGINT_MAX


def _field_error(error: ErrorDetails) -> FieldError:
    return {"loc": list(error["loc"]), "msg": _MESSAGES.get(error["type"], error["msg"])}
