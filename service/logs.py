"""What `serve` writes to stderr: application logs (text or JSON) and the access log.

The access log never carries a body or a secret: the `token` query parameter is masked, and
for a refused delivery the line shows its status and the delivery's size, which is all an
operator needs to tell a misconfigured sender from an attack.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from aiohttp import HttpVersion10, HttpVersion11
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = "ticket_audit.access"
MASKED = "***"
SECRET_PARAMETERS = frozenset({"token"})
# A secret parameter's `NAME=VALUE`, at the start of the query or after a `&`.
SECRET_VALUES = re.compile(rf"(^|&)({'|'.join(SECRET_PARAMETERS)})=[^&]*")
MASKED_VALUE = rf"\1\2={MASKED}"

LogFormat = Literal["text", "json"]
AccessLogFormat = Literal["common", "json", "off"]
# Read by helper processes, which inherit `serve`'s environment.
LOG_FORMAT_VARIABLE = "TICKET_AUDIT_LOG_FORMAT"


def inherited_log_format() -> LogFormat:
    return "json" if os.environ.get(LOG_FORMAT_VARIABLE) == "json" else "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(log_format: LogFormat, process: str = "") -> None:
    """Application logs on stderr; `process` names a helper process in text lines."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        label = f"{process} " if process else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {label}%(name)s %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def masked_target(request: BaseRequest) -> str:
    """The request's path and query, with secret parameters' values replaced."""
    raw = request.raw_path
    if "?" not in raw:  # most requests have no query, and nothing to mask: no parse
        return raw
    query = request.query_string
    if not query:
        return raw
    path = raw.partition("?")[0]
    if "%" in query or "+" in query:
        # An encoded name could spell `token`: decode the names, as the auth check does.
        pairs = [
            (name, MASKED if name in SECRET_PARAMETERS else value)
            for name, value in parse_qsl(query, keep_blank_values=True)
        ]
        return f"{path}?{urlencode(pairs, safe='*')}"
    # The common case on the raw text, cheaper than a parse and re-encode on every delivery.
    return path + "?" + SECRET_VALUES.sub(MASKED_VALUE, query)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's default format, with the request's own size and the seconds taken added at
    the end, or one JSON object.

    Lines go to stderr without `logging`, which would cost about twice the CPU per line
    (`python -m bench.access_log`), at thousands of deliveries a second, and the requests
    answered in one turn of the event loop share one write (`LinesPerTurn`). aiohttp still
    needs a logger to turn the access log on (`access_logger`).
    """

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        ACCESS_LINES.add(access_line(self.log_format, request, response, time_taken))


class LinesPerTurn:
    """Lines written together once the event loop's current turn is done.

    Under load a turn answers several requests (a group commit answers all its deliveries
    at once); a write each would be a system call each. The lines still go out before the
    loop waits for anything new, so none is held back by an idle server.
    """

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._pending: list[str] = []

    def add(self, line: str) -> None:
        self._pending.append(line)
        if len(self._pending) > 1:
            return  # a flush is due already
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop to come back to the lines: write them now
            self.flush()

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self._write("".join(lines))


# stderr as it is at each write (tests and the bench put another stream there).
ACCESS_LINES = LinesPerTurn(lambda text: sys.stderr.write(text))
# Whatever a stopping loop did not come back for.
atexit.register(ACCESS_LINES.flush)


class CommonLogTime:
    """The common log format's time stamp, formatted once a second: a line is written for
    every request, thousands a second, and the stamp only changes with the second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
        return self._text


COMMON_LOG_TIME = CommonLogTime()


def access_line(
    log_format: str, request: BaseRequest, response: StreamResponse, time_taken: float
) -> str:
    target = masked_target(request)
    size = request.content_length or 0
    if log_format == "json":
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "remote": request.remote or "-",
            "method": request.method,
            "target": target,
            "status": response.status,
            "responseBytes": response.body_length,
            "requestBytes": size,
            "seconds": round(time_taken, 6),
        }
        return orjson.dumps(entry).decode() + "\n"
    headers = request.headers
    version = request.version
    protocol = _PROTOCOLS.get(version) or f"HTTP/{version.major}.{version.minor}"
    return (
        f"{request.remote or '-'} {COMMON_LOG_TIME.now()} "
        f'"{request.method} {target} {protocol}" '
        f"{response.status} {response.body_length} "
        f'"{headers.get("Referer", "-")}" "{headers.get("User-Agent", "-")}" '
        f"{size} {time_taken:.6f}\n"
    )


_PROTOCOLS = {HttpVersion11: "HTTP/1.1", HttpVersion10: "HTTP/1.0"}


def access_logger(setting: AccessLogFormat) -> logging.Logger | None:
    """The logger that turns aiohttp's access log on, or None when it is off."""
    return None if setting == "off" else logging.getLogger(ACCESS_LOGGER)
