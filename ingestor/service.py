"""The ingestor daemon's lifecycle: wait for the bus, then lead (connect and publish) or stand by.

Exactly one replica per network leads: it holds the leader lease, keeps the upstream sockets open and
publishes (fenced, so a replica that lost its lease cannot publish). The others poll for the lease
and take over when it expires. :meth:`IngestorService.stop` ends everything gracefully: sockets
close, queued events are flushed within the grace period, and the lease is released at once.

No bus error ends the daemon: unreachable, out of memory, read-only or any other Redis error is
retried with back-off (:mod:`shared.retry`) and reported in the probes and metrics while it lasts
(:class:`~ingestor.bus_health.BusHealth`). A leader steps down only when its lease is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Coroutine
from typing import Any, Literal

from ingestor.bus_health import BusHealth
from ingestor.coordination import (
    LostLeadership,
    StatusOnMainSocket,
    bus_retry,
    follow_leases,
    keep_leadership,
    write_status,
)
from ingestor.metrics import IngestorMetrics
from ingestor.pipeline import IngestPipeline
from ingestor.publisher import Publisher
from ingestor.rest import UpstreamRest
from ingestor.upstream.connection import ConnectionLimits
from ingestor.upstream.pool import UpstreamPool
from shared.bus import Backend, Retention, create_backend
from shared.bus.base import SequenceRegression
from shared.errors import BusError, BusUnavailable, UpstreamRejected
from shared.retry import retrying
from shared.settings import IngestorSettings
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Role = Literal["starting", "standby", "leader", "stopped"]

WARNINGS_POLL_S = 1.0


def default_holder() -> str:
    """A replica identity unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def retention_of(settings: IngestorSettings) -> Retention:
    """History bounds from the settings."""
    return Retention(
        history_size=settings.history_size,
        address_history_size=settings.address_history_size,
        address_ttl_s=settings.address_history_ttl_s,
    )


