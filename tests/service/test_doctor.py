"""`ticket-audit doctor`: one row per check, and an exit code saying whether any needs attention."""

from __future__ import annotations

import asyncio
from pathlib import Path

from projections.store.generations import ProjectionStores
from projections.store.parked import park
from service.settings import DatabaseLocation
from service.storage_errors import EVENTS, log_tables
from tests.helpers import (
    Serve,
    create_log,
    delivery,
    make_settings,
    post,
    projections_caught_up,
    raw_log,
    run_cli,
)


def doctor(
    database_url: str, host: str = "127.0.0.1", zone: str = "UTC"
) -> tuple[int, dict[str, tuple[str, str]]]:
    result = run_cli(
        "doctor",
        database_url=database_url,
        TICKET_AUDIT_HOST=host,
        TICKET_AUDIT_SOURCE_TIMEZONE=zone,
    )
    assert "Traceback" not in result.stderr
    rows = {}
    for line in result.stdout.splitlines()[:-1]:
        name, verdict, detail = line.split(maxsplit=2)
        rows[name] = (verdict, detail)
    return result.returncode, rows


def import_deliveries(tmp_path: Path, database_url: str, tickets: range) -> None:
    source = tmp_path / f"deliveries-{tickets.start}.ndjson"
    source.write_bytes(b"\n".join(delivery(ticket) for ticket in tickets))
    result = run_cli("import", str(source), database_url=database_url)
    assert result.returncode == 0, result.stderr


async def served_deliveries(serve: Serve, database_url: str, count: int) -> None:
    client = await serve(make_settings(database_url))
    for ticket in range(1, count + 1):
        assert (await post(client, delivery(ticket)))[0] == 201
    await projections_caught_up(client, count)
    await client.close()


def test_a_new_log_is_healthy(database_url: str) -> None:
    create_log(database_url)

    code, rows = doctor(database_url)

    assert code == 0
    assert rows["log"][0] == "ok"
    assert rows["writable"][0] == "ok"
    assert rows["schema"] == ("ok", "events and chain tables present")
    assert rows["tickets"] == ("ok", "empty log, nothing to apply yet")
    assert rows["verify"] == ("ok", "chain intact: 0 event(s) checked just now")
    # Worth knowing on a first start, nothing to fix on loopback.
    assert rows["settings"][0] == "note"
    assert rows["timezone"][0] == "note"


def test_no_log_needs_attention(database_url: str) -> None:
    code, rows = doctor(database_url)

    assert code == 2
    assert rows["log"][0] == "attention"
    assert rows["log"][1].startswith("no log at ")


def test_open_routes_beyond_loopback_need_attention(database_url: str) -> None:
    create_log(database_url)

    code, rows = doctor(database_url, host="0.0.0.0", zone="America/Sao_Paulo")

    assert code == 1
    assert rows["settings"][0] == "attention"
    assert "refusing to listen on 0.0.0.0" in rows["settings"][1]
    assert "timezone" not in rows


def test_projections_never_built_need_attention(tmp_path: Path, database_url: str) -> None:
    create_log(database_url)
    import_deliveries(tmp_path, database_url, range(1, 4))

    code, rows = doctor(database_url)

    assert code == 1
    assert rows["history"] == (
        "attention",
        "never built: start `ticket-audit serve` or run `ticket-audit rebuild history`",
    )
    assert rows["verify"] == ("ok", "chain intact: 3 event(s) checked just now")


async def test_a_projection_behind_the_log_is_a_note(
    serve: Serve, database_url: str, tmp_path: Path
) -> None:
    await served_deliveries(serve, database_url, 2)
    await asyncio.to_thread(import_deliveries, tmp_path, database_url, range(10, 13))

    code, rows = await asyncio.to_thread(doctor, database_url)

    assert code == 0
    assert rows["tickets"] == ("note", "generation 1 at 2/5, lag 3, parked 0")


async def test_a_broken_chain_needs_attention(serve: Serve, database_url: str) -> None:
    await served_deliveries(serve, database_url, 3)
    with raw_log(database_url) as log:
        log.delete_event(2)

    code, rows = await asyncio.to_thread(doctor, database_url)

    assert code == 1
    assert rows["verify"][0] == "attention"
    assert rows["verify"][1].startswith("chain broken at position 2: ")
    assert rows["tickets"] == ("ok", "generation 1 at 3/3, lag 0, parked 0")


def test_doctor_prints_a_summary(database_url: str) -> None:
    create_log(database_url)

    result = run_cli("doctor", database_url=database_url)

    assert result.stdout.splitlines()[-1] == "nothing needs attention"


def test_events_without_a_chain_need_attention(database_url: str) -> None:
    create_log(database_url)
    with raw_log(database_url) as log:
        log.execute("DROP TABLE event_chain")

    code, rows = doctor(database_url)

    assert code == 1
    assert rows["schema"] == (
        "attention",
        "the events have no chain table: not a ticket-audit log",
    )
    # Looking added nothing: an empty chain would pass for a verified one.
    assert log_tables(DatabaseLocation.parse(database_url)) == {EVENTS}


async def test_parked_events_need_attention(
    serve: Serve, database_url: str, tmp_path: Path
) -> None:
    await served_deliveries(serve, database_url, 2)
    await asyncio.to_thread(import_deliveries, tmp_path, database_url, range(10, 11))
    # As the applier does with an event it cannot apply: kept with its error, and passed.
    stores = ProjectionStores(DatabaseLocation.parse(database_url))
    generation = stores.active_generation("history")
    assert generation is not None
    view = stores.open_store("history", generation)
    try:
        park(view, 3, 10, "OverflowError: int too large")
    finally:
        view.close()
        stores.close()

    code, rows = await asyncio.to_thread(doctor, database_url)

    assert code == 1
    verdict, detail = rows["history"]
    assert verdict == "attention"
    assert detail.startswith("generation 1 at 3/3, lag 0, parked 1: ")
    assert "`ticket-audit rebuild history`" in detail
    assert rows["tickets"] == ("note", "generation 1 at 2/3, lag 1, parked 0")
