"""The load generator, run as its own process so that it never shares a core's time slices
with the server it measures through the same event loop.

    python -m bench.load post BASE_URL --first-index I --pool P [--requests N --seconds S]
    python -m bench.load get BASE_URL --template '/v1/tickets/{ticket}' --tickets T --pool P

A fixed number of connections each send one request at a time until the request count or
the duration runs out; the answer (one JSON object on stdout) has the rate of 2xx answers,
latency percentiles over every answer, and the count of each status (0: no answer).

The client shares the machine's cores with the server and the database, so every
microsecond it spends per request is one the server does not get: it speaks just enough
HTTP/1.1 itself (keep-alive, one request in flight per connection, answers framed by
Content-Length, as both servers measured here send them) on uvloop, as the servers run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import uvloop

from bench.deliveries import delivery_body, event_id_of, ticket_id_of

INTAKE_PATH = "/webhooks/ingresse"
REQUEST_TIMEOUT_SECONDS = 30
# A request is the path to ask for and the body to post (None: a GET).
Request = tuple[str, bytes | None]


@dataclass(frozen=True)
class LoadBounds:
    connections: int
    requests: int
    seconds: float

    def arguments(self) -> list[str]:
        return [
            f"--connections={self.connections}",
            f"--requests={self.requests}",
            f"--seconds={self.seconds}",
        ]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    ok: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    ok_body_bytes: int


def percentile_ms(sorted_seconds: list[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds (0 when there is nothing to rank)."""
    if not sorted_seconds:
        return 0.0
    rank = max(math.ceil(fraction * len(sorted_seconds)), 1)
    return round(sorted_seconds[rank - 1] * 1000, 2)


class AnswerUnreadable(Exception):
    """An answer this client cannot frame: no Content-Length, or no HTTP status line."""


class KeepAliveConnection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        # Where the answer being read ends in the buffer, once its head is read.
        self._answer_end: int | None = None
        self._status = 0
        self._close_after_answer = False

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, but a TCP one is a Transport.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answer_end is None:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            try:
                self._status, length, self._close_after_answer = read_head(
                    bytes(self._buffer[:head_end])
                )
            except AnswerUnreadable as error:
                self._fail(error)
                self.close()
                return
            self._answer_end = head_end + 4 + length
        if len(self._buffer) < self._answer_end:
            return
        del self._buffer[: self._answer_end]
        self._answer_end = None
        if self._close_after_answer:
            self.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(self._status)

    async def exchange(self, request: bytes) -> int:
        """Send `request` (head and body) and wait for the answer's status."""
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._buffer.clear()
        self._answer_end = None

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)


def read_head(head: bytes) -> tuple[int, int, bool]:
    """An answer's status, body length, and whether the server closes after it."""
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
        raise AnswerUnreadable(f"no status line: {lines[0]!r}")
    length: int | None = None
    closes = status_line[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = _number(value)
        elif name == b"connection":
            closes = value.strip().lower() == b"close"
    if length is None:
        raise AnswerUnreadable("the answer has no Content-Length")
    return _number(status_line[1]), length, closes


def _number(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise AnswerUnreadable(f"not a number: {text!r}") from None


def request_bytes(host: str, path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run_load(
    base_url: str,
    request_at: Callable[[int], Request],
    connections: int,
    max_requests: int,
    max_seconds: float,
) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    ok_body_bytes = 0
    claimed = 0
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    host_header = url.netloc
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + max_seconds

    async def one_connection() -> None:
        nonlocal claimed, ok_body_bytes
        connection: KeepAliveConnection | None = None
        while claimed < max_requests and time.monotonic() < deadline:
            path, body = request_at(claimed)
            claimed += 1
            request = request_bytes(host_header, url.path.rstrip("/") + path, body)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    if connection is None or not connection.open:
                        _, connection = await loop.create_connection(
                            KeepAliveConnection, host, port
                        )
                    status = await connection.exchange(request)
            except (OSError, AnswerUnreadable, TimeoutError):
                status = 0
                if connection is not None:
                    connection.close()
                    connection = None
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if 200 <= status < 300 and body is not None:
                ok_body_bytes += len(body)
        if connection is not None:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return LoadResult(
        requests=len(latencies),
        ok=ok,
        seconds=round(elapsed, 3),
        requests_per_s=round(ok / elapsed, 1) if elapsed else 0.0,
        p50_ms=percentile_ms(latencies, 0.50),
        p99_ms=percentile_ms(latencies, 0.99),
        statuses={str(status): count for status, count in sorted(statuses.items())},
        ok_body_bytes=ok_body_bytes,
    )


def median_of(runs: Sequence[LoadResult]) -> dict[str, Any]:
    """Median requests/s, p50 and p99 over the runs, with every run kept beside them."""
    return {
        "requests_per_s": statistics.median(r.requests_per_s for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "runs": [asdict(r) for r in runs],
    }


def deliveries_from(first_index: int, pool: int) -> Callable[[int], Request]:
    return lambda n: (INTAKE_PATH, delivery_body(first_index + n, pool))


def queries_of(template: str, tickets: int, pool: int, seed: int) -> Callable[[int], Request]:
    """`template` with `{ticket}` (one of the first `tickets` of the pool) and its `{event}`."""
    chooser = random.Random(seed)  # noqa: S311 (spreads reads, not a secret)

    def request_at(n: int) -> Request:
        ticket = ticket_id_of(chooser.randrange(min(tickets, pool)), pool)
        return template.format(ticket=ticket, event=event_id_of(ticket)), None

    return request_at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    post = kinds.add_parser("post", help="deliveries to the intake")
    post.add_argument("--first-index", type=int, required=True)
    get = kinds.add_parser("get", help="one query route")
    get.add_argument("--template", required=True)
    get.add_argument("--tickets", type=int, required=True)
    get.add_argument("--seed", type=int, default=1)
    for kind in (post, get):
        kind.add_argument("base_url")
        kind.add_argument("--pool", type=int, required=True)
        kind.add_argument("--connections", type=int, default=32)
        kind.add_argument("--requests", type=int, default=10_000)
        kind.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.kind == "post":
        request_at = deliveries_from(args.first_index, args.pool)
    else:
        request_at = queries_of(args.template, args.tickets, args.pool, args.seed)
    result = uvloop.run(
        run_load(args.base_url, request_at, args.connections, args.requests, args.seconds)
    )
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


if __name__ == "__main__":
    main()
