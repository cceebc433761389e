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

from ingestor.main import IngestorProbe
from ingestor.metrics import IngestorMetrics
from ingestor.service import IngestorService, retention_of
from mcp_gateway.gateway import Gateway
from mcp_gateway.main import bind_http, serve_gateway
from mcp_gateway.server import build_server
from shared.bus import Backend, create_backend
from shared.console import Figures, announce, bus_description, status_reporting
from shared.errors import UpstreamRejected
from shared.lifecycle import run_until_signal
from shared.logs import configure_logging
from shared.settings import SIM_UPSTREAM, ServeSettings, SimSettings
from simulator import Simulator

log = logging.getLogger(__name__)

OFFLINE_HINT_SERVE = "Offline? --upstream-url sim runs the built-in simulator instead."


@contextlib.asynccontextmanager
async def upstream_for(
    settings: ServeSettings, sim_speed: float | None, sim_seed: int | None
) -> AsyncIterator[tuple[ServeSettings, str]]:
    """The settings pointed at the real upstream, or at an in-process simulator for ``sim``; and a
    description of that upstream for people."""
    if settings.upstream_url != SIM_UPSTREAM:
        yield settings, settings.upstream_url
        return
    sim_settings = SimSettings(port=0, network=settings.network, speed=sim_speed or 1.0, seed=sim_seed or 1)
    async with Simulator(sim_settings) as sim:
        every_s = 600 / sim_settings.speed
        described = f"built-in simulator at {sim.ws_url} (speed {sim_settings.speed:g}: a block every ~{every_s:.0f} s)"
        resolved = settings.model_copy(update={"upstream_url": sim.ws_url, "upstream_rest_url": f"{sim.http_url}/api"})
        yield resolved, described


class ServeProbe:
    """The status line of ``serve``: the ingestor's view of the upstream, plus the gateway's open streams."""

    def __init__(self, ingestor: IngestorProbe, gateway: Gateway) -> None:
        self.ingestor = ingestor
        self.gateway = gateway

    async def upstream(self) -> str:
        """The ingestor's upstream state."""
        return await self.ingestor.upstream()

    async def figures(self) -> Figures:
        """The ingestor's figures with the gateway's open stream calls."""
        figures = await self.ingestor.figures()
        return Figures(figures.tip_height, figures.last_event_id, self.gateway.active_streams)


def _banner(settings: ServeSettings, mcp: str, upstream: str) -> None:
    fields = [("MCP", mcp), ("network", settings.network), ("upstream", upstream), ("bus", bus_description(settings))]
    if settings.transport == "stdio":
        summary = "serving MCP over stdio (stdin/stdout); logs go to stderr"
        if sys.stdin.isatty():
            fields.append(("note", "stdin is a terminal: MCP hosts start this command themselves; for a URL "
                           "to connect to, run with --transport http"))  # fmt: skip
    else:
        base = mcp.split(" ", 1)[0].removesuffix("/mcp")
        summary = f"connect MCP clients to {base}/mcp"
        fields[0] = ("MCP", f"{mcp} (Streamable HTTP{', bearer token required' if settings.auth_token else ''})")
        fields.append(("probes", f"{base}/readyz and /metrics"))
    if settings.status_log_interval_s > 0:
        fields.append(("status", f"a line every {settings.status_log_interval_s:g} s; Ctrl-C stops"))
    announce("serve", summary, fields)


async def _serve(settings: ServeSettings, stop: asyncio.Event, sim_speed: float | None, sim_seed: int | None) -> int:
    async with upstream_for(settings, sim_speed, sim_seed) as (resolved, upstream):
        backend: Backend = create_backend(resolved, retention_of(resolved))
        ingestor = IngestorService(resolved, backend, metrics=IngestorMetrics(process_metrics=False))
        gateway = Gateway(resolved, backend)
        http = bind_http(gateway, [ingestor.metrics.registry]) if resolved.transport == "http" else None
        ingesting = asyncio.create_task(ingestor.run(), name="ingestor")
        hint = OFFLINE_HINT_SERVE if settings.upstream_url != SIM_UPSTREAM else ""
        probe = ServeProbe(IngestorProbe(ingestor, resolved.upstream_url, hint), gateway)
        ingesting.add_done_callback(lambda _: stop.set())
        try:
            async with status_reporting(probe, resolved.status_log_interval_s):
                if http is not None:
                    await serve_gateway(gateway, stop, http, lambda url: _banner(resolved, url, upstream))
                else:
                    _banner(resolved, "stdio", upstream)
                    await _serve_stdio(gateway, stop)
        finally:
            ingestor.stop()
            await asyncio.gather(ingesting, return_exceptions=True)
            await backend.close()
    return _ingestor_outcome(ingesting, resolved.upstream_url)


async def _serve_stdio(gateway: Gateway, stop: asyncio.Event) -> None:
    serving = asyncio.create_task(build_server(gateway).run_stdio_async(show_banner=False), name="stdio")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    for task in (serving, stopping):
        task.cancel()
    await asyncio.gather(serving, stopping, return_exceptions=True)


def _ingestor_outcome(ingesting: asyncio.Task[None], upstream_url: str) -> int:
    if ingesting.cancelled() or ingesting.exception() is None:
        return 0
    exc = ingesting.exception()
    if isinstance(exc, UpstreamRejected):
        log.error("the upstream %s refused us for good: %s", upstream_url, exc)
        return 1
    log.error("the ingestor failed: %r", exc, exc_info=exc)
    return 1


def run(settings: ServeSettings, *, sim_speed: float | None = None, sim_seed: int | None = None) -> int:
    """Run everything in one process until SIGTERM, SIGINT or (stdio) the end of input."""
    configure_logging(settings.log_level, settings.log_format)
    exit_code = run_until_signal(lambda stop: _serve(settings, stop, sim_speed, sim_seed))
    sys.stderr.flush()
    return exit_code
