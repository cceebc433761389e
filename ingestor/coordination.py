"""The ingestor's loops over shared state: leadership renewal, tracking leases, and the status record.

Every bus error is transient here: each loop retries with the project's back-off (:mod:`shared.retry`),
reports the failure to :class:`~ingestor.bus_health.BusHealth` while it lasts, and carries on when the
bus answers again. Only a lost leader lease ends a loop (:class:`LostLeadership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Collection, Sequence

from ingestor.bus_health import BusHealth
from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies
from ingestor.pipeline import IngestPipeline
from ingestor.upstream.gate import ReadGate
from ingestor.upstream.pool import MAIN_SOCKET, PoolSink, UpstreamPool
from ingestor.upstream.tracking import Role
from shared.bitcoin.addresses import validate_address
from shared.bus import Coordinator
from shared.channels import split_lease_keys
from shared.errors import BusError, InvalidAddress
from shared.models import IngestorStatus
from shared.retry import Retrying, retrying
from shared.settings import IngestorSettings, Network

log = logging.getLogger(__name__)


class LostLeadership(Exception):
    """Another replica holds the leader lease now (or ours could not be renewed in time)."""


def bus_retry(
    what: str, operation: str, settings: IngestorSettings, health: BusHealth, stop: asyncio.Event | None = None
) -> Retrying:
    """Retry ``what`` on any bus error, fast at first and at most every leader renewal interval; each
    failure is reported to ``health`` as one of ``operation`` (until it succeeds)."""
    return retrying(
        what,
        on=BusError,
        first_s=0.05,
        max_s=min(settings.redis_retry_max_s, settings.leader_renew_s),
        stop=stop,
        on_retry=lambda error: health.failed(operation, error),
        logger=log,
    )


async def keep_leadership(coordinator: Coordinator, settings: IngestorSettings, holder: str, health: BusHealth) -> None:
    """Renew the leader lease until it is lost; then raise :class:`LostLeadership`.

    A renewal that fails is retried until the lease would have expired (``leader_ttl_s`` after the last
    renewal); an out-of-memory or read-only Redis that recovers within that time costs nothing.
    """
    last_renewal = time.monotonic()
    while True:
        await asyncio.sleep(settings.leader_renew_s)
        held = False
        async for attempt in bus_retry("renew the leader lease", "leadership", settings, health):
            with attempt:
                if time.monotonic() - last_renewal >= settings.leader_ttl_s:
                    raise LostLeadership(f"could not renew the leader lease for {settings.leader_ttl_s} s")
                held = await coordinator.hold_leadership(settings.network, holder, settings.leader_ttl_s)
        health.succeeded("leadership")
        if not held:
            raise LostLeadership("another replica took the leader lease")
        last_renewal = time.monotonic()


_TXID = re.compile(r"[0-9a-f]{64}")


def valid_txids(txids: set[str]) -> set[str]:
    """The leased txids that are 64 lower-case hex digits (anything else in Redis is ignored)."""
    valid = {txid for txid in txids if _TXID.fullmatch(txid)}
    for txid in sorted(txids - valid)[:10]:
        log.warning("ignoring leased transaction %r: not 64 lower-case hex digits", txid[:100])
    return valid


def valid_addresses(addresses: set[str], network: Network) -> set[str]:
    """The leased addresses that are valid on ``network`` (anything else in Redis is ignored)."""
    valid: set[str] = set()
    for address in addresses:
        try:
            valid.add(validate_address(address, network).text)
        except InvalidAddress as exc:
            log.warning("ignoring leased address %r: %s", address[:100], exc)
    return valid


async def follow_leases(
    coordinator: Coordinator,
    settings: IngestorSettings,
    pool: UpstreamPool,
    metrics: IngestorMetrics,
    changed: asyncio.Event,
    health: BusHealth,
) -> None:
    """Track the union of live address and transaction leases upstream, re-reading them every poll interval."""
    while True:
        leased: set[str] = set()
        async for attempt in bus_retry("read the tracking leases", "leases", settings, health):
            with attempt:
                leased = await coordinator.leased_addresses(settings.network)
        health.succeeded("leases")
        addresses, txids = split_lease_keys(leased)
        groups = (pool.addresses, pool.txs)
        before = [(set(group.tracked), list(group.rejected)) for group in groups]
        pool.set_addresses(valid_addresses(addresses, settings.network))
        pool.set_txids(valid_txids(txids))
        if [(set(group.tracked), group.rejected) for group in groups] != before:
            changed.set()
        metrics.tracked_addresses.set(len(pool.tracked))
        metrics.rejected_addresses.set(len(pool.rejected))
        metrics.address_capacity.set(pool.capacity)
        metrics.tracked_txs.set(len(pool.txs.tracked))
        metrics.rejected_txs.set(len(pool.txs.rejected))
        metrics.tx_capacity.set(pool.txs.capacity)
        metrics.upstream_sockets.set(pool.open_sockets)
        await asyncio.sleep(settings.lease_poll_interval_s)


def current_status(
    settings: IngestorSettings, holder: str, pool: UpstreamPool, pipeline: IngestPipeline
) -> IngestorStatus:
    """The status record of a leading ingestor."""
    return IngestorStatus(
        network=settings.network,
        holder=holder,
        upstream_connected=pipeline.main_connected,
        sockets=pool.open_sockets,
        tracked_addresses=len(pool.tracked),
        address_capacity=pool.capacity,
        rejected_addresses=pool.rejected[:200],
        tracked_txs=len(pool.txs.tracked),
        tx_capacity=pool.txs.capacity,
        rejected_txids=pool.txs.rejected[:200],
        last_frame_ms=pipeline.last_frame_ms,
        updated_ms=int(time.time() * 1000),
    )


async def write_status(
    coordinator: Coordinator,
    settings: IngestorSettings,
    holder: str,
    pool: UpstreamPool,
    pipeline: IngestPipeline,
    changed: asyncio.Event,
    health: BusHealth,
) -> None:
    """Write the status record at once, then every interval and on every change (it expires if we die).

    ``changed`` is set by whatever the record depends on: the main upstream socket going up or down,
    the tracked addresses and transactions, and Redis answering again after a failure or a reconnect (an empty Redis
    restarted has no record until it is written).
    """
    while True:
        changed.clear()
        async for attempt in bus_retry("write the ingestor status", "status", settings, health):
            with attempt:
                status = current_status(settings, holder, pool, pipeline)
                await coordinator.write_status(status, ttl_s=settings.status_interval_s * 3)
        health.succeeded("status")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.status_interval_s):  # wait_for (3.11) can swallow a cancel
                await changed.wait()


class StatusOnMainSocket:
    """An upstream pool sink that passes everything on and wakes the status writer when the main socket
    connects or drops, so gateways learn it at once rather than on the next periodic write."""

    def __init__(self, sink: PoolSink, changed: asyncio.Event) -> None:
        self._sink = sink
        self._changed = changed

    @property
    def gate(self) -> ReadGate:
        return self._sink.gate

    async def on_frame(
        self,
        raw: str | bytes,
        received_ms: int,
        tracked: Sequence[str],
        socket: str = MAIN_SOCKET,
        role: Role = "main",
    ) -> ControlReplies:
        return await self._sink.on_frame(raw, received_ms, tracked, socket=socket, role=role)

    def on_tracking(self, socket: str, keys: Sequence[str], received_ms: int, role: Role = "addresses") -> None:
        self._sink.on_tracking(socket, keys, received_ms, role=role)

    def on_wanted(self, role: Role, keys: Collection[str]) -> None:
        self._sink.on_wanted(role, keys)

    async def on_socket_up(self, name: str, addresses: Sequence[str], reconnect: bool) -> None:
        await self._sink.on_socket_up(name, addresses, reconnect)
        if name == MAIN_SOCKET:
            self._changed.set()

    async def on_socket_down(self, name: str, addresses: Sequence[str], reason: str) -> None:
        await self._sink.on_socket_down(name, addresses, reason)
        if name == MAIN_SOCKET:
            self._changed.set()
