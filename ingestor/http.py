"""The ingestor's HTTP endpoint: ``/metrics``, ``/healthz`` (liveness) and ``/readyz`` (readiness)."""

from __future__ import annotations

import asyncio
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingestor.service import IngestorService
from shared.errors import BusError, BusUnavailable
from shared.metrics import metrics_endpoint


def create_app(service: IngestorService) -> Starlette:
    """The probe and metrics app of one ingestor service."""
    started = time.time()

    async def healthz(request: Request) -> JSONResponse:
        """Alive (always 200: no bus state is a reason to restart), with the bus reasons now."""
        return JSONResponse(
            {
                "status": "ok",
                "role": service.role,
                "uptime_s": round(time.time() - started, 1),
                "reasons": service.bus.reasons,
                "bus_warnings": service.bus_warnings,
            }
        )

    async def readyz(request: Request) -> JSONResponse:
        timeout_s = service.settings.readiness_bus_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await service.backend.ping()
            service.bus.succeeded("ping")
        except BusError as exc:
            service.bus.failed("ping", exc)
        except TimeoutError:
            service.bus.failed("ping", BusUnavailable(f"ping: Redis did not answer within {timeout_s} s"))
        facts = service.health()
        return JSONResponse(facts, status_code=200 if facts["ready"] else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(service.metrics.registry)),  # type: ignore[arg-type]
        ]
    )
