"""The console in a real browser: Debian's chromium driven by Playwright against `serve`.

Where no chromium is installed the tests skip, except under CI (`CI=true`), where `.ci/run`
installs it and a missing browser must fail rather than pass unnoticed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect, sync_playwright

from tests.console.screenshots import CHROMIUM, post_story
from tests.console.story import EVENT_ID, HOSTILE_ID, HOSTILE_NAME, TICKET_ID
from tests.service.serve_process import serving

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(
        f"no browser at {CHROMIUM} (apt-get install chromium); CI installs it",
        allow_module_level=True,
    )

READ, ADMIN = "browser-read-token", "browser-admin-token"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def story_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`serve` on a SQLite log holding the story; its base URL and last position."""
    folder = tmp_path_factory.mktemp("browser")
    with serving(f"sqlite:///{folder}/log.sqlite3") as base:
        yield base, post_story(base)


class Watched:
    """A page whose console errors, uncaught exceptions and dialogs are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page())
    context.close()


def test_every_page_loads_without_console_errors(
    watched: Watched, story_site: tuple[str, int]
) -> None:
    base, position = story_site
    pages = [
        f"/?minPosition={position}",
        f"/events/{EVENT_ID}",
        f"/tickets/{TICKET_ID}",
        f"/tickets/{TICKET_ID}?at=2018-04-03T00:00:00",
        f"/tickets/{TICKET_ID}/versions/1/delivery",
        "/changes",
        "/find?q=pista",
        "/admin/projections",
        "/admin/quarantine",
    ]
    for path in pages:
        response = watched.page.goto(base + path)
        assert response is not None, path
        assert response.status == 200, path
        expect(watched.page.locator("h1")).not_to_be_empty()
    assert watched.errors == []


def test_finding_a_ticket_and_following_links(
    watched: Watched, story_site: tuple[str, int]
) -> None:
    base, position = story_site
    page = watched.page
    page.goto(f"{base}/?minPosition={position}")
    page.get_by_label("Ticket id or name").fill(str(TICKET_ID))
    page.get_by_label("Ticket id or name").press("Enter")
    expect(page).to_have_url(f"{base}/tickets/{TICKET_ID}")
    expect(page.locator("h1")).to_have_text(f"Ticket {TICKET_ID} · Ingresso - Pista")
    page.get_by_role("link", name=str(EVENT_ID)).first.click()
    expect(page).to_have_url(f"{base}/events/{EVENT_ID}")
    page.locator(".tree").get_by_role("link", name=str(TICKET_ID)).click()
    expect(page).to_have_url(f"{base}/tickets/{TICKET_ID}")
    page.get_by_role("link", name="raw delivery").first.click()
    expect(page.locator("pre.raw")).to_contain_text('"id": 408218')
    assert watched.errors == []


def test_change_filters_and_paging(watched: Watched, story_site: tuple[str, int]) -> None:
    base, _ = story_site
    page = watched.page
    page.goto(f"{base}/changes?limit=4")
    page.get_by_label("Field path").fill("quantity")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/changes\?limit=4&path=quantity$"))
    fields = page.locator("td.path")
    expect(fields).to_have_count(4)
    assert set(fields.all_inner_texts()) <= {"quantity", "quantityDiff"}
    first_page = page.locator('td[data-label="Position"]').all_inner_texts()
    page.get_by_role("link", name="Next page").click()
    second_page = page.locator('td[data-label="Position"]').all_inner_texts()
    assert second_page
    assert int(second_page[0]) >= int(first_page[-1])
    # A download is the whole filtered feed, not one page of it.
    csv = page.get_by_role("link", name="CSV")
    assert csv.get_attribute("href") == "/changes.csv?path=quantity"
    assert watched.errors == []


def test_as_of_pickers_redraw_the_ticket(watched: Watched, story_site: tuple[str, int]) -> None:
    base, _ = story_site
    page = watched.page
    page.goto(f"{base}/tickets/{TICKET_ID}")
    quantity = page.locator('dd[data-field="quantity"]')
    expect(quantity).to_have_text("50")
    page.get_by_label("Source time (UTC)").fill("2018-04-03T00:00:00")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/tickets/408218\?at=2018-04-03T00"))
    expect(quantity).to_have_text("100")
    expect(page.locator("line.as-of")).to_have_count(1)
    expect(page.locator(".version.outside")).to_have_count(5)
    page.get_by_role("link", name="Now").click()
    expect(quantity).to_have_text("50")
    assert watched.errors == []


def test_rebuild_button_shows_live_progress(watched: Watched, story_site: tuple[str, int]) -> None:
    base, position = story_site
    page = watched.page
    page.goto(f"{base}/admin/projections")
    row = page.locator("tr", has=page.locator('th:text-is("quantity")'))
    expect(row.locator(".badge")).to_have_text("live")
    row.get_by_role("button", name="Rebuild").click()
    expect(page).to_have_url(f"{base}/admin/projections")
    expect(row.locator(".badge")).to_have_text("rebuilding")
    # The page is not reloaded: its script fetches the progress until the rebuild is done.
    page.evaluate("window.notReloaded = true")
    expect(row.locator(".badge")).to_have_text("live", timeout=30_000)
    expect(row.locator("progress")).to_have_attribute("value", str(position))
    assert page.evaluate("window.notReloaded") is True
    assert watched.errors == []


def test_hostile_strings_are_text(watched: Watched, story_site: tuple[str, int]) -> None:
    base, _ = story_site
    page = watched.page
    page.goto(f"{base}/tickets/{HOSTILE_ID}")
    expect(page.locator("h1 .name")).to_have_text(HOSTILE_NAME)
    page.get_by_text("The whole snapshot").click()
    expect(page.locator("pre.json")).to_contain_text("<img src=x onerror=alert(2)>")
    page.goto(f"{base}/find?q=script")
    expect(page.get_by_role("cell", name=HOSTILE_NAME)).to_be_visible()
    assert page.locator("img").count() == 0
    assert watched.dialogs == []
    assert watched.errors == []


def test_keyboard_reaches_the_skip_link_and_the_finder(
    watched: Watched, story_site: tuple[str, int]
) -> None:
    base, _ = story_site
    page = watched.page
    page.goto(f"{base}/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    expect(page.get_by_label("Ticket id or name")).to_be_focused()


def test_times_show_in_the_viewers_zone(browser: Browser, story_site: tuple[str, int]) -> None:
    base, _ = story_site
    context = browser.new_context(timezone_id="America/Sao_Paulo", locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{base}/tickets/{TICKET_ID}")
        first = page.locator("#v1 time").first
        assert first.get_attribute("title") == "2018-04-02T13:57:04.770619+00:00"
        expect(first).to_have_text("Apr 2, 2018, 10:57:04 AM")  # UTC-3 in São Paulo
    finally:
        context.close()


def test_login_form_opens_the_console(browser: Browser, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/log.sqlite3"
    with serving(database, TICKET_AUDIT_READ_TOKEN=READ, TICKET_AUDIT_ADMIN_TOKEN=ADMIN) as base:
        context = browser.new_context()
        try:
            page = Watched(context.new_page()).page
            page.goto(f"{base}/changes")
            expect(page).to_have_url(re.compile(r"/login\?"))
            page.get_by_label("Token").fill("wrong")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("alert")).to_have_text("That token is not valid here.")
            page.get_by_label("Token").fill(READ)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base}/changes")
            (cookie,) = [c for c in context.cookies() if c["name"] == "ticket_audit_session"]
            assert cookie["httpOnly"]
            assert cookie["sameSite"] == "Strict"
            assert READ not in cookie["value"]
            page.get_by_role("button", name="Log out").click()
            page.goto(f"{base}/")
            expect(page).to_have_url(re.compile(r"/login\?"))
        finally:
            context.close()


def test_no_page_is_wider_than_a_phone(browser: Browser, story_site: tuple[str, int]) -> None:
    """At 390 px, tables and charts scroll inside their boxes; the page itself never does."""
    base, _ = story_site
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for path in (
            "/",
            f"/events/{EVENT_ID}",
            f"/tickets/{TICKET_ID}",
            "/changes",
            "/admin/projections",
            "/admin/quarantine",
            "/login",
        ):
            page.goto(base + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    finally:
        context.close()
