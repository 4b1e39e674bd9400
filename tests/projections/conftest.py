"""The client every read-model test drives: one app on the test's database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import Serve, make_settings
from tests.projections.helpers import TicketApi


@pytest.fixture
async def api(serve: Serve, database_url: str) -> TicketApi:
    return TicketApi(await serve(make_settings(database_url)))


@pytest.fixture
def fixture(fixture_bodies: dict[str, bytes]) -> dict[str, Any]:
    """The real ticket delivery's `data`, for tests to vary."""
    data: dict[str, Any] = json.loads(fixture_bodies["ticket-408218"])["data"]
    return data
