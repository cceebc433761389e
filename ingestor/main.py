"""Entry points of the ingestor daemon: ``mempool-ws ingest`` and ``python -m ingestor``."""

from __future__ import annotations

import asyncio
import logging
import sys

import httpx

from ingestor.http import create_app
from ingestor.service import IngestorService
from shared.console import Figures, announce, bus_description, last_event_id, listen_error, status_reporting, tip_height
from shared.errors import UpstreamRejected
from shared.http_server import HttpServer
from shared.lifecycle import run_until_signal, trim_heap
from shared.logs import configure_logging
from shared.settings import IngestorSettings

log = logging.getLogger(__name__)

OFFLINE_HINT_INGEST = "Offline? Start `mempool-ws sim` and pass its URL: --upstream-url ws://127.0.0.1:8999/api/v1/ws"


class IngestorProbe:
    """The status line of an ingestor: its role and main upstream socket, the bus's tip and event ids.

    The first time the upstream cannot be reached before any connection succeeded, it logs one
    warning naming the URL and what to do offline; the socket's own lines then follow each back-off.
    """

    def __init__(self, service: IngestorService, upstream_url: str, offline_hint: str) -> None:
        self.service = service
        self.upstream_url = upstream_url
        self.offline_hint = offline_hint
        self._warned = False

    async def upstream(self) -> str:
        """``connected``, ``connecting``, ``reconnecting``, ``standby ...`` or ``waiting for the event bus``."""
        service = self.service
        if not service.bus_ok:
            return "waiting for the event bus"
        if service.role == "standby":
            return "standby (another replica leads)"
        health = service.health()
        if service.role != "leader":
            return str(health["role"])
        if health["upstream_connected"]:
            return "connected"
        if service.pool is None or service.pool.main.sessions == 0:
            self._warn_unreachable()
            return "connecting"
        return "reconnecting"

    def _warn_unreachable(self) -> None:
        registry = self.service.metrics.registry
        failures = registry.get_sample_value("ingestor_upstream_reconnects_total", {"socket_role": "main"}) or 0
        if failures < 1 or self._warned:
            return
        self._warned = True
        log.warning(
            "cannot reach the upstream %s; retrying with back-off (one line per attempt)%s",
            self.upstream_url,
            f". {self.offline_hint}" if self.offline_hint else "",
            extra={"upstream_url": self.upstream_url},
        )

    async def figures(self) -> Figures:
        """Tip height and last event id from the bus."""
        backend, network = self.service.backend, self.service.settings.network
        return Figures(await tip_height(backend, network), await last_event_id(backend, network))


async def serve(settings: IngestorSettings, stop: asyncio.Event) -> int:
    """Run the ingestor until ``stop`` is set; return the process exit code."""
    service = IngestorService(settings)
    try:
        http = HttpServer(create_app(service), settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        raise listen_error(
            exc, settings.metrics_host, settings.metrics_port, "--metrics-port", "MEMPOOL_WS_METRICS_PORT"
        ) from None
    await http.start()
    trim_heap()
    announce(
        "ingest",
        f"publishing {settings.network} events to the bus",
        [
            ("network", settings.network),
            ("upstream", settings.upstream_url),
            ("bus", bus_description(settings)),
            ("probes", f"{http.url}/readyz and /metrics"),
        ],
    )
    running = asyncio.create_task(service.run(), name="ingestor")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    probe = IngestorProbe(service, settings.upstream_url, OFFLINE_HINT_INGEST)
    try:
        async with status_reporting(probe, settings.status_log_interval_s):
            await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        service.stop()
        await running
        return 0
    except UpstreamRejected as exc:
        log.error("the upstream %s refused us for good: %s", settings.upstream_url, exc)
        return 1
    finally:
        stopping.cancel()
        await http.stop()
        log.info("ingestor stopped")


def check(settings: IngestorSettings) -> int:
    """Probe a running ingestor's ``/readyz``: 0 when ready, 1 otherwise (for exec probes)."""
    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::") else settings.metrics_host
    try:
        response = httpx.get(f"http://{host}:{settings.metrics_port}/readyz", timeout=3)
    except httpx.HTTPError as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 200 else 1


def run(settings: IngestorSettings) -> int:
    """Configure logging and run (or probe, with ``check``) the ingestor."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.check:
        return check(settings)
    return run_until_signal(lambda stop: serve(settings, stop))
