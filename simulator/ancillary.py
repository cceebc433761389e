"""Init-only and slow-changing values: prices, backend info, RBF summary, loading indicators."""

from __future__ import annotations

import math
import random
from typing import Any

from simulator.seeding import random_hex, rng_for

BACKEND = "esplora"
BACKEND_INFO: dict[str, Any] = {
    "hostname": "sim.mempool-ws.local",
    "version": "3.4.0-sim",
    "gitCommit": "5a1e0c0de",
    "lightning": False,
    "backend": "esplora",
}
_FIAT_PER_USD = {"EUR": 0.86, "GBP": 0.75, "CAD": 1.39, "CHF": 0.8, "AUD": 1.53, "JPY": 152.0}


def conversions(seed: int, index: int, now: float) -> dict[str, Any]:
    """The ``conversions`` object of update number ``index``: integer fiat per BTC."""
    wave = 0.03 * math.sin(index / 40 + rng_for(seed, "price-phase").uniform(0, 6.28))
    usd = 97_000 * math.exp(wave + rng_for(seed, "price", index).gauss(0, 0.002))
    prices: dict[str, Any] = {"time": int(now), "USD": round(usd)}
    prices.update({currency: round(usd * ratio) for currency, ratio in _FIAT_PER_USD.items()})
    return prices


def replacement_info(txid: str, old: tuple[int, float], new: tuple[int, float], mined: bool) -> dict[str, Any]:
    """One ReplacementInfo entry of ``rbfSummary``; ``old`` and ``new`` are ``(fee, vsize)``."""
    return {
        "txid": txid,
        "mined": mined,
        "fullRbf": False,
        "oldFee": old[0],
        "oldVsize": old[1],
        "newFee": new[0],
        "newVsize": new[1],
    }


def initial_rbf_summary(seed: int) -> list[dict[str, Any]]:
    """Six plausible recent replacements."""
    rng = rng_for(seed, "rbf-summary")
    return [_random_replacement(rng) for _ in range(6)]


def _random_replacement(rng: random.Random) -> dict[str, Any]:
    vsize = rng.choice((110.5, 140.25, 141.5, 153.75, 208.5))
    old_fee = math.ceil(vsize * rng.choice((0.5, 1.0, 1.5, 2.0, 3.0)))
    new_fee = old_fee + math.ceil(vsize * rng.choice((1.0, 2.0, 4.0)))
    return replacement_info(random_hex(rng, 32), (old_fee, vsize), (new_fee, vsize), rng.random() < 0.7)
