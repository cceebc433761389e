"""The per-connection WebSocket protocol of the mempool backend, without I/O.

:class:`ConnectionState` turns one inbound message into the frames to send back and a close
decision (:meth:`ConnectionState.receive`), and renders world events into this connection's frame
(:meth:`ConnectionState.render`), following ``websocket-handler.ts``.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from simulator import jsjson
from simulator.events import AddressTx, ChartPoint, Conversions, Event, MempoolChange, NewBlock, TxView
from simulator.txprotocol import TxSubscriptions

WANTABLE = ("blocks", "mempool-blocks", "live-2h-chart", "stats")
MSG_RATE_LIMIT = 100
"""More inbound messages than this inside one window close the connection."""
MSG_RATE_WINDOW_S = 10.0
"""Length of the sliding rate window, seconds."""
MAX_MESSAGE_BYTES = 50_000
STATS_SNAPSHOT_KEYS = ("mempoolInfo", "vBytesPerSecond", "fees", "da")
_ADDRESS = re.compile(
    r"[a-km-zA-HJ-NP-Z1-9]{26,35}|[a-km-zA-HJ-NP-Z1-9]{80}|[a-z]{2,5}1[ac-hj-np-z02-9]{8,100}"
    r"|[A-Z]{2,5}1[AC-HJ-NP-Z02-9]{8,100}|04[a-fA-F0-9]{128}|(02|03)[a-fA-F0-9]{64}"
)
_UPPER_BECH32 = re.compile(r"[A-Z]{2,5}1[AC-HJ-NP-Z02-9]{8,100}")
_UNCOMPRESSED_KEY = re.compile(r"04[a-fA-F0-9]{128}")
_COMPRESSED_KEY = re.compile(r"(02|03)[a-fA-F0-9]{64}")


class CloseReason(StrEnum):
    """Why a connection ended."""

    RATE_LIMIT = "rate_limit"
    INVALID_JSON = "invalid_json"
    BAD_MESSAGE = "bad_message"
    TOO_BIG = "too_big"
    TRACK_TXS_ERROR = "track_txs_error"
    SLOW_CONSUMER = "slow_consumer"
    OFFLINE = "offline"
    SHUTDOWN = "shutdown"
    CLIENT = "client"


class Snapshots(Protocol):
    """Current serialized values the replies are made of."""

    def value(self, key: str) -> str | None:
        """The serialized value of ``key`` (``blocks``, ``mempoolInfo``, ...), if known."""

    def init_data(self) -> str:
        """The serialized init frame."""

    def canonical(self, address: str) -> str | None:
        """The canonical address of the served network, or ``None`` if it is not one."""

    def followed(self, txid: str) -> TxView | None:
        """What transaction tracking reports about ``txid`` now, or ``None`` for an unknown txid."""


@dataclass
class Reply:
    """What to do after one inbound message."""

    frames: list[str] = field(default_factory=list)
    close: CloseReason | None = None
    tracked: list[str] = field(default_factory=list)
    """Canonical addresses this message started tracking."""


@dataclass(frozen=True)
class Tracked:
    """A tracked key as the client sent it (normalized like the backend) and the address it matches."""

    key: str
    canonical: str | None


def tracking_key(value: object) -> str | None:
    """The backend's ``testAddress``: the value to track, or ``None`` if the value is rejected."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        return None
    if _UPPER_BECH32.fullmatch(value):
        return value.lower()
    if _UNCOMPRESSED_KEY.fullmatch(value):
        return f"41{value}ac"
    if _COMPRESSED_KEY.fullmatch(value):
        return f"21{value}ac"
    return value


def _truthy(value: Any) -> bool:
    return value is not None and value is not False and value not in (0, "")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def address_limit_error(limit: int) -> str:
    """The backend's ``track-addresses-error`` text."""
    return f"too many addresses requested, this connection supports tracking a maximum of {limit} addresses"


