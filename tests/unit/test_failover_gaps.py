"""What the ingestor publishes when Redis lost acknowledged events in a failover."""

from __future__ import annotations

from ingestor.failover import REASON, regression_gaps
from shared.bus.base import SequenceRegression


def test_each_topic_that_may_have_lost_events_gets_a_gap_notice_for_its_interval() -> None:
    regression = SequenceRegression(
        network="mainnet",
        epoch="e1",
        held_id=10,
        lost_to_id=14,
        topics={"stats": (1_000, 1_300), "blocks": (1_100, 1_100), "address:bc1qx": (1_200, 1_250)},
        detected_ms=2_000,
    )
    notices = regression_gaps(regression, now_ms=2_000)
    assert [(notice.network, notice.topic, notice.ts_ms) for notice in notices] == [
        ("mainnet", "stats", 2_000),
        ("mainnet", "blocks", 2_000),
        ("mainnet", "address:bc1qx", 2_000),
    ]
    gap = notices[1].data["gap"]
    assert (gap["reason"], gap["from_ts_ms"], gap["to_ts_ms"]) == (REASON, 1_100, 1_100)
