"""The simulated block chain: when each block is mined, its height, and its BlockExtended.

Time is cut into slots of ``600 / speed`` seconds from the anchor. Slot ``s`` holds exactly one block,
mined at ``anchor + (s + u_s) * L`` with ``u_s`` in [0, 1) drawn from (seed, s); its height is
``BASE_HEIGHT + s``. Negative slots are the chain that existed before the anchor. A block is a pure
function of (seed, anchor, speed, slot), so a restarted simulator with the same anchor serves the
same blocks and continues the chain, including blocks "mined" while it was down.

A block mined on demand (:meth:`Chain.mine_now`) takes the next height; every later slot block is
one height higher than it would otherwise be. Those blocks are not persisted: after a restart the
heights are ``BASE_HEIGHT + s`` again.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.settings import Network
from simulator.blocks import BlockSpec, block_hash, build_block, difficulty_bits
from simulator.market import FeeMarket
from simulator.seeding import rng_for

EPOCH_BLOCKS = 2016
TARGET_BLOCK_S = 600.0
BASE_HEIGHT: dict[Network, int] = {
    "mainnet": 925_000,
    "testnet": 4_790_000,
    "testnet4": 118_000,
    "signet": 276_000,
}
BASE_DIFFICULTY: dict[Network, float] = {
    "mainnet": 1.49e14,
    "testnet": 3.1e8,
    "testnet4": 5.4e7,
    "signet": 0.0035,
}
_CACHE_SIZE = 64


@dataclass(frozen=True)
class _Manual:
    height: int
    after_slot: int
    timestamp: int


class Chain:
    """Heights, hashes, timestamps and blocks of the simulated chain."""

    def __init__(self, seed: int, network: Network, anchor: float, speed: float, market: FeeMarket) -> None:
        self.seed = seed
        self.network = network
        self.anchor = anchor
        self.slot_s = TARGET_BLOCK_S / speed
        self.market = market
        self._base = BASE_HEIGHT[network]
        self._manual: list[_Manual] = []
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.tip_slot = 0
        self.tip_height = 0
        self._next_time = 0.0

    def start(self, now: float) -> None:
        """Set the tip to the last slot mined at or before ``now``."""
        slot = math.floor((now - self.anchor) / self.slot_s)
        while self.slot_time(slot) > now:
            slot -= 1
        self.tip_slot = slot
        self.tip_height = self._base + slot
        self._next_time = self.slot_time(slot + 1)

    def slot_time(self, slot: int) -> float:
        """Unix time (s) at which the block of ``slot`` is mined."""
        return self.anchor + (slot + rng_for(self.seed, "slot", slot).random()) * self.slot_s

    def next_block_time(self) -> float:
        """When the next slot block is due."""
        return self._next_time

    def mine_slot(self) -> dict[str, Any]:
        """Extend the chain with the next slot's block and return it."""
        self.tip_slot += 1
        self.tip_height += 1
        self._next_time = self.slot_time(self.tip_slot + 1)
        return self.block_at(self.tip_height)

    def mine_now(self, now: float) -> dict[str, Any]:
        """Extend the chain with an extra block mined at ``now`` (later slot heights shift by one)."""
        self.tip_height += 1
        timestamp = max(int(now), self.timestamp_at(self.tip_height - 1))
        self._manual.append(_Manual(self.tip_height, self.tip_slot, timestamp))
        return self.block_at(self.tip_height)

    def _manual_at(self, height: int) -> _Manual | None:
        index = bisect.bisect_left([m.height for m in self._manual], height)
        if index < len(self._manual) and self._manual[index].height == height:
            return self._manual[index]
        return None

    def _slot_of(self, height: int) -> int:
        return height - self._base - sum(1 for manual in self._manual if manual.height < height)

    def timestamp_at(self, height: int) -> int:
        """Block time (unix s) of ``height``."""
        manual = self._manual_at(height)
        return manual.timestamp if manual else int(self.slot_time(self._slot_of(height)))

    def hash_at(self, height: int) -> str:
        """Block hash of ``height``."""
        manual = self._manual_at(height)
        label = ("manual-hash", height) if manual else ("hash", self._slot_of(height))
        return block_hash(rng_for(self.seed, *label), self.bits_at(height))

    def difficulty_at(self, height: int) -> float:
        """Difficulty of the epoch that contains ``height``: a slow seeded drift."""
        epoch = height // EPOCH_BLOCKS
        drift = 0.012 * (epoch - self._base // EPOCH_BLOCKS)
        jitter = rng_for(self.seed, "epoch", epoch).uniform(-0.025, 0.025)
        return BASE_DIFFICULTY[self.network] * math.exp(drift + jitter)

    def bits_at(self, height: int) -> int:
        """Compact target of ``height``."""
        return difficulty_bits(self.difficulty_at(height))

    def block_at(self, height: int) -> dict[str, Any]:
        """The BlockExtended at ``height`` (at most the tip)."""
        cached = self._cache.get(height)
        if cached is not None:
            self._cache.move_to_end(height)
            return cached
        block = self._build(height)
        self._cache[height] = block
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return block

    def _build(self, height: int) -> dict[str, Any]:
        manual = self._manual_at(height)
        if manual:
            rng = rng_for(self.seed, "manual", height)
            position = (manual.timestamp - self.anchor) / self.slot_s
        else:
            slot = self._slot_of(height)
            rng = rng_for(self.seed, "block", slot)
            position = (self.slot_time(slot) - self.anchor) / self.slot_s
        spec = BlockSpec(
            network=self.network,
            height=height,
            timestamp=self.timestamp_at(height),
            mediantime=int(statistics.median(self.timestamp_at(h) for h in range(height - 10, height + 1))),
            previous_hash=self.hash_at(height - 1),
            block_hash=self.hash_at(height),
            bits=self.bits_at(height),
            pressure=self.market.pressure(position),
        )
        return build_block(spec, rng, self.market)

    def recent(self, count: int, newest: int | None = None) -> list[dict[str, Any]]:
        """Up to ``count`` blocks ending at ``newest`` (default: the tip), newest first."""
        top = self.tip_height if newest is None else min(newest, self.tip_height)
        return [self.block_at(height) for height in range(top, max(top - count, -1), -1)]

    def difficulty_adjustment(self, now: float) -> dict[str, Any]:
        """The ``da`` object (backend ``difficulty-adjustment.ts``) with the slot length as target."""
        tip = self.tip_height
        in_epoch = tip % EPOCH_BLOCKS
        start_time = self.timestamp_at(tip - in_epoch)
        elapsed = now - start_time
        remaining = EPOCH_BLOCKS - in_epoch
        span = (self.timestamp_at(tip) if in_epoch == EPOCH_BLOCKS - 1 else now) - start_time
        change = (self.slot_s / max(span / (in_epoch + 1), 1e-9) - 1) * 100
        time_avg = math.floor((elapsed / in_epoch if in_epoch else self.slot_s) * 1000)
        previous = self.difficulty_at(tip - in_epoch) / self.difficulty_at(tip - in_epoch - 1)
        return {
            "progressPercent": in_epoch / EPOCH_BLOCKS * 100,
            "difficultyChange": min(300.0, max(-75.0, change)),
            "estimatedRetargetDate": int(remaining * time_avg + now * 1000),
            "remainingBlocks": remaining,
            "remainingTime": remaining * time_avg,
            "previousRetarget": (previous - 1) * 100,
            "previousTime": start_time,
            "nextRetargetHeight": tip + remaining,
            "timeAvg": time_avg,
            "adjustedTimeAvg": time_avg,
            "timeOffset": 0,
            "expectedBlocks": elapsed / self.slot_s,
        }
