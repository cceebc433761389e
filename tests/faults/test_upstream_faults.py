"""Upstream faults on loopback: refusal for a long time, oversized frames, old payload shapes, its limits.

Covered elsewhere and not repeated here: a socket that stays open but sends nothing, garbage and
truncated JSON and unknown keys (``tests/ingestor/test_ingest.py``), a 30 s outage with a process
ingestor (``tests/ingestor/test_processes.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from typing import Any

import pytest

from shared.bitcoin.addresses import segwit_encode
from shared.bus.redis import RedisBackend
from shared.events import Event
from shared.models import FEE_BAND_FLOORS
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.conftest import StartIngestor
from tests.faults.helpers import eventually, figures, until
from tests.support.fault_proxy import FaultProxy

BACKOFF_MAX_S = 0.8
REFUSAL_S = 12.0
CHURN_S = 8.0  # 15 times the backoff cap: "minutes" at production settings (60 s cap)


async def newer(probe: RedisBackend, topic: str, than: Event | None, timeout: float = 10) -> Event:
    """The first event of ``topic`` newer than ``than``."""

    async def check() -> Event | None:
        latest = await probe.latest("mainnet", topic)
        return latest if latest is not None and (than is None or latest.seq > than.seq) else None

    return await eventually(check, timeout, f"a new {topic} event")


def counter(service: Any, name: str, labels: dict[str, str] | None = None) -> float:
    return float(service.metrics.registry.get_sample_value(name, labels or {}) or 0.0)


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_long_refusal_backs_off_to_the_cap_without_a_tight_loop_and_recovers(
    simulator: Simulator, ingestor: StartIngestor, probe: RedisBackend
) -> None:
    async with FaultProxy(simulator.port) as proxy:
        service = await ingestor(
            f"ws://127.0.0.1:{proxy.port}/api/v1/ws", f"{simulator.http_url}/api", backoff_max_s=BACKOFF_MAX_S
        )
        before = await newer(probe, "stats", None, timeout=15)
        proxy.mode = "refuse"
        proxy.reset_all()
        refused_at, first_attempt = time.monotonic(), len(proxy.attempts)
        reconnects_before = counter(service, "ingestor_upstream_reconnects_total", {"socket_role": "main"})
        await asyncio.sleep(REFUSAL_S)
        proxy.mode = "pass"
        restored_at = time.monotonic()
        attempts = proxy.attempts[first_attempt:]
        reconnects = counter(service, "ingestor_upstream_reconnects_total", {"socket_role": "main"})
        stale = await probe.latest("mainnet", "stats")
        recovered = await newer(probe, "stats", stale)
        recovery_s = time.monotonic() - restored_at
    intervals = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    at_cap = intervals[6:]
    figures(
        "upstream-refusal",
        refused_s=restored_at - refused_at,
        attempts=len(attempts),
        reconnects_metric=int(reconnects - reconnects_before),
        first_intervals_s=intervals[:6],
        interval_at_cap_min_s=min(at_cap),
        interval_at_cap_max_s=max(at_cap),
        recovery_s=recovery_s,
    )
    assert recovered.seq > before.seq
    assert min(intervals) >= 0.04, "no tight loop: every retry waits at least the initial backoff"
    assert intervals[:4] == sorted(intervals[:4]), "the delay grows"
    assert min(at_cap) >= BACKOFF_MAX_S * 0.95, "once at the cap, retries are spaced by the cap"
    assert max(at_cap) <= BACKOFF_MAX_S + 0.05 + 0.5, "and never more than the cap plus jitter"
    assert len(attempts) <= 5 + REFUSAL_S / BACKOFF_MAX_S + 2
    assert reconnects - reconnects_before >= len(attempts) - 1, "the metric counts the attempts"


def old_fees(fastest: int) -> dict[str, int]:
    """Whole-sat recommended fees, as every backend sent them before the 2025 sub-sat change."""
    return {"fastestFee": fastest, "halfHourFee": 40, "hourFee": 30, "economyFee": 20, "minimumFee": 10}


def legacy_chart_row() -> dict[str, Any]:
    """A 2021 live-2h-chart point: the raw database row, ISO date, one column per fee band."""
    row: dict[str, Any] = {"id": 1, "added": "2021-03-30T12:34:00.000Z", "unconfirmed_transactions": 4242}
    row |= {"vbytes_per_second": 1500, "mempool_byte_weight": 4000, "total_fee": 123456}
    return row | {f"vsize{floor}": floor + 1 for floor in FEE_BAND_FLOORS[1:]}


@pytest.mark.timeout(60)
async def test_oversized_frames_force_a_reconnect_and_old_shapes_are_read_or_counted(
    simulator: Simulator, ingestor: StartIngestor, probe: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    service = await ingestor(simulator.ws_url, f"{simulator.http_url}/api", max_frame_bytes=64 * 1024)
    first = await newer(probe, "stats", None, timeout=15)
    assert service.pool is not None
    sessions = service.pool.main.sessions
    huge = json.dumps({"mempool-blocks": [{"blockSize": 1, "padding": "x" * 300_000}]})
    for _ in range(3):
        await simulator.inject(huge)

        def replaced(before: int = sessions) -> bool:
            return service.pool is not None and service.pool.main.sessions > before

        await until(replaced, 10, "a new socket")
        sessions = service.pool.main.sessions
    after_huge = await newer(probe, "stats", first)
    oversized = [r for r in caplog.records if "exceeded max_frame_bytes (65536 bytes)" in r.getMessage()]
    assert len(oversized) == 3, "each oversized frame is logged with its cause"
    payload_errors = counter(service, "ingestor_parse_errors_total", {"kind": "payload"})
    await simulator.inject(json.dumps({"fees": old_fees(777)}))
    await simulator.inject(json.dumps({"live-2h-chart": legacy_chart_row()}))
    await simulator.inject(json.dumps({"fees": {"fastestFee": 555, "halfHourFee": 5, "hourFee": 4}}))

    async def published() -> tuple[Event, Event] | None:
        stats = await probe.recent("mainnet", "stats", 300)
        chart = await probe.recent("mainnet", "live-2h-chart", 50)
        fees = next((e for e in stats if (e.data.get("fees") or {}).get("fastest") == 777), None)
        point = next((e for e in chart if e.data.get("tx_count") == 4242), None)
        return (fees, point) if fees and point else None

    fees_event, chart_event = await eventually(published, 10, "the old shapes, normalized")
    await until(
        lambda: counter(service, "ingestor_parse_errors_total", {"kind": "payload"}) > payload_errors,
        5,
        "the 2020 fees object (no economyFee) counted as unreadable",
    )
    stats = await probe.recent("mainnet", "stats", 300)
    assert all((e.data.get("fees") or {}).get("fastest") != 555 for e in stats), "a partial object is not guessed"
    assert chart_event.data["added_unix_s"] == 1617107640 and len(chart_event.data["vsize_by_fee_band"]) == 38
    assert fees_event.data["fees"]["economy"] == 20.0
    await newer(probe, "stats", after_huge)
    figures(
        "upstream-oversized-and-old-shapes",
        oversized_frames=3,
        reconnects=len(oversized),
        old_shapes_published=2,
        unreadable_counted=int(counter(service, "ingestor_parse_errors_total", {"kind": "payload"}) - payload_errors),
    )


def address(n: int) -> str:
    return segwit_encode("bc", 0, n.to_bytes(20, "big"))


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_heavy_lease_churn_stays_within_the_upstream_rate_limit_and_its_address_limit(
    ingestor: StartIngestor, probe: RedisBackend
) -> None:
    settings = SimSettings(port=0, speed=1200, tick_s=0.05, seed=9, address_limit=4)
    async with Simulator(settings) as strict:
        service = await ingestor(strict.ws_url, f"{strict.http_url}/api", lease_poll_interval_s=0.05)
        await newer(probe, "stats", None, timeout=15)
        pool = [address(1000 + n) for n in range(12)]
        rng, held, peak = random.Random(4), set[str](), dict[int, int]()
        started, changes = time.monotonic(), 0
        while time.monotonic() - started < CHURN_S:
            flip = rng.choice(pool)
            if flip in held:
                held.discard(flip)
                await probe.release_lease("mainnet", flip, "churn")
            else:
                held.add(flip)
                await probe.renew_lease("mainnet", flip, "churn", ttl_s=60)
            changes += 1
            for connection in strict.stats().per_connection:
                peak[connection.id] = max(peak.get(connection.id, 0), connection.max_messages_in_window)
            await asyncio.sleep(0.02)
        wanted = await probe.leased_addresses("mainnet")

        async def converged() -> bool:
            lists = [c.track_addresses for c in strict.stats().per_connection if c.track_addresses]
            return sorted(a for tracked in lists for a in tracked) == sorted(wanted) and all(
                len(tracked) <= 4 for tracked in lists
            )

        converged_in = time.monotonic()
        await eventually(converged, 30, "the upstream lists to match the leases")
        converged_in = time.monotonic() - converged_in
        for connection in strict.stats().per_connection:
            peak[connection.id] = max(peak.get(connection.id, 0), connection.max_messages_in_window)
        closes = strict.stats().closes
    figures(
        "upstream-rate-limit-churn",
        lease_changes=changes,
        sockets=len(peak),
        peak_messages_per_10s=max(peak.values()),
        closes=closes,
        address_limit_learned=service.pool.address_limit if service.pool else None,
        converged_after_churn_s=converged_in,
    )
    assert max(peak.values()) <= 80, "never past our own budget (the upstream closes at 100 per 10 s)"
    assert closes.get("rate_limit", 0) == 0
    assert service.pool is not None and service.pool.address_limit == 4, "track-addresses-error was understood"
