"""Payments to tracked addresses: when they enter the mempool, get replaced (RBF) and confirm.

The first time an address is tracked (by any connection), a payment to it enters the mempool 1 to 3
ticks later; the delay, amount, inputs, txid and whether it is replaced (about 1 in 5) depend only on
the seed and the address. A replaced payment first pays a low fee, is replaced by a higher-fee
transaction paying the address again on the next tick, and only that replacement is mined.
Payments queued with :meth:`Payments.queue` enter at the next tick and are never replaced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from shared.settings import Network
from simulator.events import AddressTx
from simulator.seeding import rng_for
from simulator.transactions import Script, confirmed, payment, replacement, script_for, touched_addresses

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
class _Live:
    item: AddressTx
    rng: random.Random
    replace_at: int | None


@dataclass(frozen=True)
class TickResult:
    """Transactions that entered and left the mempool in one tick, and RBF replacements."""

    added: list[AddressTx]
    removed: list[AddressTx]
    replaced: list[tuple[AddressTx, AddressTx]]


def _wrap(tx: dict[str, Any]) -> AddressTx:
    return AddressTx(tx, touched_addresses(tx))


class Payments:
    """Scheduled and unconfirmed payments to tracked or explicitly paid addresses."""

    def __init__(self, seed: int, network: Network) -> None:
        self._seed = seed
        self._network = network
        self._seen: set[str] = set()
        self._planned: list[_Planned] = []
        self._live: dict[str, _Live] = {}
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
        """Release the payments due at ``tick`` and perform due replacements."""
        result = TickResult([], [], [])
        for live in [live for live in self._live.values() if live.replace_at is not None]:
            if live.replace_at is not None and live.replace_at <= tick:
                self._replace(live, fees["fastestFee"], now, result)
        for planned in [planned for planned in self._planned if planned.due_tick <= tick]:
            self._planned.remove(planned)
            rate = fees["economyFee"] if planned.rbf else fees["fastestFee"]
            item = _wrap(planned.tx or self._build(planned, rate, int(now), locktime))
            self._live[item.tx["txid"]] = _Live(item, planned.rng, tick + 1 if planned.rbf else None)
            result.added.append(item)
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

    def _replace(self, live: _Live, rate: float, now: float, result: TickResult) -> None:
        del self._live[live.item.tx["txid"]]
        new = _wrap(replacement(live.rng, live.item.tx, rate, int(now)))
        self._live[new.tx["txid"]] = _Live(new, live.rng, None)
        result.removed.append(live.item)
        result.added.append(new)
        result.replaced.append((live.item, new))

    def on_block(self, height: int, block_hash: str, block_time: int) -> list[AddressTx]:
        """Confirm every unconfirmed payment that is not waiting to be replaced."""
        mined = [live for live in self._live.values() if live.replace_at is None]
        for live in mined:
            del self._live[live.item.tx["txid"]]
        return [
            AddressTx(confirmed(live.item.tx, height, block_hash, block_time), live.item.addresses) for live in mined
        ]
