"""Who may deliver, read and administer, and the refusal to serve beyond loopback unguarded."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings, SettingsError
from service.signatures import sign
from tests.helpers import (
    INTAKE,
    Client,
    Serve,
    delivery,
    free_port,
    get_json,
    head_position,
    json_body,
    make_settings,
    run_cli,
)

WEBHOOK_TOKEN = "hook-6d1f0c2a-webhook-token"
READ_TOKEN = "read-93b7e4d1-read-token"
ADMIN_TOKEN = "admin-0a5c77f2-admin-token"
OLD_SECRET = "whsec_" + base64.b64encode(b"the outgoing signing key, 32 b!!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the incoming signing key, 32 b!!").decode()
STRANGER_SECRET = "whsec_" + base64.b64encode(b"a key nobody configured, 32 b!!!").decode()
EVERY_SECRET = [WEBHOOK_TOKEN, READ_TOKEN, ADMIN_TOKEN, OLD_SECRET, NEW_SECRET]
UNAUTHORIZED = {"error": "unauthorized"}
ADMIN_ROUTES = ["/v1/audit/verify", "/v1/audit/checkpoint", "/v1/quarantine"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str = "msg_1"
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, webhook_id, stamp, body),
    }


class Transcript:
    """Every answer a test saw, so that it can check no secret was ever echoed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[str] = []

    async def post(
        self, body: bytes, headers: Mapping[str, str] | None = None, path: str = INTAKE
    ) -> tuple[int, dict[str, Any]]:
        response = await self.client.post(path, data=body, headers=headers)
        self.seen.append(str(response.headers) + await response.text())
        return response.status, await json_body(response)

    async def get(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        response = await self.client.get(path, headers=headers)
        self.seen.append(str(response.headers) + await response.text())
        return response.status, await json_body(response)

    def assert_no_secret_leaked(self) -> None:
        for answer in self.seen:
            for secret in EVERY_SECRET:
                assert secret not in answer
                assert secret.removeprefix("whsec_") not in answer


async def assert_nothing_kept(client: Client) -> None:
    assert await head_position(client, bearer(ADMIN_TOKEN)) == 0
    quarantine = await get_json(client, "/v1/quarantine", headers=bearer(ADMIN_TOKEN))
    assert quarantine["items"] == []


async def test_webhook_token_by_query_or_bearer_and_nothing_kept_without_it(
    serve: Serve, database_url: str
) -> None:
    settings = make_settings(
        database_url, webhook_token=WEBHOOK_TOKEN, admin_token=ADMIN_TOKEN, max_body_bytes=1000
    )
    client = await serve(settings)
    transcript = Transcript(client)
    refused: list[tuple[bytes, dict[str, str], str]] = [
        (delivery(1), {}, INTAKE),
        (delivery(1), bearer("wrong"), INTAKE),
        (delivery(1), {}, f"{INTAKE}?token=wrong"),
        (delivery(1), {}, f"{INTAKE}?token="),
        (delivery(1), bearer(READ_TOKEN), INTAKE),
        (delivery(1), bearer(ADMIN_TOKEN), INTAKE),
        (delivery(1), {"Authorization": f"Basic {WEBHOOK_TOKEN}"}, INTAKE),
        (delivery(1), bearer(WEBHOOK_TOKEN[:-1]), INTAKE),
        # Auth comes first: refused bodies without a valid token are not quarantined.
        (b"{not json", {}, INTAKE),
        (delivery(1, webhook="order"), bearer("wrong"), INTAKE),
        (b"x" * 5000, {}, INTAKE),
    ]

    for body, headers, path in refused:
        assert await transcript.post(body, headers, path) == (401, UNAUTHORIZED), (headers, path)
    await assert_nothing_kept(client)

    by_query = await transcript.post(delivery(1), path=f"{INTAKE}?token={WEBHOOK_TOKEN}")
    by_bearer = await transcript.post(delivery(2), bearer(WEBHOOK_TOKEN))
    lowercase_scheme = await transcript.post(
        delivery(3), {"Authorization": f"bearer {WEBHOOK_TOKEN}"}
    )
    assert [status for status, _ in (by_query, by_bearer, lowercase_scheme)] == [201, 201, 201]
    transcript.assert_no_secret_leaked()


async def test_signed_deliveries(serve: Serve, database_url: str) -> None:
    settings = make_settings(database_url, signing_secret=OLD_SECRET, admin_token=ADMIN_TOKEN)
    client = await serve(settings)
    transcript = Transcript(client)
    body = delivery(1)
    now = int(time.time())
    refused = {
        "unsigned": {},
        "wrong secret": signed_headers(STRANGER_SECRET, body),
        "tampered body": signed_headers(OLD_SECRET, delivery(1, quantity=1)),
        "other webhook id": {**signed_headers(OLD_SECRET, body), "webhook-id": "msg_2"},
        "stale": signed_headers(OLD_SECRET, body, timestamp=now - 301),
        "much too old": signed_headers(OLD_SECRET, body, timestamp=now - 3600),
        "from the future": signed_headers(OLD_SECRET, body, timestamp=now + 3600),
    }

    for case, headers in refused.items():
        assert await transcript.post(body, headers) == (401, UNAUTHORIZED), case
    assert await transcript.post(b"{", {}) == (401, UNAUTHORIZED)
    await assert_nothing_kept(client)

    recent = signed_headers(OLD_SECRET, body, timestamp=now - 240)
    assert (await transcript.post(body, recent))[0] == 201
    # Past auth, a refused body is kept for review like any other.
    assert (await transcript.post(b"{", signed_headers(OLD_SECRET, b"{")))[0] == 400
    quarantine = await get_json(client, "/v1/quarantine", headers=bearer(ADMIN_TOKEN))
    assert [item["error"] for item in quarantine["items"]] == ["malformed_json"]
    transcript.assert_no_secret_leaked()


async def test_signature_is_checked_before_size(serve: Serve, database_url: str) -> None:
    # Auth comes before the size rule: otherwise anyone could fill the bounded quarantine,
    # pushing out the deliveries kept there for review.
    settings = make_settings(
        database_url, signing_secret=OLD_SECRET, admin_token=ADMIN_TOKEN, max_body_bytes=1000
    )
    client = await serve(settings)
    transcript = Transcript(client)
    oversized = delivery(1, note="x" * 2000)

    unsigned = await transcript.post(oversized)
    wrongly_signed = await transcript.post(oversized, signed_headers(STRANGER_SECRET, oversized))
    signed = await transcript.post(oversized, signed_headers(OLD_SECRET, oversized))

    assert (unsigned, wrongly_signed) == ((401, UNAUTHORIZED), (401, UNAUTHORIZED))
    assert signed == (413, {"error": "payload_too_large", "limit": 1000})
    quarantine = await get_json(client, "/v1/quarantine", headers=bearer(ADMIN_TOKEN))
    assert [item["error"] for item in quarantine["items"]] == ["payload_too_large"]


async def test_both_secrets_are_accepted_while_rotating(serve: Serve, database_url: str) -> None:
    settings = make_settings(database_url, signing_secret=f"{OLD_SECRET} {NEW_SECRET}")
    transcript = Transcript(await serve(settings))
    old_body, new_body = delivery(1), delivery(2)

    by_old = await transcript.post(old_body, signed_headers(OLD_SECRET, old_body))
    by_new = await transcript.post(new_body, signed_headers(NEW_SECRET, new_body))
    by_stranger = await transcript.post(new_body, signed_headers(STRANGER_SECRET, new_body))

    assert (by_old[0], by_new[0], by_stranger[0]) == (201, 201, 401)
    transcript.assert_no_secret_leaked()


async def test_token_and_signature_are_both_required_when_both_are_set(
    serve: Serve, database_url: str
) -> None:
    settings = make_settings(database_url, webhook_token=WEBHOOK_TOKEN, signing_secret=OLD_SECRET)
    transcript = Transcript(await serve(settings))
    body = delivery(1)

    token_only = await transcript.post(body, bearer(WEBHOOK_TOKEN))
    signature_only = await transcript.post(body, signed_headers(OLD_SECRET, body))
    both = await transcript.post(
        body, {**bearer(WEBHOOK_TOKEN), **signed_headers(OLD_SECRET, body)}
    )

    assert (token_only[0], signature_only[0], both[0]) == (401, 401, 201)


async def test_read_token_guards_deliveries(serve: Serve, database_url: str) -> None:
    settings = make_settings(database_url, read_token=READ_TOKEN, admin_token=ADMIN_TOKEN)
    client = await serve(settings)
    transcript = Transcript(client)
    status, recorded = await transcript.post(delivery(1))
    assert status == 201
    path = f"/v1/deliveries/{recorded['deliveryId']}"

    for headers in [{}, bearer("wrong"), bearer(WEBHOOK_TOKEN), {"Authorization": READ_TOKEN}]:
        assert await transcript.get(path, headers) == (401, UNAUTHORIZED), headers
    # A token in the query string would end up in access logs; reads take the header only.
    assert (await transcript.get(f"{path}?token={READ_TOKEN}"))[0] == 401

    for token in (READ_TOKEN, ADMIN_TOKEN):
        response = await client.get(path, headers=bearer(token))
        assert (response.status, await response.read()) == (200, delivery(1))
    transcript.assert_no_secret_leaked()


async def test_admin_routes_take_the_admin_token_only(serve: Serve, database_url: str) -> None:
    settings = make_settings(
        database_url, webhook_token=WEBHOOK_TOKEN, read_token=READ_TOKEN, admin_token=ADMIN_TOKEN
    )
    client = await serve(settings)
    transcript = Transcript(client)
    await transcript.post(b"not json", bearer(WEBHOOK_TOKEN))
    quarantined = await get_json(client, "/v1/quarantine", headers=bearer(ADMIN_TOKEN))
    routes = [*ADMIN_ROUTES, f"/v1/quarantine/{quarantined['items'][0]['id']}"]

    for path in routes:
        for headers in [{}, bearer("wrong"), bearer(WEBHOOK_TOKEN)]:
            assert await transcript.get(path, headers) == (401, UNAUTHORIZED), (path, headers)
        assert await transcript.get(path, bearer(READ_TOKEN)) == (403, {"error": "forbidden"})
        assert (await transcript.get(path, bearer(ADMIN_TOKEN)))[0] == 200, path
    transcript.assert_no_secret_leaked()


async def test_unset_tokens_leave_routes_open_on_loopback(serve: Serve, database_url: str) -> None:
    transcript = Transcript(await serve(make_settings(database_url)))

    assert (await transcript.post(delivery(1)))[0] == 201
    for path in ADMIN_ROUTES:
        assert (await transcript.get(path))[0] == 200, path


def test_serving_beyond_loopback_needs_every_token() -> None:
    unguarded = make_settings("sqlite:///unused.sqlite3", host="0.0.0.0")
    half_guarded = make_settings(
        "sqlite:///unused.sqlite3",
        host="192.0.2.10",
        webhook_token=WEBHOOK_TOKEN,
        read_token=READ_TOKEN,
    )

    with pytest.raises(SettingsError) as unguarded_error:
        unguarded.check_exposure()
    with pytest.raises(SettingsError) as half_guarded_error:
        half_guarded.check_exposure()

    message = str(unguarded_error.value)
    for name in (
        "TICKET_AUDIT_WEBHOOK_TOKEN",
        "TICKET_AUDIT_READ_TOKEN",
        "TICKET_AUDIT_ADMIN_TOKEN",
    ):
        assert name in message
    assert "\n" not in message
    half_message = str(half_guarded_error.value)
    assert "TICKET_AUDIT_ADMIN_TOKEN" in half_message
    assert "TICKET_AUDIT_WEBHOOK_TOKEN" not in half_message
    assert WEBHOOK_TOKEN not in half_message
    assert READ_TOKEN not in half_message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_serves_without_tokens(host: str) -> None:
    make_settings("sqlite:///unused.sqlite3", host=host).check_exposure()


def test_every_token_set_serves_anywhere() -> None:
    settings = make_settings(
        "sqlite:///unused.sqlite3",
        host="0.0.0.0",
        webhook_token=WEBHOOK_TOKEN,
        read_token=READ_TOKEN,
        admin_token=ADMIN_TOKEN,
    )

    settings.check_exposure()


def assert_one_line_reason(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_serve_refuses_an_unguarded_public_address(tmp_path: Path) -> None:
    result = run_cli(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}",
        cwd=tmp_path,
        TICKET_AUDIT_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
    )

    assert result.returncode != 0
    reason = assert_one_line_reason(result.stderr)
    assert "TICKET_AUDIT_READ_TOKEN" in reason
    assert "TICKET_AUDIT_ADMIN_TOKEN" in reason
    assert WEBHOOK_TOKEN not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "bad_url"),
    [
        (["serve"], "mysql://x"),
        (["verify"], "sqlite:///"),
        (["import", "-"], "postgresql://u:pa55w0rd-secret@db.example:notaport/ticket"),
    ],
    ids=["serve-mysql", "verify-sqlite-without-path", "import-postgres-bad-port"],
)
def test_a_bad_database_url_is_a_one_line_reason_and_exit_2(
    tmp_path: Path, command: list[str], bad_url: str
) -> None:
    result = run_cli(*command, database_url=bad_url, cwd=tmp_path)

    assert result.returncode == 2
    reason = assert_one_line_reason(result.stderr)
    assert "TICKET_AUDIT_DATABASE_URL" in reason
    assert "pa55w0rd-secret" not in result.stderr + result.stdout
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("whsec_not+base64!", "signing secret is not valid base64"),
        ("whsec_" + base64.b64encode(b"k1").decode() + " whsec_%%", "signing secret 2 of 2"),
    ],
    ids=["not-base64", "second-of-two"],
)
def test_an_invalid_signing_secret_ends_serve_with_a_one_line_reason(
    tmp_path: Path, secret: str, reason: str
) -> None:
    result = run_cli(
        "serve",
        "--port",
        str(free_port()),
        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}",
        TICKET_AUDIT_SIGNING_SECRET=secret,
    )

    assert result.returncode == 2
    line = assert_one_line_reason(result.stderr)
    assert line.startswith("ticket-audit: TICKET_AUDIT_SIGNING_SECRET: ")
    assert reason in line
    assert secret not in result.stderr
    assert not (tmp_path / "log.sqlite3").exists()


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_AUDIT_HOST", "0.0.0.0")
    monkeypatch.setenv("TICKET_AUDIT_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("TICKET_AUDIT_READ_TOKEN", "")
    monkeypatch.delenv("TICKET_AUDIT_WEBHOOK_TOKEN", raising=False)

    settings = Settings()

    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == ADMIN_TOKEN
    # An empty variable means unset, so it cannot pass for a configured token.
    assert settings.read_token is None
    with pytest.raises(SettingsError, match="TICKET_AUDIT_READ_TOKEN"):
        settings.check_exposure()
