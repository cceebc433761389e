"""Entry points of the gateway: ``mempool-ws gateway`` and ``python -m mcp_gateway``."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from mcp_gateway.gateway import Gateway
from mcp_gateway.http import MCP_PATH, create_app
from mcp_gateway.server import build_server
from shared.console import Figures, announce, bus_description, last_event_id, listen_error, status_reporting, tip_height
from shared.http_server import HttpLimits, HttpServer
from shared.lifecycle import run_until_signal, trim_heap
from shared.logs import configure_logging
from shared.settings import GatewaySettings

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_S = 10.0
GC_THRESHOLDS = (10_000, 10, 10)
"""Young-generation collections every 10,000 net allocations instead of 700 (measured in BENCHMARKS.md)."""


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the delivery path once the server has started.

    Everything built at startup (modules, tool schemas, validators) is frozen out of future
    collections, and young collections run less often: with thousands of open calls the default
    settings spent seconds per minute in full collections, with pauses of up to half a second.
    Freed startup memory is then returned to the OS.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    trim_heap()


def bind_http(gateway: Gateway, extra_registries: Sequence[CollectorRegistry] = ()) -> HttpServer:
    """The gateway's HTTP server, its port bound now; a one-line :class:`ConfigError` when it cannot be."""
    settings = gateway.settings
    try:
        return HttpServer(
            create_app(gateway, build_server(gateway), extra_registries),
            settings.host,
            settings.port,
            timeout_graceful_shutdown_s=SHUTDOWN_GRACE_S,
            limits=HttpLimits.of(settings),
        )
    except OSError as exc:
        raise listen_error(exc, settings.host, settings.port, "--port", "MEMPOOL_WS_PORT") from None


def mcp_url(http: HttpServer) -> str:
    """Where MCP clients connect: the server's ``/mcp`` URL, on loopback when it listens everywhere."""
    if http.host in ("0.0.0.0", "::", ""):
        return f"http://127.0.0.1:{http.port}{MCP_PATH} (listening on all interfaces)"
    return f"{http.url}{MCP_PATH}"


class GatewayProbe:
    """The status line of a gateway: the ingestor's upstream state as seen on the bus, tip, ids, streams."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def upstream(self) -> str:
        """``connected``, or a stable phrase for what is wrong (reasons with changing numbers are not used)."""
        state = await self.gateway.availability(self.gateway.settings.network)
        if state.status == "ok":
            return "connected"
        if state.ingestor is None:
            return f"unknown ({state.reasons[0] if state.reasons else state.status})"
        return "reconnecting (as the ingestor reports)" if not state.upstream_connected else "stale (no fresh data)"

    async def figures(self) -> Figures:
        """Tip height and last event id from the bus, and this process's open stream calls."""
        backend, network = self.gateway.backend, self.gateway.settings.network
        return Figures(
            tip_height=await tip_height(backend, network),
            last_event_id=await last_event_id(backend, network),
            open_streams=self.gateway.active_streams,
        )


async def serve_gateway(
    gateway: Gateway,
    stop: asyncio.Event,
    http: HttpServer,
    on_started: Callable[[str], None] | None = None,
) -> int:
    """Serve ``gateway`` over ``http`` until ``stop`` is set; ``on_started`` gets the MCP URL once it accepts.

    Then stream calls in flight return what they have, other requests are still served for
    ``shutdown_drain_s``, and requests in flight get the grace period to finish.
    """
    settings = gateway.settings
    await http.start()
    tune_gc()
    (on_started or (lambda url: _announce(gateway, url, http)))(mcp_url(http))
    try:
        await stop.wait()
        log.info("stopping: waiting calls return now, other requests are served %g s more", settings.shutdown_drain_s)
        gateway.begin_shutdown()
        await asyncio.sleep(settings.shutdown_drain_s)
    finally:  # also when a second Ctrl-C cancels the drain: the server still closes in order
        await http.stop()
    log.info("gateway stopped")
    return 0


def _announce(gateway: Gateway, url: str, http: HttpServer) -> None:
    settings = gateway.settings
    announce(
        "gateway",
        f"connect MCP clients to {url}",
        [
            ("MCP", f"{url} (Streamable HTTP{', bearer token required' if settings.auth_token else ''})"),
            ("network", settings.network),
            ("upstream", "what the ingestor publishes on the bus"),
            ("bus", bus_description(settings)),
            ("probes", f"{http.url}/readyz and /metrics"),
        ],
    )


async def _serve(settings: GatewaySettings, stop: asyncio.Event) -> int:
    gateway = Gateway(settings)
    http = bind_http(gateway)
    async with status_reporting(GatewayProbe(gateway), settings.status_log_interval_s, poll_s=5.0):
        return await serve_gateway(gateway, stop, http)


def run(settings: GatewaySettings) -> int:
    """Run the gateway until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.log_format)
    return run_until_signal(lambda stop: _serve(settings, stop))
