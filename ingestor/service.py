"""The ingestor daemon's lifecycle: wait for the bus, then lead (connect and publish) or stand by.

Exactly one replica per network leads: it holds the leader lease, keeps the upstream sockets open and
publishes (fenced, so a replica that lost its lease cannot publish). The others poll for the lease
and take over when it expires. :meth:`IngestorService.stop` ends everything gracefully: sockets
close, queued events are flushed within the grace period, and the lease is released at once.
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

from ingestor.coordination import LostLeadership, follow_leases, keep_leadership, write_status
from ingestor.metrics import IngestorMetrics
from ingestor.pipeline import IngestPipeline
from ingestor.publisher import Publisher
from ingestor.rest import UpstreamRest
from ingestor.upstream.connection import ConnectionLimits
from ingestor.upstream.pool import UpstreamPool
from shared.bus import Backend, Retention, create_backend
from shared.errors import BusError, BusUnavailable, UpstreamRejected
from shared.settings import IngestorSettings

log = logging.getLogger(__name__)

Role = Literal["starting", "standby", "leader", "stopped"]


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
        self.bus_ok = False
        self.pool: UpstreamPool | None = None
        self.pipeline: IngestPipeline | None = None
        self.publisher: Publisher | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to finish gracefully."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until :meth:`stop`; raise :class:`UpstreamRejected` if the upstream refuses us for good."""
        try:
            await self._connect_bus()
            while not self._stop.is_set():
                if await self._try_lead():
                    await self._lead()
                else:
                    self.role = "standby"
                    await self._pause(self.settings.leader_renew_s)
        finally:
            self.role = "stopped"
            self.metrics.leader.set(0)
            if self._owns_backend:
                await self.backend.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _connect_bus(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                await self.backend.connect()
                self.bus_ok = True
                self.metrics.bus_up.set(1)
                return
            except BusUnavailable as exc:
                self.metrics.bus_up.set(0)
                log.warning("event bus unreachable, retrying in %.1f s: %s", delay, exc)
                await self._pause(delay)
                delay = min(delay * 2, self.settings.redis_retry_max_s)

    async def _try_lead(self) -> bool:
        try:
            held = await self.backend.hold_leadership(self.settings.network, self.holder, self.settings.leader_ttl_s)
            self.bus_ok = True
            return held
        except BusUnavailable as exc:
            self.bus_ok = False
            log.warning("cannot reach the bus to take leadership: %s", exc)
            return False

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
        pool = UpstreamPool(
            settings.upstream_url,
            ConnectionLimits.from_settings(settings),
            pipeline,
            address_limit=settings.address_limit_per_socket,
            max_address_sockets=settings.max_address_sockets,
            metrics=self.metrics,
        )
        self.pool, self.pipeline, self.publisher = pool, pipeline, publisher
        try:
            await publisher.restore()
            await self._run_leader_tasks(pool, pipeline, publisher)
        except (BusUnavailable, BusError) as exc:
            log.warning("stepping down: %s", exc)
        finally:
            self.metrics.leader.set(0)
            self.metrics.upstream_connected.set(0)
            self.role = "standby"
            if rest is not None:
                await rest.close()
            with contextlib.suppress(BusError):
                await self.backend.release_leadership(settings.network, self.holder)

    async def _run_leader_tasks(self, pool: UpstreamPool, pipeline: IngestPipeline, publisher: Publisher) -> None:
        settings, changed = self.settings, asyncio.Event()
        jobs: dict[str, Coroutine[Any, Any, None]] = {
            "upstream": pool.run(),
            "leases": follow_leases(self.backend, settings, pool, self.metrics, changed),
            "leadership": keep_leadership(self.backend, settings, self.holder),
            "status": write_status(self.backend, settings, self.holder, pool, pipeline, changed),
        }
        tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
        publishing = asyncio.create_task(publisher.run(), name="publisher")
        stopping = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait([*tasks, publishing, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(*tasks)
            if not publishing.done():
                await publisher.drain(settings.shutdown_timeout_s)
            await _cancel(publishing, stopping)
        for task in done:
            if task is not stopping and not task.cancelled() and task.exception() is not None:
                self._raise_fatal(task)

    def _raise_fatal(self, task: asyncio.Task[Any]) -> None:
        exc = task.exception()
        if isinstance(exc, UpstreamRejected):
            raise exc
        if isinstance(exc, LostLeadership | BusError):
            log.warning("%s: %s", task.get_name(), exc)
            return
        log.error("%s failed: %r", task.get_name(), exc, exc_info=exc)

    def health(self) -> dict[str, Any]:
        """Liveness and readiness facts for the HTTP probes."""
        pipeline = self.pipeline
        last_frame_ms = pipeline.last_frame_ms if pipeline and self.role == "leader" else None
        age_s = time.time() - last_frame_ms / 1000 if last_frame_ms else None
        connected = bool(pipeline and pipeline.main_connected and self.role == "leader")
        reasons = []
        if not self.bus_ok:
            reasons.append("event bus unreachable")
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
        }


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
