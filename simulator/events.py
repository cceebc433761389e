"""What the simulated world announces; each connection renders the parts it subscribed to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

Pairs = tuple[tuple[str, str], ...]
"""``(key, serialized value)`` pairs in frame order."""
TxState = Literal["mempool", "confirmed", "replaced", "removed"]


@dataclass(frozen=True)
class AddressTx:
    """A full transaction and the addresses it touches (outputs and spent prevouts)."""

    tx: dict[str, Any]
    addresses: frozenset[str]


class TxView(NamedTuple):
    """A followed transaction as ``track-tx`` and ``track-txs`` report it at one moment.

    The ``*_now`` fields, ``cpfp``, ``spent`` and ``rbf_info`` describe what changed in the event that
    carries the view; a view answering a new subscription has none of them. (A named tuple: every
    mempool change carries one per followed transaction, and it is several times cheaper to build
    than a frozen dataclass.)
    """

    txid: str
    state: TxState
    tx: Mapping[str, Any]
    """The full transaction (the ``tx`` reply)."""
    position: Mapping[str, Any] | None = None
    """``{"block", "vsize"}`` while in the mempool."""
    acceleration: Mapping[str, Any] | None = None
    """``{"accelerated", "acceleratedBy", "acceleratedAt", "feeDelta"}`` once accelerated."""
    acceleration_positions: tuple[Mapping[str, Any], ...] = ()
    replaced_by: str | None = None
    cpfp: Mapping[str, Any] | None = None
    """CPFP details when the effective fee rate changed in this event."""
    spent: Mapping[str, Any] | None = None
    """``utxoSpent``: outputs spent by transactions new in this event."""
    rbf_info: Mapping[str, Any] | None = None
    """The replacement tree when it was replaced in this event."""
    entered_now: bool = False
    replaced_now: bool = False
    confirmed_now: bool = False


@dataclass(frozen=True)
class MempoolChange:
    """One mempool change: ``stats`` keys, projected blocks, address and followed-transaction changes."""

    stats: Pairs
    mempool_blocks: str
    added: tuple[AddressTx, ...] = ()
    removed: tuple[AddressTx, ...] = ()
    txs: Mapping[str, TxView] = field(default_factory=dict)
    """Followed transactions still in the mempool, and those that entered or left it in this change."""


@dataclass(frozen=True)
class NewBlock:
    """A mined block: refreshed ``stats`` keys, address transactions and followed transactions it confirmed."""

    block: str
    height: int
    stats: Pairs
    mempool_blocks: str
    confirmed: tuple[AddressTx, ...] = ()
    txs: Mapping[str, TxView] = field(default_factory=dict)
    """Followed transactions still in the mempool (new positions) and those the block confirmed."""


@dataclass(frozen=True)
class ChartPoint:
    """One ``live-2h-chart`` statistic."""

    value: str


@dataclass(frozen=True)
class Conversions:
    """A price update, sent to every connection."""

    value: str


Event = MempoolChange | NewBlock | ChartPoint | Conversions
