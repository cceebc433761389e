"""Queued work to its final publications: blocks through the block rules, chart points through backfill."""

from __future__ import annotations

from collections.abc import Iterable

from ingestor.core.blocks import BlockPlan, BlockTracker
from ingestor.core.work import Fetch, FetchBlocks, FetchChart, GapMark, Reason, Work, add_gap, gap_publication
from shared.events import TOPIC_BLOCKS, TOPIC_LIVE_2H, Publication
from shared.models import Block, GapInfo

BLOCKS_LOST_IN_OUTAGE = "blocks mined during an upstream outage could not be recovered"
BLOCKS_LOST_UNLED = "blocks mined while no ingestor was publishing could not be recovered"


class Resolver:
    """The published block tip and chart position, and the REST fetches needed to move them on."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.fetches: list[Fetch] = []
        self._tracker = BlockTracker()
        self._last_block_ms: int | None = None
        self._chart_added: int | None = None

    @property
    def tip_height(self) -> int | None:
        """Height of the newest block published (None before any)."""
        return self._tracker.tip_height

    def restore(self, recent_blocks: Iterable[Block], last_block_ms: int | None, chart_added: int | None) -> None:
        """Start from what was published before (recent blocks, the newest chart point's ``added``)."""
        self._tracker = BlockTracker(recent_blocks)
        self._last_block_ms = last_block_ms
        self._chart_added = chart_added

    def resolve(self, work: Work) -> bool:
        """Turn ``work`` into its final publications; False when it must wait for a fetch first."""
        if work.blocks:
            plan = self._tracker.plan(work.blocks)
            if plan.missing is not None and work.fetched_blocks is None:
                self.fetches.append(FetchBlocks(*plan.missing))
                return False
            work.publications[:0] = self._blocks(work, plan)
            work.blocks = []
        if work.chart_backfill:
            if self._chart_added is not None and work.fetched_chart is None and not work.chart_failed:
                self.fetches.append(FetchChart(work.received_ms))
                return False
            work.publications[:0] = self._chart(work)
            work.chart_backfill = False
        for publication in work.publications:
            if publication.topic == TOPIC_LIVE_2H and "added_unix_s" in publication.data:
                self._chart_added = max(self._chart_added or 0, int(publication.data["added_unix_s"]))
        return True

    def _blocks(self, work: Work, plan: BlockPlan) -> list[Publication]:
        blocks = plan.publish
        publications: list[Publication] = []
        if plan.missing is not None:
            recovered = work.fetched_blocks or []
            first, last = plan.missing
            merged = {block.height: block for block in [*recovered, *blocks]}
            blocks = sorted(merged.values(), key=lambda block: block.height)
            have = {block.height for block in recovered}
            lost = [height for height in range(first, last + 1) if height not in have]
            if lost:
                info = GapInfo(
                    reason=BLOCKS_LOST_IN_OUTAGE if work.outage_from_ms else BLOCKS_LOST_UNLED,
                    from_ts_ms=work.outage_from_ms or self._last_block_ms or work.received_ms,
                    to_ts_ms=work.received_ms,
                    missing_from_height=lost[0],
                    missing_to_height=lost[-1],
                )
                publications.append(gap_publication(self.network, TOPIC_BLOCKS, info, work.received_ms))
                work.marks.append(GapMark(TOPIC_BLOCKS, Reason.BACKFILL_FAILED))
        self._tracker.published(blocks)
        if blocks:
            self._last_block_ms = work.received_ms
        for block in blocks:
            publications.append(
                Publication(self.network, TOPIC_BLOCKS, block.model_dump(mode="json"), work.received_ms)
            )
        return publications

    def _chart(self, work: Work) -> list[Publication]:
        if work.fetched_chart is not None:
            after = self._chart_added or 0
            return [point for point in work.fetched_chart if int(point.data.get("added_unix_s", 0)) > after]
        if work.chart_failed and work.chart_missed_from_ms is not None:
            gap = Work(work.received_ms)
            add_gap(
                self.network, gap, TOPIC_LIVE_2H, work.chart_missed_from_ms, work.received_ms, Reason.BACKFILL_FAILED
            )
            work.marks += gap.marks
            return gap.publications
        return []
