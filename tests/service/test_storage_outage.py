"""Storage failures: a database that goes away and comes back, and a service killed mid-load."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from bench.private_cluster import PrivateCluster, private_clusters_possible, running_cluster
from tests.helpers import (
    INTAKE,
    TICKET_AUDIT,
    Client,
    Serve,
    app_clients,
    cli_env,
    delivery,
    free_port,
    get_json,
    json_body,
    make_settings,
    post,
)
from tests.service.serve_process import serving_process
from tests.service.test_projection_worker import all_at, record, until, worker_of

# A request that would hang on a dead database must still be answered within this.
ANSWER_WITHIN_SECONDS = 30
# Orchestrators give readiness probes a few seconds at most (Kubernetes: one by default).
PROBE_WITHIN_SECONDS = 10
READY_TRIES = 300
READY_INTERVAL_SECONDS = 0.05
# The contract's bounds are 100 ms to a 503 once the circuit is open and 1 s from storage's
# return to the circuit closing; checked ten times looser so a loaded machine cannot fail them.
OPEN_CIRCUIT_ANSWER_SECONDS = 1.0
CLOSED_AFTER_RESTART_SECONDS = 10.0
DELIVERIES_AFTER_RECOVERY = 50


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    if not private_clusters_possible():
        pytest.skip("needs PostgreSQL 15's server programs and runuser")
    with running_cluster(free_port()) as cluster:
        yield cluster


@pytest.fixture
async def serve(
    private_cluster: PrivateCluster, aiohttp_client: AiohttpClient
) -> AsyncIterator[Serve]:
    # Stops every app before the cluster it uses is removed.
    async with app_clients(aiohttp_client) as start:
        yield start


async def answered_in_time(coroutine: Any) -> Any:
    return await asyncio.wait_for(coroutine, ANSWER_WITHIN_SECONDS)


async def record_three(client: Client) -> None:
    for ticket_id in (1, 2, 3):
        assert (await post(client, delivery(ticket_id)))[0] == 201


async def refused_while_down(client: Client, body: bytes) -> None:
    response = await answered_in_time(client.post(INTAKE, data=body))
    assert response.status == 503
    assert await json_body(response) == {"error": "storage_unavailable"}
    assert int(response.headers["Retry-After"]) > 0


async def probe(client: Client, path: str) -> tuple[int, dict[str, Any]] | str:
    """A GET's status and body, or why it gave none in the time an operator would wait."""
    try:
        response = await asyncio.wait_for(client.get(path), PROBE_WITHIN_SECONDS)
    except TimeoutError:
        return f"no answer within {PROBE_WITHIN_SECONDS} s"
    return response.status, await json_body(response)


STORAGE_UNAVAILABLE = (503, {"error": "storage_unavailable"})


@pytest.mark.postgres
async def test_a_lost_database_is_answered_503_promptly(
    serve: Serve, private_cluster: PrivateCluster
) -> None:
    client = await serve(make_settings(private_cluster.url))
    await record_three(client)
    recorded = (await post(client, delivery(5)))[1]["deliveryId"]

    await asyncio.to_thread(private_cluster.stop_immediately)
    try:
        await refused_while_down(client, delivery(4))
        # A refused body that cannot be kept for review must be sent again later too.
        await refused_while_down(client, b'{"webhook": ')
        # Reads go to the same database; asked together, they take the longest one's time.
        paths = [
            "/readyz",
            "/v1/audit/verify",
            "/v1/audit/checkpoint",
            "/v1/projections",
            "/v1/quarantine",
            f"/v1/deliveries/{recorded}",
        ]
        answers = dict(
            zip(paths, await asyncio.gather(*(probe(client, path) for path in paths)), strict=True)
        )
    finally:
        # Lets any storage call still retrying in the app's threads finish, so it can stop.
        await asyncio.to_thread(private_cluster.start)

    readiness = answers["/readyz"]
    if not isinstance(readiness, str):
        # Only whether it is ready matters here; the rest of the body says why not.
        answers["/readyz"] = (readiness[0], {"status": readiness[1]["status"]})
    assert answers == {
        "/readyz": (503, {"status": "unavailable"}),
        **{path: STORAGE_UNAVAILABLE for path in paths[1:]},
    }


