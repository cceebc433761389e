"""Which blocks get published, in which order (pure)."""

from __future__ import annotations

from ingestor.core.blocks import BlockTracker
from shared.models import Block


def block(height: int, variant: str = "a") -> Block:
    return Block(
        height=height,
        hash=f"{variant}{height:063x}",
        timestamp_unix_s=1_764_000_000 + height,
        tx_count=1,
        size_bytes=1,
        weight_wu=4,
        vsize_vb=1.0,
    )


def test_the_first_snapshot_is_published_oldest_first() -> None:
    plan = BlockTracker().plan([block(12), block(10), block(11)])
    assert [b.height for b in plan.publish] == [10, 11, 12] and plan.missing is None


def test_known_blocks_are_skipped_and_the_next_one_published() -> None:
    tracker = BlockTracker([block(10), block(11)])
    assert tracker.plan([block(10), block(11)]).publish == []
    plan = tracker.plan([block(10), block(11), block(12)])
    assert [b.height for b in plan.publish] == [12] and plan.missing is None


def test_a_jump_reports_the_missing_range() -> None:
    tracker = BlockTracker([block(10)])
    plan = tracker.plan([block(14), block(15)])
    assert plan.missing == (11, 13) and [b.height for b in plan.publish] == [14, 15]


def test_a_block_at_a_known_height_with_another_hash_is_a_reorg_and_published() -> None:
    tracker = BlockTracker([block(10), block(11)])
    plan = tracker.plan([block(11, "b")])
    assert [b.hash for b in plan.publish] == [block(11, "b").hash]


def test_published_blocks_move_the_tip() -> None:
    tracker = BlockTracker()
    tracker.published([block(5), block(6)])
    assert tracker.tip_height == 6
    assert tracker.plan([block(6)]).publish == []
