"""Deciding which blocks to publish, in which order: a pure tracker of the published chain tip.

Live ``block`` frames and ``blocks`` snapshots (sent at every (re)connect) both come through here.
Blocks already published are skipped, blocks above the tip are published in height order, and a
missing range (blocks mined while the socket was down that the snapshot does not reach back to) is
reported so the caller can fetch it over REST or publish a gap notice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from shared.models import Block

RECENT_BLOCKS = 64


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """Blocks to publish (in order) once ``missing`` (an inclusive height range) has been dealt with."""

    publish: list[Block]
    missing: tuple[int, int] | None = None


class BlockTracker:
    """Remembers the published tip and recent block hashes."""

    def __init__(self, recent: Iterable[Block] = ()) -> None:
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT_BLOCKS)
        self.tip_height: int | None = None
        for block in sorted(recent, key=lambda b: b.height):
            self._remember(block)

    def _remember(self, block: Block) -> None:
        self._recent.append((block.height, block.hash))
        if self.tip_height is None or block.height >= self.tip_height:
            self.tip_height = block.height

    def _known(self, block: Block) -> bool:
        return (block.height, block.hash) in self._recent

    def plan(self, blocks: Iterable[Block]) -> BlockPlan:
        """What to publish for ``blocks`` (a live block or a snapshot), and what is missing before them."""
        fresh = sorted((b for b in blocks if not self._known(b)), key=lambda b: b.height)
        if not fresh:
            return BlockPlan(publish=[])
        missing = None
        if self.tip_height is not None and fresh[0].height > self.tip_height + 1:
            missing = (self.tip_height + 1, fresh[0].height - 1)
        return BlockPlan(publish=fresh, missing=missing)

    def published(self, blocks: Iterable[Block]) -> None:
        """Record blocks as published."""
        for block in blocks:
            self._remember(block)
