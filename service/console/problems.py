"""An answer other than the page asked for, shown as a page of its own."""

from __future__ import annotations


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(status, title)
        self.status = status
        self.title = title
        self.detail = detail
