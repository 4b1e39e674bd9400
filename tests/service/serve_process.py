"""`ticket-audit serve` as a real process on a free loopback port, for black-box tests."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryFile
from typing import Any

from tests.helpers import TICKET_AUDIT, cli_env, free_port

READY_TRIES = 200
READY_PAUSE_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = 15
REQUEST_TIMEOUT_SECONDS = 30


@contextmanager
def serving(database_url: str, cwd: Path | None = None, **variables: str) -> Iterator[str]:
    """Run `serve` until the block ends; yield its base URL once `/healthz` answers."""
    with serving_process(database_url, cwd, None, **variables) as (base, _):
        yield base


@contextmanager
def serving_process(
    database_url: str, cwd: Path | None = None, log: Path | None = None, **variables: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `serving`, with the process too; its output goes to `log` when given."""
    port = free_port()
    with log.open("w+b") if log is not None else TemporaryFile() as output:
        process = subprocess.Popen(
            [TICKET_AUDIT, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(database_url, **variables),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(process, base, output)
            yield base, process
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], base: str, output: Any) -> None:
    for _ in range(READY_TRIES):
        if process.poll() is not None:
            output.seek(0)
            raise AssertionError(f"serve exited {process.returncode}: {output.read().decode()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(READY_PAUSE_SECONDS)
    raise AssertionError(f"serve at {base} did not become healthy")


def call(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """One request; the answer's status and decoded JSON body, whatever the status."""
    request = urllib.request.Request(f"{base}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
            status, raw, kind = answer.status, answer.read(), answer.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    assert kind == "application/json", (status, raw[:200])
    return status, json.loads(raw)
