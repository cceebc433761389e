"""Entry points of the ingestor daemon: ``mempool-ws ingest`` and ``python -m ingestor``."""

from __future__ import annotations

import asyncio
import logging
import sys

import httpx

from ingestor.http import create_app
from ingestor.service import IngestorService
from shared.errors import UpstreamRejected
from shared.http_server import HttpServer
from shared.lifecycle import run_until_signal, trim_heap
from shared.logs import configure_logging
from shared.settings import IngestorSettings, redact_url

log = logging.getLogger(__name__)


async def serve(settings: IngestorSettings, stop: asyncio.Event) -> int:
    """Run the ingestor until ``stop`` is set; return the process exit code."""
    service = IngestorService(settings)
    http = HttpServer(create_app(service), settings.metrics_host, settings.metrics_port)
    await http.start()
    trim_heap()
    log.info(
        "ingestor for %s: upstream %s, bus %s, probes on %s",
        settings.network,
        settings.upstream_url,
        redact_url(settings.redis_dsn()) or "embedded",
        http.url,
    )
    running = asyncio.create_task(service.run(), name="ingestor")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        service.stop()
        await running
        return 0
    except UpstreamRejected as exc:
        log.error("the upstream refused us for good: %s", exc)
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
