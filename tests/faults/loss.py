"""Accounting of the "lose nothing" scenarios: what a cursor consumer saw against what the upstream sent.

A :class:`CursorConsumer` loops ``track_address`` with its cursor (a fastmcp client over HTTP) and keeps
every txid it received, every gap notice's interval and every result that said ``gap=true``. Something
the upstream sent at a known time is *accounted for* when the consumer received it or when a gap it saw
covers that time; anything else is a silent loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from shared.bitcoin.addresses import segwit_encode
from shared.channels import Names, lease_member


def now_ms() -> int:
    """Wall-clock time in Unix ms (the clock every process on this machine shares)."""
    return int(time.time() * 1000)


def address(n: int) -> str:
    """A distinct valid mainnet P2WPKH address."""
    return segwit_encode("bc", 0, n.to_bytes(4, "big") * 5)


@dataclass(frozen=True, slots=True)
class Sent:
    """One thing the upstream sent: its txid and the window (Unix ms) in which it left the upstream."""

    txid: str
    from_ms: int
    to_ms: int


@dataclass(slots=True)
class CursorConsumer:
    """Loops ``track_address`` on one address with the cursor, as an agent would, and records what it saw."""

    url: str
    address: str
    max_events: int = 500
    timeout_s: float = 2.0
    txids: set[str] = field(default_factory=set)
    gaps: list[tuple[int, int, str]] = field(default_factory=list)
    """(from_ts_ms, to_ts_ms, reason) of every gap notice received."""
    blind: list[tuple[int, int]] = field(default_factory=list)
    """Intervals a ``gap=true`` result left unknown: from the last event seen to the first one returned."""
    calls: int = 0
    errors: int = 0
    gap_flags: int = 0
    _cursor: str | None = None
    _last_ts: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Call until ``stop`` is set (errors are retried, as the client helper does)."""
        while not stop.is_set():
            try:
                async with Client(self.url) as client:
                    while not stop.is_set():
                        await self._call(client)
            except (TimeoutError, ToolError, httpx.HTTPError, OSError, RuntimeError) as exc:
                self.errors += 1
                if "cancel" in str(exc).lower():
                    raise
                await asyncio.sleep(0.2)

    async def _call(self, client: Client[Any]) -> None:
        arguments: dict[str, Any] = {
            "address": self.address,
            "max_events": self.max_events,
            "timeout_s": self.timeout_s,
        }
        if self._cursor is not None:
            arguments["cursor"] = self._cursor
        try:
            result = await client.call_tool("track_address", arguments)
        except ToolError:
            self.errors += 1
            await asyncio.sleep(0.2)
            return
        self.calls += 1
        body = result.structured_content or {}
        events = body.get("events", [])
        if body.get("gap"):
            self.gap_flags += 1
            first = events[0]["ts_ms"] if events else now_ms()
            self.blind.append((self._last_ts, first))
        for event in events:
            self._take(event)
        self._cursor = body.get("cursor", self._cursor)

    def _take(self, event: dict[str, Any]) -> None:
        data = event["data"]
        self._last_ts = max(self._last_ts, int(event["ts_ms"]))
        if "gap" in data:
            gap = data["gap"]
            self.gaps.append((int(gap["from_ts_ms"]), int(gap["to_ts_ms"]), str(gap["reason"])))
            return
        for list_name in ("mempool", "confirmed", "removed"):
            self.txids.update(tx["txid"] for tx in data.get(list_name, []))

    def covered(self, sent: Sent) -> bool:
        """Whether a gap this consumer saw covers the moment ``sent`` left the upstream."""
        intervals = [(start, end) for start, end, _ in self.gaps] + self.blind
        return any(start <= sent.to_ms and sent.from_ms <= end for start, end in intervals)

    def silently_lost(self, sent: list[Sent]) -> list[Sent]:
        """What was neither received nor covered by a gap."""
        return [item for item in sent if item.txid not in self.txids and not self.covered(item)]


@dataclass(slots=True)
class Payer:
    """Pays an address through the simulator every ``interval_s`` and records each payment's window."""

    sim_url: str
    address: str
    tick_s: float
    interval_s: float = 1.0
    sent: list[Sent] = field(default_factory=list)

    async def run(self, count: int) -> None:
        """Make ``count`` payments."""
        async with httpx.AsyncClient(timeout=5) as client:
            for n in range(count):
                started = now_ms()
                response = await client.get(
                    f"{self.sim_url}/_sim/pay", params={"address": self.address, "sats": 10_000 + n}
                )
                txid = response.json()["txid"]
                # A payment enters the mempool at the simulator's next tick, which sends it at once.
                self.sent.append(Sent(txid, started, now_ms() + int(self.tick_s * 1000) + 50))
                await asyncio.sleep(self.interval_s)


async def lease(redis_url: str, prefix: str, addresses: list[str], ttl_s: float = 600) -> None:
    """Lease ``addresses`` directly in Redis (as gateways would), so the ingestor tracks them."""
    names = Names(prefix, "mainnet")
    client = aioredis.Redis.from_url(redis_url)
    try:
        expiry = now_ms() + int(ttl_s * 1000)
        await client.zadd(names.leases, {lease_member(a, "test-holder"): expiry for a in addresses})
    finally:
        await client.aclose()


async def sim_tracked(sim_url: str) -> set[str]:
    """Addresses the simulator tracks on any socket."""
    async with httpx.AsyncClient(timeout=5) as client:
        stats = (await client.get(f"{sim_url}/_sim/stats")).json()
    return {a for connection in stats["per_connection"] for a in connection["track_addresses"]}


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def activity_frame(address: str, txid: str) -> str:
    """A ``multi-address-transactions`` frame paying ``address`` in one transaction ``txid``."""
    tx = {
        "txid": txid,
        "vin": [],
        "vout": [{"scriptpubkey_address": address, "value": 1000}],
        "fee": 500,
        "weight": 561,
        "status": {"confirmed": False},
    }
    return json.dumps({"multi-address-transactions": {address: {"mempool": [tx], "confirmed": [], "removed": []}}})
