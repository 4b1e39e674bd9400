"""Access-log lines answered in one turn of the event loop share one write."""

from __future__ import annotations

import asyncio

from service.logs import LinesPerTurn


async def test_the_lines_of_one_turn_go_out_in_one_write_before_the_next_turn() -> None:
    writes: list[str] = []
    lines = LinesPerTurn(writes.append)

    lines.add("first\n")
    lines.add("second\n")
    assert writes == []  # the turn is not over
    await asyncio.sleep(0)
    assert writes == ["first\nsecond\n"]

    lines.add("third\n")
    await asyncio.sleep(0)
    assert writes == ["first\nsecond\n", "third\n"]


def test_with_no_event_loop_running_a_line_is_written_at_once() -> None:
    writes: list[str] = []
    lines = LinesPerTurn(writes.append)

    lines.add("alone\n")

    assert writes == ["alone\n"]
