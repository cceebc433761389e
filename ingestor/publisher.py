"""The publisher: one task that turns queued work into bus events, in arrival order.

The socket readers never wait on Redis: they append work to a bounded queue (the oldest work is
dropped, and counted, if Redis stays away long enough to fill it). The publisher takes whatever is
queued, resolves blocks (ordering, backfill over REST, gap notices), and publishes the batch in one
atomic call, retrying with backoff while the bus is unreachable. Losing leadership (a fenced publish)
ends it, so the service can step down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field

from ingestor.core.blocks import BlockTracker
from ingestor.metrics import IngestorMetrics
from ingestor.normalize import Normalizer
from ingestor.rest import UpstreamRest
from shared.bus import Bus
from shared.errors import BusUnavailable, UpstreamError
from shared.events import TOPIC_BLOCKS, TOPIC_LIVE_2H, Publication, address_topic
from shared.models import Block, GapInfo, GapNotice

log = logging.getLogger(__name__)

MAX_BATCH = 256
MAX_BACKFILL_BLOCKS = 100


@dataclass(slots=True)
class Work:
    """Something to publish: normalized events, candidate blocks, or a request to repair an outage."""

    received_ms: int
    publications: list[Publication] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    outage_from_ms: int | None = None
    gap_addresses: list[str] = field(default_factory=list)
    backfill_chart: bool = False


def gap_publication(network: str, topic: str, info: GapInfo, ts_ms: int) -> Publication:
    """A gap notice on ``topic``."""
    return Publication(network, topic, GapNotice(gap=info).model_dump(mode="json"), ts_ms)


class Publisher:
    """Publishes queued work in order; owns the block tracker and the chart backfill position."""

    def __init__(
        self,
        network: str,
        bus: Bus,
        metrics: IngestorMetrics,
        *,
        fence: str | None,
        rest: UpstreamRest | None,
        queue_size: int = 10_000,
        retry_max_s: float = 5.0,
    ) -> None:
        self.network = network
        self._bus = bus
        self._metrics = metrics
        self._fence = fence
        self._rest = rest
        self._queue: deque[Work] = deque()
        self._queue_size = queue_size
        self._wakeup = asyncio.Event()
        self._retry_max_s = retry_max_s
        self._tracker = BlockTracker()
        self._chart_added: int | None = None
        self._last_block_ms: int | None = None
        self._normalizer = Normalizer(network)
        self.published = 0

    async def restore(self) -> None:
        """Load the published tip and chart position from the bus (after a restart or a failover)."""
        recent = await self._bus.recent(self.network, TOPIC_BLOCKS, 64)
        self._tracker = BlockTracker(Block.model_validate(e.data) for e in recent if "gap" not in e.data)
        self._last_block_ms = recent[-1].ts_ms if recent else None
        chart = await self._bus.latest(self.network, TOPIC_LIVE_2H)
        if chart is not None and "added_unix_s" in chart.data:
            self._chart_added = int(chart.data["added_unix_s"])

    def submit(self, work: Work) -> None:
        """Queue work; never blocks. The oldest work is dropped when the queue is full."""
        if len(self._queue) >= self._queue_size:
            dropped = self._queue.popleft()
            self._metrics.events_dropped.inc(len(dropped.publications) + len(dropped.blocks))
        self._queue.append(work)
        self._wakeup.set()

    @property
    def backlog(self) -> int:
        """Work items waiting."""
        return len(self._queue)

    async def run(self) -> None:
        """Publish forever; raise :class:`~shared.errors.BusError` when fenced out."""
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            publications: list[Publication] = []
            for work in batch:
                publications += await self._resolve(work)
            await self._publish(publications, min(work.received_ms for work in batch))

    async def drain(self, timeout_s: float) -> None:
        """Wait until the queue is empty (for a graceful shutdown), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._queue and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _resolve(self, work: Work) -> list[Publication]:
        publications: list[Publication] = []
        if work.blocks:
            publications += await self._resolve_blocks(work)
        publications += work.publications
        for address in work.gap_addresses:
            info = GapInfo(
                reason="upstream socket reconnected: activity during the outage may be missing",
                from_ts_ms=work.outage_from_ms or work.received_ms,
                to_ts_ms=work.received_ms,
            )
            publications.append(gap_publication(self.network, address_topic(address), info, work.received_ms))
        if work.backfill_chart:
            publications += await self._backfill_chart(work.received_ms)
        for publication in publications:
            if publication.topic == TOPIC_LIVE_2H and "added_unix_s" in publication.data:
                self._chart_added = max(self._chart_added or 0, int(publication.data["added_unix_s"]))
        return publications

    async def _resolve_blocks(self, work: Work) -> list[Publication]:
        plan = self._tracker.plan(work.blocks)
        blocks = plan.publish
        publications: list[Publication] = []
        if plan.missing is not None:
            recovered = await self._fetch_blocks(*plan.missing)
            blocks = sorted({b.height: b for b in [*recovered, *blocks]}.values(), key=lambda b: b.height)
            have = {b.height for b in recovered}
            lost = [h for h in range(plan.missing[0], plan.missing[1] + 1) if h not in have]
            if lost:
                info = GapInfo(
                    reason="blocks mined during an upstream outage could not be recovered"
                    if work.outage_from_ms
                    else "blocks mined while no ingestor was publishing could not be recovered",
                    from_ts_ms=work.outage_from_ms or self._last_block_ms or work.received_ms,
                    to_ts_ms=work.received_ms,
                    missing_from_height=lost[0],
                    missing_to_height=lost[-1],
                )
                publications.append(gap_publication(self.network, TOPIC_BLOCKS, info, work.received_ms))
                self._metrics.gaps.labels(TOPIC_BLOCKS).inc()
        self._tracker.published(blocks)
        if blocks:
            self._last_block_ms = work.received_ms
        for block in blocks:
            publications.append(
                Publication(self.network, TOPIC_BLOCKS, block.model_dump(mode="json"), work.received_ms)
            )
        return publications

    async def _fetch_blocks(self, first: int, last: int) -> list[Block]:
        if self._rest is None:
            return []
        try:
            raw = await self._rest.blocks_between(first, last, max_blocks=MAX_BACKFILL_BLOCKS)
        except UpstreamError as exc:
            log.warning("block backfill %d..%d failed: %s", first, last, exc)
            return []
        frame = self._normalizer.normalize(json.dumps({"blocks": raw}), received_ms=int(time.time() * 1000))
        blocks = [block.model_copy(update={"source": "backfill"}) for block in frame.blocks_snapshot]
        self._metrics.backfilled_blocks.labels("rest").inc(len(blocks))
        return blocks

    async def _backfill_chart(self, received_ms: int) -> list[Publication]:
        if self._rest is None or self._chart_added is None:
            return []
        try:
            points = await self._rest.fee_chart()
        except UpstreamError as exc:
            log.warning("live-2h-chart backfill failed: %s", exc)
            return []
        missed = [p for p in points if isinstance(p.get("added"), int) and p["added"] > self._chart_added]
        publications: list[Publication] = []
        for point in missed:
            frame = self._normalizer.normalize(json.dumps({"live-2h-chart": point}), received_ms=received_ms)
            publications += frame.publications
        return publications

    async def _publish(self, publications: list[Publication], received_ms: int) -> None:
        if not publications:
            return
        delay = 0.05
        while True:
            try:
                events = await self._bus.publish(publications, fence=self._fence)
                break
            except BusUnavailable as exc:
                self._metrics.publish_failures.inc()
                self._metrics.bus_up.set(0)
                log.warning("publish failed, retrying in %.2f s: %s", delay, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._retry_max_s)
        self._metrics.bus_up.set(1)
        self._metrics.publish_latency.observe(max(0.0, time.time() - received_ms / 1000))
        self._metrics.count_published([event.topic for event in events])
        self.published += len(events)
