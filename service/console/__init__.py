"""The audit console: server-rendered pages over the same queries the `/v1` routes answer from.

Every asset is in this package, so the console works with no network beyond the service.
"""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from service.console.delivery_rate import DELIVERY_RATE, DeliveryRate, sample_the_head
from service.console.formatting import FILTERS
from service.console.routes import setup_console_routes


def setup_console(app: web.Application) -> None:
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("service.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    app[DELIVERY_RATE] = DeliveryRate()
    app.cleanup_ctx.append(sample_the_head)
    setup_console_routes(app)
