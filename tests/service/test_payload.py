from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.payload import (
    DeliveryRejected,
    Envelope,
    InvalidPayload,
    MalformedJSON,
    UnsupportedWebhook,
    parse_delivery,
    parse_source_timestamp,
)
from tests.helpers import FIXTURES

FIXTURE_NAMES = ["ticket-408218.json", "group-346868.json"]
SAO_PAULO_WINTER = timezone(timedelta(hours=-3))


def fixture_document(name: str = "ticket-408218.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return document


def encode(document: object) -> bytes:
    # The standard encoder writes integers of any size, which the tests need.
    return json.dumps(document).encode("utf-8")


def delivery_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    document = fixture_document()
    change(document)
    return encode(document)


def with_data_field(name: str, value: object) -> bytes:
    return delivery_with(lambda document: document["data"].__setitem__(name, value))


def rejection_errors(body: bytes) -> list[dict[str, Any]]:
    with pytest.raises(InvalidPayload) as caught:
        parse_delivery(body)
    return [dict(error) for error in caught.value.errors]


def parse_or_invalid(body: bytes) -> Envelope | InvalidPayload:
    try:
        return parse_delivery(body)
    except InvalidPayload as rejection:
        return rejection


def rejected_locs(body: bytes) -> list[list[str | int]]:
    return [error["loc"] for error in rejection_errors(body)]


# Fixtures


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_parses_with_data_exactly_as_delivered(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    expected = fixture_document(name)

    envelope = parse_delivery(raw)

    assert envelope.data == expected["data"]
    assert list(envelope.data) == list(expected["data"])
    assert envelope.webhook == "ticket"
    assert envelope.timestamp == "2018-04-02T13:57:04.770619"
    assert envelope.ticket_id == expected["data"]["id"]
    assert envelope.event_id == 24724


def test_group_keeps_float_amounts_and_null_parent() -> None:
    envelope = parse_delivery((FIXTURES / "group-346868.json").read_bytes())

    assert envelope.data["parent"] is None
    assert envelope.data["children"][1]["value"]["finalPrice"] == 1.1
    assert envelope.data["children"][0]["attributes"] == []


def test_envelope_is_frozen() -> None:
    envelope = parse_delivery(encode(fixture_document()))

    with pytest.raises(dataclasses.FrozenInstanceError):
        envelope.ticket_id = 1  # type: ignore[misc]


def test_minimal_delivery_has_no_event_id() -> None:
    body = encode({"webhook": "ticket", "timestamp": "2018-04-02T13:57:04", "data": {"id": 7}})

    assert parse_delivery(body) == Envelope(
        webhook="ticket",
        timestamp="2018-04-02T13:57:04",
        data={"id": 7},
        ticket_id=7,
        event_id=None,
    )


# Checked fields

CHECKED_FIELDS = [
    "id",
    "eventId",
    "parent",
    "quantity",
    "quantityDiff",
    "order",
    "salePeriods",
    "children",
    "value",
    "eventDates",
]
WRONG_INTEGERS = ["7", 3.5, True, False, {}, [], None]
INTEGER_FIELDS = ["id", "eventId", "quantity", "quantityDiff", "order"]
COUNT_FIELDS = ["quantity", "quantityDiff", "order"]


@pytest.mark.parametrize("wrong", WRONG_INTEGERS)
@pytest.mark.parametrize("name", INTEGER_FIELDS)
def test_integer_field_of_another_type_is_rejected(name: str, wrong: object) -> None:
    assert rejection_errors(with_data_field(name, wrong)) == [
        {"loc": ["data", name], "msg": "must be an integer"}
    ]


@pytest.mark.parametrize("name", ["id", "eventId"])
def test_identifier_written_as_a_float_is_rejected(name: str) -> None:
    assert rejection_errors(with_data_field(name, 3.0)) == [
        {"loc": ["data", name], "msg": "must be an integer"}
    ]


@pytest.mark.parametrize("name", COUNT_FIELDS)
def test_count_written_as_a_whole_float_is_kept_as_delivered(name: str) -> None:
    data = parse_delivery(with_data_field(name, 80.0)).data

    assert data[name] == 80.0
    assert isinstance(data[name], float)


@pytest.mark.parametrize("wrong", ["7", 3.5, 3.0, True, {}, []])
def test_parent_of_another_type_is_rejected(wrong: object) -> None:
    assert rejected_locs(with_data_field("parent", wrong)) == [["data", "parent"]]


@pytest.mark.parametrize("name", ["quantity", "quantityDiff", "order"])
def test_counts_may_be_negative_or_huge(name: str) -> None:
    for count in (-9000, 0, 2**80):
        assert parse_delivery(with_data_field(name, count)).data[name] == count


@pytest.mark.parametrize("name", ["salePeriods", "children", "eventDates"])
@pytest.mark.parametrize("wrong", ["x", 1, True, {"id": 1}, None])
def test_list_field_that_is_not_a_list_is_rejected(name: str, wrong: object) -> None:
    assert rejection_errors(with_data_field(name, wrong)) == [
        {"loc": ["data", name], "msg": "must be a list"}
    ]


@pytest.mark.parametrize("name", ["salePeriods", "children", "eventDates"])
@pytest.mark.parametrize("wrong", ["x", 1, None, [{"id": 1}]])
def test_list_item_that_is_not_an_object_is_rejected(name: str, wrong: object) -> None:
    body = with_data_field(name, [{"id": 1}, wrong])

    assert rejection_errors(body) == [{"loc": ["data", name, 1], "msg": "must be an object"}]


@pytest.mark.parametrize("name", ["salePeriods", "children"])
@pytest.mark.parametrize("wrong", ["70127", 3.5, 3.0, True, None, {}, []])
def test_list_item_id_of_another_type_is_rejected(name: str, wrong: object) -> None:
    body = with_data_field(name, [{"id": 1}, {"id": wrong, "name": "x"}])

    assert rejection_errors(body) == [{"loc": ["data", name, 1, "id"], "msg": "must be an integer"}]


@pytest.mark.parametrize("name", ["salePeriods", "children"])
def test_list_item_without_id_is_rejected(name: str) -> None:
    body = with_data_field(name, [{"name": "no id"}])

    assert rejection_errors(body) == [{"loc": ["data", name, 0, "id"], "msg": "field required"}]


def test_event_dates_need_no_id() -> None:
    body = with_data_field("eventDates", [{"datetime": "2019-10-10T10:00:00-03:00"}, {}])

    assert parse_delivery(body).data["eventDates"][1] == {}


@pytest.mark.parametrize("wrong", ["10", None, True, {}, [], [10]])
def test_value_member_that_is_not_a_number_is_rejected(wrong: object) -> None:
    body = with_data_field("value", {"price": 10, "feeSale": wrong, "finalPrice": 11.5})

    assert rejection_errors(body) == [
        {"loc": ["data", "value", "feeSale"], "msg": "must be a number"}
    ]


@pytest.mark.parametrize("wrong", ["10", 10, None, True, [10]])
def test_value_that_is_not_an_object_is_rejected(wrong: object) -> None:
    assert rejected_locs(with_data_field("value", wrong)) == [["data", "value"]]


def test_value_members_may_be_any_number() -> None:
    amounts = {"price": 10, "finalPrice": 1.1, "feeSale": -0.5, "big": 2**70, "tiny": 1e-300}

    assert parse_delivery(with_data_field("value", amounts)).data["value"] == amounts


@pytest.mark.parametrize("wrong", [1, None, True, ["ticket"], {}])
def test_webhook_that_is_not_a_string_is_rejected(wrong: object) -> None:
    body = delivery_with(lambda document: document.__setitem__("webhook", wrong))

    assert rejection_errors(body) == [{"loc": ["webhook"], "msg": "must be a string"}]


@pytest.mark.parametrize(
    "wrong", ["", "yesterday", "2018-04-02T25:00:00", "2018-02-30", "02/04/2018", 1522677424, None]
)
def test_timestamp_that_is_not_iso_8601_is_rejected(wrong: object) -> None:
    body = delivery_with(lambda document: document.__setitem__("timestamp", wrong))

    assert rejected_locs(body) == [["timestamp"]]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2018-04-02T13:57:04.770619",
        "2018-04-02T13:57:04",
        "2018-04-02T13:57:04Z",
        "2018-04-02T13:57:04.770619Z",
        "2018-04-02T13:57:04-03:00",
        "2018-04-02T13:57:04.770619+00:00",
        "2018-04-02",
    ],
)
def test_iso_8601_timestamps_are_accepted_and_kept_as_sent(timestamp: str) -> None:
    body = delivery_with(lambda document: document.__setitem__("timestamp", timestamp))

    assert parse_delivery(body).timestamp == timestamp