@pytest.mark.postgres
async def test_a_returning_database_is_used_again_without_a_restart(
    serve: Serve, private_cluster: PrivateCluster
) -> None:
    client = await serve(make_settings(private_cluster.url))
    await record_three(client)
    during_outage = delivery(4)
    await asyncio.to_thread(private_cluster.stop_immediately)
    await refused_while_down(client, during_outage)

    await asyncio.to_thread(private_cluster.start)

    # Nothing of the refused delivery was written, so it records now as new.
    for _ in range(READY_TRIES):
        status, answer = await answered_in_time(post(client, during_outage))
        if status != 503:
            break
        await asyncio.sleep(READY_INTERVAL_SECONDS)
    assert (status, answer["ticketId"], answer["version"]) == (201, 4, 1)
    report = await get_json(client, "/v1/audit/verify")
    assert (report["ok"], report["checked"]) == (True, 4)
    assert (await answered_in_time(post(client, b'{"webhook": ')))[0] == 400
    deadline = time.monotonic() + ANSWER_WITHIN_SECONDS
    while (await answered_in_time(client.get("/readyz"))).status != 200:
        assert time.monotonic() < deadline, "the service did not become ready again"
        await asyncio.sleep(READY_INTERVAL_SECONDS * 4)
    # The projections resumed too: they have applied the delivery recorded after the outage.
    state = await get_json(client, f"/v1/tickets/4?minPosition={answer['position']}")
    assert (state["version"], state["position"]) == (1, answer["position"])


@pytest.mark.postgres
async def test_the_first_delivery_after_a_database_restart_is_recorded(
    serve: Serve, private_cluster: PrivateCluster
) -> None:
    client = await serve(make_settings(private_cluster.url))
    await record_three(client)

    # Every pooled connection dies with the server; the next batch must not fail on one.
    await asyncio.to_thread(private_cluster.stop_immediately)
    await asyncio.to_thread(private_cluster.start)

    status, answer = await answered_in_time(post(client, delivery(4)))
    assert (status, answer["ticketId"], answer["version"]) == (201, 4, 1)
    report = await get_json(client, "/v1/audit/verify")
    assert (report["ok"], report["checked"]) == (True, 4)


@pytest.mark.postgres
async def test_the_first_reads_after_a_database_restart_are_answered(
    serve: Serve, private_cluster: PrivateCluster
) -> None:
    client = await serve(make_settings(private_cluster.url))
    positions = [
        (await post(client, delivery(ticket_id)))[1]["position"] for ticket_id in (1, 2, 3)
    ]
    reads = [
        *(f"/v1/tickets/{ticket_id}" for ticket_id in (1, 2, 3)),
        "/v1/tickets/2/history",
        "/v1/changes",
        "/v1/tickets/3/quantity",
    ]
    # Asked together and more than once, the reads use many of the pool's connections.
    applied = f"?minPosition={max(positions)}"
    before = await asyncio.gather(*(probe(client, path + applied) for path in reads * 3))
    assert {answer[0] for answer in before if not isinstance(answer, str)} == {200}, before

    # Every pooled connection dies with the server; no read may fail on one.
    await asyncio.to_thread(private_cluster.stop_immediately)
    await asyncio.to_thread(private_cluster.start)

    after = await asyncio.gather(*(probe(client, path) for path in reads * 3))
    assert after == before


async def timed_post(client: Client, body: bytes) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await answered_in_time(client.post(INTAKE, data=body))
    return response.status, await json_body(response), time.monotonic() - started


