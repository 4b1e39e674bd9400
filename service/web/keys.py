"""Typed keys of what the app holds, opened and closed in `create_app`'s cleanup contexts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from projections.runtime.answering import AnsweringProjections
from projections.runtime.wakeups import LogSignal
from service.application import TicketAudit
from service.intake import Intake
from service.metrics import Metrics
from service.quarantine import QuarantineStore
from service.settings import Settings
from service.signatures import SignatureVerifier
from service.storage_circuit import StorageCircuit
from service.web.verification import LastVerify

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
READERS = web.AppKey("readers", ThreadPoolExecutor)
LOG = web.AppKey("log", TicketAudit)
QUARANTINE = web.AppKey("quarantine", QuarantineStore)
INTAKE = web.AppKey("intake", Intake)
CIRCUIT = web.AppKey("circuit", StorageCircuit)
SIGNATURES: web.AppKey[SignatureVerifier | None] = web.AppKey("signatures")
PROJECTIONS = web.AppKey("projections", AnsweringProjections)
LOG_SIGNAL = web.AppKey("log_signal", LogSignal)
REBUILDS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("rebuilds")
# What each query request must hand back once it is done with the generation it read.
RELEASES: web.RequestKey[list[Callable[[], None]]] = web.RequestKey("releases")
LAST_VERIFY = web.AppKey("last_verify", LastVerify)
