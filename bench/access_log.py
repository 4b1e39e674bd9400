"""CPU per access-log line of `serve`, written straight to stderr as `serve` does, and the
same line through `logging` for comparison.

    python -m bench.access_log [--lines N]

The request is a delivery that carries `?token=`; output goes to a line-buffered file, as
stderr is; the best of five rounds is kept.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from service.logs import ACCESS_LOGGER, AccessLogger, access_line

ROUNDS = 5


def best_micros(write: Callable[[], object], lines: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(lines):
            write()
        best = min(best, (time.process_time() - start) / lines)
    return best * 1e6


def compare(log_format: str, sink: TextIO, lines: int) -> tuple[float, float]:
    """CPU per line written as `serve` does, and through `logging`, in µs."""
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

    def direct() -> None:
        writer.log(request, response, 0.01)

    def logged() -> None:
        through_logging.info("%s", access_line(log_format, request, response, 0.01))

    return best_micros(direct, lines), best_micros(logged, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    report = sys.stdout
    with (
        tempfile.TemporaryDirectory() as folder,
        (Path(folder) / "access.log").open("w", buffering=1) as sink,
    ):
        sys.stderr = sink
        try:
            for log_format in ("common", "json"):
                direct, logged = compare(log_format, sink, args.lines)
                print(
                    f"{log_format}: {direct:.1f} µs CPU per line "
                    f"(through logging: {logged:.1f} µs)",
                    file=report,
                )
        finally:
            sys.stderr = sys.__stderr__


if __name__ == "__main__":
    main()
