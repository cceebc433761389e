"""``mempool-ws serve``: ingestor and gateway in one process, over the embedded bus unless a Redis URL is given.

With ``--upstream-url sim`` the simulator runs in the same process too, so the whole service works
offline with one command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from ingestor.metrics import IngestorMetrics
from ingestor.service import IngestorService, retention_of
from mcp_gateway.gateway import Gateway
from mcp_gateway.main import serve_gateway
from mcp_gateway.server import build_server
from shared.bus import Backend, create_backend
from shared.lifecycle import run_until_signal
from shared.logs import configure_logging
from shared.settings import SIM_UPSTREAM, ServeSettings, SimSettings
from simulator import Simulator

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def upstream_for(
    settings: ServeSettings, sim_speed: float | None, sim_seed: int | None
) -> AsyncIterator[ServeSettings]:
    """The settings pointed at the real upstream, or at an in-process simulator for ``sim``."""
    if settings.upstream_url != SIM_UPSTREAM:
        yield settings
        return
    sim_settings = SimSettings(port=0, network=settings.network, speed=sim_speed or 1.0, seed=sim_seed or 1)
    async with Simulator(sim_settings) as sim:
        log.info("built-in simulator on %s (speed %g)", sim.ws_url, sim_settings.speed)
        yield settings.model_copy(update={"upstream_url": sim.ws_url, "upstream_rest_url": f"{sim.http_url}/api"})


async def _serve(settings: ServeSettings, stop: asyncio.Event, sim_speed: float | None, sim_seed: int | None) -> int:
    async with upstream_for(settings, sim_speed, sim_seed) as resolved:
        backend: Backend = create_backend(resolved, retention_of(resolved))
        ingestor = IngestorService(resolved, backend, metrics=IngestorMetrics(process_metrics=False))
        gateway = Gateway(resolved, backend)
        ingesting = asyncio.create_task(ingestor.run(), name="ingestor")
        try:
            if resolved.transport == "stdio":
                serving = asyncio.create_task(build_server(gateway).run_stdio_async(show_banner=False))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait([serving, stopping, ingesting], return_when=asyncio.FIRST_COMPLETED)
                for task in (serving, stopping):
                    task.cancel()
                await asyncio.gather(serving, stopping, return_exceptions=True)
            else:
                await serve_gateway(gateway, stop, [ingestor.metrics.registry])
        finally:
            ingestor.stop()
            await asyncio.gather(ingesting, return_exceptions=True)
            await backend.close()
    return 0


def run(settings: ServeSettings, *, sim_speed: float | None = None, sim_seed: int | None = None) -> int:
    """Run everything in one process until SIGTERM, SIGINT or (stdio) the end of input."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.transport == "stdio":
        log.info("serving MCP over stdio; logs go to stderr")
    exit_code = run_until_signal(lambda stop: _serve(settings, stop, sim_speed, sim_seed))
    sys.stderr.flush()
    return exit_code
