"""The console's pages through the real app on each backend: right values, same as `/v1`."""

from __future__ import annotations

import re

from tests.console.pages import page_html, post_story, text_of
from tests.console.story import EVENT_ID, GROUP_ID, HOSTILE_ID, TICKET_ID
from tests.helpers import Serve, get_json, make_settings, projections_caught_up


async def test_home_lists_events_latest_changes_and_health(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    await projections_caught_up(client, position)
    text = text_of(await page_html(client, "/"))
    assert f"{EVENT_ID} 4" in text  # the event and its ticket count
    assert f"Log head {position}" in text
    for name in ("tickets", "history", "quantity", "sale_periods"):
        assert f"{name} live {position} 0" in text
    assert "Quarantined deliveries 0" in text
    assert "salable true → false" in text  # the newest change comes first
    assert "not verified since the service started" in text


async def test_ticket_page_tells_the_story(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    markup = await page_html(client, f"/tickets/{TICKET_ID}?minPosition={position}")
    text = text_of(markup)
    assert "Ticket 408218 · Ingresso - Pista" in text
    assert re.search(r'data-field="quantity">50<', markup)
    assert re.search(r'data-field="value.price">12<', markup)
    # Versions in source-time order: the late v5 sits between v2 and v3.
    order = [int(v) for v in re.findall(r'<li class="version[^"]*" id="v(\d+)"', markup)]
    history = await get_json(client, f"/v1/tickets/{TICKET_ID}/history")
    assert order == [item["version"] for item in history["items"]] == [1, 2, 5, 3, 4, 6]
    assert "v1 created" in text
    assert "v5 late" in text
    assert "value.price 10 → 12" in text
    assert "salePeriods[id=70127].finish" in text
    assert f'href="/tickets/{TICKET_ID}/versions/5/delivery"' in markup
    # The quantity chart has a point per /quantity point, the late one marked.
    quantity = await get_json(client, f"/v1/tickets/{TICKET_ID}/quantity")
    assert markup.count('class="point"') + markup.count('class="point late"') == len(
        quantity["points"]
    )
    assert markup.count('class="point late"') == 1
    # The Gantt has a bar per state, and the removed period's last bar says so.
    periods = await get_json(client, f"/v1/tickets/{TICKET_ID}/sale-periods")
    states = sum(len(timeline["states"]) for timeline in periods["salePeriods"])
    assert len(re.findall(r'<rect class="bar[ "]', markup)) == states
    assert markup.count('class="bar removed"') == 1


async def test_as_of_pickers_show_what_the_api_answers(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    late = await get_json(client, f"/v1/tickets/{TICKET_ID}?version=5&minPosition={position}")
    before_late = late["receivedAt"].replace("+00:00", "")
    # Just before the late delivery was received, then at its receipt.
    known_before = await get_json(client, f"/v1/tickets/{TICKET_ID}?version=4")
    cases = [
        ("at=2018-04-03T00:00:00", 100),
        ("at=2018-04-04T20:00:00", 95),
        (f"at=2018-04-04T20:00:00&knownAt={known_before['receivedAt'][:26]}", 90),
        (f"at=2018-04-04T20:00:00&knownAt={before_late[:26]}", 95),
    ]
    for query, quantity in cases:
        api = await get_json(client, f"/v1/tickets/{TICKET_ID}?{query}")
        markup = await page_html(client, f"/tickets/{TICKET_ID}?{query}")
        assert api["snapshot"]["quantity"] == quantity, query
        assert f'data-field="quantity">{quantity}<' in markup, query
        assert f"version {api['version']} · source" in text_of(markup), query
    early = await page_html(client, f"/tickets/{TICKET_ID}?at=2000-01-01T00:00:00")
    assert 'id="no-state"' in early
    assert "after the as-of time" in text_of(early)


async def test_event_page_lists_tickets_and_the_group_tree(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    markup = await page_html(client, f"/events/{EVENT_ID}?minPosition={position}")
    text = text_of(markup)
    # ticket, name, type, quantity, price, salable, hidden, archived
    assert "408218 Ingresso - Pista Ticket 50 12 no no no" in text
    assert "346868 via group Camarote" not in text  # 346869 is the group-known child
    assert "346869 via group Camarote Ticket" in text
    tree = markup[markup.index('class="tree"') :]
    group_at = tree.index(f'href="/tickets/{GROUP_ID}"')
    child_at = tree.index(f'href="/tickets/{TICKET_ID}"')
    assert group_at < child_at
    assert "<ul>" in tree[group_at:child_at]  # the child is nested under the group
    api = await get_json(client, f"/v1/tickets?eventId={EVENT_ID}")
    assert len(re.findall(r'<td><a href="/tickets/\d+">', markup)) == len(api["items"])


async def test_changes_page_filters_pages_and_downloads(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    first = await page_html(client, f"/changes?ticketId={TICKET_ID}&limit=3&minPosition={position}")
    api = await get_json(client, f"/v1/changes?ticketId={TICKET_ID}&limit=3")
    shown = re.findall(r'data-label="Position">(\d+)<', first)
    assert [int(p) for p in shown] == [item["position"] for item in api["items"]]
    next_link = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_link is not None
    assert api["next"] is not None
    second = await page_html(client, next_link.group(1).replace("&amp;", "&"))
    api_second = await get_json(
        client, f"/v1/changes?ticketId={TICKET_ID}&limit=3&cursor={api['next']}"
    )
    assert [int(p) for p in re.findall(r'data-label="Position">(\d+)<', second)] == [
        item["position"] for item in api_second["items"]
    ]
    by_path = text_of(await page_html(client, "/changes?path=value.price"))
    assert "value.price 10 → 12" in by_path
    assert "quantity" not in by_path.split("Change", 1)[1]
    csv = await client.get(f"/changes.csv?ticketId={TICKET_ID}")
    api_csv = await client.get(f"/v1/changes?ticketId={TICKET_ID}&format=csv")
    assert csv.headers["Content-Disposition"] == 'attachment; filename="changes.csv"'
    assert await csv.read() == await api_csv.read()
    ndjson = await client.get("/changes.ndjson?path=quantity")
    api_ndjson = await client.get("/v1/changes?path=quantity&format=ndjson")
    assert await ndjson.read() == await api_ndjson.read()


async def test_empty_form_fields_mean_not_given(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    response = await client.get("/changes?eventId=&ticketId=7&path=", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/changes?ticketId=7"


async def test_unknown_and_bad_requests_answer_as_pages(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    assert "Not found" in await page_html(client, "/tickets/12345", status=404)
    assert "at must be an ISO 8601" in await page_html(
        client, "/tickets/12345?at=yesterday", status=400
    )
    assert "Not found" in await page_html(client, "/events/1", status=404)
    assert "Not found" in await page_html(client, "/tickets/1/versions/1/delivery", status=404)


async def test_find_goes_to_a_ticket_by_id_or_lists_names(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    await get_json(client, f"/v1/tickets/{TICKET_ID}?minPosition={position}")
    response = await client.get(f"/find?q={TICKET_ID}", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/tickets/{TICKET_ID}"
    found = text_of(await page_html(client, "/find?q=pISTA"))
    assert "408218 Ingresso - Pista" in found
    assert "Camarote" not in found
    none = text_of(await page_html(client, "/find?q=100%25_"))
    assert "No ticket has that id" in none


async def test_delivery_page_shows_the_body_as_received(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    await get_json(client, f"/v1/tickets/{HOSTILE_ID}?minPosition={position}")
    markup = await page_html(client, f"/tickets/{HOSTILE_ID}/versions/1/delivery")
    delivery_id = re.search(r"/v1/deliveries/([0-9a-f]{64})", markup)
    assert delivery_id is not None
    raw = await (await client.get(f"/v1/deliveries/{delivery_id.group(1)}")).text()
    assert text_of(markup).endswith(
        " ".join(raw.split()) + " Times show in your time zone; hover one to see it as recorded."
    )
    assert "<script>" not in markup.split("<pre", 1)[1]


async def test_hostile_strings_render_as_text(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    for path in (f"/tickets/{HOSTILE_ID}", f"/events/{EVENT_ID}", "/find?q=script"):
        markup = await page_html(
            client, f"{path}{'&' if '?' in path else '?'}minPosition={position}"
        )
        assert "<script>alert(1)</script>" not in markup, path
        assert "<img src=x" not in markup, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup, path
        # The only scripts are the console's own file.
        assert re.findall(r"<script[^>]*>", markup) == ['<script src="/static/console.js" defer>']


async def test_a_ticket_known_only_from_its_group_has_a_page(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    position = await post_story(client)
    markup = await page_html(client, f"/tickets/346869?minPosition={position}")
    text = text_of(markup)
    assert "Ticket 346869 · Camarote" in text
    assert "known via its group" in text
    assert "No version of this ticket was delivered on its own." in text


async def test_pages_forbid_foreign_scripts_and_framing(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    for path in ("/", "/changes", "/login", "/tickets/1"):
        response = await client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
