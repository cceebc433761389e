"""The ingestor's HTTP endpoint: ``/metrics``, ``/healthz`` (liveness) and ``/readyz`` (readiness)."""

from __future__ import annotations

import asyncio
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingestor.service import IngestorService
from shared.errors import BusError
from shared.metrics import metrics_endpoint


def create_app(service: IngestorService) -> Starlette:
    """The probe and metrics app of one ingestor service."""
    started = time.time()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "role": service.role, "uptime_s": round(time.time() - started, 1)})

    async def readyz(request: Request) -> JSONResponse:
        try:
            await asyncio.wait_for(service.backend.ping(), service.settings.readiness_bus_timeout_s)
            service.bus_ok = True
        except (BusError, TimeoutError):
            service.bus_ok = False
        facts = service.health()
        return JSONResponse(facts, status_code=200 if facts["ready"] else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(service.metrics.registry)),  # type: ignore[arg-type]
        ]
    )
