"""A client that never reads its stream: bounded buffers, counted drops, other clients unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any

import pytest
from fastmcp import Client

from shared.bitcoin.addresses import segwit_encode
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.helpers import (
    Deployment,
    eventually,
    figures,
    percentile,
    raw_tool_call,
    rss_mib,
    scrape,
    until,
    wait_ready,
)
from tests.support.processes import ServiceProcess

ADDRESS = segwit_encode("bc", 0, b"\x5a" * 20)
TXS_PER_FRAME = 50  # about 20 kB per pushed event
FLOOD_PER_S = 80  # into each of the two sockets; only the one tracking ADDRESS publishes it
STALL_TIMEOUT_S = 8.0


def activity_frame(serial: int) -> str:
    """A multi-address-transactions frame paying ADDRESS in TXS_PER_FRAME distinct transactions."""
    txs = []
    for n in range(TXS_PER_FRAME):
        txid = f"{serial:032x}{n:032x}"
        vout = [{"scriptpubkey_address": ADDRESS, "value": 1000 + n}]
        txs.append({"txid": txid, "vin": [], "vout": vout, "fee": 500, "weight": 561, "status": {"confirmed": False}})
    return json.dumps({"multi-address-transactions": {ADDRESS: {"mempool": txs, "confirmed": [], "removed": []}}})


async def stats_lags(client: Client[Any], count: int) -> list[float]:
    """Delivery lag (now minus ingest time) of the next ``count`` stats events pushed to ``client``."""
    lags: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        lags.append(time.time() - json.loads(message or "{}")["ts_ms"] / 1000)

    while len(lags) < count:
        await client.call_tool("stream_stats", {"max_events": 10, "timeout_s": 5}, progress_handler=on_progress)
    return lags


def stalled_socket(port: int) -> socket.socket:
    """A connection with a tiny receive window that asks for a long stream and never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    call = {"address": ADDRESS, "max_events": 500, "timeout_s": STALL_TIMEOUT_S}
    sock.sendall(raw_tool_call(port, "track_address", call))
    return sock


async def flood(sim: Simulator) -> None:
    serial = 0
    while True:
        serial += 1
        await sim.inject(activity_frame(serial))
        await asyncio.sleep(1 / FLOOD_PER_S)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_client_that_never_reads_costs_bounded_memory_and_slows_no_one_else(
    deployment: Deployment,
) -> None:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.05, seed=21)) as sim:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        gateway, gateway_url = deployment.gateway(env={"MEMPOOL_WS_CALL_QUEUE_SIZE": "32"})
        await wait_ready(ingest_url, gateway_url)
        port = int(gateway_url.rsplit(":", 1)[1])
        async with Client(f"{gateway_url}/mcp") as client:
            await eventually(lambda: _has_stats(client), 15, "stats")
            baseline = await stats_lags(client, 40)
            sock = stalled_socket(port)
            stalled_at = time.monotonic()
            await until(lambda: _tracked(sim), 10, "the address tracked upstream")
            flooding = asyncio.create_task(flood(sim))
            rss: list[tuple[float, float]] = []
            sampler = asyncio.create_task(_sample_rss(gateway, rss))
            try:
                during = await stats_lags(client, 60)
                slot_freed = await _active_streams_drop_to_zero(gateway_url, stalled_at + STALL_TIMEOUT_S + 10)
                dropped = await scrape(f"{gateway_url}/metrics", "gateway_events_dropped_total")
            finally:
                for task in (flooding, sampler):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                sock.close()
    first_rss = rss[0][1]
    stalled_rss = [mib for at, mib in rss if at < stalled_at + STALL_TIMEOUT_S - 0.5]
    figures(
        "client-never-reads",
        lag_p50_s_before=percentile(baseline, 50),
        lag_p95_s_before=percentile(baseline, 95),
        lag_p50_s_during=percentile(during, 50),
        lag_p95_s_during=percentile(during, 95),
        events_dropped=int(dropped),
        rss_mib_first=first_rss,
        rss_mib_max_while_stalled=max(stalled_rss),
        rss_mib_max=max(mib for _, mib in rss),
        rss_timeline=[round(mib) for _, mib in rss[::4]],
        stalled_call_ended_after_s=slot_freed,
    )
    assert dropped > 0, "the stalled call's buffer overflowed and the drops were counted"
    assert max(stalled_rss) - first_rss < 64, "memory stays bounded while the client does not read"
    # When the call ends, its result holds every event it pushed before the socket buffers filled (up to
    # max_events): serializing that result is a bounded, transient peak (max_events x event size).
    assert max(mib for _, mib in rss) - first_rss < 160, "and so does the final result"
    assert percentile(during, 95) < percentile(baseline, 95) + 0.25, "other clients keep their latency"
    assert slot_freed is not None and slot_freed < STALL_TIMEOUT_S + 6, "the stalled call ends near its timeout"


async def _has_stats(client: Client[Any]) -> bool:
    body = (await client.call_tool("stream_stats", {"want": False})).structured_content
    return bool(body and body["events"])


def _tracked(sim: Simulator) -> bool:
    return any(ADDRESS in c.track_addresses for c in sim.stats().per_connection)


async def _sample_rss(process: ServiceProcess, samples: list[tuple[float, float]]) -> None:
    while True:
        samples.append((time.monotonic(), rss_mib(process.pid)))
        await asyncio.sleep(0.25)


async def _active_streams_drop_to_zero(gateway_url: str, deadline: float) -> float | None:
    """Seconds from the stall until the gateway holds no stream, or None if it never happens by ``deadline``."""
    started = deadline - STALL_TIMEOUT_S - 10
    while time.monotonic() < deadline:
        if await scrape(f"{gateway_url}/metrics", "gateway_active_streams") == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None
