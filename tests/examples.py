"""docs/examples.md: one producer's week told to the real service, with its real answers.

`python -m tests.examples` (or `make examples`) rewrites the page: it starts the app factory
that `serve` runs (applying the projections in its own process rather than a worker's) on a
new SQLite log in a temporary folder, makes each request over HTTP and writes what came back.
`tests/test_examples.py` tells the same story on SQLite and PostgreSQL and fails when the page
differs, so the page never drifts from the service.

Two things differ on every run and are masked, by value, wherever they appear: the received
times (the service's clock when a delivery arrived) and the chain hashes (which cover them).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from service.web.app import create_app
from tests.helpers import FIXTURES, INTAKE, Client, make_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "examples.md"
BASE_URL = "http://127.0.0.1:8080"
ZONE = "America/Sao_Paulo"
TOKENS = {
    "webhook_token": "hook-secret",
    "read_token": "read-secret",
    "admin_token": "admin-secret",
}
READ = {"Authorization": "Bearer read-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}
# How the page writes each secret: the variable a reader has set.
SECRETS = {
    "hook-secret": "$TICKET_AUDIT_WEBHOOK_TOKEN",
    "read-secret": "$TICKET_AUDIT_READ_TOKEN",
    "admin-secret": "$TICKET_AUDIT_ADMIN_TOKEN",
}
TICKET = 408218
GROUP = 346868
# "As of Friday": noon in the producer's zone (`at` without an offset is read in it).
FRIDAY_NOON = "2018-04-06T12:00:00"


@dataclass(frozen=True)
class Delivery:
    """A body Ingresse sends for the story ticket: the fixture with some fields changed."""

    file: str
    timestamp: str
    changes: dict[str, Any]

    def body(self) -> bytes:
        envelope = json.loads((FIXTURES / f"ticket-{TICKET}.json").read_bytes())
        envelope["timestamp"] = self.timestamp
        for dotted, value in self.changes.items():
            *parents, last = dotted.split(".")
            node = envelope["data"]
            for key in parents:
                node = node[key]
            node[last] = value
        return json.dumps(envelope, separators=(",", ":")).encode()


FRIDAY = Delivery(
    "friday.json",
    "2018-04-06T18:30:00",
    {"quantity": 90, "value.price": 15, "value.finalPrice": 16},
)
SATURDAY = Delivery(
    "saturday.json",
    "2018-04-07T09:00:00",
    {"quantity": 80, "quantityDiff": -10, "value.price": 15, "value.finalPrice": 16},
)
# Sent on Thursday afternoon, delivered after Saturday's (a retry that came through late).
THURSDAY = Delivery("thursday.json", "2018-04-05T16:00:00", {"quantity": 90, "quantityDiff": -10})


@dataclass
class Page:
    """The page being written, and the values to mask in it once the story is told."""

    parts: list[str] = field(default_factory=list)
    masks: dict[str, str] = field(default_factory=dict)

    def say(self, text: str) -> None:
        self.parts.append(text.strip() + "\n")

    def mask(self, value: str, label: str) -> None:
        self.masks[value] = label
        self.masks[quote(value, safe="")] = label

    def text(self) -> str:
        page = "\n".join(self.parts)
        for value, label in sorted(self.masks.items(), key=lambda item: -len(item[0])):
            page = page.replace(value, label)
        return page


class Story:
    def __init__(self, client: Client, page: Page) -> None:
        self._client = client
        self._page = page

    async def post(self, body: bytes, shown_as: str) -> dict[str, Any]:
        path = f"{INTAKE}?token=hook-secret"
        response = await self._client.post(path, data=body)
        command = f'curl -X POST "{BASE_URL}{path}" --data-binary @{shown_as}'
        answer: dict[str, Any] = await self._show("", command, response)
        return answer

    async def post_fixture(self, name: str) -> dict[str, Any]:
        return await self.post((FIXTURES / name).read_bytes(), f"tests/fixtures/{name}")

    async def get(self, title: str, path: str, headers: dict[str, str]) -> Any:
        response = await self._client.get(path, headers=headers)
        (secret,) = [value.removeprefix("Bearer ") for value in headers.values()] or [""]
        token = f'-H "Authorization: Bearer {secret}" ' if secret else ""
        return await self._show(title, f'curl {token}"{BASE_URL}{path}"', response)

    async def quietly(self, path: str, headers: dict[str, str]) -> Any:
        """A request the page does not show: waiting for a position, learning what to mask."""
        response = await self._client.get(path, headers=headers)
        assert response.status == 200, await response.text()
        return await response.json()

    async def _show(self, title: str, command: str, response: ClientResponse) -> Any:
        raw = await response.read()
        lines = [f"HTTP {response.status} {response.reason}"]
        if response.content_type != "application/json":
            lines.append(f"Content-Type: {response.headers['Content-Type']}")
        if "X-Received-At" in response.headers:
            lines.append(f"X-Received-At: {response.headers['X-Received-At']}")
        decoded: Any
        if response.content_type == "application/json":
            decoded = json.loads(raw)
            shown = json.dumps(decoded, indent=2, ensure_ascii=False)
        else:
            # CSV rows end in CRLF (RFC 4180); the page shows them as plain lines.
            decoded = shown = raw.decode().replace("\r\n", "\n")
        for secret, variable in SECRETS.items():
            command = command.replace(secret, variable)
        answer = "\n".join(lines) + f"\n\n{shown.rstrip()}"
        self._page.say(f"{title}\n\n```sh\n{command}\n```\n\n```\n{answer}\n```")
        return decoded


async def tell(client: Client) -> str:
    """The story told to a freshly started service on an empty log; the page it makes."""
    page = Page()
    story = Story(client, page)
    page.say(INTRODUCTION)

    page.say("## The deliveries\n\nMonday: the group and its ticket are put on sale.")
    await story.post_fixture(f"group-{GROUP}.json")
    await story.post_fixture(f"ticket-{TICKET}.json")
    page.say(
        "Friday evening: the price goes up (and the body carries the stock of 90 the producer "
        "set on Thursday, whose own delivery has not arrived yet). Then Ingresse retries the "
        "same delivery: nothing new is recorded."
    )
    page.say(delivery_file(FRIDAY))
    await story.post(FRIDAY.body(), FRIDAY.file)
    await story.post(FRIDAY.body(), FRIDAY.file)
    page.say("Saturday morning: ten more tickets come off sale.")
    page.say(delivery_file(SATURDAY))
    saturday = await story.post(SATURDAY.body(), SATURDAY.file)
    page.say("Then Thursday's delivery arrives, late: it was sent before Friday's and Saturday's.")
    page.say(delivery_file(THURSDAY))
    thursday = await story.post(THURSDAY.body(), THURSDAY.file)
    page.say("A broken delivery (a ticket id that is not a number) is refused and kept aside.")
    broken = json.dumps({"webhook": "ticket", "data": {"id": "408218x"}, "timestamp": FRIDAY_NOON})
    await story.post(broken.encode(), "broken.json")

    head = thursday["position"]
    await learn_masks(story, page, head)
    saturday_received = page_value(page, saturday["position"])

    page.say("## The questions")
    now = await story.get(
        "What is the ticket now? Current is the latest by source time: Saturday's, even though "
        "Thursday's arrived last: 80 at 15. `minPosition` waits until the read models hold the "
        "last delivery, so a client reads its own write.",
        f"/v1/tickets/{TICKET}?minPosition={head}",
        READ,
    )
    assert stock_and_price(now) == (80, 15)
    friday = await story.get(
        "What did it cost, and how many were on sale, as of Friday noon (São Paulo time)? "
        "The late Thursday delivery counts: 90 at the old price of 10.",
        f"/v1/tickets/{TICKET}?at={FRIDAY_NOON}",
        READ,
    )
    assert stock_and_price(friday) == (90, 10)
    known_on_saturday = await story.get(
        "What would the same question have answered on Saturday, before Thursday's delivery "
        "arrived? `knownAt` counts only the deliveries received by then: Monday's 100 at 10.",
        f"/v1/tickets/{TICKET}?at={FRIDAY_NOON}&knownAt={quote(saturday_received, safe='')}",
        READ,
    )
    assert stock_and_price(known_on_saturday) == (100, 10)
    history = await story.get(
        "What changed, version by version, in source-time order? Thursday's is marked late, "
        "and Friday's changes are now counted from Thursday's: the quantity is no longer "
        "among them.",
        f"/v1/tickets/{TICKET}/history",
        READ,
    )
    assert [(v["version"], v["late"]) for v in history["items"]] == [
        (1, False),
        (4, True),
        (2, False),
        (3, False),
    ]
    assert "quantity" not in [change["path"] for change in history["items"][2]["changes"]]
    await story.get(
        "When was a price changed? `path` keeps the versions that changed that field.",
        f"/v1/tickets/{TICKET}/history?path=value.price",
        READ,
    )
    await story.get(
        "How did the stock move? One point per change of `quantity`.",
        f"/v1/tickets/{TICKET}/quantity",
        READ,
    )
    await story.get(
        "The sale periods, each with its own timeline.", f"/v1/tickets/{TICKET}/sale-periods", READ
    )
    feed = await story.get(
        "The change feed across tickets, as CSV for a spreadsheet (`format=ndjson` streams JSON "
        "lines; without `format`, pages of JSON). It only grows: when Thursday's delivery "
        f"arrived (position {head}), Friday's changes were recomputed. The new rows come last, "
        f"with `recomputedAt` {head}, and the rows they replace are marked `supersededBy` "
        f"{head}, so a follower with a cursor sees the correction after what it has read.",
        f"/v1/changes?ticketId={TICKET}&format=csv",
        READ,
    )
    rows = list(csv.DictReader(io.StringIO(feed)))
    assert [row["path"] for row in rows if row["supersededBy"] == str(head)] == [
        "quantity",
        "value.price",
        "value.finalPrice",
    ]
    assert [row["path"] for row in rows[-3:] if row["recomputedAt"] == str(head)] == [
        "value.price",
        "value.finalPrice",
        "quantityDiff",
    ]
    await story.get("Every ticket of the show.", "/v1/tickets?eventId=24724", READ)
    await story.get("The group's children.", f"/v1/tickets/{GROUP}/children", READ)
    await story.get(
        "The late delivery exactly as Ingresse sent it, byte for byte.",
        f"/v1/deliveries/{thursday['deliveryId']}",
        READ,
    )
    page.say("## Administration")
    await story.get("Where each read model is.", "/v1/projections", ADMIN)
    await story.get("Is the log intact?", "/v1/audit/verify", ADMIN)
    await story.get(
        "A checkpoint to keep elsewhere, for `ticket-audit verify --checkpoint POSITION:HASH`.",
        "/v1/audit/checkpoint",
        ADMIN,
    )
    await story.get("What was refused.", "/v1/quarantine", ADMIN)
    await story.get("One refused delivery, with its body.", "/v1/quarantine/1", ADMIN)
    await story.get("Can deliveries be recorded now?", "/readyz", {})
    return page.text()


async def learn_masks(story: Story, page: Page, head: int) -> None:
    """Wait for every read model to hold `head`; name each received time and the chain hash."""
    for route in ("", "/history", "/quantity", "/sale-periods"):
        await story.quietly(f"/v1/tickets/{TICKET}{route}?minPosition={head}", READ)
    for ticket in (GROUP, TICKET):
        history = await story.quietly(f"/v1/tickets/{ticket}/history", READ)
        for version in history["items"]:
            page.mask(version["receivedAt"], f"<received time of position {version['position']}>")
    checkpoint = await story.quietly("/v1/audit/checkpoint", ADMIN)
    page.mask(checkpoint["hash"], f"<chain hash at position {checkpoint['position']}>")
    quarantine = await story.quietly("/v1/quarantine", ADMIN)
    for item in quarantine["items"]:
        page.mask(item["receivedAt"], f"<received time of quarantined {item['id']}>")


def stock_and_price(answer: dict[str, Any]) -> tuple[int, int]:
    snapshot = answer["snapshot"]
    return snapshot["quantity"], snapshot["value"]["price"]


def page_value(page: Page, position: int) -> str:
    """The real received time of `position`, which the page shows by its label."""
    label = f"<received time of position {position}>"
    return next(value for value, name in page.masks.items() if name == label)


def delivery_file(delivery: Delivery) -> str:
    changed = ", ".join(f"`{path}` {json.dumps(value)}" for path, value in delivery.changes.items())
    fixture = f"tests/fixtures/ticket-{TICKET}.json"
    return (
        f"`{delivery.file}` is `{fixture}` with `timestamp` `{delivery.timestamp}` "
        f"and {changed}:\n\n"
        f"<details><summary>{delivery.file}</summary>\n\n```json\n"
        f"{delivery.body().decode()}\n```\n</details>"
    )


INTRODUCTION = f"""
# Examples: one week of a ticket, and what the service answers

