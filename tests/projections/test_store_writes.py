"""A projection store's bulk writes, on every backend: rows upserted by key, the last write
of a key winning, however many upserts one transaction makes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from projections.store.generations import ProjectionStores
from projections.store.views import ProjectionStore
from service.database import prepare_storage
from service.settings import DatabaseLocation

COLUMNS = ("ticket_id", "version", "snapshot")


@pytest.fixture
def store(database_url: str) -> Iterator[ProjectionStore]:
    location = DatabaseLocation.parse(database_url)
    prepare_storage(location)
    stores = ProjectionStores(location)
    view = stores.open_store("writes", 1)
    view.create(
        [
            "CREATE TABLE IF NOT EXISTS {heads} (ticket_id BIGINT PRIMARY KEY, "
            "version BIGINT NOT NULL, snapshot TEXT)"
        ]
    )
    yield view
    view.drop(["heads"])
    view.close()
    stores.close()


def heads(view: ProjectionStore) -> list[tuple[int, int, str | None]]:
    with view.reading() as cursor:
        cursor.execute(view.sql("SELECT ticket_id, version, snapshot FROM {heads} ORDER BY 1"))
        return [(row["ticket_id"], row["version"], row["snapshot"]) for row in cursor.fetchall()]


def test_rows_are_inserted_then_replaced_by_key(store: ProjectionStore) -> None:
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(1, 1, '{"a":1}'), (2, 1, None)])
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(2, 2, 'he said "\\\\n"\t')])

    assert heads(store) == [(1, 1, '{"a":1}'), (2, 2, 'he said "\\\\n"\t')]


def test_upserts_in_one_transaction_each_write_only_their_own_rows(
    store: ProjectionStore,
) -> None:
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(1, 1, "a"), (2, 1, "b")])
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(1, 2, "c")])
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [])
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(3, 1, "d")])

    assert heads(store) == [(1, 2, "c"), (2, 1, "b"), (3, 1, "d")]


def test_a_failed_upsert_leaves_the_rows_as_they_were(store: ProjectionStore) -> None:
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(1, 1, "a")])

    def refused_second_write() -> None:
        with store.writing() as cursor:
            store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(1, 2, "b")])
            store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(2, None, "c")])

    with pytest.raises(IntegrityError):
        refused_second_write()
    with store.writing() as cursor:
        store.upsert_rows(cursor, "heads", COLUMNS, "ticket_id", [(3, 1, "d")])

    assert heads(store) == [(1, 1, "a"), (3, 1, "d")]
