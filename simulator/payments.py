"""Payments to tracked addresses: when they enter the mempool and when they get replaced (RBF).

The first time an address is tracked (by any connection), a payment to it enters the mempool 1 to 3
ticks later; the delay, amount, inputs, txid and whether it is replaced (about 1 in 5) depend only on
the seed and the address. A replaced payment first pays a low fee and waits (it is never mined); it is
replaced by a higher-fee transaction paying the address again on the next tick. Payments queued with
:meth:`Payments.queue` enter at the next tick and are never replaced automatically. What happens to
a payment once in the mempool (position, confirmation) is :mod:`simulator.txbook`'s business.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shared.settings import Network
from simulator.seeding import rng_for
from simulator.transactions import Script, payment, replacement, script_for

RBF_CHANCE = 0.2
_AMOUNTS = (10_000, 25_000, 50_000, 100_000, 150_000, 250_000, 500_000, 1_000_000, 2_500_000)


@dataclass
class _Planned:
    due_tick: int
    rng: random.Random
    script: Script
    value: int
    rbf: bool
    tx: dict[str, Any] | None = None


@dataclass
class _Awaiting:
    tx: dict[str, Any]
    rng: random.Random
    replace_at: int


@dataclass(frozen=True)
class TickResult:
    """Payments that enter the mempool in one tick, and the automatic replacements due."""

    entered: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    """New payment transactions, each with whether it waits for its replacement."""
    replacements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """``(replaced txid, replacing transaction)``."""


class Payments:
    """Scheduled payments to tracked or explicitly paid addresses, and pending automatic replacements."""

    def __init__(self, seed: int, network: Network) -> None:
        self._seed = seed
        self._network = network
        self._seen: set[str] = set()
        self._planned: list[_Planned] = []
        self._awaiting: dict[str, _Awaiting] = {}
        self._queued = 0

    def on_tracked(self, address: str, tick: int) -> None:
        """Plan the automatic payment of an address tracked for the first time (canonical form)."""
        if address in self._seen:
            return
        self._seen.add(address)
        rng = rng_for(self._seed, "auto-pay", address)
        due = tick + rng.randint(1, 3)
        value, rbf = rng.choice(_AMOUNTS), rng.random() < RBF_CHANCE
        self._planned.append(_Planned(due, rng, script_for(address, self._network), value, rbf))

    def queue(self, address: str, sats: int, *, tick: int, rate: float, now: float, locktime: int) -> str:
        """Build a payment of ``sats`` to ``address`` that enters the mempool at ``tick``; return its txid."""
        self._queued += 1
        rng = rng_for(self._seed, "pay", address, self._queued)
        script = script_for(address, self._network)
        tx = payment(rng, self._network, script, sats, rate=rate, first_seen=int(now), locktime=locktime)
        self._planned.append(_Planned(tick, rng, script, sats, rbf=False, tx=tx))
        return str(tx["txid"])

    def on_tick(self, tick: int, now: float, fees: dict[str, float], locktime: int) -> TickResult:
        """Release the payments due at ``tick`` and build the replacements due."""
        result = TickResult()
        for txid, waiting in list(self._awaiting.items()):
            if waiting.replace_at <= tick:
                del self._awaiting[txid]
                new = replacement(waiting.rng, waiting.tx, fees["fastestFee"], int(now))
                result.replacements.append((txid, new))
        for planned in [planned for planned in self._planned if planned.due_tick <= tick]:
            self._planned.remove(planned)
            rate = fees["economyFee"] if planned.rbf else fees["fastestFee"]
            tx = planned.tx or self._build(planned, rate, int(now), locktime)
            result.entered.append((tx, planned.rbf))
            if planned.rbf:
                self._awaiting[str(tx["txid"])] = _Awaiting(tx, planned.rng, tick + 1)
        return result

    def _build(self, planned: _Planned, rate: float, first_seen: int, locktime: int) -> dict[str, Any]:
        return payment(
            planned.rng,
            self._network,
            planned.script,
            planned.value,
            rate=rate,
            first_seen=first_seen,
            locktime=locktime,
        )
