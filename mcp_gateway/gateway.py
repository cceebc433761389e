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

from mcp_gateway.availability import Availability, BusState, Facts, TopicLatest, assess, bus_state
from mcp_gateway.errors import BusyError
from mcp_gateway.leases import LeaseKeeper
from mcp_gateway.metrics import GatewayMetrics
from shared.bus import Backend, Hub, Resync, create_backend
from shared.channels import Names
from shared.errors import BusError, BusUnavailable
from shared.events import STREAM_TOPICS
from shared.models import IngestorStatus
from shared.retry import retrying
from shared.settings import GatewaySettings

log = logging.getLogger(__name__)

PROBE_CACHE_S = 0.5
PROBE_PATIENCE_S = 0.5
"""How long a caller waits for fresher facts when earlier ones exist: a slow Redis must not hold a call."""
LEASE_LINGER_S = 60.0


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
        self.tx_leases = LeaseKeeper(
            self.backend,
            self.holder,
            ttl_s=settings.lease_ttl_s,
            renew_s=settings.lease_renew_s,
            linger_s=max(LEASE_LINGER_S, settings.lease_ttl_s),
            max_addresses=settings.max_tracked_txids_per_pod,
            noun="transactions",
        )
        self.metrics.tracked_addresses.set_function(lambda: self.leases.held)
        self.metrics.tracked_txs.set_function(lambda: self.tx_leases.held)
        self.shutting_down = asyncio.Event()
        self.active_streams = 0
        self._probes: dict[str, tuple[float, _Probe]] = {}
        self._probing: dict[str, asyncio.Task[_Probe]] = {}
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
        self.tx_leases.start()
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
        await self.tx_leases.stop()
        await self.hub.stop()
        if self._owns_backend:
            await self.backend.close()

    @contextlib.asynccontextmanager
    async def stream_slot(self) -> AsyncIterator[None]:
        """Count a waiting stream call; refuse it with :class:`BusyError` beyond the process limit."""
        if self.active_streams >= self.settings.max_concurrent_streams:
            self.metrics.busy_rejections.labels("streams").inc()
            raise BusyError(
                f"busy: this gateway process already serves its limit of {self.settings.max_concurrent_streams} "
                "waiting calls; retry (another replica may have room, and calls here end within their timeout_s)"
            )
        self.active_streams += 1
        self.metrics.active_streams.inc()
        try:
            yield
        finally:
            self.active_streams -= 1
            self.metrics.active_streams.dec()

    async def availability(self, network: str) -> Availability:
        """What this gateway can serve for ``network`` now (see :mod:`mcp_gateway.availability`).

        The bus facts behind it are read once per half second and shared: a burst of calls costs one
        probe, not one each, and ``health``, ``/readyz`` and admission judge the same facts. When a probe
        is slow (Redis slow or gone), callers wait for it at most ``PROBE_PATIENCE_S`` and judge the last
        facts read; the probe's own timeout then turns a silent Redis into ``unreachable``.
        """
        settings = self.settings
        served = settings.served_networks
        probe = await self._probe(network) if network in served else _Probe("ok")
        return assess(
            Facts(
                network=network,
                served=served,
                shutting_down=self.shutting_down.is_set(),
                bus=probe.bus,
                ingestor=probe.status,
                topics=probe.topics,
                stale_after_s=settings.stale_after_s,
                now_s=time.time(),
            )
        )

    async def _probe(self, network: str) -> _Probe:
        cached = self._probes.get(network)
        if cached is not None and time.monotonic() - cached[0] < PROBE_CACHE_S:
            return cached[1]
        probing = self._probing.get(network)
        if probing is None:
            probing = asyncio.create_task(self._read_facts(network), name=f"probe-{network}")
            self._probing[network] = probing
            probing.add_done_callback(lambda done: self._forget_probe(network, done))
        if cached is None:
            return await asyncio.shield(probing)
        try:
            async with asyncio.timeout(PROBE_PATIENCE_S):
                return await asyncio.shield(probing)
        except TimeoutError:  # the probe goes on and its verdict serves the next caller
            return cached[1]

    async def _read_facts(self, network: str) -> _Probe:
        started = time.monotonic()
        backend = self.backend
        try:
            async with asyncio.timeout(self.settings.readiness_bus_timeout_s):
                status, position, latest = await asyncio.gather(
                    backend.read_status(network),
                    backend.position(network),
                    asyncio.gather(*(backend.latest(network, topic) for topic in STREAM_TOPICS)),
                )
        except TimeoutError:
            probe = _Probe("unreachable")
        except BusError as exc:
            probe = _Probe(bus_state(exc))
        else:
            refused = position.writes_refused
            topics = tuple(
                TopicLatest(topic, event.id if event else None, event.ts_ms if event else None)
                for topic, event in zip(STREAM_TOPICS, latest, strict=True)
            )
            probe = _Probe(bus_state(refused) if refused is not None else "ok", status, topics)
        self._probes[network] = (started, probe)
        return probe

    def _forget_probe(self, network: str, probe: asyncio.Task[_Probe]) -> None:
        if self._probing.get(network) is probe:
            del self._probing[network]
        if not probe.cancelled():
            probe.exception()  # retrieved here: every waiter may have gone


@dataclass(frozen=True, slots=True)
class _Probe:
    bus: BusState
    status: IngestorStatus | None = None
    topics: tuple[TopicLatest, ...] = ()
