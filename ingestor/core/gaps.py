"""Per-topic accounting of dropped work, until a gap notice says what went missing."""

from __future__ import annotations

from dataclasses import dataclass

from ingestor.core.work import Work, gap_of
from shared.events import Publication

MAX_SET_ASIDE_BLOCKS = 64


@dataclass(slots=True)
class Span:
    """An interval (Unix ms, inclusive) of one topic in which events were dropped."""

    from_ms: int
    to_ms: int
    events: int = 0

    def widen(self, from_ms: int, to_ms: int) -> None:
        """Extend the span to cover ``from_ms..to_ms``."""
        self.from_ms, self.to_ms = min(self.from_ms, from_ms), max(self.to_ms, to_ms)


class GapLedger:
    """What was dropped per topic since the last gap notices were taken."""

    def __init__(self) -> None:
        self._spans: dict[str, Span] = {}

    def __bool__(self) -> bool:
        return bool(self._spans)

    @property
    def events(self) -> int:
        """Dropped events not yet announced."""
        return sum(span.events for span in self._spans.values())

    def drop(self, publications: list[Publication], received_ms: int) -> None:
        """Account for ``publications`` received at ``received_ms`` that will not be published.

        A dropped gap notice is not lost either: its interval joins the topic's span.
        """
        for publication in publications:
            gap = gap_of(publication)
            start, end = (gap.from_ts_ms, gap.to_ts_ms) if gap is not None else (received_ms, received_ms)
            span = self._spans.get(publication.topic)
            if span is None:
                span = self._spans[publication.topic] = Span(start, end)
            span.widen(start, end)
            span.events += gap is None

    def take(self) -> dict[str, Span]:
        """The spans to announce, per topic; the ledger starts over."""
        spans, self._spans = self._spans, {}
        return spans


def set_aside(aside: Work | None, work: Work) -> Work:
    """Blocks and chart backfills of dropped work are not dropped: they join ``aside``, the work that goes
    to the head of the next batch (at most the newest ``MAX_SET_ASIDE_BLOCKS`` blocks; older heights will
    be missing there and fetched over REST like any other gap)."""
    if aside is None:
        aside = Work(work.received_ms)
    aside.received_ms = min(aside.received_ms, work.received_ms)
    known = {(block.height, block.hash) for block in aside.blocks}
    aside.blocks += [block for block in work.blocks if (block.height, block.hash) not in known]
    aside.blocks = sorted(aside.blocks, key=lambda block: block.height)[-MAX_SET_ASIDE_BLOCKS:]
    aside.outage_from_ms = _earliest(aside.outage_from_ms, work.outage_from_ms)
    if work.chart_backfill:
        aside.chart_missed_from_ms = _earliest(aside.chart_missed_from_ms, work.chart_missed_from_ms)
        aside.chart_backfill = True
    return aside


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
