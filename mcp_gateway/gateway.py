"""The runtime of one gateway process: the bus, the local fan-out hub, leases, limits and freshness.

Everything shared between pods lives on the bus (Redis); this object only holds connections, the
local subscriptions of calls waiting on this process, and short-lived caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mcp_gateway.errors import BusyError, MCPUpstreamError
from mcp_gateway.leases import LeaseKeeper
from mcp_gateway.metrics import GatewayMetrics
from shared.bus import Backend, Hub, Resync, create_backend
from shared.channels import Names
from shared.errors import BusError, BusUnavailable
from shared.models import IngestorStatus
from shared.retry import retrying
from shared.settings import GatewaySettings

log = logging.getLogger(__name__)

STATUS_CACHE_S = 0.5
LEASE_LINGER_S = 60.0


@dataclass(frozen=True, slots=True)
class UpstreamState:
    """How fresh the data of one network is, as this gateway sees it."""

    status: str
    """``ok``, ``degraded`` (upstream disconnected or data stale) or ``down`` (no ingestor or no bus)."""
    reasons: tuple[str, ...]
    upstream_connected: bool
    last_frame_age_s: float | None
    ingestor: IngestorStatus | None


class Gateway:
    """Shared state and resources of the gateway's tools."""

    def __init__(
        self,
        settings: GatewaySettings,
        backend: Backend | None = None,
        *,
        metrics: GatewayMetrics | None = None,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self._owns_backend = backend is None
        self.backend = backend or create_backend(settings)
        self.metrics = metrics or GatewayMetrics()
        self.holder = holder or f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.hub = Hub(
            self.backend,
            capacity=settings.call_queue_size,
            on_drop=lambda channel: self.metrics.events_dropped.labels("slow_consumer").inc(),
            on_resync=self._on_resync,
        )
        self.leases = LeaseKeeper(
            self.backend,
            self.holder,
            ttl_s=settings.lease_ttl_s,
            renew_s=settings.lease_renew_s,
            linger_s=max(LEASE_LINGER_S, settings.lease_ttl_s),
            max_addresses=settings.max_tracked_addresses_per_pod,
        )
        self.metrics.tracked_addresses.set_function(lambda: self.leases.held)
        self.shutting_down = asyncio.Event()
        self.active_streams = 0
        self._status_cache: dict[str, tuple[float, IngestorStatus | None]] = {}
        self._status_reads: dict[str, asyncio.Task[IngestorStatus | None]] = {}
        self._connector: asyncio.Task[None] | None = None
        self.bus_connected = False

    def _on_resync(self, resync: Resync) -> None:
        if resync.reason == "redis reconnected":
            self.metrics.redis_reconnects.inc()

    def names(self, network: str) -> Names:
        """Channel and key names of ``network`` (the backend's: hash-tagged on a Redis Cluster)."""
        return self.backend.names(network)

    async def start(self) -> None:
        """Connect to the bus (in the background if it is down now) and start the hub and lease renewal."""
        self.shutting_down.clear()
        await self.hub.start()
        self.leases.start()
        try:
            await self.backend.connect()
            self.bus_connected = True
        except BusUnavailable as exc:
            log.warning("event bus unreachable at start, retrying in the background: %s", exc)
            self._connector = asyncio.create_task(self._connect_later(), name="bus-connector")

    async def _connect_later(self) -> None:
        await asyncio.sleep(0.2)
        async for attempt in retrying(
            "connect to the event bus", on=BusError, first_s=0.2, max_s=self.settings.redis_retry_max_s, logger=log
        ):
            with attempt:
                await self.backend.connect()
        self.bus_connected = True
        log.info("event bus reachable again")

    def begin_shutdown(self) -> None:
        """Make every waiting stream call return now with what it has."""
        self.shutting_down.set()
        self.hub.close_subscribers()

    async def stop(self) -> None:
        """Release leases, stop the hub and close the bus (if this gateway created it)."""
        self.begin_shutdown()
        if self._connector is not None:
            self._connector.cancel()
        await self.leases.stop()
        await self.hub.stop()
        if self._owns_backend:
            await self.backend.close()

    @contextlib.asynccontextmanager
    async def stream_slot(self) -> AsyncIterator[None]:
        """Count a waiting stream call; refuse it with :class:`BusyError` beyond the process limit."""
        if self.active_streams >= self.settings.max_concurrent_streams:
            self.metrics.busy_rejections.labels("streams").inc()
            raise BusyError(
                f"busy: this gateway process is already serving {self.settings.max_concurrent_streams} "
                "streams; retry in a few seconds (another replica may have room)"
            )
        self.active_streams += 1
        self.metrics.active_streams.inc()
        try:
            yield
        finally:
            self.active_streams -= 1
            self.metrics.active_streams.dec()

    async def ingestor_status(self, network: str) -> IngestorStatus | None:
        """The ingestor's status record (cached for half a second); raises :class:`BusUnavailable`.

        Concurrent callers share one read, so a burst of calls costs one Redis round trip, not one each.
        """
        cached = self._status_cache.get(network)
        if cached is not None and time.monotonic() - cached[0] < STATUS_CACHE_S:
            return cached[1]
        read = self._status_reads.get(network)
        if read is None:
            read = asyncio.create_task(self._read_status(network), name=f"read-status-{network}")
            self._status_reads[network] = read
            read.add_done_callback(lambda done: self._forget_read(network, done))
        return await asyncio.shield(read)

    async def _read_status(self, network: str) -> IngestorStatus | None:
        now = time.monotonic()
        status = await self.backend.read_status(network)
        self._status_cache[network] = (now, status)
        return status

    def _forget_read(self, network: str, read: asyncio.Task[IngestorStatus | None]) -> None:
        if self._status_reads.get(network) is read:
            del self._status_reads[network]
        if not read.cancelled():
            read.exception()  # retrieved here: every waiter may have gone

    async def upstream_state(self, network: str) -> UpstreamState:
        """Freshness of ``network``'s data: ok, degraded (with reasons) or down."""
        try:
            status = await self.ingestor_status(network)
        except BusError as exc:
            credentials = "credentials" in str(exc)
            reason = f"event bus (Redis) {'refused our credentials' if credentials else 'unreachable'}"
            return UpstreamState("down", (reason,), False, None, None)
        if status is None:
            return UpstreamState("down", (f"no ingestor is publishing {network}",), False, None, None)
        age = time.time() - status.last_frame_ms / 1000 if status.last_frame_ms else None
        reasons = []
        if not status.upstream_connected:
            reasons.append("ingestor disconnected from the mempool upstream")
        if age is None or age > self.settings.stale_after_s:
            reasons.append(f"no upstream data for {age:.0f} s" if age is not None else "no upstream data yet")
        return UpstreamState("degraded" if reasons else "ok", tuple(reasons), status.upstream_connected, age, status)

    async def require_fresh(self, network: str) -> UpstreamState:
        """The upstream state, or :class:`MCPUpstreamError` when it is not usable."""
        state = await self.upstream_state(network)
        if state.status != "ok":
            raise MCPUpstreamError(
                f"mempool data for {network} is unavailable: {'; '.join(state.reasons)}. "
                "The service reconnects on its own; retry in about 30 s, or call health for details."
            )
        return state