class ConnectionState:
    """Subscriptions, tracked addresses and inbound accounting of one WebSocket connection."""

    def __init__(self, snapshots: Snapshots, address_limit: int) -> None:
        self._snapshots = snapshots
        self._address_limit = address_limit
        self.wants: set[str] = set()
        self.track_address: Tracked | None = None
        self.track_addresses: dict[str, Tracked] = {}
        self.txs = TxSubscriptions()
        self.messages_in = 0
        self.max_in_window = 0
        self.closed: CloseReason | None = None
        self._window: deque[float] = deque()

    def receive(self, message: str | bytes, now: float) -> Reply:
        """Handle one inbound message received at ``now`` (monotonic seconds)."""
        if self.closed:
            return Reply()
        self.messages_in += 1
        if self._over_rate(now):
            return self._close(CloseReason.RATE_LIMIT)
        try:
            parsed = json.loads(message, parse_constant=_reject_constant)
        except ValueError:
            return self._close(CloseReason.INVALID_JSON)
        if parsed is None:
            return self._close(CloseReason.BAD_MESSAGE)
        if not isinstance(parsed, dict):
            return Reply()
        return self._handle(parsed)

    def _over_rate(self, now: float) -> bool:
        self._window.append(now)
        while self._window[0] <= now - MSG_RATE_WINDOW_S:
            self._window.popleft()
        self.max_in_window = max(self.max_in_window, len(self._window))
        return len(self._window) > MSG_RATE_LIMIT

    def _close(self, reason: CloseReason) -> Reply:
        self.closed = reason
        return Reply(close=reason)

    def _handle(self, message: dict[str, Any]) -> Reply:
        reply = Reply()
        response: dict[str, str] = {}
        if message.get("action") == "want":
            self._want(message.get("data"), response)
        if _truthy(message.get("refresh-blocks")):
            self._put(response, "blocks")
        self.txs.on_track_tx(message, self._snapshots, response)
        error = self.txs.on_track_txs(message, self._snapshots, response)
        if error is not None:
            response["track-txs-error"] = jsjson.dumps(error)
            self.txs.track_txs = None
            self.closed = reply.close = CloseReason.TRACK_TXS_ERROR
            reply.frames.append(jsjson.frame(response.items()))
            return reply
        if _truthy(message.get("track-address")):
            self._track_address(message["track-address"], reply)
        addresses = message.get("track-addresses")
        if _truthy(addresses) and isinstance(addresses, list):
            self._track_addresses(addresses, response, reply)
        if message.get("action") == "init":
            reply.frames.append(self._snapshots.init_data())
        if message.get("action") == "ping":
            response["pong"] = "true"
        if response:
            reply.frames.append(jsjson.frame(response.items()))
        return reply

    def _put(self, response: dict[str, str], key: str) -> None:
        value = self._snapshots.value(key)
        if value is not None:
            response[key] = value

    def _want(self, data: Any, response: dict[str, str]) -> None:
        if not isinstance(data, list):
            return
        wanted = {name for name in WANTABLE if name in data}
        added = wanted - self.wants
        self.wants = wanted
        if "blocks" in added:
            self._put(response, "blocks")
        if "mempool-blocks" in added:
            self._put(response, "mempool-blocks")
        if "stats" in added:
            for key in STATS_SNAPSHOT_KEYS:
                self._put(response, key)

    def _tracked(self, key: str) -> Tracked:
        return Tracked(key, self._snapshots.canonical(key))

    def _track_address(self, value: Any, reply: Reply) -> None:
        key = tracking_key(value)
        self.track_address = self._tracked(key) if key else None
        if self.track_address and self.track_address.canonical:
            reply.tracked.append(self.track_address.canonical)

    def _track_addresses(self, values: list[Any], response: dict[str, str], reply: Reply) -> None:
        valid: dict[str, Tracked] = {}
        for value in values:
            key = tracking_key(value)
            if key is not None:
                valid[value] = Tracked(value, self._snapshots.canonical(key))
        if len(valid) > self._address_limit:
            response["track-addresses-error"] = jsjson.dumps(address_limit_error(self._address_limit))
            self.track_addresses = {}
            return
        self.track_addresses = valid
        reply.tracked.extend(tracked.canonical for tracked in valid.values() if tracked.canonical)

    def render(self, event: Event) -> str | None:
        """This connection's frame for ``event``, or ``None`` when nothing in it concerns it."""
        pairs: list[tuple[str, str]] = []
        if isinstance(event, MempoolChange):
            self._render_mempool(event, pairs)
        elif isinstance(event, NewBlock):
            self._render_block(event, pairs)
        elif isinstance(event, ChartPoint):
            if "live-2h-chart" in self.wants:
                pairs.append(("live-2h-chart", event.value))
        elif isinstance(event, Conversions):
            pairs.append(("conversions", event.value))
        return jsjson.frame(pairs) if pairs else None

    def _render_mempool(self, event: MempoolChange, pairs: list[tuple[str, str]]) -> None:
        if "stats" in self.wants:
            pairs.extend(event.stats)
        if "mempool-blocks" in self.wants:
            pairs.append(("mempool-blocks", event.mempool_blocks))
        pairs.extend(self.txs.watch_pairs(event.txs))
        single = self.track_address.canonical if self.track_address else None
        if single:
            self._append_txs(pairs, "address-transactions", _touching(event.added, single))
            self._append_txs(pairs, "address-removed-transactions", _touching(event.removed, single))
        multi: dict[str, Any] = {}
        for key, tracked in self.track_addresses.items():
            added = _touching(event.added, tracked.canonical)
            if added:
                removed = _touching(event.removed, tracked.canonical)
                multi[key] = {"mempool": added, "confirmed": [], "removed": removed}
        if multi:
            pairs.append(("multi-address-transactions", jsjson.dumps(multi)))
        pairs.extend(self.txs.mempool_pairs(event.txs))

    def _render_block(self, event: NewBlock, pairs: list[tuple[str, str]]) -> None:
        if "blocks" in self.wants:
            pairs.append(("block", event.block))
        if "stats" in self.wants:
            pairs.extend(event.stats)
        if "mempool-blocks" in self.wants:
            pairs.append(("mempool-blocks", event.mempool_blocks))
        pairs.extend(self.txs.block_pairs(event.txs))
        single = self.track_address.canonical if self.track_address else None
        if single:
            self._append_txs(pairs, "block-transactions", _touching(event.confirmed, single))
        multi: dict[str, Any] = {}
        for key, tracked in self.track_addresses.items():
            confirmed = _touching(event.confirmed, tracked.canonical)
            if confirmed:
                multi[key] = {"mempool": [], "confirmed": confirmed, "removed": []}
        if multi:
            pairs.append(("multi-address-transactions", jsjson.dumps(multi)))

    @staticmethod
    def _append_txs(pairs: list[tuple[str, str]], key: str, txs: list[dict[str, Any]]) -> None:
        if txs:
            pairs.append((key, jsjson.dumps(txs)))

    def tracked_keys(self) -> list[str]:
        """Every tracked key: the single ``track-address`` first, then the ``track-addresses`` list."""
        single = [self.track_address.key] if self.track_address else []
        return single + list(self.track_addresses)


def _touching(items: tuple[AddressTx, ...], address: str | None) -> list[dict[str, Any]]:
    if address is None:
        return []
    return [item.tx for item in items if address in item.addresses]
