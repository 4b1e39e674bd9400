"""Starting the command line: no log created by accident, and every start-up failure one line
that names its cause and its fix."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from projections.catalog import CATALOG
from tests.conftest import ADMIN_URL
from tests.helpers import (
    TICKET_AUDIT,
    cli_env,
    create_log,
    delivery,
    free_port,
    log_exists,
    run_cli,
)

COMMANDS_ON_A_LOG = [
    ["verify"],
    ["rebuild"],
    ["export"],
    ["import", "-"],
    ["doctor"],
]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS_ON_A_LOG, ids=lambda command: command[0])
def test_no_command_but_serve_creates_a_log(command: list[str], database_url: str) -> None:
    result = run_cli(*command, database_url=database_url)

    assert result.returncode == 2
    # doctor says it in its table; the others say only that.
    reason = result.stdout if command == ["doctor"] else one_line(result)
    assert "no log at " in reason
    assert "ticket-audit serve" in reason
    assert not log_exists(database_url)


def test_a_mistyped_path_creates_no_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'x.sqlite3'}"

    verify = run_cli("verify", database_url=url)
    serve = run_cli("serve", "--port", str(free_port()), database_url=url)

    assert verify.returncode == 2
    assert "no log at " in one_line(verify)
    assert serve.returncode == 2
    assert f"folder {tmp_path / 'no' / 'such'} does not exist" in one_line(serve)
    assert list(tmp_path.iterdir()) == []


def test_the_database_url_flag_wins_over_the_environment(database_url: str) -> None:
    create_log(database_url)

    result = run_cli(
        "verify", "--database-url", database_url, database_url="sqlite:////no/such/log.sqlite3"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_version() -> None:
    result = run_cli("--version", database_url="")

    assert result.returncode == 0
    assert result.stdout.strip().startswith("ticket-audit ")


def test_a_port_in_use_is_named_and_opens_no_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), database_url="", cwd=tmp_path)

    assert result.returncode == 1
    assert one_line(result) == (
        f"ticket-audit: port {port} is in use on 127.0.0.1: stop the process using it, "
        "or choose another with --port / TICKET_AUDIT_PORT"
    )
    assert list(tmp_path.iterdir()) == []


HOST = urllib.parse.urlsplit(ADMIN_URL).hostname


def postgres_url(user: str = "postgres", port: int = 5432, dbname: str = "test") -> str:
    return f"postgresql://{user}@{HOST}:{port}/{dbname}"


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["verify"], ["import", "-"]])
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            postgres_url(dbname="no_such_db"),
            f'database "no_such_db" does not exist on {HOST}:5432: create it with createdb',
        ),
        (postgres_url(user="no_such_role"), f'role "no_such_role" does not exist on {HOST}'),
        (postgres_url(port=1), f"connection refused at {HOST}:1: is PostgreSQL running there"),
    ],
    ids=["database", "role", "port"],
)
def test_postgres_start_up_failures_name_cause_and_fix(
    command: list[str], url: str, expected: str, tmp_path: Path
) -> None:
    result = run_cli(*command, database_url=url, cwd=tmp_path)

    assert result.returncode == 1
    assert expected in one_line(result)


def test_serve_makes_the_default_data_folder_and_leaves_no_lock_files(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env("", TICKET_AUDIT_DATA_DIR="store")
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [TICKET_AUDIT, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_line(output, "listening on", process)
            # The projection worker takes its locks once it has started.
            while_serving = wait_for_locks(tmp_path / "store")
        finally:
            process.terminate()
            process.wait(30)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["serve.log", "store"]
    assert "ticket-audit.sqlite3" in while_serving
    assert all(name.startswith("ticket-audit.") for name in while_serving)
    assert not [path for path in (tmp_path / "store").iterdir() if path.suffix == ".lock"]
    start = next(line for line in output.read_text().splitlines() if "listening on" in line)
    assert f"listening on http://127.0.0.1:{port}" in start
    assert "log store/ticket-audit.sqlite3 (created the data folder store" in start
    assert "tokens unset: TICKET_AUDIT_WEBHOOK_TOKEN, TICKET_AUDIT_READ_TOKEN" in start
    assert "projections: tickets live at 0/0" in start


def wait_for_locks(folder: Path) -> list[str]:
    for _ in range(300):
        names = sorted(path.name for path in folder.iterdir())
        if len([name for name in names if name.endswith(".lock")]) == len(CATALOG):
            return names
        time.sleep(0.1)
    raise AssertionError(f"no lock files in {folder}")


def wait_for_line(output: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if text in output.read_text():
            return
        assert process.poll() is None, output.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in {output.read_text()}")


def test_a_port_where_postgres_does_not_answer_is_named() -> None:
    # Something listens there but never speaks PostgreSQL (another service's port).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = run_cli("verify", database_url=f"postgresql://postgres@127.0.0.1:{port}/test")

    assert result.returncode == 1
    assert f"no answer from PostgreSQL at 127.0.0.1:{port} within 3 s" in one_line(result)


def test_every_command_documents_the_exit_codes() -> None:
    for command in ("serve", "verify", "rebuild", "export", "import", "doctor"):
        result = run_cli(command, "--help", database_url="")

        assert result.returncode == 0
        assert "--database-url URL" in result.stdout, command
        assert "1  done, with a finding" in result.stdout, command


def test_ctrl_c_ends_an_import_in_one_line(database_url: str) -> None:
    create_log(database_url)
    process = subprocess.Popen(
        [TICKET_AUDIT, "import", "-"],
        env=cli_env(database_url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stderr is not None
    process.stdin.write(delivery(1) + b"\n")
    process.stdin.flush()
    # The progress bar appears once the import is reading deliveries.
    assert process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130
    assert stderr.decode().strip().splitlines()[-1] == "ticket-audit: interrupted"
    assert b"Traceback" not in stderr
