"""How `serve` rides out a PostgreSQL outage, measured from outside.

    python -m bench.outage [--down SECONDS] [--up SECONDS] [--senders N]

Starts a private PostgreSQL cluster and `serve` on it, keeps senders posting new deliveries,
stops the cluster (immediate shutdown), starts it again, and prints: the median time to a 503
while storage is down, the time from the restart to the first 201, and how many deliveries
were still refused after the restart (and after the first 201), with the service's
warnings and errors (one line per change of state).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.private_cluster import PrivateCluster, private_clusters_possible, running_cluster
from bench.processes import free_port, service

INTAKE = "/webhooks/ingresse"
WARM_DELIVERIES = 20
ANSWER_TIMEOUT_SECONDS = 60
ALERT_LEVELS = re.compile(r"\bWARNING\b|\bERROR\b|\bCRITICAL\b|Traceback", re.IGNORECASE)


@dataclass(frozen=True)
class Answered:
    sent: float
    answered: float
    status: int


@dataclass(frozen=True)
class OutageFigures:
    median_503_seconds: float | None
    refused_while_down: int
    restart_to_first_201_seconds: float | None
    refused_after_restart: int
    refused_after_first_201: int
    recorded_after_restart: int

    def lines(self) -> list[str]:
        def seconds(value: float | None) -> str:
            return "never" if value is None else f"{value * 1000:.0f} ms"

        return [
            f"median time to a 503 while down: {seconds(self.median_503_seconds)}"
            f" (deliveries sent while down and refused: {self.refused_while_down})",
            f"restart to first 201: {seconds(self.restart_to_first_201_seconds)}",
            f"503s to deliveries sent after the restart:   {self.refused_after_restart}",
            f"503s to deliveries sent after the first 201: {self.refused_after_first_201}",
            f"201s after the restart: {self.recorded_after_restart}",
        ]


def body(number: int) -> bytes:
    envelope = {
        "webhook": "ticket",
        "data": {"id": 1_000_000 + number, "quantity": number},
        "timestamp": "2024-05-17T14:30:12",
    }
    return json.dumps(envelope).encode()


def figures(answers: list[Answered], down_at: float, up_at: float) -> OutageFigures:
    refused_down = [
        a.answered - a.sent for a in answers if down_at <= a.sent < up_at and a.status == 503
    ]
    recorded = sorted(a.answered for a in answers if a.status == 201 and a.answered >= up_at)
    first_201 = recorded[0] if recorded else None
    return OutageFigures(
        median_503_seconds=statistics.median(refused_down) if refused_down else None,
        refused_while_down=len(refused_down),
        restart_to_first_201_seconds=None if first_201 is None else first_201 - up_at,
        refused_after_restart=sum(1 for a in answers if a.status == 503 and a.sent >= up_at),
        refused_after_first_201=sum(
            1 for a in answers if a.status == 503 and first_201 is not None and a.sent > first_201
        ),
        recorded_after_restart=len(recorded),
    )


async def measure(
    base_url: str, stop: asyncio.Event, numbers: Iterator[int], answers: list[Answered]
) -> None:
    """One sender: new deliveries one after another until `stop` is set."""
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            number = next(numbers)
            sent = time.monotonic()
            try:
                async with session.post(f"{base_url}{INTAKE}", data=body(number)) as reply:
                    await reply.read()
                    status = reply.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            answers.append(Answered(sent, time.monotonic(), status))


async def outage(base_url: str, cluster: PrivateCluster, args: argparse.Namespace) -> OutageFigures:
    async with aiohttp.ClientSession() as session:
        for number in range(WARM_DELIVERIES):
            async with session.post(f"{base_url}{INTAKE}", data=body(number)) as reply:
                assert reply.status == 201, await reply.text()
        # The outage starts once the projection worker has applied the warm-up, not while it
        # is still starting.
        while True:
            async with session.get(f"{base_url}/v1/projections") as reply:
                positions = {projection["position"] for projection in await reply.json()}
            if positions == {WARM_DELIVERIES}:
                break
            await asyncio.sleep(0.1)
    answers: list[Answered] = []
    stop = asyncio.Event()
    numbers = itertools.count(WARM_DELIVERIES)
    senders = [
        asyncio.create_task(measure(base_url, stop, numbers, answers)) for _ in range(args.senders)
    ]
    await asyncio.sleep(0.5)
    down_at = time.monotonic()
    await asyncio.to_thread(cluster.stop_immediately)
    await asyncio.sleep(args.down)
    await asyncio.to_thread(cluster.start)
    up_at = time.monotonic()
    await asyncio.sleep(args.up)
    stop.set()
    await asyncio.gather(*senders)
    return figures(answers, down_at, up_at)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--down", type=float, default=8.0, help="seconds the database is down")
    parser.add_argument("--up", type=float, default=10.0, help="seconds measured after restart")
    parser.add_argument("--senders", type=int, default=16, help="concurrent senders")
    args = parser.parse_args()
    if not private_clusters_possible():
        print("needs PostgreSQL 15's server programs and runuser", file=sys.stderr)
        return 2
    with (
        running_cluster(free_port()) as cluster,
        tempfile.TemporaryDirectory() as logs,
        service(cluster.url, Path(logs)) as base_url,
    ):
        result = asyncio.run(outage(base_url, cluster, args))
        log = [line for path in Path(logs).iterdir() for line in path.read_text().splitlines()]
    for line in result.lines():
        print(line)
    # Warnings and errors only: an access log, when on, writes a line per request.
    alerts = [line for line in log if ALERT_LEVELS.search(line)]
    print(f"serve log lines at warning or above: {len(alerts)}")
    for line in alerts:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
