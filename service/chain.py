"""The hash chain that makes the log tamper-evident.

Every event's link hash covers the previous link's hash, its own position and its stored
bytes, so changing, removing, inserting or reordering any event breaks every link after it.
A checkpoint `(position, hash)` kept elsewhere also catches a log cut short or rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

GENESIS_HASH = "0" * 64


class StoredFacts(Protocol):
    @property
    def originator_id(self) -> UUID | str: ...

    @property
    def originator_version(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def state(self) -> bytes: ...


def link_hash(previous_hash: str, position: int, event: StoredFacts) -> str:
    digest = hashlib.sha256()
    digest.update(previous_hash.encode())
    digest.update(b"\x00%d\x00" % position)
    digest.update(str(event.originator_id).encode())
    digest.update(b"\x00%d\x00" % event.originator_version)
    digest.update(event.topic.encode())
    digest.update(b"\x00")
    digest.update(event.state)
    return digest.hexdigest()


def link_hashes(
    previous_hash: str, positions: Iterable[int], events: Iterable[StoredFacts]
) -> Iterator[tuple[int, str]]:
    for position, event in zip(positions, events, strict=True):
        previous_hash = link_hash(previous_hash, position, event)
        yield position, previous_hash


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        position, _, digest = text.partition(":")
        if not (position.isascii() and position.isdigit()) or len(digest) != 64:
            raise ValueError("checkpoint must be POSITION:HASH (a position and a sha256 hex)")
        return cls(int(position), digest.lower())


@dataclass(frozen=True)
class ChainRow:
    """One position as found in storage: the event (if present) and its link (if present)."""

    position: int
    event: StoredFacts | None
    stored_hash: str | None


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    head: Checkpoint | None = None
    first_bad_position: int | None = None
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        if self.ok:
            head = self.head or Checkpoint(0, GENESIS_HASH)
            return {"ok": True, "checked": self.checked, "head": head.__dict__}
        return {"ok": False, "firstBadPosition": self.first_bad_position, "reason": self.reason}


def verify(rows: Iterable[ChainRow], checkpoint: Checkpoint | None = None) -> VerifyReport:
    """Walk the log in position order, recomputing each link from the stored bytes."""
    running = GENESIS_HASH
    checked = 0
    last_position = 0
    checkpoint_seen = checkpoint is None
    for row in rows:
        if row.event is None:
            return _broken(row.position, "event missing: its link is still in the chain")
        if row.stored_hash is None:
            return _broken(row.position, "event has no link in the chain (inserted afterwards)")
        running = link_hash(running, row.position, row.event)
        if running != row.stored_hash:
            return _broken(row.position, "event does not match its link (changed or reordered)")
        checked += 1
        last_position = row.position
        if checkpoint is not None and row.position == checkpoint.position:
            if running != checkpoint.hash:
                return _broken(row.position, "log differs from the checkpoint (rewritten)")
            checkpoint_seen = True
    if not checkpoint_seen:
        assert checkpoint is not None
        return _broken(
            last_position + 1 if last_position < checkpoint.position else checkpoint.position,
            f"log ends before the checkpoint at position {checkpoint.position} (cut short)",
        )
    head = Checkpoint(last_position, running) if checked else None
    return VerifyReport(ok=True, checked=checked, head=head)


def _broken(position: int, reason: str) -> VerifyReport:
    return VerifyReport(ok=False, checked=0, first_bad_position=position, reason=reason)


def merge_by_position(
    events: Iterable[tuple[int, StoredFacts]], links: Iterable[tuple[int, str]]
) -> Iterator[ChainRow]:
    """Pair events with their links by position, keeping positions that only one side has."""
    event_iter, link_iter = iter(events), iter(links)
    event = next(event_iter, None)
    link = next(link_iter, None)
    while event is not None or link is not None:
        if link is None or (event is not None and event[0] < link[0]):
            assert event is not None
            yield ChainRow(event[0], event[1], None)
            event = next(event_iter, None)
        elif event is None or link[0] < event[0]:
            yield ChainRow(link[0], None, link[1])
            link = next(link_iter, None)
        else:
            yield ChainRow(event[0], event[1], link[1])
            event, link = next(event_iter, None), next(link_iter, None)
