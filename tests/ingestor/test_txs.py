"""Transaction tracking by the ingestor against the simulator and a real Redis: leases to sockets, the
life of a payment on its tx:{txid} topic, read-backs over REST and the per-socket limit."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ingestor.service import IngestorService
from shared.bitcoin.addresses import segwit_encode
from shared.bus.redis import RedisBackend
from shared.channels import tx_lease_key
from shared.events import Event, tx_topic
from shared.settings import IngestorSettings, SimSettings
from simulator import Simulator
from tests.ingestor.test_ingest import eventually

PAYEE = segwit_encode("bc", 0, b"\x51" * 20)


@pytest.fixture
async def slow_chain() -> AsyncIterator[Simulator]:
    """Blocks only when a test mines one (a slot every 100 s), mempool updates every 50 ms."""
    async with Simulator(SimSettings(port=0, speed=6, tick_s=0.05, seed=5)) as sim:
        yield sim


@pytest.fixture
async def ingestor(
    slow_chain: Simulator, ingestor_settings: Callable[..., IngestorSettings]
) -> AsyncIterator[IngestorService]:
    settings = ingestor_settings(
        upstream_url=slow_chain.ws_url, upstream_rest_url=f"{slow_chain.http_url}/api", tx_recheck_interval_s=1.0
    )
    service = IngestorService(settings)
    task = asyncio.create_task(service.run())
    yield service
    service.stop()
    await asyncio.wait_for(task, 15)


async def lease(probe: RedisBackend, *txids: str) -> None:
    for txid in txids:
        await probe.renew_lease("mainnet", tx_lease_key(txid), "pod-a", ttl_s=60)


def statuses(events: list[Event]) -> list[str]:
    return ["gap" if "gap" in event.data else event.data["status"] for event in events]


async def events_of(probe: RedisBackend, txid: str) -> list[Event]:
    return await probe.recent("mainnet", tx_topic(txid), 50)


async def until_status(probe: RedisBackend, txid: str, state: str, timeout: float = 10) -> Event:
    async def reached() -> Event | None:
        return next((e for e in reversed(await events_of(probe, txid)) if e.data.get("status") == state), None)

    found: Event = await eventually(reached, timeout, f"{txid[:8]} {state}")
    return found


async def in_mempool(sim: Simulator, txid: str) -> None:
    await eventually(lambda: asyncio.sleep(0, sim.world.tx_status(txid) == {"confirmed": False}), 5, "the payment")
    await asyncio.sleep(0.2)


async def test_a_payment_is_followed_from_its_position_to_its_confirmation_with_the_height(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    txid = slow_chain.pay(PAYEE, 40_000, rate=2.0)
    await in_mempool(slow_chain, txid)
    await lease(probe, txid)
    first = await until_status(probe, txid, "mempool")
    position = first.data["position"]
    assert position["block_index"] >= 0 and position["vsize_ahead_vb"] >= 0
    await asyncio.sleep(1.0)
    assert len(await events_of(probe, txid)) <= 3, "about 20 mempool updates, only changes of the block index"
    child, rate = slow_chain.bump(txid, rate=60.0)
    bumped = await eventually(
        lambda: _latest_with(probe, txid, lambda d: (d.get("position") or {}).get("effective_fee_rate")), 5, "CPFP"
    )
    assert bumped.data["position"]["effective_fee_rate"] == pytest.approx(rate, rel=0.01)
    block = await slow_chain.mine_block()
    confirmed = await until_status(probe, txid, "confirmed")
    assert confirmed.data["block_height"] == block["height"] and confirmed.data["block_hash"] == block["id"]
    assert confirmed.data["confirmations"] == 1
    assert statuses(await events_of(probe, txid))[-1] == "confirmed"
    assert child != txid


async def _latest_with(probe: RedisBackend, txid: str, test: Callable[[dict[str, Any]], Any]) -> Event | None:
    latest = await probe.latest("mainnet", tx_topic(txid))
    return latest if latest is not None and test(latest.data) else None


async def test_a_replacement_names_the_replacing_txid(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    txid = slow_chain.pay(PAYEE, 41_000, rate=1.5)
    await in_mempool(slow_chain, txid)
    await lease(probe, txid)
    await until_status(probe, txid, "mempool")
    replacing = slow_chain.replace(txid)
    replaced = await until_status(probe, txid, "replaced")
    assert replaced.data["replaced_by"] == replacing and replaced.data["position"] is None


async def test_a_transaction_confirmed_before_it_was_leased_is_read_back_over_rest(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    txid = slow_chain.pay(PAYEE, 42_000)
    await in_mempool(slow_chain, txid)
    block = await slow_chain.mine_block()
    await slow_chain.mine_block()
    await lease(probe, txid)
    confirmed = await until_status(probe, txid, "confirmed")
    assert confirmed.data["block_height"] == block["height"]
    checks = ingestor.metrics.registry.get_sample_value("ingestor_tx_status_checks_total", {"outcome": "confirmed"})
    assert checks == 1


async def test_an_eviction_is_reported_removed_at_the_next_recheck(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    txid = slow_chain.pay(PAYEE, 43_000, rate=1.2)
    await in_mempool(slow_chain, txid)
    await lease(probe, txid)
    await until_status(probe, txid, "mempool")
    slow_chain.evict(txid)
    removed = await until_status(probe, txid, "removed", timeout=5)
    assert removed.data["position"] is None


async def test_an_unknown_txid_publishes_nothing_and_a_hundred_and_twenty_use_two_sockets(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    unknown = [f"{n:064x}" for n in range(1, 121)]
    await lease(probe, *unknown)

    async def spread() -> bool:
        lists = [c.track_txs for c in slow_chain.stats().per_connection if c.track_txs]
        return sorted(len(tracked) for tracked in lists) == [20, 100]

    await eventually(spread, 10, "120 txids on 2 sockets")

    async def reported() -> bool:
        status = await probe.read_status("mainnet")
        return status is not None and status.tracked_txs == 120 and status.tx_capacity == 1000

    await eventually(reported, 5, "the status record to count 120 tracked transactions of 1000")
    await asyncio.sleep(1.5)
    assert [await probe.latest("mainnet", tx_topic(txid)) for txid in unknown[:5]] == [None] * 5
    assert slow_chain.stats().closes.get("track_txs_error", 0) == 0


async def test_a_confirmation_during_an_upstream_outage_is_read_back_after_the_reconnect(
    ingestor: IngestorService, probe: RedisBackend, slow_chain: Simulator
) -> None:
    txid = slow_chain.pay(PAYEE, 44_000)
    await in_mempool(slow_chain, txid)
    await lease(probe, txid)
    await until_status(probe, txid, "mempool")
    await slow_chain.go_offline()
    block = await slow_chain.mine_block()
    await asyncio.sleep(0.5)
    await slow_chain.go_online()
    confirmed = await until_status(probe, txid, "confirmed", timeout=15)
    assert confirmed.data["block_height"] == block["height"]
    assert "gap" not in str(statuses(await events_of(probe, txid))), "recovered, so nothing to mark"


async def test_a_new_leader_reads_back_what_happened_while_nobody_led_or_marks_it(
    slow_chain: Simulator, probe: RedisBackend, ingestor_settings: Callable[..., IngestorSettings]
) -> None:
    settings = ingestor_settings(upstream_url=slow_chain.ws_url, upstream_rest_url=f"{slow_chain.http_url}/api")
    for successor_rest in (settings.upstream_rest_url, "http://127.0.0.1:9/api"):
        txid = slow_chain.pay(PAYEE, 45_000)
        await in_mempool(slow_chain, txid)
        first = IngestorService(settings)
        running = asyncio.create_task(first.run())
        await lease(probe, txid)
        last = await until_status(probe, txid, "mempool")
        first.stop()
        await asyncio.wait_for(running, 15)
        await slow_chain.mine_block()
        successor = IngestorService(settings.model_copy(update={"upstream_rest_url": successor_rest}))
        running = asyncio.create_task(successor.run())
        try:
            if successor_rest == settings.upstream_rest_url:
                confirmed = await until_status(probe, txid, "confirmed", timeout=15)
                assert confirmed.data["block_height"] == slow_chain.world.tx_status(txid)["block_height"]
            else:
                marked = functools.partial(_latest_with, probe, txid, lambda d: "gap" in d)
                notice = await eventually(marked, 15, "a gap notice")
                gap = notice.data["gap"]
                assert gap["from_ts_ms"] == last.ts_ms and "REST" in gap["reason"]
        finally:
            successor.stop()
            await asyncio.wait_for(running, 15)
