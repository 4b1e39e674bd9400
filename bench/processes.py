"""The processes a measurement starts: servers on free loopback ports, and the load.

Every server is stopped when its block ends, whatever happened inside it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.load import LoadBounds, LoadResult

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TRIES = 300
READY_POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 20
# A load is bounded by its own duration; this only catches one that hangs.
LOAD_OVERRUN_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without the shell's TICKET_AUDIT_* settings (tokens would
    turn the load away), plus `settings`."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("TICKET_AUDIT_")
    }
    return {**env, **settings}


def checkout_command(
    checkout: Path, arguments: Sequence[str], database_url: str, limit_seconds: float
) -> tuple[str, float]:
    """`ticket-audit ARGUMENTS` on `database_url` by `checkout`'s own interpreter (its
    `.venv`): what it printed, and its time from outside. Raises when it fails."""
    python = checkout / ".venv" / "bin" / "python"
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (a checkout's own interpreter and module)
        [str(python), "-m", "service.cli", *arguments],
        cwd=checkout,
        env=clean_environment(TICKET_AUDIT_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        check=False,
        timeout=limit_seconds,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{arguments[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout, seconds


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextmanager
def running_server(
    argv: Sequence[str], env: dict[str, str], base_url: str, log_path: Path
) -> Iterator[Server]:
    """Start `argv` (listening at `base_url`), yield once healthy, stop it on the way out."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_healthy(base_url, process, log_path)
        yield Server(base_url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def service(database_url: str, log_dir: Path) -> Iterator[str]:
    """`ticket-audit serve` on a free port; yields its base URL once `/healthz` answers."""
    with service_process(database_url, log_dir) as server:
        yield server.url


@contextmanager
def service_process(database_url: str, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    env = clean_environment(
        TICKET_AUDIT_DATABASE_URL=database_url,
        TICKET_AUDIT_HOST=HOST,
        TICKET_AUDIT_PORT=str(port),
    )
    argv = [sys.executable, "-m", "service.cli", "serve"]
    with running_server(
        argv, env, f"http://{HOST}:{port}", log_dir / f"serve-{port}.log"
    ) as server:
        yield server


@contextmanager
def naive_receiver(database_url: str, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.naive_receiver"]
    argv += ["--database-url", database_url, "--port", str(port)]
    log = log_dir / f"naive-{port}.log"
    with running_server(argv, clean_environment(), f"http://{HOST}:{port}", log) as server:
        yield server


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(READY_TRIES):
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(READY_POLL_SECONDS)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{base_url} never answered /healthz; its log ends with:\n{tail}")


def status_of(url: str) -> int:
    """The status of one GET (to tell a missing route from one that answers)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def run_load(arguments: Sequence[str], bounds: LoadBounds) -> LoadResult:
    """`python -m bench.load ARGUMENTS` in its own process; its result."""
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "bench.load", *arguments, *bounds.arguments()],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        check=False,
        timeout=bounds.seconds + LOAD_OVERRUN_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return LoadResult(**orjson.loads(done.stdout))
