"""The admin pages: the quarantine with bodies shown as text, projections, rebuild, verify."""

from __future__ import annotations

import asyncio
import re

from tests.console.pages import csrf_value, page_html, post_story, text_of
from tests.helpers import INTAKE, Serve, get_json, make_settings

HOSTILE_BODY = b'{"webhook": "ticket", "data": {"id": "<script>alert(3)</script>"}'


async def test_quarantine_lists_rejects_and_shows_bodies_as_text(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    assert (await client.post(INTAKE, data=HOSTILE_BODY)).status == 400
    listed = await page_html(client, "/admin/quarantine")
    api = await get_json(client, "/v1/quarantine")
    (item,) = api["items"]
    assert f'href="/admin/quarantine/{item["id"]}"' in listed
    assert "malformed_json" in text_of(listed)
    shown = await page_html(client, f"/admin/quarantine/{item['id']}")
    assert "<script>alert(3)</script>" not in shown
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in shown
    assert "Quarantined deliveries 1" in text_of(await page_html(client, "/"))
    await page_html(client, "/admin/quarantine/999999", status=404)
    await page_html(client, "/admin/quarantine/x", status=404)


async def test_rebuild_button_starts_a_rebuild_that_shows_progress(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    await get_json(client, f"/v1/tickets/408218?minPosition={position}")
    before = await page_html(client, "/admin/projections")
    assert "data-refresh" not in before
    assert f'<progress max="{position}" value="{position}"' in before
    response = await client.post(
        "/admin/projections/history/rebuild",
        data={"csrf": csrf_value(before)},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/admin/projections"
    states = []
    for _ in range(500):
        page = await page_html(client, "/admin/projections")
        row = page[page.index('<th scope="row">history</th>') :]
        states.append(re.search(r"state-(\w+)", row).group(1))  # type: ignore[union-attr]
        assert ("data-refresh" in page) == (states[-1] == "rebuilding")
        if states[-1] == "live" and "rebuilding" in states:
            break
        await asyncio.sleep(0.01)
    assert "rebuilding" in states
    assert states[-1] == "live"
    unknown = await client.post(
        "/admin/projections/nope/rebuild", data={"csrf": csrf_value(before)}, allow_redirects=False
    )
    assert unknown.status == 404


async def test_verify_now_shows_the_result_on_the_home_page(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    home = await page_html(client, "/")
    assert "not verified since the service started" in home
    response = await client.post(
        "/admin/verify", data={"csrf": csrf_value(home)}, allow_redirects=False
    )
    assert response.status == 303
    assert re.search(rf"intact\s*</span>\s*{position} events checked", await page_html(client, "/"))