@pytest.mark.parametrize("wrong", [[], "x", 1, None, True])
def test_data_that_is_not_an_object_is_rejected(wrong: object) -> None:
    body = delivery_with(lambda document: document.__setitem__("data", wrong))

    assert rejection_errors(body) == [{"loc": ["data"], "msg": "must be an object"}]


def test_missing_required_fields_are_all_reported() -> None:
    assert rejection_errors(b"{}") == [
        {"loc": ["webhook"], "msg": "field required"},
        {"loc": ["timestamp"], "msg": "field required"},
        {"loc": ["data"], "msg": "field required"},
    ]


def test_missing_ticket_id_is_reported() -> None:
    body = delivery_with(lambda document: document["data"].pop("id"))

    assert rejection_errors(body) == [{"loc": ["data", "id"], "msg": "field required"}]


def test_every_problem_is_reported_at_once() -> None:
    def break_many(document: dict[str, Any]) -> None:
        document["timestamp"] = "soon"
        data = document["data"]
        data["id"] = "408218"
        data["parent"] = True
        data["quantity"] = 3.5
        data["salePeriods"] = [{"id": 1}, {"id": None}, "x"]
        data["value"]["price"] = "10"

    assert rejected_locs(delivery_with(break_many)) == [
        ["timestamp"],
        ["data", "id"],
        ["data", "parent"],
        ["data", "quantity"],
        ["data", "salePeriods", 1, "id"],
        ["data", "salePeriods", 2],
        ["data", "value", "price"],
    ]


