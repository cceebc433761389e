"""The upstream connection pool: one socket for the ``want`` channels, more sockets for addresses.

Addresses are spread over sockets within the per-socket limit, up to a maximum number of sockets;
what does not fit is reported as rejected. Each address socket always sends its whole list (the
upstream replaces lists), piggy-backed on a ping so the reply acknowledges it. A
``track-addresses-error`` (the upstream allows fewer than we assumed) lowers the per-socket limit to
the upstream's figure and re-spreads every address.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies
from ingestor.upstream.assignment import assign
from ingestor.upstream.connection import ConnectionHandler, ConnectionLimits, UpstreamConnection
from ingestor.upstream.gate import ReadGate

log = logging.getLogger(__name__)

WANT_CHANNELS = ("blocks", "mempool-blocks", "stats", "live-2h-chart")
MAIN_SOCKET = "main"
_LIMIT_PATTERN = re.compile(r"maximum of (\d+) addresses")


class PoolSink(Protocol):
    """Where the pool sends frames and connection events (the ingest pipeline)."""

    @property
    def gate(self) -> ReadGate:
        """Closed while the sink cannot take more frames: every socket stops reading."""

    async def on_frame(
        self, raw: str | bytes, received_ms: int, tracked: Sequence[str], socket: str = MAIN_SOCKET
    ) -> ControlReplies:
        """Handle a frame from ``socket``; return its control replies (a pong, a ``track-addresses-error``)."""

    def on_tracking(self, socket: str, addresses: Sequence[str], received_ms: int) -> None:
        """The upstream confirmed (with a pong) that ``socket`` tracks ``addresses``."""

    def on_addresses(self, addresses: Collection[str]) -> None:
        """The addresses wanted from now on (before they are placed on sockets)."""

    async def on_socket_up(self, name: str, addresses: Sequence[str], reconnect: bool) -> None:
        """A socket (re)connected; ``addresses`` are those it carries."""

    async def on_socket_down(self, name: str, addresses: Sequence[str], reason: str) -> None:
        """A socket closed; it will be reopened."""


@dataclass(eq=False)
class AddressSlot:
    """One address socket and the list it should carry."""

    name: str
    addresses: list[str] = field(default_factory=list)
    connection: UpstreamConnection | None = None
    task: asyncio.Task[None] | None = None
    acked: bool = False
    dirty: bool = False
    pusher: asyncio.Task[None] | None = None
    sent: list[str] | None = None
    """The list last sent, until the upstream confirms it."""

    def list_to_send(self) -> dict[str, object]:
        """The whole list, piggy-backed on a ping so that the pong confirms it."""
        self.sent = list(self.addresses)
        return {"action": "ping", "track-addresses": self.sent}


class _SlotHandler:
    def __init__(self, pool: UpstreamPool, slot: AddressSlot) -> None:
        self._pool, self._slot = pool, slot

    async def on_connected(self, connection: UpstreamConnection) -> None:
        await self._pool.sink.on_socket_up(self._slot.name, list(self._slot.addresses), connection.sessions > 1)
        await self._pool.push_list(self._slot)

    async def on_frame(self, connection: UpstreamConnection, raw: str | bytes, received_ms: int) -> None:
        slot = self._slot
        replies = await self._pool.sink.on_frame(raw, received_ms, slot.addresses, socket=slot.name)
        if replies.track_addresses_error is not None:
            slot.sent = None
            self._pool.on_limit_error(slot, replies.track_addresses_error)
        elif replies.pong and not slot.acked and slot.sent is not None:
            slot.acked = True
            self._pool.sink.on_tracking(slot.name, slot.sent, received_ms)

    async def on_disconnected(self, connection: UpstreamConnection, reason: str) -> None:
        self._slot.acked, self._slot.sent = False, None
        await self._pool.sink.on_socket_down(self._slot.name, list(self._slot.addresses), reason)


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
        metrics: IngestorMetrics | None = None,
    ) -> None:
        self.url = url
        self.limits = limits
        self.sink = sink
        self.address_limit = address_limit
        self.max_address_sockets = max_address_sockets
        self.metrics = metrics or IngestorMetrics()
        self.main = self._connection(MAIN_SOCKET, "main", _MainHandler(self))
        self.slots: list[AddressSlot] = []
        self.rejected: list[str] = []
        self._desired: set[str] = set()
        self._told_sink = False
        self._counter = 0
        self._group: asyncio.TaskGroup | None = None

    @property
    def capacity(self) -> int:
        """Most addresses the pool can track with its current limits."""
        return self.address_limit * self.max_address_sockets

    @property
    def tracked(self) -> list[str]:
        """Addresses placed on a socket."""
        return [address for slot in self.slots for address in slot.addresses]

    @property
    def connections(self) -> list[UpstreamConnection]:
        """Every socket, the main one first."""
        return [self.main, *[slot.connection for slot in self.slots if slot.connection is not None]]

    @property
    def open_sockets(self) -> int:
        """Sockets open right now."""
        return sum(1 for connection in self.connections if connection.connected)

    async def run(self) -> None:
        """Run every socket until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                for slot in self.slots:
                    self._start_slot(slot)
                await self.main.run()
            finally:
                self._group = None

    def set_addresses(self, addresses: set[str]) -> None:
        """Track exactly ``addresses`` from now on (open, re-send or close sockets as needed)."""
        if addresses == self._desired and self._told_sink:
            return
        self._desired, self._told_sink = set(addresses), True
        self.sink.on_addresses(self._desired)
        self._rebalance(force_resend=())

    def on_limit_error(self, slot: AddressSlot, message: str) -> None:
        """The upstream refused a list (and cleared it): lower the limit to its figure and re-spread."""
        match = _LIMIT_PATTERN.search(message)
        stated = int(match.group(1)) if match else len(slot.addresses) // 2
        limit = max(1, min(self.address_limit, stated, len(slot.addresses) - 1))
        log.warning(
            "upstream allows %d addresses per socket (we sent %d): re-spreading",
            limit,
            len(slot.addresses),
            extra={"socket": slot.name, "upstream_message": message[:200]},
        )
        self.address_limit = limit
        self._rebalance(force_resend=(slot,))

    def _rebalance(self, force_resend: Sequence[AddressSlot]) -> None:
        result = assign(
            [slot.addresses for slot in self.slots],
            self._desired,
            self.address_limit,
            self.max_address_sockets,
        )
        newly_rejected = set(result.rejected) - set(self.rejected)
        self.rejected = result.rejected
        for index, addresses in enumerate(result.lists):
            if index >= len(self.slots):
                self._counter += 1
                self.slots.append(AddressSlot(name=f"addresses-{self._counter}"))
                self._start_slot(self.slots[index])
            slot = self.slots[index]
            if addresses != slot.addresses or slot in force_resend:
                slot.addresses = addresses
                self._schedule_push(slot)
        for slot in [slot for slot in self.slots if not slot.addresses]:
            self._stop_slot(slot)
        if newly_rejected:
            log.warning("address capacity (%d) reached: %d addresses not tracked", self.capacity, len(self.rejected))

    def _connection(self, name: str, role: str, handler: ConnectionHandler) -> UpstreamConnection:
        return UpstreamConnection(
            name,
            self.url,
            handler,
            self.limits,
            on_reconnect=self.metrics.upstream_reconnects.labels(role).inc,
            on_sent=self.metrics.upstream_messages_sent.inc,
            gate=self.sink.gate,
        )

    def _start_slot(self, slot: AddressSlot) -> None:
        if self._group is None or slot.task is not None:
            return
        slot.connection = self._connection(slot.name, "addresses", _SlotHandler(self, slot))
        slot.task = self._group.create_task(slot.connection.run(), name=f"upstream-{slot.name}")

    def _stop_slot(self, slot: AddressSlot) -> None:
        self.slots.remove(slot)
        for task in (slot.task, slot.pusher):
            if task is not None:
                task.cancel()

    def _schedule_push(self, slot: AddressSlot) -> None:
        slot.dirty = True
        connected = slot.connection is not None and slot.connection.connected
        if self._group is not None and connected and (slot.pusher is None or slot.pusher.done()):
            slot.pusher = self._group.create_task(self.push_list(slot), name=f"push-{slot.name}")

    async def push_list(self, slot: AddressSlot) -> None:
        """Send the slot's whole list (with a ping, so the reply acknowledges it), coalescing updates."""
        slot.dirty = True
        while slot.dirty and slot.connection is not None:
            slot.dirty = False
            slot.acked = False
            sent = await slot.connection.send(slot.list_to_send)
            if not sent:
                return
