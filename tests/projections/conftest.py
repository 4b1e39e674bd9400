"""The client every read-model test drives: one app on the test's database."""

from __future__ import annotations

import pytest

from tests.helpers import Serve, make_settings
from tests.projections.helpers import TicketApi


@pytest.fixture
async def api(serve: Serve, database_url: str) -> TicketApi:
    return TicketApi(await serve(make_settings(database_url)))
