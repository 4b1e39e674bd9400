"""A PostgreSQL server of one's own, to stop and start at will (outage tests and benchmark)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def private_clusters_possible() -> bool:
    return (POSTGRES_BIN / "pg_ctl").exists() and shutil.which("runuser") is not None


class PrivateCluster:
    """The server refuses to run as root, so its files belong to the `postgres` user and its
    programs run as that user."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(  # noqa: S603 (the server's own programs)
            ["runuser", "-u", "postgres", "--", *args],  # noqa: S607
            check=check,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run(
            str(POSTGRES_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop_immediately(self, *, check: bool = True) -> None:
        self._run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            "immediate",
            "stop",
            check=check,
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?schema=audit"


@contextmanager
def running_cluster(port: int) -> Iterator[PrivateCluster]:
    """A started cluster, stopped and removed when the block ends."""
    # Not under a root-only temporary folder: the server runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="ticket-audit-pg-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root, port)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        # Already stopped when the caller ended with the server down.
        cluster.stop_immediately(check=False)
        shutil.rmtree(root, ignore_errors=True)
