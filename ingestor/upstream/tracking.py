"""Tracking sockets of one kind (addresses or transactions): the wanted keys spread over sockets.

Keys are spread over sockets within the per-socket limit, up to a maximum number of sockets; what does
not fit is rejected. Each socket always sends its whole list (the upstream replaces lists), piggy-backed
on a ping so that the reply, which carries the pong, confirms it; every send goes through the socket's
rate limiter, and changes made while a send waits for it are coalesced into that send. A limit error
(the upstream allows fewer than we assumed) lowers the per-socket limit to the upstream's figure and
re-spreads every key. Transaction sockets also want ``blocks``, so that a confirmation arrives in the frame
of its block (with the height), and send their list again every recheck interval, since the upstream
reports no eviction: the reply to the list leaves out what left the mempool unmined.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ingestor.upstream.assignment import assign
from ingestor.upstream.connection import UpstreamConnection

if TYPE_CHECKING:
    from ingestor.upstream.pool import UpstreamPool

log = logging.getLogger(__name__)

Role = Literal["main", "addresses", "txs"]
"""What a socket carries: the ``want`` channels, an address list or a transaction list."""


@dataclass(frozen=True, slots=True)
class TrackingKind:
    """How one kind of key is tracked upstream."""

    role: Role
    list_key: str
    """The message key of the list (``track-addresses``, ``track-txs``)."""
    wants: tuple[str, ...]
    """Channels each of its sockets wants."""
    noun: str
    limit_pattern: re.Pattern[str]
    """Finds the upstream's figure in its limit error."""


ADDRESSES = TrackingKind("addresses", "track-addresses", (), "addresses", re.compile(r"maximum of (\d+) addresses"))
TXS = TrackingKind("txs", "track-txs", ("blocks",), "transactions", re.compile(r"maximum of (\d+) transactions"))


@dataclass(eq=False)
class TrackingSlot:
    """One tracking socket and the list it should carry."""

    name: str
    kind: TrackingKind
    keys: list[str] = field(default_factory=list)
    connection: UpstreamConnection | None = None
    task: asyncio.Task[None] | None = None
    acked: bool = False
    dirty: bool = False
    pusher: asyncio.Task[None] | None = None
    sent: list[str] | None = None
    """The list last sent, until the upstream confirms it."""

    def list_to_send(self) -> dict[str, object]:
        """The whole list, piggy-backed on a ping so that the pong confirms it (called as it is sent)."""
        self.sent, self.acked = list(self.keys), False
        return {"action": "ping", self.kind.list_key: self.sent}


class _SlotHandler:
    def __init__(self, group: TrackingGroup, slot: TrackingSlot) -> None:
        self._group, self._slot = group, slot

    async def on_connected(self, connection: UpstreamConnection) -> None:
        slot, sink = self._slot, self._group.pool.sink
        await sink.on_socket_up(slot.name, list(slot.keys), connection.sessions > 1)
        if slot.kind.wants:
            await connection.send({"action": "want", "data": list(slot.kind.wants)})
        await self._group.push_list(slot)

    async def on_frame(self, connection: UpstreamConnection, raw: str | bytes, received_ms: int) -> None:
        slot, sink = self._slot, self._group.pool.sink
        replies = await sink.on_frame(raw, received_ms, slot.keys, socket=slot.name, role=slot.kind.role)
        error = replies.track_txs_error if slot.kind.role == "txs" else replies.track_addresses_error
        if error is not None:
            slot.sent = None
            self._group.on_limit_error(slot, error)
        elif replies.pong and not slot.acked and slot.sent is not None:
            slot.acked = True
            sink.on_tracking(slot.name, slot.sent, received_ms, role=slot.kind.role)

    async def on_disconnected(self, connection: UpstreamConnection, reason: str) -> None:
        self._slot.acked, self._slot.sent = False, None
        await self._group.pool.sink.on_socket_down(self._slot.name, list(self._slot.keys), reason)


