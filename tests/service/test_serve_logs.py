"""What `serve` tells an operator on stderr: the start line, the access log, refused deliveries."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from service.logs import masked_target
from service.settings import DatabaseLocation
from tests.helpers import TICKET_AUDIT, cli_env, free_port
from tests.service.serve_process import call, wait_until_healthy

SECRET = "s3cret-token-value"
REFUSED = b'{"webhook": "ticket", "data": {"id": "not a number"}, "timestamp": "x"}'


def serve_and_log(database_url: str, tmp_path: Path, **variables: str) -> list[str]:
    """Run `serve`, send a read with a token in its query and a refused delivery; its output."""
    port = free_port()
    output = tmp_path / "serve.log"
    with output.open("w+b") as sink:
        process = subprocess.Popen(
            [TICKET_AUDIT, "serve", "--port", str(port)],
            env=cli_env(database_url, **variables),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(process, base, sink)
            # Reads take no token in the query (400), and it is masked in the log all the same.
            assert call(base, "GET", f"/v1/quarantine?token={SECRET}&limit=5")[0] == 400
            status, answer = call(base, "POST", "/webhooks/ingresse", REFUSED)
            assert (status, answer["error"]) == (422, "invalid_payload")
            wait_for(output, "kept in the quarantine")
        finally:
            process.terminate()
            process.wait(30)
    text = output.read_text()
    assert SECRET not in text
    assert "not a number" not in text, "a refused body is never logged"
    return text.splitlines()


def wait_for(output: Path, text: str) -> None:
    for _ in range(100):
        if text in output.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged: {output.read_text()}")


def test_the_access_log_is_on_by_default_in_common_format(
    database_url: str, tmp_path: Path
) -> None:
    lines = serve_and_log(database_url, tmp_path)

    (read,) = [line for line in lines if "GET /v1/quarantine" in line]
    assert read.startswith("127.0.0.1 [")
    assert '"GET /v1/quarantine?token=***&limit=5 HTTP/1.1" 400 ' in read
    (refused,) = [line for line in lines if "POST /webhooks/ingresse" in line]
    # Status, answer size, then the delivery's own size.
    assert '"POST /webhooks/ingresse HTTP/1.1" 422 ' in refused
    assert refused.split()[-2] == str(len(REFUSED))
    (kept,) = [line for line in lines if "kept in the quarantine" in line]
    assert f"refused with 422 invalid_payload ({len(REFUSED)} bytes)" in kept
    assert kept.endswith("kept in the quarantine as id 1")


def test_json_logs_and_json_access_log(database_url: str, tmp_path: Path) -> None:
    lines = serve_and_log(
        database_url, tmp_path, TICKET_AUDIT_ACCESS_LOG="json", TICKET_AUDIT_LOG_FORMAT="json"
    )

    entries = [json.loads(line) for line in lines]
    accesses = [entry for entry in entries if "status" in entry]
    refused = next(entry for entry in accesses if entry["method"] == "POST")
    assert (refused["target"], refused["status"], refused["requestBytes"]) == (
        "/webhooks/ingresse",
        422,
        len(REFUSED),
    )
    assert any(entry["target"] == "/v1/quarantine?token=***&limit=5" for entry in accesses)
    start = next(entry for entry in entries if "listening on" in entry.get("message", ""))
    assert start["level"] == "info"


def test_the_access_log_can_be_off(database_url: str, tmp_path: Path) -> None:
    lines = serve_and_log(database_url, tmp_path, TICKET_AUDIT_ACCESS_LOG="off")

    assert not [line for line in lines if "HTTP/1.1" in line]
    assert [line for line in lines if "kept in the quarantine as id 1" in line]


def test_the_start_line_masks_the_password(database_url: str, tmp_path: Path) -> None:
    location = DatabaseLocation.parse(database_url)
    if location.kind != "postgres":
        pytest.skip("only a PostgreSQL URL carries a password")
    # The test server trusts local connections, so any password is accepted and ignored.
    with_password = database_url.replace(f"//{location.user}@", f"//{location.user}:pa55w0rd@")

    lines = serve_and_log(with_password, tmp_path)

    (start,) = [line for line in lines if "listening on" in line]
    assert f"log postgresql://{location.user}:***@{location.host}:{location.port}/" in start
    assert "pa55w0rd" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/webhooks/ingresse", "/webhooks/ingresse"),
        ("/v1/changes?limit=5", "/v1/changes?limit=5"),
        ("/webhooks/ingresse?token=s3cret", "/webhooks/ingresse?token=***"),
        ("/v1/x?limit=5&token=a%20b", "/v1/x?limit=5&token=***"),
        ("/v1/x?mytoken=1&token=2", "/v1/x?mytoken=1&token=***"),
        ("/v1/x?token=", "/v1/x?token=***"),
        # An encoded name still spells the parameter the auth check reads.
        ("/v1/x?tok%65n=s3cret&b=1", "/v1/x?token=***&b=1"),
    ],
)
def test_the_token_parameter_is_masked(target: str, logged: str) -> None:
    assert masked_target(make_mocked_request("GET", target)) == logged