@pytest.mark.postgres
async def test_an_outage_is_answered_at_once_and_healed_at_once(
    serve: Serve, private_cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await serve(make_settings(private_cluster.url))
    await record_three(client)
    await asyncio.to_thread(private_cluster.stop_immediately)
    caplog.clear()

    # The first write finds storage gone (taking its time to be sure); it opens the circuit.
    await refused_while_down(client, delivery(4))
    refused = [await timed_post(client, delivery(number)) for number in range(5, 25)]
    assert {(status, body["error"]) for status, body, _ in refused} == {
        (503, "storage_unavailable")
    }
    slowest = max(seconds for _, _, seconds in refused)
    assert slowest < OPEN_CIRCUIT_ANSWER_SECONDS
    cause = f"connection refused at 127.0.0.1:{private_cluster.port}"
    readiness = await client.get("/readyz")
    assert (readiness.status, (await json_body(readiness))["cause"]) == (503, cause)
    assert "ticket_audit_storage_down 1.0" in await (await client.get("/metrics")).text()
    # A read that fails meanwhile is answered 503 too, without a line of its own.
    assert await probe(client, "/v1/audit/checkpoint") == STORAGE_UNAVAILABLE

    await asyncio.to_thread(private_cluster.start)
    restarted = time.monotonic()
    while (status := (await post(client, delivery(4)))[0]) == 503:
        assert time.monotonic() - restarted < CLOSED_AFTER_RESTART_SECONDS
        await asyncio.sleep(READY_INTERVAL_SECONDS)
    assert status == 201
    # Not one delivery fails on a connection that died with the old server.
    answers = await asyncio.gather(
        *(post(client, delivery(number)) for number in range(100, 100 + DELIVERIES_AFTER_RECOVERY))
    )
    assert [status for status, _ in answers] == [201] * DELIVERIES_AFTER_RECOVERY
    assert (await client.get("/readyz")).status == 200

    circuit = [r.getMessage() for r in caplog.records if r.name == "service.storage_circuit"]
    assert circuit[0].startswith(f"storage down: {cause};"), circuit
    # A server that is starting refuses differently: that change of cause is a line too.
    assert all(line.startswith("storage still down, now: ") for line in circuit[1:-1]), circuit
    assert circuit[-1].startswith("storage back after "), circuit
    # One line per change of state, none with a traceback, however many requests failed.
    assert not [r.getMessage() for r in caplog.records if r.exc_info]
    assert not [r.getMessage() for r in caplog.records if r.name == "service.web.errors"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) < len(refused)


@pytest.mark.postgres
def test_a_worker_that_cannot_reach_storage_says_why_in_one_line(
    private_cluster: PrivateCluster, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    stopped = (
        "projection worker stopped: storage unavailable: "
        f"connection refused at 127.0.0.1:{private_cluster.port}"
    )
    with serving_process(private_cluster.url, log=log) as (base, serve):
        first = worker_of(serve)
        private_cluster.stop_immediately()
        os.kill(first, signal.SIGKILL)
        # Each worker started while storage is down ends at once with the cause.
        until(lambda: stopped in log.read_text(), "a worker to say why it stopped")
        private_cluster.start()
        position = record(base, 7, quantity=1)
        until(lambda: all_at(base, position), "a new worker to apply the log")
    text = log.read_text()
    assert "projection worker exited with status 1; starting another" in text
    assert "Traceback" not in text


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    base_url: str


def start_serve(database_url: str, log_path: Path) -> ServeProcess:
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [TICKET_AUDIT, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServeProcess(process, f"http://127.0.0.1:{port}")


async def until_healthy(session: aiohttp.ClientSession, server: ServeProcess) -> None:
    for _ in range(READY_TRIES):
        assert server.process.poll() is None, "serve exited while starting"
        try:
            async with session.get(f"{server.base_url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(READY_INTERVAL_SECONDS)
    raise AssertionError("serve did not answer /healthz")


def stop(server: ServeProcess) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


DELIVERY_COUNT = 300
IN_FLIGHT = 16
KILL_AFTER_ACKS = 100


async def test_acknowledged_deliveries_survive_kill_9(database_url: str, tmp_path: Path) -> None:
    ticket_of = {
        delivery(ticket_id, quantity=ticket_id): ticket_id
        for ticket_id in range(10_000, 10_000 + DELIVERY_COUNT)
    }
    bodies = list(ticket_of)
    acknowledged: dict[bytes, dict[str, Any]] = {}
    log_path = tmp_path / "serve.log"
    first = start_serve(database_url, log_path)
    servers = [first]
    timeout = aiohttp.ClientTimeout(total=ANSWER_WITHIN_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await until_healthy(session, first)
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def send(body: bytes) -> None:
                async with slots:
                    if first.process.poll() is not None:
                        return
                    try:
                        async with session.post(f"{first.base_url}{INTAKE}", data=body) as reply:
                            if reply.status in (200, 201):
                                acknowledged[body] = await reply.json()
                    except (aiohttp.ClientError, TimeoutError):
                        return
                    if len(acknowledged) >= KILL_AFTER_ACKS and first.process.poll() is None:
                        first.process.kill()
                        first.process.wait()

            await asyncio.gather(*(send(body) for body in bodies))
            assert first.process.returncode == -signal.SIGKILL
            assert KILL_AFTER_ACKS <= len(acknowledged) < DELIVERY_COUNT

            second = start_serve(database_url, log_path)
            servers.append(second)
            await until_healthy(session, second)

            for body, answer in acknowledged.items():
                assert answer["status"] == "recorded"
                async with session.get(
                    f"{second.base_url}/v1/deliveries/{answer['deliveryId']}"
                ) as kept:
                    assert kept.status == 200
                    assert await kept.read() == body

            unacknowledged = [body for body in bodies if body not in acknowledged]
            for body in unacknowledged:
                async with session.post(f"{second.base_url}{INTAKE}", data=body) as reply:
                    assert reply.status in (200, 201), await reply.text()
                    answer = await reply.json()
                assert (answer["ticketId"], answer["version"]) == (ticket_of[body], 1)
                # A 200 means the killed server had committed this very delivery.
                async with session.get(
                    f"{second.base_url}/v1/deliveries/{hashlib.sha256(body).hexdigest()}"
                ) as kept:
                    assert (kept.status, await kept.read()) == (200, body)

            async with session.get(f"{second.base_url}/v1/audit/verify") as verified:
                report = await verified.json()
            # One event per delivery: each is served back above, and there are no others.
            assert (report["ok"], report["checked"]) == (True, DELIVERY_COUNT)
        second.process.terminate()
        assert second.process.wait(timeout=20) == 0
    finally:
        for server in servers:
            stop(server)
    assert "Traceback" not in log_path.read_text(errors="replace")
