"""Every error leaves the service as a JSON body with an `error` code, never as HTML or text."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from service import json_codec
from service.quarantine import QuarantineUnavailable
from service.storage_errors import STORAGE_ERRORS, storage_error_cause
from service.web.keys import CIRCUIT

logger = logging.getLogger(__name__)

UNAVAILABLE_STORAGE: tuple[type[BaseException], ...] = (
    *STORAGE_ERRORS,
    QuarantineUnavailable,
    TimeoutError,
)

CLIENT_GONE: tuple[type[BaseException], ...] = (ConnectionResetError, BrokenPipeError)

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    503: "storage_unavailable",
}


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json_codec.dumps(body), status=status, headers=headers, content_type="application/json"
    )


class JSONError(Exception):
    """An answer other than success, raised from anywhere under a view."""

    def __init__(
        self, status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, body.get("error"))
        self.status = status
        self.body = body
        self.headers = headers


def json_error(
    status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
) -> JSONError:
    return JSONError(status, body, headers)


def bad_request(detail: str) -> JSONError:
    return json_error(400, {"error": "bad_request", "detail": detail})


def not_found() -> JSONError:
    return json_error(404, {"error": "not_found"})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JSONError as error:
        return json_response(error.body, status=error.status, headers=error.headers)
    except CLIENT_GONE:
        # Socket errors are OSErrors, as some storage errors are: these are the client's.
        raise
    except UNAVAILABLE_STORAGE as error:
        circuit = request.app.get(CIRCUIT)
        # While the circuit is open, that storage is down has been logged once already.
        if circuit is None or not circuit.is_open:
            logger.warning(
                "storage failed under %s %s: %s",
                request.method,
                request.path,
                storage_error_cause(error),
            )
        return json_response(
            {"error": "storage_unavailable"}, status=503, headers={"Retry-After": "2"}
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _ERROR_CODES.get(error.status, "error")
        return json_response({"error": code}, status=error.status, headers=_kept_headers(error))
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"error": "internal_error"}, status=500)


def _kept_headers(error: web.HTTPException) -> dict[str, str]:
    return {name: error.headers[name] for name in ("Allow", "Retry-After") if name in error.headers}
