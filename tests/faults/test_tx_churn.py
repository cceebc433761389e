"""Transaction leases in churn (issue 13): 300 txids tracked while 15 of them are released and replaced
every 50 ms for 25 s, and the ingestor reads the leases every 50 ms, so each socket's list changes more
often than the upstream's rate limit allows it to be sent. The simulator counts what each socket sends
in every sliding 10 s window and closes a socket past 100 (or past 100 txids in one list), as the upstream
does: no socket may be closed, none may carry more than 100 txids, and when the churn stops the upstream
tracks exactly what is leased."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from shared.channels import Names, lease_member, tx_lease_key
from tests.faults.helpers import Deployment, eventually, figures, wait_ready
from tests.faults.loss import stop_task
from tests.support.ports import free_port

TRACKED = 300
CHURN_PER_STEP = 15
STEP_S = 0.05
CHURN_S = 25.0
UPSTREAM_LIMIT = 100
"""Inbound messages per 10 s (and txids per list) past which the upstream closes a socket."""


def txid(n: int) -> str:
    return f"{n:064x}"


async def sim_stats(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        stats: dict[str, Any] = (await client.get(f"{sim_url}/_sim/stats")).json()
    return stats


class Leases:
    """Transaction leases written straight to Redis, as gateways write them."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._client = aioredis.Redis.from_url(redis_url)
        self._key = Names(prefix, "mainnet").leases
        self.held: set[str] = set()

    async def add(self, txids: list[str]) -> None:
        expiry = int(time.time() * 1000) + 600_000
        await self._client.zadd(self._key, {lease_member(tx_lease_key(t), "churn"): expiry for t in txids})
        self.held |= set(txids)

    async def drop(self, txids: list[str]) -> None:
        await self._client.zrem(self._key, *[lease_member(tx_lease_key(t), "churn") for t in txids])
        self.held -= set(txids)

    async def close(self) -> None:
        await self._client.aclose()


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_three_hundred_txids_in_churn_stay_within_the_upstream_limits(deployment: Deployment) -> None:
    port = free_port()
    deployment.sim(port, time.time(), speed=60, tick_s=0.2)
    sim_url = f"http://127.0.0.1:{port}"
    _, ingest_url = deployment.ingest(
        f"ws://127.0.0.1:{port}/api/v1/ws", f"{sim_url}/api", env={"MEMPOOL_WS_LEASE_POLL_INTERVAL_S": "0.05"}
    )
    await wait_ready(ingest_url)
    leases = Leases(deployment.redis_url, deployment.prefix)
    peak: dict[int, int] = {}
    longest: list[int] = [0]

    async def sample() -> None:
        while True:
            for connection in (await sim_stats(sim_url))["per_connection"]:
                if connection["track_txs"] or connection["id"] in peak:
                    peak[connection["id"]] = max(peak.get(connection["id"], 0), connection["max_messages_in_window"])
                    longest[0] = max(longest[0], len(connection["track_txs"]))
            await asyncio.sleep(0.5)

    sampler: asyncio.Task[None] | None = None
    try:
        await leases.add([txid(n) for n in range(TRACKED)])

        async def all_tracked() -> bool:
            stats = await sim_stats(sim_url)
            return {t for c in stats["per_connection"] for t in c["track_txs"]} == leases.held

        await eventually(all_tracked, 20, "300 txids tracked upstream")
        rng, next_txid = random.Random(13), TRACKED
        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        while time.monotonic() - started < CHURN_S:
            step = time.monotonic()
            gone = rng.sample(sorted(leases.held), CHURN_PER_STEP)
            fresh = [txid(next_txid + n) for n in range(CHURN_PER_STEP)]
            next_txid += CHURN_PER_STEP
            await leases.drop(gone)
            await leases.add(fresh)
            await asyncio.sleep(max(0.0, step + STEP_S - time.monotonic()))
        churned_s = time.monotonic() - started
        await stop_task(sampler)
        await eventually(all_tracked, 15, "the upstream to track exactly the leased txids once the churn stopped")
        final = await sim_stats(sim_url)
    finally:
        if sampler is not None:
            await stop_task(sampler)
        await leases.close()
    tx_sockets = [c for c in final["per_connection"] if c["track_txs"]]
    for connection in tx_sockets:
        peak[connection["id"]] = max(peak.get(connection["id"], 0), connection["max_messages_in_window"])
    figures(
        "tx-churn",
        tracked=TRACKED,
        churned_s=churned_s,
        txids_replaced_per_s=(next_txid - TRACKED) / churned_s,
        tx_sockets=len(tx_sockets),
        peak_messages_per_socket_per_10s=sorted(peak.values()),
        longest_list=longest[0],
        closes=final["closes"],
    )
    assert len(tx_sockets) == 3, "300 txids on three sockets of 100"
    assert peak and max(peak.values()) <= UPSTREAM_LIMIT, f"a socket sent more than {UPSTREAM_LIMIT} per 10 s: {peak}"
    assert longest[0] <= UPSTREAM_LIMIT
    closed_for_limits = {reason: n for reason, n in final["closes"].items() if reason != "client"}
    assert not closed_for_limits, f"sockets closed by the upstream: {closed_for_limits}"