class IngestorService:
    """One ingestor replica."""

    def __init__(
        self,
        settings: IngestorSettings,
        backend: Backend | None = None,
        *,
        holder: str | None = None,
        metrics: IngestorMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._owns_backend = backend is None
        self.backend = backend or create_backend(settings, retention_of(settings))
        self.holder = holder or default_holder()
        self.metrics = metrics or IngestorMetrics()
        self.role: Role = "starting"
        self.bus = BusHealth(self.metrics.registry, up=self.metrics.bus_up)
        self.bus.failed("connect", BusUnavailable("not connected yet"), count=False)
        self.bus_warnings: list[str] = []
        self.pool: UpstreamPool | None = None
        self.pipeline: IngestPipeline | None = None
        self.publisher: Publisher | None = None
        self._stop = asyncio.Event()
        self._status_changed: asyncio.Event | None = None
        self.bus.on_recovered(self._status_now)
        self.backend.on_reconnect(self._status_now)
        self.backend.on_regression(self._mark_lost)

    @property
    def bus_ok(self) -> bool:
        """Whether the event bus answers now (``self.bus`` has the details)."""
        return self.bus.reachable

    def _status_now(self) -> None:
        if self._status_changed is not None:
            self._status_changed.set()

    def _mark_lost(self, regression: SequenceRegression) -> None:
        """Redis lost acknowledged events (a failover): queue gap notices on the topics they belonged to."""
        if self.publisher is not None:
            self.publisher.redis_lost(regression)

    def stop(self) -> None:
        """Ask :meth:`run` to finish gracefully."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until :meth:`stop`; raise :class:`UpstreamRejected` if the upstream refuses us for good."""
        watching: asyncio.Task[None] | None = None
        try:
            await self._connect_bus()
            watching = asyncio.create_task(self._watch_warnings(), name="bus-warnings")
            while not self._stop.is_set():
                try:
                    if await self._try_lead():
                        await self._lead()
                    else:
                        self.role = "standby"
                        await self._pause(self.settings.leader_renew_s)
                except UpstreamRejected:
                    raise
                except Exception:  # a daemon outlives what nobody foresaw: say it loudly, then go on
                    log.exception("unexpected failure; trying again in %g s", self.settings.leader_renew_s)
                    self.role = "standby"
                    await self._pause(self.settings.leader_renew_s)
        finally:
            self.role = "stopped"
            self.metrics.leader.set(0)
            if watching is not None:
                await cancel_and_wait(watching)
            if self._owns_backend:
                await self.backend.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def _connect_bus(self) -> None:
        async for attempt in retrying(
            "connect to the event bus",
            on=BusError,
            first_s=0.2,
            max_s=self.settings.redis_retry_max_s,
            stop=self._stop,
            on_retry=lambda error: self.bus.failed("connect", error),
            logger=log,
        ):
            with attempt:
                await self.backend.connect()
        if not self._stop.is_set():
            self.bus.succeeded("connect")

    async def _try_lead(self) -> bool:
        held = False
        async for attempt in retrying(
            "take the leadership",
            on=BusError,
            first_s=0.1,
            max_s=min(self.settings.redis_retry_max_s, self.settings.leader_renew_s),
            stop=self._stop,
            on_retry=lambda error: self.bus.failed("leadership", error),
            logger=log,
        ):
            with attempt:
                held = await self.backend.hold_leadership(
                    self.settings.network, self.holder, self.settings.leader_ttl_s
                )
        if self._stop.is_set():
            return False
        self.bus.succeeded("leadership")
        return held

    async def _watch_warnings(self) -> None:
        while True:
            self.bus_warnings = await self.backend.warnings()
            self.bus.warnings.set(len(self.bus_warnings))
            await asyncio.sleep(WARNINGS_POLL_S)

    async def _lead(self) -> None:
        settings = self.settings
        self.role = "leader"
        self.metrics.leader.set(1)
        log.info("leading network %s as %s", settings.network, self.holder)
        rest = UpstreamRest(settings.upstream_rest_url) if settings.upstream_rest_url else None
        publisher = Publisher(
            settings.network,
            self.backend,
            self.metrics,
            fence=self.holder,
            rest=rest,
            queue_items=settings.publish_queue_items,
            pause_max_s=settings.publish_pause_max_s,
        )
        pipeline = IngestPipeline(settings.network, publisher, self.metrics)
        changed = asyncio.Event()
        pool = UpstreamPool(
            settings.upstream_url,
            ConnectionLimits.from_settings(settings),
            StatusOnMainSocket(pipeline, changed),
            address_limit=settings.address_limit_per_socket,
            max_address_sockets=settings.max_address_sockets,
            tx_limit=settings.tx_limit_per_socket,
            max_tx_sockets=settings.max_tx_sockets,
            tx_recheck_s=settings.tx_recheck_interval_s,
            metrics=self.metrics,
        )
        self.pool, self.pipeline, self.publisher = pool, pipeline, publisher
        self._status_changed = changed
        try:
            async for attempt in bus_retry("restore the published state", "restore", settings, self.bus, self._stop):
                with attempt:
                    await publisher.restore()
            if self._stop.is_set():
                return
            self.bus.succeeded("restore")
            reason = await self._run_leader_tasks(pool, pipeline, publisher, changed)
            if reason:
                log.warning("stepping down: %s", reason)
        finally:
            self._status_changed = None
            self.bus.succeeded("restore", "leadership", "leases", "status")
            self.metrics.leader.set(0)
            self.metrics.upstream_connected.set(0)
            self.role = "standby"
            if rest is not None:
                await rest.close()
            with contextlib.suppress(BusError):
                await self.backend.release_leadership(settings.network, self.holder)

    async def _run_leader_tasks(
        self, pool: UpstreamPool, pipeline: IngestPipeline, publisher: Publisher, changed: asyncio.Event
    ) -> str | None:
        """Run the leader's tasks until one ends or :meth:`stop`; why leadership ended (None: a stop)."""
        settings, bus = self.settings, self.bus
        jobs: dict[str, Coroutine[Any, Any, None]] = {
            "upstream": pool.run(),
            "leases": follow_leases(self.backend, settings, pool, self.metrics, changed, bus),
            "leadership": keep_leadership(self.backend, settings, self.holder, bus),
            "status": write_status(self.backend, settings, self.holder, pool, pipeline, changed, bus),
        }
        tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
        publishing = asyncio.create_task(publisher.run(), name="publisher")
        stopping = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait([*tasks, publishing, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(*tasks)
            if not publishing.done():
                await publisher.drain(settings.shutdown_timeout_s)
            await cancel_and_wait(publishing, stopping)
        reasons = [self._ended(task) for task in done if task is not stopping]
        return None if stopping in done else next(iter(reasons), None)

    def _ended(self, task: asyncio.Task[Any]) -> str:
        """Why a leader task ended; raise what must end the daemon (the upstream refused us for good)."""
        if task.cancelled():
            return f"{task.get_name()} was cancelled"
        exc = task.exception()
        if exc is None:
            return f"{task.get_name()} ended"
        if isinstance(exc, UpstreamRejected):
            raise exc
        if isinstance(exc, BusError):
            self.bus.count(exc)
        if isinstance(exc, LostLeadership | BusError):
            return f"{task.get_name()}: {exc}"
        log.error("%s failed: %r", task.get_name(), exc, exc_info=exc)
        return f"{task.get_name()} failed: {exc!r}"

    def health(self) -> dict[str, Any]:
        """Liveness and readiness facts for the HTTP probes."""
        pipeline = self.pipeline
        last_frame_ms = pipeline.last_frame_ms if pipeline and self.role == "leader" else None
        age_s = time.time() - last_frame_ms / 1000 if last_frame_ms else None
        connected = bool(pipeline and pipeline.main_connected and self.role == "leader")
        reasons = self.bus.reasons
        if self.role == "leader":
            if not connected:
                reasons.append("upstream disconnected")
            if age_s is None or age_s > self.settings.stale_after_s:
                reasons.append("upstream data stale")
        elif self.role != "standby":
            reasons.append(f"role is {self.role}")
        return {
            "ready": not reasons,
            "role": self.role,
            "holder": self.holder,
            "network": self.settings.network,
            "upstream_connected": connected,
            "last_frame_age_s": round(age_s, 3) if age_s is not None else None,
            "sockets": self.pool.open_sockets if self.pool and self.role == "leader" else 0,
            "reasons": reasons,
            "bus_warnings": self.bus_warnings,
        }
