"""CPU per access-log line of `serve`: as `serve` writes them (the lines of one event-loop
turn together), one write per line, and through `logging`, for comparison.

    python -m bench.access_log [--lines N] [--per-turn K]

The request is a delivery that carries `?token=`; output goes to a line-buffered file, as
stderr is. Under load a turn answers several deliveries (those of one group commit):
`--per-turn` lines are logged per turn. The best of five rounds is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from service.logs import ACCESS_LINES, ACCESS_LOGGER, AccessLogger, access_line

ROUNDS = 5


def best_micros(write_lines: Callable[[int], object], lines: int) -> float:
    """The least CPU per line that `write_lines(lines)` took in ROUNDS rounds, in µs."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        write_lines(lines)
        best = min(best, (time.process_time() - start) / lines)
    return best * 1e6


def compare(log_format: str, sink: TextIO, lines: int, per_turn: int) -> dict[str, float]:
    """CPU per line in µs: as `serve` writes, one write each, and through `logging`."""
    request = make_mocked_request(
        "POST",
        "/webhooks/ingresse?token=secret",
        headers={"Content-Length": "1102", "User-Agent": "curl/7.88.1"},
    )
    response = web.Response(status=201, body=b"{}")
    writer = AccessLogger(logging.getLogger(ACCESS_LOGGER), log_format)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(message)s"))
    through_logging = logging.getLogger("bench.access_log")
    through_logging.handlers[:] = [handler]
    through_logging.propagate = False
    through_logging.setLevel(logging.INFO)

    async def in_turns(count: int) -> None:
        for done in range(0, count, per_turn):
            for _ in range(min(per_turn, count - done)):
                writer.log(request, response, 0.01)
            await asyncio.sleep(0)  # the turn ends: its lines go out

    def as_serve_writes(count: int) -> None:
        asyncio.run(in_turns(count))

    def a_write_each(count: int) -> None:
        for _ in range(count):
            writer.log(request, response, 0.01)  # no loop running: written at once

    def through_logging_each(count: int) -> None:
        for _ in range(count):
            through_logging.info("%s", access_line(log_format, request, response, 0.01))

    figures = {
        "as serve writes": best_micros(as_serve_writes, lines),
        "a write per line": best_micros(a_write_each, lines),
        "through logging": best_micros(through_logging_each, lines),
    }
    ACCESS_LINES.flush()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--per-turn", type=int, default=8)
    args = parser.parse_args()
    report = sys.stdout
    with (
        tempfile.TemporaryDirectory() as folder,
        (Path(folder) / "access.log").open("w", buffering=1) as sink,
    ):
        sys.stderr = sink
        try:
            for log_format in ("common", "json"):
                figures = compare(log_format, sink, args.lines, args.per_turn)
                text = ", ".join(f"{how}: {micros:.1f}" for how, micros in figures.items())
                print(f"{log_format}, µs CPU per line: {text}", file=report)
        finally:
            sys.stderr = sys.__stderr__


if __name__ == "__main__":
    main()
