"""Rebuilding several projections in one pass over the log, and followers sharing decoding."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from projections.catalog import CATALOG
from projections.read_model import TicketProjection
from projections.runtime.answering import open_projection
from projections.runtime.feed import ProjectionFeed, catch_up_together
from projections.runtime.log_reader import LogSnapshots
from projections.runtime.offline import rebuild_offline
from projections.store.generations import ProjectionStores
from projections.store.views import ProjectionStore
from service.application import TicketAudit
from tests.helpers import Serve, make_settings
from tests.projections.helpers import TicketApi, opened, seed_history


def table_rows(view: ProjectionStore, table: str) -> list[tuple[Any, ...]]:
    with view.reading() as cursor:
        cursor.execute(view.sql(f"SELECT * FROM {{{table}}}"))
        rows = cursor.fetchall()
    return sorted(tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in rows)


def every_table(storage: ProjectionStores) -> dict[str, list[tuple[Any, ...]]]:
    """Each active generation's rows, table by table."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name, cls in CATALOG.items():
        generation = storage.active_generation(name)
        assert generation is not None
        projection = open_projection(storage, cls, generation)
        try:
            for table in cls.tables:
                found[f"{name}.{table}"] = table_rows(projection.view, table)
        finally:
            projection.view.close()
    return found


async def seeded(serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]) -> int:
    """Late deliveries, ties and a group in the log; its head."""
    api = TicketApi(await serve(make_settings(database_url)))
    await seed_history(api, fixture_bodies)
    await api.client.close()
    return api.head


async def test_one_pass_builds_the_same_tables_as_separate_rebuilds(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    head = await seeded(serve, database_url, fixture_bodies)
    with opened(database_url) as (log, storage):
        for cls in CATALOG.values():
            assert rebuild_offline(log, storage, cls) == head
        separately = every_table(storage)
        assert rebuild_offline(log, storage, list(CATALOG.values())) == head
        together = every_table(storage)
    assert together == separately
    assert all(together.values())


def counting_decodes(log: TicketAudit, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions `log` decodes from now on to hand out in batches, one entry per decoding
    (a late delivery's neighbours looked up in the log on their own are left out)."""
    decoded: list[int] = []
    ticket_change_parts = log.mapper.ticket_change_parts
    looking_up = False

    def counted(stored: Any) -> Any:
        if not looking_up:
            decoded.append(stored.id)
        return ticket_change_parts(stored)

    snapshots_at = LogSnapshots.snapshots_at

    def looked_up(self: LogSnapshots, positions: Collection[int]) -> dict[int, Any]:
        nonlocal looking_up
        looking_up = True
        try:
            return snapshots_at(self, positions)
        finally:
            looking_up = False

    monkeypatch.setattr(log.mapper, "ticket_change_parts", counted)
    monkeypatch.setattr(LogSnapshots, "snapshots_at", looked_up)
    return decoded


def fresh(storage: ProjectionStores, generation: int) -> list[TicketProjection]:
    return [open_projection(storage, cls, generation) for cls in CATALOG.values()]


async def test_followers_in_step_decode_each_event_once(
    serve: Serve,
    database_url: str,
    fixture_bodies: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = await seeded(serve, database_url, fixture_bodies)
    with opened(database_url) as (log, storage):
        decoded = counting_decodes(log, monkeypatch)
        projections = fresh(storage, 5)
        followers = [ProjectionFeed(projection, log, batch_size=4) for projection in projections]
        while sum(follower.step() for follower in followers):
            pass
        assert [follower.position for follower in followers] == [head] * len(followers)
        assert sorted(decoded) == list(range(1, head + 1))
        for projection in projections:
            projection.view.close()


async def test_a_pass_brings_followers_from_different_positions_to_the_same_tables(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    head = await seeded(serve, database_url, fixture_bodies)
    with opened(database_url) as (log, storage):
        ahead = fresh(storage, 5)
        for projection in ahead:
            follower = ProjectionFeed(projection, log, batch_size=3)
            while follower.position < head // 2:
                follower.step()
        behind = fresh(storage, 6)
        followers = [ProjectionFeed(projection, log) for projection in [*ahead, *behind]]
        assert catch_up_together(followers, log, batch_size=4) == head
        for one, other in zip(ahead, behind, strict=True):
            for table in type(one).tables:
                assert table_rows(one.view, table) == table_rows(other.view, table)
            one.view.close()
            other.view.close()