# Free-form fields


def test_optional_checked_fields_may_be_absent() -> None:
    optional = [name for name in CHECKED_FIELDS if name != "id"]

    def drop_optional(document: dict[str, Any]) -> None:
        for name in optional:
            del document["data"][name]

    envelope = parse_delivery(delivery_with(drop_optional))

    assert envelope.event_id is None
    assert not set(optional) & set(envelope.data)


@pytest.mark.parametrize("attributes", [[], {}, {"maximum": 0, "canArchive": True}])
def test_attributes_may_be_an_object_or_an_empty_list(attributes: object) -> None:
    assert (
        parse_delivery(with_data_field("attributes", attributes)).data["attributes"] == attributes
    )


@pytest.mark.parametrize(
    ("name", "empty"),
    [("salePeriods", {}), ("children", {}), ("eventDates", {}), ("value", [])],
)
def test_an_empty_list_and_an_empty_object_are_the_same_value(name: str, empty: object) -> None:
    data = parse_delivery(with_data_field(name, empty)).data

    assert data[name] == empty
    assert type(data[name]) is type(empty), "kept as delivered"


def test_unknown_fields_are_kept_untouched() -> None:
    extra: dict[str, Any] = {"nested": [1, 1.0, None, {"deep": [[]]}], "text": "ç ✓ \u0000"}
    body = with_data_field("somethingNew", extra)

    data = parse_delivery(body).data

    assert data["somethingNew"] == extra
    assert type(data["somethingNew"]["nested"][1]) is float
    assert list(data)[-1] == "somethingNew"


