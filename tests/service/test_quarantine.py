from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from service.quarantine import (
    QuarantinedDelivery,
    QuarantineStore,
    QuarantineUnavailable,
    open_quarantine,
)
from service.settings import DatabaseLocation

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"

RECEIVED = datetime(2024, 5, 17, 14, 30, 12, 345678, tzinfo=UTC)
FIELD_ERRORS = [
    {"loc": ["data", "salePeriods", 0, "id"], "msg": "Input should be a valid integer"},
    {"loc": ["data", "quantity"], "msg": "Input should be a valid integer"},
]
# "café" in Latin-1: the lone 0xE9 byte is not valid UTF-8.
LATIN1_BODY = b'{"webhook": "ticket", "data": {"id": 1, "name": "caf\xe9"}}'


class StoreFactory(Protocol):
    def __call__(self, max_items: int = ...) -> QuarantineStore: ...


@contextmanager
def store_factory(location: DatabaseLocation) -> Iterator[StoreFactory]:
    stores: list[QuarantineStore] = []

    def open_store(max_items: int = 10_000) -> QuarantineStore:
        store = open_quarantine(location, max_items)
        stores.append(store)
        return store

    try:
        yield open_store
    finally:
        for store in stores:
            store.close()


def add_numbered(store: QuarantineStore, how_many: int) -> list[int]:
    return [
        store.add(
            "malformed_json",
            f"delivery {n}",
            RECEIVED + timedelta(seconds=n),
            len(f"delivery {n}"),
            f"delivery {n}".encode(),
        )
        for n in range(how_many)
    ]


class QuarantineCases:
    """What every backend must do; subclasses provide the `location` fixture."""

    @pytest.fixture
    def open_store(self, location: DatabaseLocation) -> Iterator[StoreFactory]:
        with store_factory(location) as factory:
            yield factory

    def test_add_then_get_round_trips_every_field(self, open_store: StoreFactory) -> None:
        store = open_store()

        quarantine_id = store.add("invalid_payload", FIELD_ERRORS, RECEIVED, 4321, LATIN1_BODY)

        assert store.get(quarantine_id) == QuarantinedDelivery(
            id=quarantine_id,
            error="invalid_payload",
            detail=FIELD_ERRORS,
            received_at=RECEIVED,
            size=4321,
            body=LATIN1_BODY,
        )

    def test_string_detail_and_every_byte_value_round_trip(self, open_store: StoreFactory) -> None:
        store = open_store()
        body = bytes(range(256))

        quarantine_id = store.add("malformed_json", "Expecting value: line 1", RECEIVED, 256, body)

        got = store.get(quarantine_id)
        assert got is not None
        assert got.detail == "Expecting value: line 1"
        assert got.body == body

    def test_received_time_comes_back_in_utc(self, open_store: StoreFactory) -> None:
        store = open_store()
        sao_paulo = RECEIVED.astimezone(timezone(timedelta(hours=-3)))

        got = store.get(store.add("invalid_payload", [], sao_paulo, 2, b"{}"))

        assert got is not None
        assert got.received_at == RECEIVED
        assert got.received_at.utcoffset() == timedelta(0)

    def test_naive_received_time_is_refused(self, open_store: StoreFactory) -> None:
        store = open_store()
        naive = RECEIVED.replace(tzinfo=None)

        with pytest.raises(ValueError, match="timezone-aware"):
            store.add("invalid_payload", [], naive, 2, b"{}")

    def test_page_is_newest_first_and_continues_before_an_id(
        self, open_store: StoreFactory
    ) -> None:
        store = open_store()
        ids = add_numbered(store, 5)

        first = store.page(2, None)
        second = store.page(2, first[-1].id)
        third = store.page(2, second[-1].id)

        assert [d.id for d in first] == [ids[4], ids[3]]
        assert [d.id for d in second] == [ids[2], ids[1]]
        assert [d.id for d in third] == [ids[0]]
        assert store.page(2, ids[0]) == []
        assert [d.detail for d in first] == ["delivery 4", "delivery 3"]

    def test_bound_drops_the_oldest_and_counts_them(self, open_store: StoreFactory) -> None:
        store = open_store(max_items=3)

        ids = add_numbered(store, 5)

        assert store.count() == 3
        assert store.dropped == 2
        assert store.get(ids[0]) is None
        assert store.get(ids[1]) is None
        assert [d.id for d in store.page(10, None)] == [ids[4], ids[3], ids[2]]

    def test_the_dropped_count_is_kept_in_storage(self, open_store: StoreFactory) -> None:
        store = open_store(max_items=2)
        add_numbered(store, 5)
        assert store.dropped == 3
        store.close()

        reopened = open_store(max_items=2)
        assert reopened.dropped == 0  # storage is not touched until asked
        assert reopened.load_dropped() == 3
        add_numbered(reopened, 1)

        assert reopened.dropped == 4
        assert open_store(max_items=2).load_dropped() == 4

    def test_ids_are_not_reused_after_dropping(self, open_store: StoreFactory) -> None:
        store = open_store(max_items=1)
        first, second = add_numbered(store, 2)

        third = store.add("malformed_json", "again", RECEIVED, 5, b"again")

        assert first < second < third
        assert store.get(second) is None

    def test_unknown_id_is_none(self, open_store: StoreFactory) -> None:
        store = open_store()
        add_numbered(store, 1)

        assert store.get(999_999) is None

    def test_empty_store(self, open_store: StoreFactory) -> None:
        store = open_store()

        assert store.count() == 0
        assert store.page(10, None) == []
        assert store.dropped == 0

    def test_deliveries_survive_reopening(self, open_store: StoreFactory) -> None:
        store = open_store()
        quarantine_id = store.add("payload_too_large", {"limit": 10}, RECEIVED, 99, b"x" * 10)
        store.close()

        reopened = open_store()

        got = reopened.get(quarantine_id)
        assert got is not None
        assert (got.error, got.detail, got.size) == ("payload_too_large", {"limit": 10}, 99)

    def test_concurrent_adds_each_get_their_own_id(self, open_store: StoreFactory) -> None:
        store = open_store()

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(
                pool.map(
                    lambda n: store.add("malformed_json", n, RECEIVED, 1, b"{"),
                    range(40),
                )
            )

        assert len(set(ids)) == 40
        assert store.count() == 40

    def test_closed_store_is_unavailable(self, open_store: StoreFactory) -> None:
        store = open_store()
        store.close()

        with pytest.raises(QuarantineUnavailable):
            store.add("malformed_json", "x", RECEIVED, 1, b"x")


