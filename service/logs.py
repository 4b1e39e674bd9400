"""What `serve` writes to stderr: application logs (text or JSON) and the access log.

The access log never carries a body or a secret: the `token` query parameter is masked, and
for a refused delivery the line shows its status and the delivery's size, which is all an
operator needs to tell a misconfigured sender from an attack.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = "ticket_audit.access"
MASKED = "***"
SECRET_PARAMETERS = frozenset({"token"})

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
    if not request.query_string:
        return request.path
    pairs = [
        (name, MASKED if name in SECRET_PARAMETERS else value)
        for name, value in parse_qsl(request.query_string, keep_blank_values=True)
    ]
    return f"{request.path}?{urlencode(pairs, safe='*')}"


class AccessLogger(AbstractAccessLogger):
    """aiohttp's default format, with the request's own size and the seconds taken added at
    the end, or one JSON object."""

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        entry = {
            "remote": request.remote or "-",
            "method": request.method,
            "target": masked_target(request),
            "status": response.status,
            "responseBytes": response.body_length,
            "requestBytes": request.content_length or 0,
            "seconds": round(time_taken, 6),
        }
        if self.log_format == "json":
            entry = {"time": datetime.now(UTC).isoformat(), **entry}
            self.logger.info("%s", orjson.dumps(entry).decode())
            return
        stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]")
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        self.logger.info(
            '%s %s "%s %s %s" %s %s "%s" "%s" %s %.6f',
            entry["remote"],
            stamp,
            request.method,
            entry["target"],
            version,
            response.status,
            response.body_length,
            request.headers.get("Referer", "-"),
            request.headers.get("User-Agent", "-"),
            entry["requestBytes"],
            time_taken,
        )


def access_logger(setting: AccessLogFormat) -> logging.Logger | None:
    """The logger `serve` hands aiohttp for the access log, or None when it is off."""
    if setting == "off":
        return None
    logger = logging.getLogger(ACCESS_LOGGER)
    # Its lines are whole already (a common-format line or a JSON object): no prefix.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger
