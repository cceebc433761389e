"""What the simulated world announces; each connection renders the parts it subscribed to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Pairs = tuple[tuple[str, str], ...]
"""``(key, serialized value)`` pairs in frame order."""


@dataclass(frozen=True)
class AddressTx:
    """A full transaction and the addresses it touches (outputs and spent prevouts)."""

    tx: dict[str, Any]
    addresses: frozenset[str]


@dataclass(frozen=True)
class MempoolChange:
    """One mempool tick: ``stats`` keys, projected blocks and the address-related changes."""

    stats: Pairs
    mempool_blocks: str
    added: tuple[AddressTx, ...] = ()
    removed: tuple[AddressTx, ...] = ()


@dataclass(frozen=True)
class NewBlock:
    """A mined block with the refreshed ``stats`` keys and the address transactions it confirmed."""

    block: str
    height: int
    stats: Pairs
    mempool_blocks: str
    confirmed: tuple[AddressTx, ...] = ()


@dataclass(frozen=True)
class ChartPoint:
    """One ``live-2h-chart`` statistic."""

    value: str


@dataclass(frozen=True)
class Conversions:
    """A price update, sent to every connection."""

    value: str


Event = MempoolChange | NewBlock | ChartPoint | Conversions
