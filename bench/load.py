"""The load generator, run as its own process so that it never shares a core's time slices
with the server it measures through the same event loop.

    python -m bench.load post BASE_URL --first-index I --pool P [--requests N --seconds S]
    python -m bench.load get BASE_URL --template '/v1/tickets/{ticket}' --tickets T --pool P

A fixed number of connections each send one request at a time until the request count or
the duration runs out; the answer (one JSON object on stdout) has the rate of 2xx answers,
latency percentiles over every answer, and the count of each status (0: no answer).
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
from typing import Any

import aiohttp
import orjson

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
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.monotonic() + max_seconds

        async def one_connection() -> None:
            nonlocal claimed, ok_body_bytes
            while claimed < max_requests and time.monotonic() < deadline:
                path, body = request_at(claimed)
                claimed += 1
                started = time.perf_counter()
                try:
                    method = "GET" if body is None else "POST"
                    async with session.request(
                        method, base_url + path, data=body, headers=headers
                    ) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if 200 <= status < 300 and body is not None:
                    ok_body_bytes += len(body)

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
    result = asyncio.run(
        run_load(args.base_url, request_at, args.connections, args.requests, args.seconds)
    )
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


if __name__ == "__main__":
    main()