class TestQuarantineSQLite(QuarantineCases):
    @pytest.fixture
    def location(self, tmp_path: Path) -> DatabaseLocation:
        return DatabaseLocation.parse(f"sqlite:///{tmp_path / 'log.sqlite3'}")

    def test_lives_in_its_own_file_beside_the_log(
        self, open_store: StoreFactory, tmp_path: Path
    ) -> None:
        store = open_store()

        store.add("malformed_json", "x", RECEIVED, 1, b"x")

        assert (tmp_path / "log.quarantine.sqlite3").exists()
        assert not (tmp_path / "log.sqlite3").exists()


@pytest.mark.postgres
class TestQuarantinePostgres(QuarantineCases):
    @pytest.fixture
    def schema(self) -> Iterator[str]:
        schema = f"qt_{uuid.uuid4().hex}"
        yield schema
        with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))

    @pytest.fixture
    def location(self, schema: str) -> DatabaseLocation:
        return DatabaseLocation.parse(f"{POSTGRES_URL}?schema={schema}")

    def test_creates_its_table_in_the_location_schema(
        self, open_store: StoreFactory, schema: str
    ) -> None:
        store = open_store()

        store.add("malformed_json", "x", RECEIVED, 1, b"x")

        with psycopg.connect(POSTGRES_CONNINFO) as conn:
            row = conn.execute(
                SQL("SELECT count(*) FROM {0}.quarantine").format(Identifier(schema))
            ).fetchone()
        assert row == (1,)

    def test_uses_an_existing_schema(self, open_store: StoreFactory, schema: str) -> None:
        with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {0}").format(Identifier(schema)))
        store = open_store()

        quarantine_id = store.add("malformed_json", "x", RECEIVED, 1, b"x")

        assert store.get(quarantine_id) is not None


def test_unreachable_postgres_is_reported_quickly_without_secrets() -> None:
    location = DatabaseLocation.parse("postgresql://postgres:hunter2@127.0.0.1:1/test")
    with store_factory(location) as open_store:
        store = open_store()
        started = time.monotonic()

        with pytest.raises(QuarantineUnavailable) as raised:
            store.add("malformed_json", "x", RECEIVED, 1, b"x")

        assert time.monotonic() - started < 6
        message = str(raised.value)
        assert "hunter2" not in message
        assert "127.0.0.1" not in message


def test_unopenable_sqlite_file_is_reported_on_use(tmp_path: Path) -> None:
    location = DatabaseLocation.parse(f"sqlite:///{tmp_path / 'missing-dir' / 'log.sqlite3'}")
    with store_factory(location) as open_store:
        store = open_store()

        with pytest.raises(QuarantineUnavailable):
            store.count()


def test_bound_must_be_positive(tmp_path: Path) -> None:
    location = DatabaseLocation.parse(f"sqlite:///{tmp_path / 'log.sqlite3'}")

    with pytest.raises(ValueError, match="max_items"):
        open_quarantine(location, max_items=0)


def test_summary_json_has_the_list_fields() -> None:
    delivery = QuarantinedDelivery(7, "invalid_payload", FIELD_ERRORS, RECEIVED, 42, b"{}")

    assert delivery.summary_json() == {
        "id": 7,
        "error": "invalid_payload",
        "receivedAt": "2024-05-17T14:30:12.345678+00:00",
        "size": 42,
    }


def test_full_json_decodes_the_body_replacing_invalid_utf8() -> None:
    delivery = QuarantinedDelivery(7, "malformed_json", "bad", RECEIVED, 60, LATIN1_BODY)

    assert delivery.full_json() == {
        "id": 7,
        "error": "malformed_json",
        "detail": "bad",
        "receivedAt": "2024-05-17T14:30:12.345678+00:00",
        "size": 60,
        "body": '{"webhook": "ticket", "data": {"id": 1, "name": "caf\ufffd"}}',
    }
