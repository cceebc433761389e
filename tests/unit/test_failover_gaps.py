"""What the publish core publishes when Redis lost acknowledged events in a failover."""

from __future__ import annotations

from ingestor.core import PublishCore, Reason


def test_each_topic_that_lost_events_gets_a_gap_notice_for_its_interval_first_in_line() -> None:
    core = PublishCore("mainnet")
    core.redis_lost({"stats": (1_000, 1_300), "blocks": (1_100, 1_100), "address:bc1qx": (1_200, 1_250)}, 2_000)
    batch = core.next_batch(2_000)
    assert batch is not None
    assert [(p.network, p.topic, p.ts_ms) for p in batch.publications] == [
        ("mainnet", "stats", 2_000),
        ("mainnet", "blocks", 2_000),
        ("mainnet", "address:bc1qx", 2_000),
    ]
    gap = batch.publications[1].data["gap"]
    sentence = Reason.SENTENCES[Reason.REDIS_FAILOVER]
    assert (gap["reason"], gap["from_ts_ms"], gap["to_ts_ms"]) == (sentence, 1_100, 1_100)
    assert {mark.reason for mark in batch.marks} == {Reason.REDIS_FAILOVER}


def test_nothing_lost_publishes_nothing() -> None:
    core = PublishCore("mainnet")
    core.redis_lost({}, 2_000)
    assert core.next_batch(2_000) is None
