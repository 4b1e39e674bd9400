"""`ticket-audit import FILE`: deliveries from a file take the same path as HTTP ones."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pickle
import subprocess
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import cast

import pytest
from pytest_aiohttp import AiohttpClient

from projections.runtime.wakeups import LogSignal, wait_round
from service.commands import importer
from service.commands.screening import SCREEN_APART_FROM
from service.domain import DeliveryFacts, TicketChanged
from service.intake import screen
from service.quarantine import open_quarantine
from service.settings import DatabaseLocation
from service.storage import open_log
from tests.helpers import (
    app_clients,
    compact,
    create_log,
    delivery,
    make_settings,
    post,
    raw_log,
    run_cli,
)

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


def import_file(path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("import", str(path), database_url=database_url)
    assert "Traceback" not in result.stderr
    return result


def test_import_records_dedupes_and_quarantines_like_http(
    tmp_path: Path, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    source = tmp_path / "deliveries.ndjson"
    group, ticket, *_ = write_deliveries(source, fixture_bodies)
    location = DatabaseLocation.parse(database_url)
    create_log(database_url)

    first = import_file(source, database_url)
    second = import_file(source, database_url)

    # Rejections make the exit code 1, each named by its line, code and quarantine id.
    assert (first.returncode, first.stdout) == (1, "recorded 2, duplicates 1, rejected 2\n")
    assert (second.returncode, second.stdout) == (1, "recorded 0, duplicates 3, rejected 2\n")
    assert "line 5: malformed_json: " in first.stderr
    assert "(quarantine id 1)" in first.stderr
    assert "line 6: unsupported_webhook: " in first.stderr
    assert "line 6: unsupported_webhook: " in second.stderr
    assert "2 rejected deliveries are kept in the quarantine" in second.stderr
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


def test_import_reads_a_json_array_and_a_pretty_printed_object(
    tmp_path: Path, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    create_log(database_url)
    array = tmp_path / "deliveries.json"
    items = [json.loads(fixture_bodies["group-346868"]), json.loads(UNSUPPORTED), 7]
    array.write_text(json.dumps(items, indent=2))
    one_line_array = tmp_path / "one-line.json"
    one_line_array.write_text(json.dumps([json.loads(delivery(5))]))
    single = tmp_path / "ticket.json"
    single.write_bytes(fixture_bodies["ticket-408218"])

    from_array = import_file(array, database_url)
    from_object = import_file(single, database_url)

    assert fixture_bodies["ticket-408218"].count(b"\n") > 1  # pretty-printed, as Ingresse shows it
    assert from_array.stdout == "recorded 1, duplicates 0, rejected 2\n"
    assert "item 2: unsupported_webhook: " in from_array.stderr
    assert "item 3: malformed_json: top level must be a JSON object" in from_array.stderr
    assert (from_object.returncode, from_object.stdout) == (
        0,
        "recorded 1, duplicates 0, rejected 0\n",
    )
    # The progress bar knew the total beforehand, so it could show an estimate.
    assert "3/3" in from_array.stderr
    from_one_line = import_file(one_line_array, database_url)
    assert from_one_line.stdout == "recorded 1, duplicates 0, rejected 0\n"


def test_a_file_of_no_known_shape_is_one_line_and_imports_nothing(
    tmp_path: Path, database_url: str
) -> None:
    create_log(database_url)
    source = tmp_path / "broken.json"
    source.write_text('{\n  "webhook": "ticket",\n  "data": {"id": 1,\n')

    result = import_file(source, database_url)

    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "neither one JSON delivery per line nor one JSON array or object" in result.stderr
    with raw_log(database_url) as log:
        assert log.execute("SELECT count(*) FROM stored_events") == [(0,)]


def test_the_progress_of_a_file_shows_its_total(tmp_path: Path, database_url: str) -> None:
    create_log(database_url)
    source = tmp_path / "deliveries.ndjson"
    source.write_bytes(b"\n".join(delivery(ticket) for ticket in range(1, 6)) + b"\n")

    result = import_file(source, database_url)

    assert (result.returncode, result.stdout) == (0, "recorded 5, duplicates 0, rejected 0\n")
    assert "5/5" in result.stderr


async def test_duplicates_across_batches_are_judged_as_http_judges_them(
    tmp_path: Path,
    database_url: str,
    aiohttp_client: AiohttpClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    later = "2024-05-17T15:00:00"
    first, other = delivery(1, quantity=1), delivery(2, quantity=1)
    bodies = [
        first,
        other,
        first,  # the same delivery again, in the next batch
        delivery(1, quantity=1, timestamp=later),  # the same data in another body
        delivery(1, quantity=2),
        first,
        delivery(1, quantity=1, timestamp="2024-05-17T16:00:00"),  # back to the first data
        other,
    ]
    source = tmp_path / "deliveries.ndjson"
    source.write_bytes(b"\n".join(bodies) + b"\n")
    # Two deliveries per transaction, so that repeats meet earlier batches in the log.
    monkeypatch.setattr(importer, "BATCH", 2)
    create_log(database_url)
    settings = make_settings(database_url)

    imported = [await asyncio.to_thread(importer.import_file, settings, str(source))]
    imported.append(await asyncio.to_thread(importer.import_file, settings, str(source)))
    printed = capsys.readouterr().out

    (tmp_path / "http").mkdir()
    async with app_clients(aiohttp_client) as serve:
        client = await serve(make_settings(f"sqlite:///{tmp_path / 'http' / 'log.sqlite3'}"))
        answers = [await post(client, body) for body in bodies + bodies]
    statuses = Counter(answer["status"] for _, answer in answers)
    assert statuses == {"recorded": 4, "duplicate": 12}
    assert imported == [0, 0]
    assert printed == "recorded 4, duplicates 4, rejected 0\nrecorded 0, duplicates 8, rejected 0\n"
    log = open_log(DatabaseLocation.parse(database_url))
    try:
        for body, (_, answer) in zip(bodies, answers, strict=False):
            if answer["status"] == "recorded":
                event = log.delivery(hashlib.sha256(body).hexdigest())
                assert event is not None
                assert (event.ticket_id, event.originator_version) == (
                    answer["ticketId"],
                    answer["version"],
                )
        head = log.chained_recorder.chain_head()
        assert head is not None
        assert head.position == 4
    finally:
        log.close()


def test_a_file_screened_in_a_process_of_its_own_imports_in_order(
    tmp_path: Path, database_url: str
) -> None:
    """A file large enough to be screened apart: its refusals are named by their lines and
    kept, its repeats judged duplicates, and each ticket's versions follow the file."""
    count = SCREEN_APART_FROM + 500
    lines = [delivery(1 + number % 50, quantity=number) for number in range(count)]
    for where in (2, 2_500, count - 1):  # in the first chunk, a middle one, the last
        lines[where] = MALFORMED
    for where, earlier in ((1_000, 999), (count - 2, 10)):  # across a chunk's edge, and far
        lines[where] = lines[earlier]
    source = tmp_path / "large.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    create_log(database_url)

    result = import_file(source, database_url)

    recorded = list(dict.fromkeys(line for line in lines if line != MALFORMED))
    summary = f"recorded {len(recorded)}, duplicates 2, rejected 3\n"
    assert (result.returncode, result.stdout) == (1, summary)
    for number in (3, 2_501, count):
        assert f"line {number}: malformed_json: " in result.stderr
    # Each ticket's versions follow the file; a batch's events are written ticket by ticket.
    expected = {
        (json.loads(body)["data"]["id"], version): body
        for ticket in range(1, 51)
        for version, body in enumerate(
            (body for body in recorded if json.loads(body)["data"]["id"] == ticket), start=1
        )
    }
    log = open_log(DatabaseLocation.parse(database_url))
    try:
        stored = log.recorder.select_notifications(start=1, limit=count + 1)
        events = [cast(TicketChanged, log.mapper.to_domain_event(item)) for item in stored]
    finally:
        log.close()
    assert {(event.ticket_id, event.originator_version): event.raw_body for event in events} == (
        expected
    )
    assert len(events) == len(expected)


def test_delivery_facts_survive_the_trip_from_the_screening_process(
    fixture_bodies: dict[str, bytes],
) -> None:
    for body in fixture_bodies.values():
        facts = screen(compact(body), UTC, 10_000_000)
        assert isinstance(facts, DeliveryFacts)
        assert pickle.loads(pickle.dumps(facts)) == facts