Generated by `python -m tests.examples` (`make examples`) from the real service: every answer
below is what it gave. `tests/test_examples.py` tells the story again, on SQLite and on
PostgreSQL, and fails when this page differs.

The service runs with `TICKET_AUDIT_SOURCE_TIMEZONE={ZONE}` (Ingresse's timestamps carry no
offset: they are São Paulo time) and the three tokens set; the commands read them from the
variables `TICKET_AUDIT_WEBHOOK_TOKEN`, `TICKET_AUDIT_READ_TOKEN` and
`TICKET_AUDIT_ADMIN_TOKEN`. Two things differ on every run, and are shown by a label instead:
received times (`<received time of position N>`, the service's clock when it recorded
the delivery at that position) and the chain hash, which covers them.

The story: ticket {TICKET} ("Ingresso - Pista", in group {GROUP}) goes on sale on Monday
2 April 2018: 100 of them, at a price of 10. The producer cuts the stock to 90 on Thursday, raises
the price to 15 on Friday evening, and 10 more come off sale on Saturday. Thursday's delivery
reaches the service last.
"""


@contextmanager
def temporary_log() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'ticket-audit.sqlite3'}"


async def generate(database_url: str) -> str:
    settings = make_settings(database_url, source_timezone=ZONE, **TOKENS)
    async with TestClient(TestServer(create_app(settings))) as client:
        return await tell(client)


def main() -> None:
    with temporary_log() as database_url:
        DOC.write_text(asyncio.run(generate(database_url)))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