class TrackingGroup:
    """The sockets tracking one kind of key for a pool."""

    def __init__(
        self, pool: UpstreamPool, kind: TrackingKind, limit: int, max_sockets: int, recheck_s: float | None = None
    ) -> None:
        self.pool = pool
        self.kind = kind
        self.limit = limit
        self.max_sockets = max_sockets
        self.recheck_s = recheck_s
        self.slots: list[TrackingSlot] = []
        self.rejected: list[str] = []
        self._desired: set[str] = set()
        self._told_sink = False
        self._counter = 0

    @property
    def capacity(self) -> int:
        """Most keys the group can track with its current limits."""
        return self.limit * self.max_sockets

    @property
    def tracked(self) -> list[str]:
        """Keys placed on a socket."""
        return [key for slot in self.slots for key in slot.keys]

    @property
    def connections(self) -> list[UpstreamConnection]:
        """The group's sockets."""
        return [slot.connection for slot in self.slots if slot.connection is not None]

    def start(self) -> None:
        """Start the sockets placed before the pool ran."""
        for slot in self.slots:
            self._start_slot(slot)

    def set_keys(self, keys: set[str]) -> None:
        """Track exactly ``keys`` from now on (open, re-send or close sockets as needed)."""
        if keys == self._desired and self._told_sink:
            return
        self._desired, self._told_sink = set(keys), True
        self.pool.sink.on_wanted(self.kind.role, self._desired)
        self._rebalance(force_resend=())

    def on_limit_error(self, slot: TrackingSlot, message: str) -> None:
        """The upstream refused a list (and cleared it, or closes the socket): lower the limit, re-spread."""
        match = self.kind.limit_pattern.search(message)
        stated = int(match.group(1)) if match else len(slot.keys) // 2
        limit = max(1, min(self.limit, stated, len(slot.keys) - 1))
        log.warning(
            "upstream allows %d %s per socket (we sent %d): re-spreading",
            limit,
            self.kind.noun,
            len(slot.keys),
            extra={"socket": slot.name, "upstream_message": message[:200]},
        )
        self.limit = limit
        self._rebalance(force_resend=(slot,))

    async def recheck_forever(self) -> None:
        """Send every list again each ``recheck_s`` (nothing when the group has none)."""
        if self.recheck_s is None:
            return
        while True:
            await asyncio.sleep(self.recheck_s)
            for slot in self.slots:
                if slot.keys:
                    self._schedule_push(slot)

    def _rebalance(self, force_resend: Sequence[TrackingSlot]) -> None:
        result = assign([slot.keys for slot in self.slots], self._desired, self.limit, self.max_sockets)
        newly_rejected = set(result.rejected) - set(self.rejected)
        self.rejected = result.rejected
        for index, keys in enumerate(result.lists):
            if index >= len(self.slots):
                self._counter += 1
                self.slots.append(TrackingSlot(name=f"{self.kind.role}-{self._counter}", kind=self.kind))
                self._start_slot(self.slots[index])
            slot = self.slots[index]
            if keys != slot.keys or slot in force_resend:
                slot.keys = keys
                self._schedule_push(slot)
        for slot in [slot for slot in self.slots if not slot.keys]:
            self._stop_slot(slot)
        if newly_rejected:
            log.warning(
                "%s capacity (%d) reached: %d %s not tracked",
                self.kind.role,
                self.capacity,
                len(self.rejected),
                self.kind.noun,
            )

    def _start_slot(self, slot: TrackingSlot) -> None:
        group = self.pool.task_group
        if group is None or slot.task is not None:
            return
        slot.connection = self.pool.connection(slot.name, self.kind.role, _SlotHandler(self, slot))
        slot.task = group.create_task(slot.connection.run(), name=f"upstream-{slot.name}")

    def _stop_slot(self, slot: TrackingSlot) -> None:
        self.slots.remove(slot)
        for task in (slot.task, slot.pusher):
            if task is not None:
                task.cancel()

    def _schedule_push(self, slot: TrackingSlot) -> None:
        slot.dirty = True
        group = self.pool.task_group
        connected = slot.connection is not None and slot.connection.connected
        if group is not None and connected and (slot.pusher is None or slot.pusher.done()):
            slot.pusher = group.create_task(self.push_list(slot), name=f"push-{slot.name}")

    async def push_list(self, slot: TrackingSlot) -> None:
        """Send the slot's whole list (with a ping, so the reply acknowledges it), coalescing updates."""
        slot.dirty = True
        while slot.dirty and slot.connection is not None:
            slot.dirty = False
            sent = await slot.connection.send(slot.list_to_send)
            if not sent:
                return
