"""The ingestor's loops over shared state: leadership renewal, address leases, and the status record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ingestor.metrics import IngestorMetrics
from ingestor.pipeline import IngestPipeline
from ingestor.upstream.pool import UpstreamPool
from shared.bitcoin.addresses import validate_address
from shared.bus import Coordinator
from shared.errors import BusUnavailable, InvalidAddress
from shared.models import IngestorStatus
from shared.settings import IngestorSettings, Network

log = logging.getLogger(__name__)


class LostLeadership(Exception):
    """Another replica holds the leader lease now (or ours could not be renewed in time)."""


async def keep_leadership(coordinator: Coordinator, settings: IngestorSettings, holder: str) -> None:
    """Renew the leader lease until it is lost; then raise :class:`LostLeadership`."""
    last_renewal = time.monotonic()
    while True:
        await asyncio.sleep(settings.leader_renew_s)
        try:
            if not await coordinator.hold_leadership(settings.network, holder, settings.leader_ttl_s):
                raise LostLeadership("another replica took the leader lease")
            last_renewal = time.monotonic()
        except BusUnavailable as exc:
            if time.monotonic() - last_renewal >= settings.leader_ttl_s:
                raise LostLeadership(f"could not renew the leader lease for {settings.leader_ttl_s} s") from exc
            log.warning("leader lease renewal failed, retrying: %s", exc)


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
) -> None:
    """Track the union of live address leases upstream, re-reading them every poll interval."""
    while True:
        try:
            leased = await coordinator.leased_addresses(settings.network)
        except BusUnavailable as exc:
            log.warning("cannot read address leases: %s", exc)
        else:
            before = (set(pool.tracked), list(pool.rejected))
            pool.set_addresses(valid_addresses(leased, settings.network))
            if (set(pool.tracked), pool.rejected) != before:
                changed.set()
            metrics.tracked_addresses.set(len(pool.tracked))
            metrics.rejected_addresses.set(len(pool.rejected))
            metrics.address_capacity.set(pool.capacity)
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
) -> None:
    """Publish the status record every interval and on changes (it expires if this replica dies)."""
    while True:
        try:
            await coordinator.write_status(
                current_status(settings, holder, pool, pipeline), ttl_s=settings.status_interval_s * 3
            )
        except BusUnavailable as exc:
            log.warning("cannot write the ingestor status: %s", exc)
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), settings.status_interval_s)
