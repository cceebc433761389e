"""Counters of a running simulator (``Simulator.stats()`` and ``/_sim/stats``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConnectionStats:
    """One open WebSocket connection."""

    id: int
    remote: str
    messages_in: int
    """Inbound messages received so far."""
    max_messages_in_window: int
    """Most inbound messages seen inside any sliding rate window (10 s)."""
    wants: list[str]
    track_address: str | None
    track_addresses: list[str]
    track_tx: str | None = None
    """The ``track-tx`` txid."""
    track_txs: list[str] = field(default_factory=list)
    """The ``track-txs`` list as accepted (valid txids, in the order sent)."""


@dataclass(frozen=True)
class SimStats:
    """The simulator's state and its connections."""

    online: bool
    silent: bool
    tip_height: int
    connections: int
    accepted: int
    per_connection: list[ConnectionStats] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)
    """Closed connections by reason (``rate_limit``, ``invalid_json``, ``too_big``, ``client``, ...)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)
