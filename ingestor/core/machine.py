"""The rules of the publish path as a state machine without I/O (no asyncio, sockets, REST or Redis).

The socket, REST and publisher layers feed it inputs and drain its outputs:

* inputs: normalized frames with their received time, sockets up and down, the wanted addresses and each
  socket's confirmed list, leadership gained (with the previous leader's last activity) and lost, REST
  backfill results, publish success, and the clock;
* outputs: the next :class:`~ingestor.core.work.Batch` to publish (gap notices in place), REST fetches to
  make, whether the socket readers may read (:attr:`PublishCore.reading`, :attr:`PublishCore.deadline_ms`
  for the next clock input), and :mod:`notes <ingestor.core.work>` to count and log.

Every time is Unix ms, given by the caller. What the rules promise:

* Work is published in arrival order, at least once, while this replica leads and Redis takes it.
* The queue holds at most ``capacity`` work items. At capacity the readers pause; a pause longer than
  ``pause_max_ms`` turns into shedding: the oldest work is dropped, each topic's dropped interval is kept
  and announced by a gap notice at the head of the next batch. Dropped blocks are kept aside and go
  through the block rules later; they are never dropped.
* Blocks are published once each, in height order; missing heights are fetched over REST, and those that
  stay missing get a gap notice with their heights.
* ``stats`` and ``mempool-blocks`` missed while the main socket was down (or before a takeover) get a gap
  notice in front of the first new data; the 2-hour chart is backfilled over REST, and gets a gap notice
  only when that fails.
* An address gets a gap notice for every interval in which it was wanted but not tracked upstream (its
  socket down or moving, its list cleared, or a takeover), when a socket confirms it again.
* A transaction's events follow the publish policy of :mod:`ingestor.core.txs` (only changes an agent acts
  on); its state after a blind interval, a new lease or a silent departure is read back over REST
  (:meth:`PublishCore.take_tx_checks`), and only a blind interval whose read fails gets a gap notice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ingestor.core.addresses import AddressWatch
from ingestor.core.flow import Flow
from ingestor.core.gaps import GapLedger, set_aside
from ingestor.core.resolve import Resolver
from ingestor.core.txs import RestTxStatus, TxWatch
from ingestor.core.work import (
    Batch,
    Dropped,
    DropReason,
    Fetch,
    GapMark,
    Note,
    Paused,
    Reason,
    Resumed,
    Work,
    add_gap,
    gap_publication,
)
from ingestor.normalize import NormalizedFrame
from shared.events import (
    TOPIC_LIVE_2H,
    TOPIC_MEMPOOL_BLOCKS,
    TOPIC_STATS,
    TX_TOPIC_PREFIX,
    Publication,
    address_topic,
    is_address_topic,
    is_tx_topic,
)
from shared.models import Block, GapInfo

MAX_BATCH = 256
SNAPSHOT_TOPICS = (TOPIC_STATS, TOPIC_MEMPOOL_BLOCKS)
"""Topics whose missed updates only a gap notice can announce (the upstream replays nothing)."""


class PublishCore:
    """The publish path of one leadership term (a new replica or term starts a new core)."""

    def __init__(
        self, network: str, *, capacity: int = 10_000, pause_max_ms: int = 5_000, max_batch: int = MAX_BATCH
    ) -> None:
        self.network = network
        self.max_batch = max_batch
        self._queue: deque[Work] = deque()
        self._flow = Flow(capacity, pause_max_ms)
        self._ledger = GapLedger()
        self._addresses = AddressWatch()
        self._txs = TxWatch(network)
        self._resolver = Resolver(network)
        self._salvage: Work | None = None
        self._missed: dict[str, tuple[int, str]] = {}
        self._main_down_since: int | None = None
        self._main_outage_from: int | None = None
        self._chart_missed_from: int | None = None
        self._waiting: Work | None = None
        self._in_flight: Batch | None = None
        self._notes: list[Note] = []
        self._dropped: dict[str, list[int]] = {}

    # -- inputs ---------------------------------------------------------------------------------------

    def leadership_gained(
        self,
        *,
        recent_blocks: Iterable[Block] = (),
        last_block_ms: int | None = None,
        chart_added_unix_s: int | None = None,
        previous_activity_ms: int | None = None,
        last_event_ms: Mapping[str, int] | None = None,
        tx_states: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """This replica leads. ``previous_activity_ms``: when the newest event published before it was
        received (None: nothing was ever published, so nothing can have been missed); ``last_event_ms``:
        the same per topic, where known. Whatever the previous leader held unpublished (or had not yet
        announced) was received after its topic's last published event, so each topic and each address
        wanted now is blind from there (or from ``previous_activity_ms``) until this replica's first data.
        ``tx_states``: the data of each tracked transaction's last published event, per txid."""
        self._resolver.restore(recent_blocks, last_block_ms, chart_added_unix_s)
        if previous_activity_ms is None:
            return
        last = dict(last_event_ms or {})
        for topic in SNAPSHOT_TOPICS:
            self._missed[topic] = (last.get(topic, previous_activity_ms), Reason.TAKEOVER)
        self._chart_missed_from = last.get(TOPIC_LIVE_2H, previous_activity_ms)
        prefix = len(address_topic(""))
        per_address = {topic[prefix:]: ms for topic, ms in last.items() if is_address_topic(topic)}
        self._addresses.inherit(previous_activity_ms, per_address)
        prefix = len(TX_TOPIC_PREFIX)
        per_tx = {topic[prefix:]: ms for topic, ms in last.items() if is_tx_topic(topic)}
        self._txs.inherit(previous_activity_ms, per_tx, tx_states or {})

    def redis_lost(self, topics: Mapping[str, tuple[int, int]], now_ms: int) -> None:
        """Redis lost published events (a failover to a replica that lacked them): ``topics`` maps each
        topic that had some to their interval (ingest time). Their gap notices go out next, first in line."""
        work = Work(now_ms)
        for topic, (from_ms, to_ms) in sorted(topics.items(), key=lambda item: (item[1], item[0])):
            add_gap(self.network, work, topic, from_ms, to_ms, Reason.REDIS_FAILOVER)
        if work.publications:
            self._queue.appendleft(work)

    def frame(self, frame: NormalizedFrame, received_ms: int) -> None:
        """A normalized upstream frame."""
        blocks = ([frame.new_block] if frame.new_block else []) + frame.blocks_snapshot
        publications = [p for p in frame.publications if not is_tx_topic(p.topic) or self._admit_tx(p)]
        if not publications and not blocks:
            return
        work = Work(received_ms, blocks=blocks)
        for topic in dict.fromkeys(publication.topic for publication in publications):
            missed = self._missed.pop(topic, None)
            if missed is not None:
                add_gap(self.network, work, topic, missed[0], received_ms, missed[1])
        work.publications += publications
        if blocks:
            work.outage_from_ms, self._main_outage_from = self._main_outage_from, None
        self._enqueue(work, received_ms)

    def socket_up(self, socket: str, *, main: bool, reconnect: bool, now_ms: int) -> None:
        """A socket (re)connected. The main one starts with a chart backfill."""
        if not main:
            return
        down_since, self._main_down_since = self._main_down_since, None
        if reconnect:
            self._main_outage_from = down_since or now_ms
        missed_from = down_since if down_since is not None else self._chart_missed_from
        self._chart_missed_from = None
        self._enqueue(Work(now_ms, chart_backfill=True, chart_missed_from_ms=missed_from), now_ms)

    def socket_down(self, socket: str, *, main: bool, now_ms: int, last_read_ms: int | None = None) -> None:
        """A socket closed (it will be reopened); ``last_read_ms``: when its last frame was read.

        What the socket carried may be missing from its last frame read on (not only from when the drop
        was noticed), and from when reads paused if they were paused (frames waiting unread are lost too).
        """
        since = min(now_ms, last_read_ms if last_read_ms is not None else now_ms)
        if self._flow.paused_since is not None:
            since = min(since, self._flow.paused_since)
        if main:
            if self._main_down_since is None:
                self._main_down_since = since
            for topic in SNAPSHOT_TOPICS:
                self._missed.setdefault(topic, (since, Reason.OUTAGE))
        else:
            self._addresses.lost(socket, since, Reason.OUTAGE)
            self._txs.lost(socket, since, Reason.OUTAGE)

    def addresses_wanted(self, addresses: Collection[str], now_ms: int) -> None:
        """The addresses to track from now on."""
        self._addresses.wanted(addresses, now_ms)

    def tracking_confirmed(self, socket: str, addresses: Iterable[str], now_ms: int) -> None:
        """``socket``'s reply confirms it tracks ``addresses``; blind intervals that end become gap notices."""
        gaps = self._addresses.confirmed(socket, addresses, now_ms)
        if gaps:
            work = Work(now_ms)
            for gap in gaps:
                add_gap(self.network, work, address_topic(gap.address), gap.from_ms, gap.to_ms, gap.reason)
            self._enqueue(work, now_ms)

    def tracking_cleared(self, socket: str, now_ms: int) -> None:
        """The upstream cleared ``socket``'s list (a ``track-addresses-error``)."""
        self._addresses.lost(socket, now_ms, Reason.INTERRUPTED)

    def txs_wanted(self, txids: Collection[str], now_ms: int) -> None:
        """The transactions to track from now on."""
        self._txs.wanted(txids, now_ms)

    def tx_tracking_confirmed(self, socket: str, txids: Iterable[str], reported: Collection[str], now_ms: int) -> None:
        """``socket``'s reply confirms it tracks ``txids`` and names ``reported`` (in the mempool or
        replaced); what it leaves out may need a REST check (:meth:`take_tx_checks`)."""
        self._txs.confirmed(socket, txids, reported, now_ms)

    def tx_statuses_fetched(self, results: Mapping[str, RestTxStatus | None], now_ms: int) -> None:
        """The answers to :meth:`take_tx_checks`, per txid (None: the read failed)."""
        work = self._txs.checked(results, now_ms, self._resolver.tip_height)
        if work.publications:
            self._enqueue(work, now_ms)

    def blocks_fetched(self, blocks: list[Block] | None) -> None:
        """The answer to a :class:`FetchBlocks` (None: the fetch failed)."""
        if self._waiting is not None:
            self._waiting.fetched_blocks = blocks if blocks is not None else []

    def chart_fetched(self, points: list[Publication] | None) -> None:
        """The answer to a :class:`FetchChart`: chart publications, oldest first (None: the fetch failed)."""
        if self._waiting is not None:
            self._waiting.fetched_chart = points
            self._waiting.chart_failed = points is None

    def published(self, batch: Batch) -> None:
        """``batch`` was published."""
        if batch is self._in_flight:
            self._in_flight = None

    def clock(self, now_ms: int) -> None:
        """Time passed (call at :attr:`deadline_ms`)."""
        paused_ms = self._flow.clock(now_ms)
        if paused_ms is not None:
            self._notes.append(Resumed(now_ms, paused_ms, shedding=True))

    def leadership_lost(self, now_ms: int) -> Dropped:
        """This term ends: everything not published is discarded (the next leader marks the interval)."""
        works = [self._waiting, self._salvage, *self._queue]
        events = sum(work.events for work in works if work is not None) + self._ledger.events
        if self._in_flight is not None:
            events += len(self._in_flight.publications)
        count = sum(work is not None for work in works) + (self._in_flight is not None)
        self._queue.clear()
        self._waiting = self._salvage = self._in_flight = None
        self._ledger.take()
        self._resolver.fetches.clear()
        paused_ms = self._flow.drained(0, now_ms)
        if paused_ms is not None:
            self._notes.append(Resumed(now_ms, paused_ms, shedding=False))
        dropped = Dropped(DropReason.LEADERSHIP_LOST, events, count)
        if events:
            self._notes.append(dropped)
        return dropped

    # -- outputs --------------------------------------------------------------------------------------

    @property
    def reading(self) -> bool:
        """Whether the socket readers may read."""
        return self._flow.reading

    @property
    def shedding(self) -> bool:
        """Whether the queue drops its oldest work to make room."""
        return self._flow.state == "shedding"

    @property
    def deadline_ms(self) -> int | None:
        """When to call :meth:`clock` next, if at all."""
        return self._flow.deadline_ms

    @property
    def depth(self) -> int:
        """Work items waiting to be batched."""
        return len(self._queue) + (self._waiting is not None)

    @property
    def paused_ms(self) -> int:
        """Total time the readers were paused (finished pauses)."""
        return self._flow.paused_ms

    @property
    def idle(self) -> bool:
        """Nothing is left to publish."""
        empty = not self._queue and self._waiting is None and self._salvage is None
        return empty and self._in_flight is None and not self._ledger

    def take_fetches(self) -> list[Fetch]:
        """REST fetches to make now; answer each with :meth:`blocks_fetched` or :meth:`chart_fetched`."""
        fetches, self._resolver.fetches = self._resolver.fetches, []
        return fetches

    def take_tx_checks(self) -> list[str]:
        """Txids whose status to read over REST now (answer with :meth:`tx_statuses_fetched`); unlike block
        and chart fetches, these hold nothing else up."""
        return self._txs.take_checks()

    def take_notes(self) -> list[Note]:
        """What happened since the last call, to count and log (drops are summed per reason)."""
        notes, self._notes = self._notes, []
        for reason, (events, works) in self._dropped.items():
            notes.append(Dropped(reason, events, works))
        self._dropped.clear()
        return notes

    def next_batch(self, now_ms: int) -> Batch | None:
        """What to publish next: the unpublished batch again, or a new one; None when there is nothing
        (or the head of the queue waits for a fetch)."""
        if self._in_flight is not None:
            return self._in_flight
        if self._salvage is not None:
            self._queue.appendleft(self._salvage)
            self._salvage = None
        publications: list[Publication] = []
        marks: list[GapMark] = []
        oldest: int | None = None
        while len(publications) < self.max_batch:
            work = self._waiting
            if work is None:
                self._announce_drops(publications, marks, now_ms)
                if not self._queue:
                    break
                work = self._queue.popleft()
            self._waiting = None
            if not self._resolver.resolve(work):
                self._waiting = work
                break
            publications += work.publications
            marks += work.marks
            oldest = work.received_ms if oldest is None else min(oldest, work.received_ms)
        paused_ms = self._flow.drained(len(self._queue), now_ms)
        if paused_ms is not None:
            self._notes.append(Resumed(now_ms, paused_ms, shedding=False))
        if not publications:
            return None
        self._in_flight = Batch(publications, oldest if oldest is not None else now_ms, marks)
        return self._in_flight

    # -- rules ----------------------------------------------------------------------------------------

    def _enqueue(self, work: Work, now_ms: int) -> None:
        self._queue.append(work)
        was_reading = self._flow.state == "reading"
        excess = self._flow.filled(len(self._queue), now_ms)
        if was_reading and self._flow.state == "paused":
            self._notes.append(Paused(now_ms, len(self._queue)))
        for _ in range(excess):
            self._drop(self._queue.popleft())

    def _admit_tx(self, publication: Publication) -> bool:
        return self._txs.admit(publication.topic[len(TX_TOPIC_PREFIX) :], publication.data)

    def _drop(self, work: Work) -> None:
        self._ledger.drop(work.publications, work.received_ms)
        for publication in work.publications:
            if is_tx_topic(publication.topic):
                self._txs.forget(publication.topic[len(TX_TOPIC_PREFIX) :])
        events = len([p for p in work.publications if "gap" not in p.data])
        counts = self._dropped.setdefault(DropReason.OVERFLOW, [0, 0])
        counts[0] += events
        counts[1] += 1
        if work.blocks or work.chart_backfill:
            self._salvage = set_aside(self._salvage, work)

    def _announce_drops(self, publications: list[Publication], marks: list[GapMark], now_ms: int) -> None:
        for topic, span in self._ledger.take().items():
            info = GapInfo(reason=Reason.SENTENCES[Reason.OVERFLOW], from_ts_ms=span.from_ms, to_ts_ms=span.to_ms)
            publications.append(gap_publication(self.network, topic, info, now_ms))
            marks.append(GapMark(topic, Reason.OVERFLOW))
