"""What the console tests share: the story posted through the real intake, pages fetched."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.console.story import story
from tests.helpers import Client, post

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TAG = re.compile(r"<[^>]+>")
# Tags inside a word: a change path's id step and its break points.
_INLINE = re.compile(r"</?span[^>]*>|<wbr>")


async def post_story(client: Client, **kwargs: Any) -> int:
    """Post every story delivery; the highest position recorded, for `minPosition`."""
    position = 0
    for body in story():
        status, answer = await post(client, body, **kwargs)
        assert status in (200, 201), answer
        position = max(position, answer["position"])
    return position


async def page_html(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == status, text[:500]
    assert response.content_type == "text/html", response.content_type
    return text


def text_of(markup: str) -> str:
    """A page's text as a reader sees it: tags dropped, entities decoded, spaces squeezed."""
    return " ".join(html.unescape(_TAG.sub(" ", _INLINE.sub("", markup))).split())


def csrf_value(markup: str) -> str:
    found = _CSRF.search(markup)
    assert found is not None, "the page has no form with a CSRF value"
    return found.group(1)
