"""Tamper evidence: rows edited behind the service's back are found by `verify`."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from service.chain import (
    GENESIS_HASH,
    ChainRow,
    Checkpoint,
    link_hash,
    link_hashes,
    merge_by_position,
    verify,
)
from service.persistence.deflate_dictionaries import FORMAT_3
from tests.helpers import (
    Client,
    RawLog,
    Serve,
    delivery,
    get_json,
    make_settings,
    post,
    projections_caught_up,
    raw_log,
    run_cli,
)

# Three tickets, two of them changed once: positions 1 to 5.
DELIVERIES = [
    delivery(1, quantity=1),
    delivery(2, quantity=1),
    delivery(1, quantity=2),
    delivery(3, quantity=1),
    delivery(2, quantity=2),
]


@dataclass(frozen=True)
class Recorded:
    client: Client
    checkpoint: Checkpoint


async def record_deliveries(serve: Serve, database_url: str) -> Recorded:
    client = await serve(make_settings(database_url))
    for position, body in enumerate(DELIVERIES, start=1):
        status, answer = await post(client, body)
        assert (status, answer["position"]) == (201, position)
    head = await get_json(client, "/v1/audit/checkpoint")
    await projections_caught_up(client, len(DELIVERIES))
    return Recorded(client, Checkpoint(head["position"], head["hash"]))


async def cli_verify(database_url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    result = await asyncio.to_thread(run_cli, "verify", *args, database_url=database_url)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


async def assert_broken_at(client: Client, database_url: str, position: int, case: str) -> None:
    report = await get_json(client, "/v1/audit/verify")
    assert report["ok"] is False, case
    assert report["firstBadPosition"] == position, case
    assert isinstance(report["reason"], str), case
    assert report["reason"], case
    assert set(report) == {"ok", "firstBadPosition", "reason"}, case

    exit_code, printed, stderr = await cli_verify(database_url)
    assert exit_code == 1, case
    assert printed == report, case
    assert str(position) in stderr, case


def forged(state: bytes) -> bytes:
    """The same event with one figure changed, still readable: what a forger would write."""
    # Format 3: its byte, the data hash, then the body deflated with the format's dictionary.
    assert state[0] == 3
    head, deflated = state[:33], state[33:]
    text = zlib.decompressobj(-15, zdict=FORMAT_3).decompress(deflated)
    edited = text.replace(b'"quantity":2', b'"quantity":7')
    assert edited != text
    deflater = zlib.compressobj(wbits=-15, zdict=FORMAT_3)
    return head + deflater.compress(edited) + deflater.flush()


LogRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def snapshot_log(log: RawLog) -> LogRows:
    """Every row of both tables, positions included, to put back after a tampering test."""
    events = log.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
    )
    return events, log.execute("SELECT * FROM event_chain")


def restore_log(log: RawLog, rows: LogRows) -> None:
    events, links = rows
    log.execute("DELETE FROM stored_events")
    log.execute("DELETE FROM event_chain")
    for event in events:
        log.execute(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)",
            event,
        )
    for link in links:
        log.execute(f"INSERT INTO event_chain VALUES ({', '.join('?' * len(link))})", link)


def change_an_event(log: RawLog) -> int:
    log.set_state(3, forged(log.state(3)))
    return 3


def delete_an_event(log: RawLog) -> int:
    log.delete_event(2)
    return 2


def insert_an_event(log: RawLog) -> int:
    log.copy_event(4, new_version=2)
    return len(DELIVERIES) + 1


def reorder_two_events(log: RawLog) -> int:
    second, fourth = log.state(2), log.state(4)
    log.set_state(2, fourth)
    log.set_state(4, second)
    return 2


def delete_an_event_with_its_link(log: RawLog) -> int:
    log.delete_event(2)
    log.delete_link(2)
    # The next link was computed over the removed one.
    return 3


TAMPERINGS = [
    change_an_event,
    delete_an_event,
    insert_an_event,
    reorder_two_events,
    delete_an_event_with_its_link,
]


async def test_tampering_is_found_at_its_position(serve: Serve, database_url: str) -> None:
    recorded = await record_deliveries(serve, database_url)
    intact = await get_json(recorded.client, "/v1/audit/verify")
    assert intact == {
        "ok": True,
        "checked": len(DELIVERIES),
        "head": {"position": recorded.checkpoint.position, "hash": recorded.checkpoint.hash},
    }

    for tamper in TAMPERINGS:
        with raw_log(database_url) as log:
            rows = snapshot_log(log)
            first_bad = tamper(log)

        await assert_broken_at(recorded.client, database_url, first_bad, tamper.__name__)

        # Put back as it was, the log verifies again: the failure was the tampering's.
        with raw_log(database_url) as log:
            restore_log(log, rows)
        assert await get_json(recorded.client, "/v1/audit/verify") == intact, tamper.__name__


async def test_checkpoints_hold_as_the_log_grows_and_catch_it_cut_short(
    serve: Serve, database_url: str
) -> None:
    recorded = await record_deliveries(serve, database_url)
    older = f"{recorded.checkpoint.position}:{recorded.checkpoint.hash}"
    await post(recorded.client, delivery(4, quantity=1))
    head = await get_json(recorded.client, "/v1/audit/checkpoint")
    newer = f"{head['position']}:{head['hash']}"
    grown = len(DELIVERIES) + 1

    exit_code, printed, _ = await cli_verify(database_url, "--checkpoint", older)
    assert (exit_code, printed["ok"], printed["checked"]) == (0, True, grown)

    with raw_log(database_url) as log:
        log.delete_event(grown)
        log.delete_link(grown)

    # Without a checkpoint a shorter log is a consistent log.
    plain = await get_json(recorded.client, "/v1/audit/verify")
    assert (plain["ok"], plain["checked"], plain["head"]) == (
        True,
        len(DELIVERIES),
        {"position": recorded.checkpoint.position, "hash": recorded.checkpoint.hash},
    )
    exit_code, printed, _ = await cli_verify(database_url)
    assert (exit_code, printed) == (0, plain)

    exit_code, printed, stderr = await cli_verify(database_url, "--checkpoint", newer)
    assert exit_code == 1
    assert (printed["ok"], printed["firstBadPosition"]) == (False, grown)
    assert str(grown) in stderr
    # What the older checkpoint vouched for is still there.
    assert (await cli_verify(database_url, "--checkpoint", older))[0] == 0


async def test_a_rewritten_log_is_found_against_a_checkpoint(
    serve: Serve, database_url: str
) -> None:
    recorded = await record_deliveries(serve, database_url)
    checkpoint = f"{recorded.checkpoint.position}:{recorded.checkpoint.hash}"

    # A forger with write access edits the last event and recomputes its link.
    with raw_log(database_url) as log:
        log.set_state(5, forged(log.state(5)))
        ((previous_link,),) = log.execute("SELECT hash FROM event_chain WHERE position = 4")
        ((originator_id, version, topic, state),) = log.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid = 5"
        )
        event = StoredEvent(UUID(str(originator_id)), version, topic, bytes(state))
        log.execute(
            "UPDATE event_chain SET hash = ? WHERE position = 5",
            (bytes.fromhex(link_hash(bytes(previous_link).hex(), 5, event)),),
        )

    plain = await get_json(recorded.client, "/v1/audit/verify")
    assert plain["ok"] is True
    assert plain["head"]["hash"] != recorded.checkpoint.hash
    exit_code, printed, _ = await cli_verify(database_url, "--checkpoint", checkpoint)
    assert exit_code == 1
    assert (printed["ok"], printed["firstBadPosition"]) == (False, 5)


def test_a_malformed_checkpoint_is_a_one_line_usage_error(tmp_path: Path) -> None:
    # Refused before storage is opened, whichever the backend.
    result = run_cli(
        "verify", "--checkpoint", "5:abc", database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}"
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--checkpoint" in result.stderr
    assert not (tmp_path / "log.sqlite3").exists()


# Unit tests of the chain on synthetic rows.


def synthetic_events(count: int) -> list[StoredEvent]:
    originators = [uuid4(), uuid4()]
    return [
        StoredEvent(originators[index % 2], index // 2 + 1, "topic", f"state {index}".encode())
        for index in range(count)
    ]


def chained(
    events: list[StoredEvent], positions: list[int] | None = None
) -> tuple[list[tuple[int, StoredEvent]], list[tuple[int, str]]]:
    at = positions or list(range(1, len(events) + 1))
    links = list(link_hashes(GENESIS_HASH, at, events))
    return list(zip(at, events, strict=True)), links


def rows_of(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> list[ChainRow]:
    return list(merge_by_position(events, links))


def test_an_intact_chain_verifies_up_to_its_head() -> None:
    events, links = chained(synthetic_events(5))

    report = verify(rows_of(events, links))

    assert report.ok
    assert report.checked == 5
    assert report.head == Checkpoint(5, links[-1][1])
    assert report.as_json() == {
        "ok": True,
        "checked": 5,
        "head": {"position": 5, "hash": links[-1][1]},
    }


def test_an_empty_log_is_intact_at_the_genesis_hash() -> None:
    report = verify([])

    assert report.as_json() == {
        "ok": True,
        "checked": 0,
        "head": {"position": 0, "hash": GENESIS_HASH},
    }


def test_gaps_in_positions_are_not_tampering() -> None:
    # PostgreSQL sequences skip the positions of transactions that rolled back.
    events, links = chained(synthetic_events(4), positions=[1, 2, 5, 9])

    report = verify(rows_of(events, links), Checkpoint(5, links[2][1]))

    assert (report.ok, report.checked) == (True, 4)


def test_each_link_covers_position_identity_version_topic_and_state() -> None:
    event = synthetic_events(1)[0]
    base = link_hash(GENESIS_HASH, 1, event)

    variants = [
        link_hash("1" * 64, 1, event),
        link_hash(GENESIS_HASH, 2, event),
        link_hash(GENESIS_HASH, 1, replace(event, originator_id=uuid4())),
        link_hash(GENESIS_HASH, 1, replace(event, originator_version=2)),
        link_hash(GENESIS_HASH, 1, replace(event, topic="other")),
        link_hash(GENESIS_HASH, 1, replace(event, state=event.state + b" ")),
    ]

    assert base not in variants
    assert len(set(variants)) == len(variants)


Tamper = Callable[[list[tuple[int, StoredEvent]], list[tuple[int, str]]], None]


def _change_state(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> None:
    position, event = events[2]
    events[2] = (position, replace(event, state=b"forged"))


def _drop_event(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> None:
    del events[2]


def _drop_event_and_link(
    events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]
) -> None:
    del events[2]
    del links[2]


def _drop_link(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> None:
    del links[2]


def _swap_events(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> None:
    (first, a), (second, b) = events[1], events[3]
    events[1], events[3] = (first, b), (second, a)


def _append_event(events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]) -> None:
    events.append((6, events[0][1]))


def _drop_first_event_and_link(
    events: list[tuple[int, StoredEvent]], links: list[tuple[int, str]]
) -> None:
    del events[0]
    del links[0]


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_change_state, 3),
        (_drop_event, 3),
        (_drop_event_and_link, 4),
        (_drop_link, 3),
        (_swap_events, 2),
        (_append_event, 6),
        (_drop_first_event_and_link, 2),
    ],
)
def test_tampered_rows_fail_at_the_first_bad_position(tamper: Tamper, first_bad: int) -> None:
    events, links = chained(synthetic_events(5))
    tamper(events, links)

    report = verify(rows_of(events, links))

    assert not report.ok
    assert report.first_bad_position == first_bad
    assert report.reason
    assert set(report.as_json()) == {"ok", "firstBadPosition", "reason"}


def test_a_checkpoint_catches_a_cut_and_a_rewrite() -> None:
    events, links = chained(synthetic_events(5))
    checkpoint = Checkpoint(5, links[-1][1])
    rewritten_events = [*events[:4], (5, replace(events[4][1], state=b"forged"))]
    _, rewritten_links = chained([event for _, event in rewritten_events])

    cut = verify(rows_of(events[:3], links[:3]), checkpoint)
    rewritten = verify(rows_of(rewritten_events, rewritten_links), checkpoint)
    held = verify(rows_of(events, links), Checkpoint(3, links[2][1]))

    assert (cut.ok, cut.first_bad_position) == (False, 4)
    assert verify(rows_of(rewritten_events, rewritten_links)).ok
    assert (rewritten.ok, rewritten.first_bad_position) == (False, 5)
    assert (held.ok, held.checked) == (True, 5)


def test_merge_by_position_keeps_positions_either_side_lacks() -> None:
    first, second, third = synthetic_events(3)

    rows = list(
        merge_by_position([(1, first), (2, second), (4, third)], [(1, "h1"), (3, "h3"), (4, "h4")])
    )

    assert rows == [
        ChainRow(1, first, "h1"),
        ChainRow(2, second, None),
        ChainRow(3, None, "h3"),
        ChainRow(4, third, "h4"),
    ]
    assert list(merge_by_position([], [])) == []
    assert list(merge_by_position([], [(1, "h1")])) == [ChainRow(1, None, "h1")]


def test_checkpoint_text_is_position_colon_sha256() -> None:
    digest = "AB" * 32

    assert Checkpoint.parse(f"12:{digest}") == Checkpoint(12, digest.lower())
    for text in ["12", f"x:{digest}", "12:abc", f"-1:{digest}", f" 12:{digest}", ""]:
        with pytest.raises(ValueError, match="POSITION:HASH"):
            Checkpoint.parse(text)
