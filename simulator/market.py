"""The fee market: how busy the network is at a moment, and what fee rates new transactions pay.

``pressure(x)`` is a pure function of chain position ``x`` (in block intervals since the anchor): a
slow wave plus rare seeded spikes that fade over a few blocks. Blocks and the mempool both read it,
so mined blocks and projected blocks agree on the fee level without sharing state.
"""

from __future__ import annotations

import math
import random

from shared.settings import Network
from simulator.seeding import rng_for

FEE_FACTOR: dict[Network, float] = {"mainnet": 1.0, "testnet": 4.0, "testnet4": 2.5, "signet": 1.0}
"""Testnets pay more for the same congestion."""

MIN_RATE = 0.1
"""The relay floor in sat/vB (Bitcoin Core 29+ default)."""
PRIORITY_RATE = 1.0
"""Rates from here up compete for the next blocks; below it transactions wait for quiet times."""
LOW_SHARE = 0.25
"""Share of new transactions offering less than ``PRIORITY_RATE``."""

_LOW_RATES = (0.1, 0.1, 0.1, 0.11, 0.12, 0.15, 0.2, 0.2, 0.25, 0.3, 0.5, 0.5, 0.75)
_SPIKE_CHANCE = 0.04
_SPIKE_LOOKBACK = 6
TYPICAL_WEIGHTS = (437, 438, 561, 562, 565, 616, 676, 722, 834, 1018, 1120, 1262, 1490, 2210, 4012)
"""Weights (WU) of common transactions: P2WPKH/P2TR spends with one or two inputs, a few bigger ones."""


class FeeMarket:
    """Seeded fee pressure and fee-rate sampling of one network."""

    def __init__(self, seed: int, network: Network) -> None:
        self._seed = seed
        self.factor = FEE_FACTOR[network]
        phases = rng_for(seed, "market-phases")
        self._phase_day = phases.uniform(0, 2 * math.pi)
        self._phase_hours = phases.uniform(0, 2 * math.pi)

    def pressure(self, x: float) -> float:
        """Congestion at chain position ``x``: about 1 normally, up to ~10 in a spike."""
        wave = 0.3 * math.sin(2 * math.pi * x / 144 + self._phase_day)
        wave += 0.15 * math.sin(2 * math.pi * x / 29 + self._phase_hours)
        return math.exp(wave) * (1.0 + self._spike(x))

    def _spike(self, x: float) -> float:
        level = 0.0
        start = math.floor(x)
        for slot in range(start - _SPIKE_LOOKBACK, start + 1):
            rng = rng_for(self._seed, "spike", slot)
            if rng.random() < _SPIKE_CHANCE:
                height = rng.lognormvariate(math.log(3.0), 0.5)
                level = max(level, height * math.exp(-max(0.0, x - slot) / 1.5))
        return level

    def sample_rate(self, rng: random.Random, pressure: float) -> float:
        """The fee rate (sat/vB) a new transaction offers at ``pressure``."""
        tier = rng.random()
        if tier < LOW_SHARE:
            return rng.choice(_LOW_RATES) * (1 + 0.2 * rng.random())
        if tier < 0.55:
            return 1.0 + abs(rng.gauss(0, 0.06))
        if tier < 0.87:
            median = 1.8 * pressure
            sigma = 0.45
        elif tier < 0.985:
            median, sigma = 4.5 * pressure, 0.7
        else:
            median, sigma = 25 * pressure, 1.0
        return min(5000.0, max(1.0, rng.lognormvariate(math.log(median * self.factor), sigma)))

    def demand_vbytes_per_s(self, pressure: float) -> float:
        """Average new vbytes per simulated second at ``pressure`` (about one block per 600 s)."""
        return 2300.0 * (0.7 + 0.3 * pressure)


def sample_tx(market: FeeMarket, rng: random.Random, pressure: float) -> tuple[int, int]:
    """``(weight, fee)`` of one new transaction; ``fee / (weight / 4)`` is at least the relay floor."""
    weight = rng.choice(TYPICAL_WEIGHTS)
    rate = max(MIN_RATE, market.sample_rate(rng, pressure))
    return weight, max(1, math.ceil(rate * weight / 4))
