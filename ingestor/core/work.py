"""The values the publish core takes in and gives out: queued work, batches, fetch requests and notes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final

from shared.events import Publication
from shared.models import Block, GapInfo, GapNotice


class Reason:
    """Why a gap notice was published: a short code (a metric label) and the sentence consumers read."""

    OVERFLOW: Final = "overflow"
    TAKEOVER: Final = "takeover"
    OUTAGE: Final = "upstream_outage"
    INTERRUPTED: Final = "tracking_interrupted"
    BACKFILL_FAILED: Final = "backfill_failed"
    TX_UNRECOVERED: Final = "tx_unrecovered"
    REDIS_FAILOVER: Final = "redis_failover"
    UNTRACKED: Final = "untracked"

    SENTENCES: Final = {
        OVERFLOW: "the ingestor's publish queue overflowed: events received in this interval were dropped",
        TAKEOVER: "the ingestor leader changed (failover or restart): events between the previous leader's last "
        "publication and the new leader's first data may be missing",
        OUTAGE: "the upstream socket was down: events in this interval were missed",
        INTERRUPTED: "upstream tracking of this address was interrupted: activity in this interval may be missing",
        UNTRACKED: "no call was tracking this address or transaction (its lease lapsed): activity in this "
        "interval may be missing",
        BACKFILL_FAILED: "live-2h-chart points missed during an outage could not be recovered",
        TX_UNRECOVERED: "upstream tracking of this transaction was interrupted and its status could not be read "
        "back over REST: a change in this interval may be missing",
        REDIS_FAILOVER: "Redis failed over to a replica that lacked the newest events: events published in this "
        "interval were lost",
    }


class DropReason:
    """Why unpublished work was discarded (a metric label)."""

    OVERFLOW: Final = "overflow"
    LEADERSHIP_LOST: Final = "leadership_lost"


def gap_publication(network: str, topic: str, info: GapInfo, ts_ms: int) -> Publication:
    """A gap notice on ``topic``."""
    return Publication(network, topic, GapNotice(gap=info).model_dump(mode="json"), ts_ms)


def add_gap(network: str, work: Work, topic: str, from_ms: int, to_ms: int, reason: str) -> None:
    """Append a gap notice for ``topic`` over ``from_ms..to_ms`` (``reason``: a :class:`Reason` code) to ``work``."""
    info = GapInfo(reason=Reason.SENTENCES[reason], from_ts_ms=from_ms, to_ts_ms=to_ms)
    work.publications.append(gap_publication(network, topic, info, work.received_ms))
    work.marks.append(GapMark(topic, reason))


def gap_of(publication: Publication) -> GapInfo | None:
    """The gap a publication announces, if it is a gap notice."""
    gap = publication.data.get("gap")
    return GapInfo.model_validate(gap) if isinstance(gap, dict) else None


@dataclass(frozen=True, slots=True)
class GapMark:
    """One gap notice in a batch, for counting once it is published."""

    topic: str
    reason: str


@dataclass(slots=True)
class Work:
    """One entry of the publish queue, in arrival order.

    ``publications`` are ready as they are. ``blocks`` go through the block rules (ordering, REST
    backfill of missing heights, a gap notice for what stays missing); ``chart_backfill`` asks for the
    live-2h-chart points missed since the last published one.
    """

    received_ms: int
    publications: list[Publication] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    outage_from_ms: int | None = None
    """Blocks: the main socket was down since then (the gap reason and interval start)."""
    chart_backfill: bool = False
    chart_missed_from_ms: int | None = None
    """Chart: points were missed since then; a failed backfill publishes a gap notice from here."""
    marks: list[GapMark] = field(default_factory=list)
    """Gap notices among ``publications``."""
    fetched_blocks: list[Block] | None = None
    fetched_chart: list[Publication] | None = None
    chart_failed: bool = False

    @property
    def events(self) -> int:
        """Events this work would publish (as far as known before resolving it)."""
        return len(self.publications) + len(self.blocks)


@dataclass(frozen=True, slots=True)
class FetchBlocks:
    """Fetch blocks ``first..last`` (heights, inclusive) over REST; answer with ``blocks_fetched``."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class FetchChart:
    """Fetch the live-2h-chart points; answer with ``chart_fetched`` (stamped ``received_ms``)."""

    received_ms: int


Fetch = FetchBlocks | FetchChart


@dataclass(frozen=True, slots=True)
class Batch:
    """Publications to publish in one atomic call, in order; the same batch until it is published."""

    publications: list[Publication]
    oldest_ms: int
    """When the oldest work in it was received (for the publish latency)."""
    marks: list[GapMark]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Names this batch to the bus, so a retry after a lost reply is not applied twice."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """Unpublished events were discarded."""

    reason: str
    events: int
    works: int


@dataclass(frozen=True, slots=True)
class Paused:
    """The queue is full: the socket readers should stop reading."""

    at_ms: int
    depth: int


@dataclass(frozen=True, slots=True)
class Resumed:
    """The socket readers may read again after ``paused_ms``; ``shedding``: the queue is still full and
    from now on the oldest work is dropped (and marked) to make room."""

    at_ms: int
    paused_ms: int
    shedding: bool


Note = Dropped | Paused | Resumed
