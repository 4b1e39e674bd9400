"""`ticket-audit import FILE`: deliveries from a file take the same path as HTTP ones."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from projections.runtime.wakeups import LogSignal, wait_round
from service.quarantine import open_quarantine
from service.settings import DatabaseLocation
from service.storage import open_log
from tests.helpers import compact, delivery, run_cli

MALFORMED = b'{"webhook": "ticket", "data": {"id": 9'
UNSUPPORTED = delivery(9, webhook="order")


def write_deliveries(path: Path, fixture_bodies: dict[str, bytes]) -> list[bytes]:
    group, ticket = (
        compact(fixture_bodies["group-346868"]),
        compact(fixture_bodies["ticket-408218"]),
    )
    lines = [group, ticket, ticket, MALFORMED, UNSUPPORTED]
    # A blank line is no delivery, and a line's terminator is no part of its body.
    path.write_bytes(b"\n".join(lines[:2]) + b"\r\n\n" + b"\n".join(lines[2:]) + b"\n")
    return lines


def import_file(path: Path, database_url: str) -> str:
    result = run_cli("import", str(path), database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def test_import_records_dedupes_and_quarantines_like_http(
    tmp_path: Path, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    source = tmp_path / "deliveries.ndjson"
    group, ticket, *_ = write_deliveries(source, fixture_bodies)
    location = DatabaseLocation.parse(database_url)

    first = import_file(source, database_url)
    second = import_file(source, database_url)

    assert first == "imported: 2 recorded, 1 duplicate, 2 rejected"
    assert second == "imported: 0 recorded, 3 duplicate, 2 rejected"
    log = open_log(location)
    try:
        head = log.chained_recorder.chain_head()
        assert head is not None
        assert head.position == 2
        for body in (group, ticket):
            event = log.delivery(hashlib.sha256(body).hexdigest())
            assert event is not None
            assert event.raw_body == body
    finally:
        log.close()
    quarantine = open_quarantine(location)
    try:
        kept = quarantine.page(limit=10, before_id=None)
    finally:
        quarantine.close()
    assert sorted((item.error, item.body) for item in kept) == sorted(
        [("malformed_json", MALFORMED), ("unsupported_webhook", UNSUPPORTED)] * 2
    )
    assert {item.size for item in kept} == {len(MALFORMED), len(UNSUPPORTED)}


def test_import_of_a_missing_file_is_a_one_line_error(tmp_path: Path, database_url: str) -> None:
    result = run_cli("import", str(tmp_path / "absent.ndjson"), database_url=database_url)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_stopping_a_follower_woken_at_that_moment_still_stops_it() -> None:
    # The import ends by stopping the app, which cancels each projection follower waiting
    # for the log to grow. A commit's wake-up arriving in the same loop turn as that cancel
    # must not swallow it, or the follower runs on and the import never exits.
    signal = LogSignal()
    waiting = asyncio.create_task(wait_round(signal.current(), timeout=30))
    await asyncio.sleep(0)

    signal.notify()
    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(waiting), timeout=5)