@pytest.mark.parametrize("huge", [2**63, 2**64, 2**70, -(2**63) - 1, -(2**90), 10**400])
def test_huge_integer_in_a_free_form_field_is_kept_exactly(huge: int) -> None:
    data = parse_delivery(with_data_field("externalReference", huge)).data

    assert data["externalReference"] == huge
    assert type(data["externalReference"]) is int


def test_free_form_fields_survive_the_exact_decoder_unchanged() -> None:
    document = fixture_document("group-346868.json")
    document["data"]["serial"] = 2**70

    data = parse_delivery(encode(document)).data

    assert data == document["data"]
    assert list(data) == list(document["data"])


# Identifiers must fit BIGINT columns

IDENTIFIERS = ["id", "eventId", "parent"]


@pytest.mark.parametrize("name", IDENTIFIERS)
@pytest.mark.parametrize("edge", [2**63 - 1, -(2**63)])
def test_identifier_at_the_64_bit_edge_is_accepted(name: str, edge: int) -> None:
    assert parse_delivery(with_data_field(name, edge)).data[name] == edge


@pytest.mark.parametrize("name", IDENTIFIERS)
@pytest.mark.parametrize("huge", [2**63, 2**64, -(2**63) - 1, 10**400])
def test_identifier_beyond_64_bits_is_rejected(name: str, huge: int) -> None:
    assert rejection_errors(with_data_field(name, huge)) == [
        {"loc": ["data", name], "msg": "must fit in a signed 64-bit integer"}
    ]


@pytest.mark.parametrize("name", ["salePeriods", "children"])
@pytest.mark.parametrize("huge", [2**63, -(2**63) - 1, 10**400])
def test_list_item_id_beyond_64_bits_is_rejected(name: str, huge: int) -> None:
    assert rejected_locs(with_data_field(name, [{"id": 2**63 - 1}, {"id": huge}])) == [
        ["data", name, 1, "id"]
    ]


@pytest.mark.parametrize("name", ["eventId", "parent"])
@pytest.mark.parametrize("edge", [2**63 - 1, -(2**63)])
def test_a_childs_integer_ids_at_the_64_bit_edge_are_accepted(name: str, edge: int) -> None:
    data = parse_delivery(with_data_field("children", [{"id": 1, name: edge}])).data

    assert data["children"][0][name] == edge


@pytest.mark.parametrize("name", ["eventId", "parent"])
@pytest.mark.parametrize("huge", [2**63, -(2**63) - 1, 10**400])
def test_a_childs_integer_ids_beyond_64_bits_are_rejected(name: str, huge: int) -> None:
    body = with_data_field("children", [{"id": 1}, {"id": 2, name: huge}])

    assert rejection_errors(body) == [
        {"loc": ["data", "children", 1, name], "msg": "must fit in a signed 64-bit integer"}
    ]


@pytest.mark.parametrize("name", ["eventId", "parent"])
@pytest.mark.parametrize("other", ["24724", 1.5, None, {"id": 1}])
def test_a_childs_ids_are_otherwise_free_form(name: str, other: object) -> None:
    data = parse_delivery(with_data_field("children", [{"id": 1, name: other}])).data

    assert data["children"][0][name] == other


def test_huge_ticket_id_is_rejected_with_its_location() -> None:
    body = b'{"webhook":"ticket","timestamp":"2018-04-02","data":{"id":99999999999999999999}}'

    assert rejected_locs(body) == [["data", "id"]]


# Malformed JSON

