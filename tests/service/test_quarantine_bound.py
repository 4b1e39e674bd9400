"""The quarantine's bound is a setting; what it dropped is counted, kept, and a metric."""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from service.settings import SettingsError, load_settings
from tests.helpers import INTAKE, Client, app_clients, get_json, make_settings

DROPPED_METRIC = "ticket_audit_quarantine_dropped"


async def dropped_metric(client: Client) -> float:
    response = await client.get("/metrics")
    assert response.status == 200
    for line in (await response.text()).splitlines():
        if line.startswith(DROPPED_METRIC + " "):
            return float(line.split()[1])
    raise AssertionError(f"{DROPPED_METRIC} missing from /metrics")


async def test_the_bound_is_a_setting_and_the_dropped_count_survives_a_restart(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    settings = make_settings(database_url, quarantine_max_rows=2)
    async with app_clients(aiohttp_client) as serve:
        client = await serve(settings)
        for n in range(5):
            response = await client.post(INTAKE, data=b"{" + str(n).encode())
            assert response.status == 400
        items = (await get_json(client, "/v1/quarantine"))["items"]
        assert len(items) == 2
        assert await dropped_metric(client) == 3

    async with app_clients(aiohttp_client) as serve:
        restarted = await serve(settings)
        # Shown from the start, before this process drops anything itself.
        assert await dropped_metric(restarted) == 3
        assert (await restarted.post(INTAKE, data=b"[")).status == 400
        assert await dropped_metric(restarted) == 4


def test_the_bound_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_AUDIT_QUARANTINE_MAX_ROWS", "25")
    assert load_settings().quarantine_max_rows == 25
    monkeypatch.delenv("TICKET_AUDIT_QUARANTINE_MAX_ROWS")
    assert load_settings().quarantine_max_rows == 10_000
    monkeypatch.setenv("TICKET_AUDIT_QUARANTINE_MAX_ROWS", "0")
    with pytest.raises(SettingsError, match="TICKET_AUDIT_QUARANTINE_MAX_ROWS"):
        load_settings()
