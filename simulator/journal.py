"""What the simulator produced, for checkers that compare it with what consumers received.

Every event the simulated world announces is recorded when it is announced (also while the simulator is
offline or silent: the chain goes on, only nobody hears it), with the wall-clock time in Unix ms:

* blocks: height and hash;
* payments: every transaction of a tracked kind (payments, their replacements, CPFP children) entering
  the mempool, confirmed or removed, once per address it touches;
* stats: each ``mempoolInfo`` emission (transaction count and vsize, the fingerprint a consumer can
  compare with the ``stats`` event it got).

Served as JSON at ``/_sim/journal`` (``?after_ms=T`` for the entries after ``T`` only). The journal is
bounded: beyond :data:`MAX_ENTRIES` per kind the oldest entries are dropped and counted.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.events import AddressTx, Event, MempoolChange, NewBlock, Pairs

MAX_ENTRIES = 200_000
"""Entries kept per kind (about 28 hours of stats at the default tick of 0.5 s)."""


@dataclass
class Journal:
    """A bounded record of what the world announced."""

    blocks: deque[tuple[int, int, str]] = field(default_factory=lambda: deque(maxlen=MAX_ENTRIES))
    """``(ts_ms, height, hash)``."""
    payments: deque[tuple[int, str, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_ENTRIES))
    """``(ts_ms, txid, address, state)``, state ``mempool``, ``confirmed`` or ``removed``."""
    stats: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=MAX_ENTRIES))
    """``(ts_ms, tx_count, vsize_vb)`` of each ``mempoolInfo`` sent."""
    dropped: int = 0

    def record(self, events: list[Event], now_ms: int) -> None:
        """Record what ``events`` announce, at ``now_ms``."""
        for event in events:
            if isinstance(event, NewBlock):
                block = json.loads(event.block)
                self._add(self.blocks, (now_ms, event.height, str(block.get("id", ""))))
                self._stats(event.stats, now_ms)
                self._payments(event.confirmed, "confirmed", now_ms)
            elif isinstance(event, MempoolChange):
                self._stats(event.stats, now_ms)
                self._payments(event.added, "mempool", now_ms)
                self._payments(event.removed, "removed", now_ms)

    def to_dict(self, after_ms: int = 0) -> dict[str, Any]:
        """The entries recorded after ``after_ms`` as JSON-ready lists of objects."""
        return {
            "blocks": [{"ts_ms": t, "height": h, "hash": x} for t, h, x in self.blocks if t > after_ms],
            "payments": [
                {"ts_ms": t, "txid": x, "address": a, "state": s} for t, x, a, s in self.payments if t > after_ms
            ],
            "stats": [{"ts_ms": t, "tx_count": n, "vsize_vb": v} for t, n, v in self.stats if t > after_ms],
            "dropped": self.dropped,
        }

    def _stats(self, pairs: Pairs, now_ms: int) -> None:
        for key, value in pairs:
            if key == "mempoolInfo":
                info = json.loads(value)
                self._add(self.stats, (now_ms, int(info["size"]), int(info["bytes"])))

    def _payments(self, txs: tuple[AddressTx, ...], state: str, now_ms: int) -> None:
        for item in txs:
            txid = str(item.tx.get("txid", ""))
            for address in sorted(item.addresses):
                self._add(self.payments, (now_ms, txid, address, state))

    def _add(self, entries: deque[Any], entry: Any) -> None:
        if len(entries) == entries.maxlen:
            self.dropped += 1
        entries.append(entry)
