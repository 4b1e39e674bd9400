"""Who sees the console: the login cookie, the admin pages, CSRF on every state change."""

from __future__ import annotations

from http.cookies import SimpleCookie

from aiohttp import ClientResponse
from yarl import URL

from tests.console.pages import csrf_value, page_html, post_story
from tests.helpers import Client, Serve, make_settings

READ, ADMIN, WEBHOOK = "read-token-1", "admin-token-1", "hook-token-1"


async def _secured(serve: Serve, database_url: str) -> Client:
    return await serve(
        make_settings(database_url, read_token=READ, admin_token=ADMIN, webhook_token=WEBHOOK)
    )


async def _log_in(client: Client, token: str, next_path: str = "/") -> ClientResponse:
    form = await page_html(client, "/login")
    return await client.post(
        "/login",
        data={"token": token, "csrf": csrf_value(form), "next": next_path},
        allow_redirects=False,
    )


def _set_cookie(response: ClientResponse, name: str) -> str:
    for header in response.headers.getall("Set-Cookie", []):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set")


async def test_without_a_session_the_console_asks_for_the_token(
    serve: Serve, database_url: str
) -> None:
    client = await _secured(serve, database_url)
    response = await client.get("/tickets/408218?at=2018-04-03", allow_redirects=False)
    assert response.status == 303
    location = URL(response.headers["Location"])
    assert location.path == "/login"
    assert location.query == {"scope": "read", "next": "/tickets/408218?at=2018-04-03"}
    login = await client.get("/login")
    assert login.status == 200
    csrf_cookie = _set_cookie(login, "ticket_audit_csrf")
    assert "HttpOnly" in csrf_cookie
    assert "SameSite=Strict" in csrf_cookie


async def test_the_read_token_opens_the_pages_with_a_cookie_not_the_token(
    serve: Serve, database_url: str
) -> None:
    client = await _secured(serve, database_url)
    await post_story(client, headers={"Authorization": f"Bearer {WEBHOOK}"})
    wrong = await _log_in(client, "not-the-token")
    assert wrong.status == 401
    assert "That token is not valid here." in await wrong.text()
    response = await _log_in(client, READ, "/changes")
    assert response.status == 303
    assert response.headers["Location"] == "/changes"
    session = _set_cookie(response, "ticket_audit_session")
    assert "HttpOnly" in session
    assert "SameSite=Strict" in session
    assert "Path=/" in session
    value = SimpleCookie(session)["ticket_audit_session"].value
    assert READ not in value
    assert ADMIN not in value
    await page_html(client, "/changes")
    await page_html(client, "/")
    # The read session neither opens the admin pages nor stands in for the API's bearer token.
    admin = await client.get("/admin/quarantine", allow_redirects=False)
    assert admin.status == 303
    assert admin.headers["Location"].startswith("/login?scope=admin")
    assert (await client.get("/v1/tickets/408218")).status == 401


async def test_the_admin_token_unlocks_the_admin_pages(serve: Serve, database_url: str) -> None:
    client = await _secured(serve, database_url)
    response = await _log_in(client, ADMIN, "/admin/projections")
    assert response.status == 303
    await page_html(client, "/admin/projections")
    await page_html(client, "/admin/quarantine")
    await page_html(client, "/")  # an admin may read too


async def test_a_forged_session_cookie_opens_nothing(serve: Serve, database_url: str) -> None:
    client = await _secured(serve, database_url)
    client.session.cookie_jar.update_cookies({"ticket_audit_session": f"admin.{'0' * 64}"})
    assert (await client.get("/", allow_redirects=False)).status == 303
    client.session.cookie_jar.update_cookies({"ticket_audit_session": ADMIN})
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_state_changing_forms_need_the_csrf_value(serve: Serve, database_url: str) -> None:
    client = await _secured(serve, database_url)
    assert (await _log_in(client, ADMIN)).status == 303
    home = await page_html(client, "/")
    csrf = csrf_value(home)
    for path in ("/admin/verify", "/admin/projections/tickets/rebuild", "/logout", "/login"):
        missing = await client.post(path, data={"token": ADMIN}, allow_redirects=False)
        assert missing.status == 403, path
        wrong = await client.post(
            path, data={"csrf": "x" + csrf, "token": ADMIN}, allow_redirects=False
        )
        assert wrong.status == 403, path
        foreign = await client.post(
            path,
            data={"csrf": csrf, "token": ADMIN},
            headers={"Origin": "https://elsewhere.example"},
            allow_redirects=False,
        )
        assert foreign.status == 403, path
    verified = await client.post("/admin/verify", data={"csrf": csrf}, allow_redirects=False)
    assert verified.status == 303
    assert "intact" in await page_html(client, "/")


async def test_logging_out_ends_the_session(serve: Serve, database_url: str) -> None:
    client = await _secured(serve, database_url)
    await _log_in(client, READ)
    home = await page_html(client, "/")
    out = await client.post("/logout", data={"csrf": csrf_value(home)}, allow_redirects=False)
    assert out.status == 303
    assert 'ticket_audit_session=""' in _set_cookie(out, "ticket_audit_session")
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_login_goes_back_only_to_this_site(serve: Serve, database_url: str) -> None:
    client = await _secured(serve, database_url)
    for target in ("https://elsewhere.example/", "//elsewhere.example/x", "/\\elsewhere"):
        response = await _log_in(client, READ, target)
        assert response.headers["Location"] == "/", target


async def test_without_tokens_on_loopback_the_console_is_open(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    home = await page_html(client, "/")
    assert "Verify now" in home
    assert "Log out" not in home
    await page_html(client, "/admin/projections")