MALFORMED_BODIES = {
    "truncated": b'{"webhook": "ticket", "data": {"id": 1',
    "empty": b"",
    "blank": b" \r\n\t ",
    "invalid utf-8": b"\xff",
    "invalid utf-8 inside a string": b'{"webhook": "ticket\xff"}',
    "byte order mark": b'\xef\xbb\xbf{"webhook": "ticket"}',
    "top-level array": b'[{"webhook": "ticket"}]',
    "top-level string": b'"ticket"',
    "top-level number": b"408218",
    "top-level null": b"null",
    "trailing content": b"{} {}",
    "single quotes": b"{'webhook': 'ticket'}",
    "NaN": b'{"webhook": NaN}',
    "infinite float": b'{"webhook": 1e400}',
    "lone surrogate": b'{"webhook": "\\ud800"}',
    "NaN beside a huge integer": b'{"a": 12345678901234567890, "b": NaN}',
    "infinite float beside a huge integer": b'{"a": 12345678901234567890, "b": 1e400}',
    "lone surrogate beside a huge integer": b'{"a": 12345678901234567890, "b": "\\udc00"}',
    "truncated with a huge integer": b'{"a": 12345678901234567890',
    "invalid utf-8 with a huge integer": b'{"a": 12345678901234567890, "b": "\xff"}',
    "top-level huge integer": b"12345678901234567890",
    "integer too long to read": b'{"a": 1' + b"0" * 5000 + b"}",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        parse_delivery(body)

    assert 0 < len(caught.value.detail) <= 200


def test_empty_body_says_so() -> None:
    with pytest.raises(MalformedJSON, match="body is empty"):
        parse_delivery(b"")


@pytest.mark.parametrize("body", [b"[]", b'"ticket"', b"12345678901234567890"])
def test_top_level_that_is_not_an_object_says_so(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        parse_delivery(body)

    assert caught.value.detail == "top level must be a JSON object"


@pytest.mark.parametrize("filler", [b"x", b"1234567890123456789"])
def test_detail_echoes_little_of_a_large_body(filler: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        parse_delivery(b'{"' + filler * 10_000)

    assert len(caught.value.detail) <= 200


@pytest.mark.parametrize("huge_integer", [b"", b'"n": 12345678901234567890, '])
def test_pathological_nesting_is_malformed_not_a_crash(huge_integer: bytes) -> None:
    depth = 100_000
    body = b'{"webhook": "ticket", ' + huge_integer + b'"data": ' + b"[" * depth + b"]" * depth
    body += b"}"

    with pytest.raises(MalformedJSON):
        parse_delivery(body)


# Webhook kind and the order of checks


def test_other_webhook_is_unsupported() -> None:
    body = delivery_with(lambda document: document.__setitem__("webhook", "event"))

    with pytest.raises(UnsupportedWebhook) as caught:
        parse_delivery(body)

    assert caught.value.webhook == "event"


def test_invalid_payload_wins_over_unsupported_webhook() -> None:
    def break_both(document: dict[str, Any]) -> None:
        document["webhook"] = "event"
        document["data"]["id"] = "x"

    assert rejected_locs(delivery_with(break_both)) == [["data", "id"]]


def test_malformed_json_wins_over_everything() -> None:
    with pytest.raises(MalformedJSON):
        parse_delivery(b'{"webhook": "event", "data": {"id": "x"}')


# Error bodies


def test_error_bodies_are_the_api_answers() -> None:
    field_error: list[dict[str, Any]] = [{"loc": ["data", "salePeriods", 0, "id"], "msg": "m"}]

    assert MalformedJSON("body is empty").body() == {
        "error": "malformed_json",
        "detail": "body is empty",
    }
    assert InvalidPayload([{"loc": ["data", "salePeriods", 0, "id"], "msg": "m"}]).body() == {
        "error": "invalid_payload",
        "detail": field_error,
    }
    assert UnsupportedWebhook("event").body() == {
        "error": "unsupported_webhook",
        "webhook": "event",
    }


def test_rejections_share_a_base_and_name_their_code() -> None:
    codes = {
        MalformedJSON: "malformed_json",
        InvalidPayload: "invalid_payload",
        UnsupportedWebhook: "unsupported_webhook",
    }
    for rejection, code in codes.items():
        assert issubclass(rejection, DeliveryRejected)
        assert rejection.code == code


def test_unsupported_webhook_answer_echoes_little_of_a_long_name() -> None:
    assert len(str(UnsupportedWebhook("x" * 10_000).body()["webhook"])) == 200


def test_invalid_payload_body_is_json_serializable() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_delivery(with_data_field("salePeriods", [{"id": "x"}]))

    assert orjson.loads(orjson.dumps(caught.value.body())) == {
        "error": "invalid_payload",
        "detail": [{"loc": ["data", "salePeriods", 0, "id"], "msg": "must be an integer"}],
    }


# Source timestamps


def test_source_timestamp_without_offset_takes_the_default_zone() -> None:
    moment = parse_source_timestamp("2018-04-02T13:57:04.770619", SAO_PAULO_WINTER)

    assert moment == datetime(2018, 4, 2, 13, 57, 4, 770619, tzinfo=SAO_PAULO_WINTER)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-04-02T13:57:04Z", datetime(2018, 4, 2, 13, 57, 4, tzinfo=UTC)),
        ("2018-04-02T13:57:04+00:00", datetime(2018, 4, 2, 13, 57, 4, tzinfo=UTC)),
        (
            "2018-04-02T13:57:04.5+01:00",
            datetime(2018, 4, 2, 13, 57, 4, 500000, tzinfo=timezone(timedelta(hours=1))),
        ),
        (
            "2018-04-02T13:57:04-05:00",
            datetime(2018, 4, 2, 13, 57, 4, tzinfo=timezone(timedelta(hours=-5))),
        ),
    ],
)
def test_source_timestamp_keeps_its_own_offset(text: str, expected: datetime) -> None:
    moment = parse_source_timestamp(text, SAO_PAULO_WINTER)

    assert moment == expected
    assert moment.utcoffset() == expected.utcoffset()


def test_source_date_alone_is_midnight_in_the_default_zone() -> None:
    assert parse_source_timestamp("2018-04-02", UTC) == datetime(2018, 4, 2, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "now", "2018-13-01", "13:57:04"])
