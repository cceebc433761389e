"""The upstream connection pool: one socket for the ``want`` channels, more for addresses and transactions.

Addresses (``track-addresses``, 10 per socket on mainnet) and transactions (``track-txs``, 100 per
socket) each have their own sockets (:mod:`ingestor.upstream.tracking`): a ``track-txs-error`` closes its
socket, which must not cost address tracking, and the two limits differ tenfold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Protocol

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies
from ingestor.upstream.connection import ConnectionHandler, ConnectionLimits, UpstreamConnection
from ingestor.upstream.gate import ReadGate
from ingestor.upstream.tracking import ADDRESSES, TXS, Role, TrackingGroup

log = logging.getLogger(__name__)

WANT_CHANNELS = ("blocks", "mempool-blocks", "stats", "live-2h-chart")
MAIN_SOCKET = "main"


class PoolSink(Protocol):
    """Where the pool sends frames and connection events (the ingest pipeline)."""

    @property
    def gate(self) -> ReadGate:
        """Closed while the sink cannot take more frames: every socket stops reading."""

    async def on_frame(
        self,
        raw: str | bytes,
        received_ms: int,
        tracked: Sequence[str],
        socket: str = MAIN_SOCKET,
        role: Role = "main",
    ) -> ControlReplies:
        """Handle a frame from ``socket``, which carries ``tracked`` (addresses or txids, by ``role``);
        return its control replies (a pong, a list error)."""

    def on_tracking(self, socket: str, keys: Sequence[str], received_ms: int, role: Role = "addresses") -> None:
        """The upstream confirmed (with a pong) that ``socket`` tracks ``keys``."""

    def on_wanted(self, role: Role, keys: Collection[str]) -> None:
        """The addresses or txids wanted from now on (before they are placed on sockets)."""

    async def on_socket_up(self, name: str, keys: Sequence[str], reconnect: bool) -> None:
        """A socket (re)connected; ``keys`` are those it carries."""

    async def on_socket_down(self, name: str, keys: Sequence[str], reason: str) -> None:
        """A socket closed; it will be reopened."""


class _MainHandler:
    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool

    async def on_connected(self, connection: UpstreamConnection) -> None:
        await self._pool.sink.on_socket_up(MAIN_SOCKET, [], connection.sessions > 1)
        await connection.send({"action": "want", "data": list(WANT_CHANNELS)})

    async def on_frame(self, connection: UpstreamConnection, raw: str | bytes, received_ms: int) -> None:
        await self._pool.sink.on_frame(raw, received_ms, (), socket=MAIN_SOCKET)

    async def on_disconnected(self, connection: UpstreamConnection, reason: str) -> None:
        await self._pool.sink.on_socket_down(MAIN_SOCKET, [], reason)


class UpstreamPool:
    """Owns every upstream socket of one network."""

    def __init__(
        self,
        url: str,
        limits: ConnectionLimits,
        sink: PoolSink,
        *,
        address_limit: int,
        max_address_sockets: int,
        tx_limit: int = 100,
        max_tx_sockets: int = 0,
        tx_recheck_s: float | None = None,
        metrics: IngestorMetrics | None = None,
    ) -> None:
        self.url = url
        self.limits = limits
        self.sink = sink
        self.metrics = metrics or IngestorMetrics()
        self.task_group: asyncio.TaskGroup | None = None
        self.main = self.connection(MAIN_SOCKET, "main", _MainHandler(self))
        self.addresses = TrackingGroup(self, ADDRESSES, address_limit, max_address_sockets)
        self.txs = TrackingGroup(self, TXS, tx_limit, max_tx_sockets, recheck_s=tx_recheck_s)

    @property
    def address_limit(self) -> int:
        """Addresses per socket now (lowered when the upstream says it allows fewer)."""
        return self.addresses.limit

    @property
    def capacity(self) -> int:
        """Most addresses the pool can track with its current limits."""
        return self.addresses.capacity

    @property
    def tracked(self) -> list[str]:
        """Addresses placed on a socket."""
        return self.addresses.tracked

    @property
    def rejected(self) -> list[str]:
        """Wanted addresses that do not fit."""
        return self.addresses.rejected

    @property
    def connections(self) -> list[UpstreamConnection]:
        """Every socket, the main one first."""
        return [self.main, *self.addresses.connections, *self.txs.connections]

    @property
    def open_sockets(self) -> int:
        """Sockets open right now."""
        return sum(1 for connection in self.connections if connection.connected)

    async def run(self) -> None:
        """Run every socket until cancelled."""
        async with asyncio.TaskGroup() as group:
            self.task_group = group
            try:
                self.addresses.start()
                self.txs.start()
                group.create_task(self.txs.recheck_forever(), name="upstream-tx-recheck")
                await self.main.run()
            finally:
                self.task_group = None

    def set_addresses(self, addresses: set[str]) -> None:
        """Track exactly ``addresses`` from now on."""
        self.addresses.set_keys(addresses)

    def set_txids(self, txids: set[str]) -> None:
        """Track exactly ``txids`` (64 lower-case hex digits each) from now on."""
        self.txs.set_keys(txids)

    def connection(self, name: str, role: Role, handler: ConnectionHandler) -> UpstreamConnection:
        """A new socket of the pool (not started)."""
        return UpstreamConnection(
            name,
            self.url,
            handler,
            self.limits,
            on_reconnect=self.metrics.upstream_reconnects.labels(role).inc,
            on_sent=self.metrics.upstream_messages_sent.inc,
            gate=self.sink.gate,
        )
