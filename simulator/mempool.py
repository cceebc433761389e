"""The simulated mempool: transactions grouped by fee rate, projected blocks, stats and chart buckets.

Transactions are kept as fee-rate bins (about 0.8 % wide) rather than one object each, so a mempool of
tens of thousands of transactions costs a few hundred bins per update.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

BLOCK_WEIGHT = 3_996_000
"""Weight available to transactions in one block (4 MWU less the coinbase reserve)."""
PROJECTED_BLOCKS = 8
MEMPOOL_CAP_WEIGHT = 240_000_000
"""Above this (60 MvB) the lowest fee rates are evicted."""
MIN_FEE_BTC_KVB = 0.000001
CHART_LEVELS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200,
                250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000)  # fmt: skip
_BIN_STEPS_PER_E = 120
_RANGE_7 = (0.1, 0.25, 0.5, 0.75, 0.9)
_RANGE_11 = (0.0025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9975)


@dataclass
class FeeBin:
    """Transactions of (nearly) one fee rate."""

    rate: float
    count: int = 0
    weight: int = 0
    size: int = 0
    fees: int = 0


@dataclass
class _Part:
    rate: float
    count: int
    weight: int
    size: int
    fees: int


@dataclass
class _Block:
    parts: list[_Part] = field(default_factory=list)
    weight: int = 0

    def add(self, part: _Part) -> None:
        self.parts.append(part)
        self.weight += part.weight


def _share(fee_bin: FeeBin, count: int) -> _Part:
    ratio = count / fee_bin.count
    return _Part(
        fee_bin.rate,
        count,
        round(fee_bin.weight * ratio),
        round(fee_bin.size * ratio),
        round(fee_bin.fees * ratio),
    )


def _weighted(parts: list[_Part], fraction: float, total: int) -> float:
    target = fraction * total
    running = 0
    for part in parts:
        running += part.weight
        if running >= target:
            return part.rate
    return parts[-1].rate


def _summary(block: _Block, stack: bool) -> dict[str, Any]:
    parts = sorted(block.parts, key=lambda part: part.rate)
    inner = _RANGE_11 if stack and block.weight > BLOCK_WEIGHT else _RANGE_7
    fee_range = [_weighted(parts, fraction, block.weight) for fraction in inner]
    if inner is _RANGE_7:
        fee_range = [parts[0].rate, *fee_range, parts[-1].rate]
    return {
        "blockSize": sum(part.size for part in parts),
        "blockVSize": block.weight / 4,
        "nTx": sum(part.count for part in parts),
        "totalFees": sum(part.fees for part in parts),
        "medianFee": round(_weighted(parts, 0.5, block.weight), 4),
        "feeRange": fee_range,
    }


class Mempool:
    """Fee-rate bins with the queries the protocol needs."""

    def __init__(self) -> None:
        self._bins: dict[int, FeeBin] = {}
        self.count = 0
        self.weight = 0
        self.fees = 0

    @staticmethod
    def _key(rate: float) -> int:
        return round(math.log(rate) * _BIN_STEPS_PER_E)

    def add(self, rate: float, count: int, weight: int, size: int, fees: int) -> None:
        """Add ``count`` transactions of about ``rate`` sat/vB with these totals."""
        fee_bin = self._bins.setdefault(self._key(rate), FeeBin(rate))
        fee_bin.count += count
        fee_bin.weight += weight
        fee_bin.size += size
        fee_bin.fees += fees
        self.count, self.weight, self.fees = self.count + count, self.weight + weight, self.fees + fees

    def remove(self, rate: float, weight: int, size: int, fees: int) -> None:
        """Remove one transaction (mined, replaced) if its bin still holds it."""
        fee_bin = self._bins.get(self._key(rate))
        if fee_bin is None or fee_bin.count == 0:
            return
        self._take(self._key(rate), _Part(rate, 1, min(weight, fee_bin.weight), size, fees))

    def _take(self, key: int, part: _Part) -> None:
        fee_bin = self._bins[key]
        fee_bin.count -= part.count
        fee_bin.weight = max(0, fee_bin.weight - part.weight)
        fee_bin.size = max(0, fee_bin.size - part.size)
        fee_bin.fees = max(0, fee_bin.fees - part.fees)
        self.count -= part.count
        self.weight = max(0, self.weight - part.weight)
        self.fees = max(0, self.fees - part.fees)
        if fee_bin.count <= 0:
            del self._bins[key]

    def _descending(self) -> Iterator[tuple[int, FeeBin]]:
        for key in sorted(self._bins, reverse=True):
            yield key, self._bins[key]

    def mine(self, max_weight: int = BLOCK_WEIGHT) -> int:
        """Remove the highest-fee transactions that fit in ``max_weight``; return the weight removed."""
        removed = 0
        for key, fee_bin in list(self._descending()):
            average = fee_bin.weight / fee_bin.count
            fit = min(fee_bin.count, int((max_weight - removed) / average))
            if fit <= 0:
                break
            part = _share(fee_bin, fit)
            self._take(key, part)
            removed += part.weight
        return removed

    def weight_from(self, rate: float) -> int:
        """Total weight of the transactions paying ``rate`` sat/vB or more."""
        return sum(fee_bin.weight for fee_bin in self._bins.values() if fee_bin.rate >= rate)

    def expire_below(self, rate: float, fraction: float, rng: random.Random) -> None:
        """Drop about ``fraction`` of the transactions paying less than ``rate`` (expiry, purges)."""
        for key, fee_bin in list(self._bins.items()):
            if fee_bin.rate < rate:
                count = min(fee_bin.count, math.floor(fee_bin.count * fraction + rng.random()))
                if count:
                    self._take(key, _share(fee_bin, count))

    def evict(self, cap_weight: int = MEMPOOL_CAP_WEIGHT) -> None:
        """Drop the lowest fee rates while the mempool is above ``cap_weight``."""
        for key in sorted(self._bins):
            if self.weight <= cap_weight:
                return
            fee_bin = self._bins[key]
            self._take(key, _Part(fee_bin.rate, fee_bin.count, fee_bin.weight, fee_bin.size, fee_bin.fees))

    def _pack(self) -> list[_Block]:
        blocks = [_Block()]
        for _, fee_bin in self._descending():
            left = fee_bin.count
            average = fee_bin.weight / fee_bin.count
            while left > 0:
                block = blocks[-1]
                is_stack = len(blocks) == PROJECTED_BLOCKS
                fit = left if is_stack else min(left, int((BLOCK_WEIGHT - block.weight) / average))
                if fit <= 0 and not block.parts:
                    fit = 1
                if fit <= 0:
                    blocks.append(_Block())
                    continue
                part = _share(fee_bin, fit)
                block.add(part)
                left -= fit
        return [block for block in blocks if block.parts]

    def projected_blocks(self) -> list[dict[str, Any]]:
        """The ``mempool-blocks`` array: up to 8 blocks, the last one a stack of everything else."""
        blocks = self._pack()
        return [_summary(block, index == PROJECTED_BLOCKS - 1) for index, block in enumerate(blocks)]

    def ahead_index(self) -> AheadIndex:
        """A snapshot of the bins answering "how much weight pays more than this rate"."""
        return AheadIndex(self._bins.values())

    def info(self, min_fee_btc_kvb: float = MIN_FEE_BTC_KVB) -> dict[str, Any]:
        """The ``mempoolInfo`` object (Bitcoin Core ``getmempoolinfo``; fees in BTC and BTC/kvB)."""
        vbytes = math.ceil(self.weight / 4)
        return {
            "loaded": True,
            "size": self.count,
            "bytes": vbytes,
            "usage": int(vbytes * 3.9) + self.count * 96,
            "total_fee": round(self.fees / 1e8, 8),
            "maxmempool": 300_000_000,
            "mempoolminfee": min_fee_btc_kvb,
            "minrelaytxfee": MIN_FEE_BTC_KVB,
            "incrementalrelayfee": MIN_FEE_BTC_KVB,
            "unbroadcastcount": 0,
            "fullrbf": True,
        }

    def chart_vsizes(self) -> list[int]:
        """Total vsize per ``live-2h-chart`` fee band (39 bands, the last one open-ended)."""
        bands = [0.0] * len(CHART_LEVELS)
        for fee_bin in self._bins.values():
            bands[bisect.bisect_right(CHART_LEVELS, fee_bin.rate) - 1] += fee_bin.weight / 4
        return [round(band) for band in bands]


class AheadIndex:
    """Weight paying more than a fee rate, from one snapshot of the bins (bisect, not a scan)."""

    def __init__(self, bins: Iterable[FeeBin]) -> None:
        ordered = sorted(bins, key=lambda fee_bin: fee_bin.rate)
        self._rates = [fee_bin.rate for fee_bin in ordered]
        self._from: list[int] = [0] * (len(ordered) + 1)
        for index in range(len(ordered) - 1, -1, -1):
            self._from[index] = self._from[index + 1] + ordered[index].weight

    def ahead(self, rate: float) -> int:
        """Total weight of the bins paying more than ``rate`` sat/vB."""
        return self._from[bisect.bisect_right(self._rates, rate)]

    def position(self, rate: float, weight: int) -> dict[str, Any]:
        """The backend's ``position`` of a transaction of ``rate`` and ``weight``: projected block index
        and vsize from that block's start to the transaction's middle (the last index is the stack, so its
        vsize may exceed one block)."""
        ahead = self.ahead(rate)
        block = min(PROJECTED_BLOCKS - 1, ahead // BLOCK_WEIGHT)
        return {"block": block, "vsize": (ahead - block * BLOCK_WEIGHT + weight / 2) / 4}


class ArrivalMeter:
    """New vbytes per simulated second, averaged like the backend (150 s window)."""

    def __init__(self, speed: float, window_s: float = 150.0) -> None:
        self._speed = speed
        self._window_wall_s = window_s / speed
        self._samples: deque[tuple[float, float]] = deque()

    def record(self, now: float, vbytes: float) -> None:
        """Note ``vbytes`` of new transactions at ``now``."""
        self._samples.append((now, vbytes))
        while self._samples and self._samples[0][0] < now - self._window_wall_s:
            self._samples.popleft()

    def per_second(self, fallback: float) -> int:
        """Average vB per simulated second over the window (``fallback`` before any sample)."""
        if len(self._samples) < 2:
            return round(fallback)
        span = max(self._samples[-1][0] - self._samples[0][0], 1e-9) * self._speed
        return round(sum(vbytes for _, vbytes in list(self._samples)[1:]) / span)