def test_unreadable_source_timestamp_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_source_timestamp(text, UTC)


@given(st.text(max_size=40))
def test_timestamp_validation_agrees_with_the_parser(text: str) -> None:
    body = delivery_with(lambda document: document.__setitem__("timestamp", text))
    try:
        parse_source_timestamp(text, UTC)
    except ValueError:
        assert rejected_locs(body) == [["timestamp"]]
    else:
        assert parse_delivery(body).timestamp == text


# Properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)
FREE_FORM_FIELDS = ["name", "description", "attributes", "triggers", "type", "somethingNew"]


@given(st.sampled_from(FREE_FORM_FIELDS), json_values)
def test_any_json_in_a_free_form_field_is_kept(name: str, value: object) -> None:
    data = parse_delivery(with_data_field(name, value)).data

    assert data[name] == value


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_any_extra_data_members_are_kept(extra: dict[str, Any]) -> None:
    document = fixture_document()
    document["data"] = {**extra, **document["data"]}

    assert parse_delivery(encode(document)).data == document["data"]


@given(st.sampled_from(CHECKED_FIELDS), json_values)
def test_any_json_in_a_checked_field_is_accepted_or_invalid(name: str, value: object) -> None:
    outcome = parse_or_invalid(with_data_field(name, value))

    if isinstance(outcome, InvalidPayload):
        assert all(error["loc"][:2] == ["data", name] for error in outcome.errors)
    else:
        assert outcome.data[name] == value


@given(json_values)
def test_any_json_document_is_parsed_or_rejected(document: object) -> None:
    try:
        parse_delivery(encode(document))
    except DeliveryRejected as rejection:
        orjson.dumps(rejection.body())


@given(st.binary())
def test_any_bytes_are_parsed_or_rejected(body: bytes) -> None:
    try:
        parse_delivery(body)
    except DeliveryRejected as rejection:
        orjson.dumps(rejection.body())
