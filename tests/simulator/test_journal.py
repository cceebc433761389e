"""The simulator's journal (``/_sim/journal``): what the world announced, also while offline."""

from __future__ import annotations

import asyncio
import time

import httpx

from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.loss import address


async def journal(sim: Simulator, after_ms: int = 0) -> dict[str, list[dict[str, object]]]:
    """GET the journal."""
    async with httpx.AsyncClient(timeout=5) as client:
        reply = await client.get(f"{sim.http_url}/_sim/journal", params={"after_ms": after_ms})
    reply.raise_for_status()
    body: dict[str, list[dict[str, object]]] = reply.json()
    return body


async def test_the_journal_records_blocks_payments_and_stats_also_while_offline() -> None:
    target = address(4242)
    async with Simulator(SimSettings(port=0, speed=1, tick_s=0.05)) as sim:
        started_ms = int(time.time() * 1000)
        await sim.go_offline()
        txid = sim.pay(target, 25_000)
        await asyncio.sleep(0.3)
        mined = await sim.mine_block()
        await sim.go_online()
        body = await journal(sim)
        later = await journal(sim, int(time.time() * 1000) + 60_000)
    heights = {entry["height"]: entry["hash"] for entry in body["blocks"]}
    assert heights[mined["height"]] == mined["id"]
    states = {(p["txid"], p["address"], p["state"]) for p in body["payments"]}
    assert (txid, target, "mempool") in states
    assert (txid, target, "confirmed") in states
    assert len(body["stats"]) >= 3
    assert all(int(str(s["ts_ms"])) >= started_ms for s in body["stats"])
    assert all(int(str(s["tx_count"])) > 0 and int(str(s["vsize_vb"])) > 0 for s in body["stats"])
    assert later["blocks"] == later["payments"] == later["stats"] == []
