"""docs/examples.md is what the service answers: the story told again must give the same page."""

from __future__ import annotations

import difflib

from pytest_aiohttp import AiohttpClient

from tests.examples import DOC, TOKENS, ZONE, tell
from tests.helpers import app_clients, make_settings


async def test_the_examples_page_is_what_the_service_answers(
    database_url: str, aiohttp_client: AiohttpClient
) -> None:
    async with app_clients(aiohttp_client) as serve:
        client = await serve(make_settings(database_url, source_timezone=ZONE, **TOKENS))
        page = await tell(client)
    committed = DOC.read_text()
    drift = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            page.splitlines(keepends=True),
            "docs/examples.md",
            "the service now",
        )
    )
    assert not drift, f"docs/examples.md is out of date: run `make examples`\n{drift}"
