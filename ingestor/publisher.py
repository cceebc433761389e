"""The publisher: the I/O around :class:`~ingestor.core.PublishCore` (Redis, REST, timers, the read gate).

The socket readers never wait on Redis: their inputs go to the core at once. One task takes the core's
batches, publishes each in one atomic call and makes the REST fetches the core asks for. Every bus
error is retried (:mod:`shared.retry`) except :class:`~shared.errors.Fenced`: another replica leads,
so this one stops publishing. When the queue is full the read gate closes (the readers stop, TCP pushes
back on the upstream); a pause longer than the allowed bound reopens it and the core drops the oldest
work, which the next batch marks with gap notices. When the task ends (fenced, or cancelled after a
drain), whatever was not published is counted and logged, and the next leader marks the interval. The
transaction statuses the core asks for are read over REST beside the publishing task, a few at a time, so
a slow REST never holds publishing up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Collection, Iterable

from ingestor.core import (
    Batch,
    Dropped,
    DropReason,
    Fetch,
    FetchBlocks,
    Note,
    Paused,
    PublishCore,
    Reason,
    RestTxStatus,
    Resumed,
)
from ingestor.metrics import IngestorMetrics
from ingestor.normalize import NormalizedFrame, Normalizer
from ingestor.rest import UpstreamRest
from ingestor.upstream.gate import ReadGate
from shared.bus import Backend
from shared.bus.base import SequenceRegression
from shared.channels import split_lease_keys
from shared.errors import BusError, Fenced, UpstreamError
from shared.events import (
    STREAM_TOPICS,
    TOPIC_BLOCKS,
    TOPIC_LIVE_2H,
    TX_TOPIC_PREFIX,
    Event,
    Publication,
    address_topic,
    is_tx_topic,
    tx_topic,
)
from shared.metrics import topic_label
from shared.models import Block
from shared.retry import retrying

log = logging.getLogger(__name__)

MAX_BACKFILL_BLOCKS = 100
TX_CHECKS_IN_FLIGHT = 8
"""Transaction statuses read over REST at once."""
LOG_EVERY_S = 5.0


def now_ms() -> int:
    """Wall-clock time in Unix ms."""
    return int(time.time() * 1000)


class Publisher:
    """Publishes what the core batches, in order, for one leadership term."""

    def __init__(
        self,
        network: str,
        bus: Backend,
        metrics: IngestorMetrics,
        *,
        fence: str | None,
        rest: UpstreamRest | None,
        queue_items: int = 10_000,
        pause_max_s: float = 5.0,
        retry_max_s: float = 5.0,
    ) -> None:
        self.network = network
        self.core = PublishCore(network, capacity=queue_items, pause_max_ms=int(pause_max_s * 1000))
        self.gate = ReadGate()
        self.published = 0
        self._bus = bus
        self._metrics = metrics
        self._fence = fence
        self._rest = rest
        self._retry_max_s = retry_max_s
        self._normalizer = Normalizer(network)
        self._wakeup = asyncio.Event()
        self._ended = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._overflow = _Tally()
        self._tx_checks: set[asyncio.Task[None]] = set()
        self._tx_check_slots = asyncio.Semaphore(TX_CHECKS_IN_FLIGHT)

    async def restore(self) -> None:
        """Load what was published before this term: recent blocks, the chart position, when each topic
        (each leased address's and transaction's too) last had an event, and each transaction's last state."""
        bus, network = self._bus, self.network
        recent = await bus.recent(network, TOPIC_BLOCKS, 64)
        addresses, txids = split_lease_keys(await bus.leased_addresses(network))
        topics = [*STREAM_TOPICS, *(address_topic(a) for a in sorted(addresses)), *(tx_topic(t) for t in sorted(txids))]
        events = await asyncio.gather(*(bus.latest(network, topic) for topic in topics))
        latest = {topic: event for topic, event in zip(topics, events, strict=True) if event is not None}
        chart = latest.get(TOPIC_LIVE_2H)
        self.core.leadership_gained(
            recent_blocks=[Block.model_validate(event.data) for event in recent if "gap" not in event.data],
            last_block_ms=recent[-1].ts_ms if recent else None,
            chart_added_unix_s=int(chart.data["added_unix_s"]) if chart and "added_unix_s" in chart.data else None,
            previous_activity_ms=max((event.ts_ms for event in latest.values()), default=None),
            last_event_ms={topic: event.ts_ms for topic, event in latest.items()},
            tx_states={
                topic[len(TX_TOPIC_PREFIX) :]: event.data for topic, event in latest.items() if is_tx_topic(topic)
            },
        )

    # -- inputs from the socket layer (each returns at once) -------------------------------------------

    def frame(self, frame: NormalizedFrame, received_ms: int) -> None:
        """Queue a normalized frame's events."""
        self.core.frame(frame, received_ms)
        self._changed()

    def socket_up(self, socket: str, *, main: bool, reconnect: bool) -> None:
        """A socket (re)connected."""
        self.core.socket_up(socket, main=main, reconnect=reconnect, now_ms=now_ms())
        self._changed()

    def socket_down(self, socket: str, *, main: bool, last_read_ms: int | None = None) -> None:
        """A socket closed; ``last_read_ms``: when its last frame was read."""
        self.core.socket_down(socket, main=main, now_ms=now_ms(), last_read_ms=last_read_ms)
        self._changed()

    def addresses_wanted(self, addresses: Collection[str]) -> None:
        """The addresses to track from now on."""
        self.core.addresses_wanted(addresses, now_ms())

    def tracking_confirmed(self, socket: str, addresses: Iterable[str], received_ms: int) -> None:
        """The upstream confirmed ``socket``'s list."""
        self.core.tracking_confirmed(socket, addresses, received_ms)
        self._changed()

    def txs_wanted(self, txids: Collection[str]) -> None:
        """The transactions to track from now on."""
        self.core.txs_wanted(txids, now_ms())

    def tx_tracking_confirmed(
        self, socket: str, txids: Iterable[str], reported: Collection[str], received_ms: int
    ) -> None:
        """The upstream confirmed ``socket``'s transaction list; its reply named ``reported``."""
        self.core.tx_tracking_confirmed(socket, txids, reported, received_ms)
        self._changed()

    def redis_lost(self, regression: SequenceRegression) -> None:
        """Redis lost events it had acknowledged (the bus saw its id counter go backwards): mark them."""
        self.core.redis_lost(regression.topics, now_ms())
        self._changed()

    def tracking_cleared(self, socket: str, received_ms: int) -> None:
        """The upstream cleared ``socket``'s list."""
        self.core.tracking_cleared(socket, received_ms)

    @property
    def backlog(self) -> int:
        """Work items waiting."""
        return self.core.depth

    # -- the publishing task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until cancelled; raise :class:`~shared.errors.BusError` when fenced out."""
        try:
            while True:
                batch = self.core.next_batch(now_ms())
                self._sync()
                self._check_txs(self.core.take_tx_checks())
                fetches = self.core.take_fetches()
                if fetches:
                    for fetch in fetches:
                        await self._fetch(fetch)
                    continue
                if batch is None:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._publish(batch)
                self.core.published(batch)
        finally:
            self._end()

    async def drain(self, timeout_s: float) -> None:
        """Wait until everything queued is published, at most ``timeout_s``; return at once when the
        publisher has ended (fenced or stopped), since then nothing more will be published."""
        deadline = time.monotonic() + timeout_s
        while not self.core.idle and not self._ended.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(0.02, max(0.0, deadline - time.monotonic()))):
                    await self._ended.wait()

    def _end(self) -> None:
        self._ended.set()
        for task in self._tx_checks:
            task.cancel()
        self.core.leadership_lost(now_ms())
        self._sync()
        self.gate.set(True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _changed(self) -> None:
        self._wakeup.set()
        self._sync()

    def _sync(self) -> None:
        """Carry out the core's state: the read gate, the clock deadline, metrics and logs."""
        core = self.core
        self.gate.set(core.reading)
        self._metrics.publish_queue_depth.set(core.depth)
        for note in core.take_notes():
            self._note(note)
        deadline = core.deadline_ms
        if deadline != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, deadline
            if deadline is not None:
                delay = max(0.0, deadline / 1000 - time.time())
                self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        self.core.clock(now_ms())
        self._changed()

    def _note(self, note: Note) -> None:
        metrics = self._metrics
        if isinstance(note, Paused):
            metrics.reads_paused.set(1)
            log.info("publish queue full (%d work items): pausing upstream reads", note.depth)
        elif isinstance(note, Resumed):
            metrics.reads_paused.set(0)
            metrics.reads_paused_seconds.inc(note.paused_ms / 1000)
            if note.shedding:
                log.warning(
                    "upstream reads paused %.1f s and the publish queue is still full: dropping the oldest work; "
                    "gap notices will mark what is dropped",
                    note.paused_ms / 1000,
                )
        elif isinstance(note, Dropped):
            metrics.events_dropped.labels(note.reason).inc(note.events)
            if note.reason == DropReason.LEADERSHIP_LOST:
                log.warning(
                    "leadership ended with %d unpublished events (%d work items) discarded; the next leader "
                    "publishes gap notices for the interval",
                    note.events,
                    note.works,
                )
            else:
                self._overflow.add(note)

    def _check_txs(self, txids: list[str]) -> None:
        if not txids:
            return
        if self._rest is None:
            self.core.tx_statuses_fetched(dict.fromkeys(txids), now_ms())
            self._changed()
            return
        task = asyncio.create_task(self._read_tx_statuses(self._rest, txids), name="tx-status-checks")
        self._tx_checks.add(task)
        task.add_done_callback(self._tx_checks.discard)

    async def _read_tx_statuses(self, rest: UpstreamRest, txids: list[str]) -> None:
        async def read(txid: str) -> RestTxStatus | None:
            async with self._tx_check_slots:
                try:
                    status = await rest.tx_status(txid)
                except UpstreamError as exc:
                    log.warning("status of transaction %s could not be read: %s", txid, exc)
                    self._metrics.tx_status_checks.labels("failed").inc()
                    return None
            self._metrics.tx_status_checks.labels("confirmed" if status.confirmed else "unconfirmed").inc()
            return status

        results = await asyncio.gather(*(read(txid) for txid in txids))
        if not self._ended.is_set():
            self.core.tx_statuses_fetched(dict(zip(txids, results, strict=True)), now_ms())
            self._changed()

    async def _fetch(self, fetch: Fetch) -> None:
        if isinstance(fetch, FetchBlocks):
            self.core.blocks_fetched(await self._fetch_blocks(fetch.first, fetch.last))
        else:
            self.core.chart_fetched(await self._fetch_chart(fetch.received_ms))

    async def _fetch_blocks(self, first: int, last: int) -> list[Block] | None:
        if self._rest is None:
            return None
        try:
            raw = await self._rest.blocks_between(first, last, max_blocks=MAX_BACKFILL_BLOCKS)
        except UpstreamError as exc:
            log.warning("block backfill %d..%d failed: %s", first, last, exc)
            return None
        frame = self._normalizer.normalize(json.dumps({"blocks": raw}), received_ms=now_ms())
        blocks = [block.model_copy(update={"source": "backfill"}) for block in frame.blocks_snapshot]
        self._metrics.backfilled_blocks.labels("rest").inc(len(blocks))
        return blocks

    async def _fetch_chart(self, received_ms: int) -> list[Publication] | None:
        if self._rest is None:
            return None
        try:
            points = await self._rest.fee_chart()
        except UpstreamError as exc:
            log.warning("live-2h-chart backfill failed: %s", exc)
            return None
        publications: list[Publication] = []
        for point in points:
            frame = self._normalizer.normalize(json.dumps({"live-2h-chart": point}), received_ms=received_ms)
            publications += frame.publications
        return publications

    async def _publish(self, batch: Batch) -> None:
        """Publish ``batch``, retrying every bus error but :class:`~shared.errors.Fenced` (which ends the term)."""
        events: list[Event] = []
        async for attempt in retrying(
            "publish",
            on=BusError,
            unless=Fenced,
            first_s=0.05,
            max_s=self._retry_max_s,
            on_retry=lambda error: self._metrics.publish_failures.inc(),
            logger=log,
        ):
            with attempt:
                events = await self._bus.publish(batch.publications, fence=self._fence, token=batch.token)
        self._published(batch, events)

    def _published(self, batch: Batch, events: list[Event]) -> None:
        metrics = self._metrics
        metrics.publish_latency.observe(max(0.0, time.time() - batch.oldest_ms / 1000))
        metrics.count_published([event.topic for event in events])
        for mark in batch.marks:
            metrics.gaps.labels(topic_label(mark.topic), mark.reason).inc()
        self.published += len(events)
        self._overflow.announced(batch)


class _Tally:
    """Overflow drops, logged when they start, at most every few seconds after, and when their gap notices
    are published."""

    def __init__(self) -> None:
        self.events = 0
        self.works = 0
        self._logged = float("-inf")

    def add(self, note: Dropped) -> None:
        self.events += note.events
        self.works += note.works
        if time.monotonic() - self._logged >= LOG_EVERY_S:
            log.warning(
                "publish queue full: dropped %d events (%d work items), oldest first; gap notices will mark them",
                self.events,
                self.works,
            )
            self.events = self.works = 0
            self._logged = time.monotonic()

    def announced(self, batch: Batch) -> None:
        topics = {mark.topic for mark in batch.marks if mark.reason == Reason.OVERFLOW}
        if topics:
            log.warning(
                "published gap notices on %d topics for the work the publish queue dropped (%d events not"
                " reported before)",
                len(topics),
                self.events,
            )
            self.events = self.works = 0
