"""Redis error replies and dropped connections: no error class ends a daemon, and command retries run.

Separate ``ingest`` and ``gateway`` processes on a private redis-server that each test puts out of memory,
turns into a read-only replica, kills connections of, restarts empty or configures to evict; the
simulator runs in-process as the upstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from shared.bus.redis import RedisBackend
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.conftest import StartIngestor
from tests.faults.helpers import Deployment, eventually, figures, http_get, metric_value, wait_ready
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

Admin = aioredis.Redis


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=21)) as running:
        yield running


@pytest.fixture
async def admin(own_redis: RedisServer) -> AsyncIterator[Admin]:
    """A plain client of the private Redis, for faults and for reading what was published."""
    client = aioredis.Redis.from_url(own_redis.url, decode_responses=True, socket_connect_timeout=0.5)
    try:
        yield client
    finally:
        await client.aclose()


async def latest_stats(admin: Admin, prefix: str) -> dict[str, Any] | None:
    """The stats event stored as latest, None when absent or Redis does not answer."""
    try:
        raw = await admin.get(f"{prefix}:mainnet:stats:latest")
    except (aioredis.RedisError, OSError):
        return None
    return json.loads(raw) if raw else None


async def published_after(admin: Admin, prefix: str, since_unix_s: float) -> dict[str, Any] | None:
    """The latest stats event if it was ingested after ``since_unix_s``."""
    event = await latest_stats(admin, prefix)
    return event if event is not None and event["ts_ms"] / 1000 > since_unix_s else None


async def epoch_of(admin: Admin, prefix: str) -> str:
    return str(await admin.get(f"{prefix}:mainnet:epoch"))


async def watch_reasons(ingest_url: str, seconds: float) -> list[str]:
    """Every reason the ingestor's probes gave (``/readyz`` and ``/healthz`` bodies) during ``seconds``."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for probe in ("readyz", "healthz"):
            response = await http_get(f"{ingest_url}/{probe}", timeout=1.0)
            if response is not None:
                seen += [reason for reason in response.json().get("reasons", []) if reason not in seen]
        await asyncio.sleep(0.05)
    return seen


async def metrics_text(url: str) -> str:
    response = await http_get(f"{url}/metrics")
    return response.text if response is not None else ""


async def pull_stats(client: Client[Any]) -> str:
    """One ``stream_stats(want=false)``: '' when it succeeded, else the error text."""
    try:
        result = await client.call_tool("stream_stats", {"want": False})
    except ToolError as exc:
        return str(exc) or "error"
    return "" if result.structured_content and result.structured_content["events"] else "no events"


async def fault_then_recover(
    admin: Admin,
    own_redis: RedisServer,
    sim: Simulator,
    key_prefix: str,
    fault: list[str],
    repair: list[str],
) -> dict[str, Any]:
    """Run a leader, apply the ``fault`` command for a second, then ``repair``; what happened, measured."""
    deployment = Deployment(own_redis.url, key_prefix)
    try:
        ingest, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        await wait_ready(ingest_url)
        before = await eventually(lambda: latest_stats(admin, key_prefix), 10, "publishing")
        epoch = await epoch_of(admin, key_prefix)
        await admin.execute_command(*fault)
        reasons = await watch_reasons(ingest_url, 1.0)
        await admin.execute_command(*repair)
        repaired, repaired_at = time.time(), time.monotonic()
        after = await eventually(lambda: published_after(admin, key_prefix, repaired), 10, "publishing again")
        publishing_s = time.monotonic() - repaired_at
        await wait_ready(ingest_url, timeout=10)
        ready_s = time.monotonic() - repaired_at
        return {
            "alive": ingest.alive(),
            "reasons": reasons,
            "publishing_again_s": publishing_s,
            "ready_again_s": ready_s,
            "epoch_kept": await epoch_of(admin, key_prefix) == epoch,
            "ids": (int(before["id"]), int(after["id"])),
            "metrics": await metrics_text(ingest_url),
            "logs": deployment.output(),
        }
    finally:
        await deployment.stop_all()


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_out_of_memory_for_a_second_degrades_the_leader_and_it_recovers_in_the_same_epoch(
    own_redis: RedisServer, sim: Simulator, admin: Admin, key_prefix: str
) -> None:
    await admin.config_set("maxmemory-policy", "noeviction")
    seen = await fault_then_recover(
        admin, own_redis, sim, key_prefix, ["CONFIG", "SET", "maxmemory", "1"], ["CONFIG", "SET", "maxmemory", "0"]
    )
    oom_errors = metric_value(seen["metrics"], "ingestor_bus_errors_total", {"kind": "out_of_memory"})
    figures(
        "redis-oom-1s",
        reasons=seen["reasons"],
        publishing_again_s=seen["publishing_again_s"],
        ready_again_s=seen["ready_again_s"],
        ids=seen["ids"],
        oom_errors=oom_errors,
    )
    assert seen["alive"], "an out-of-memory Redis does not end the ingestor"
    assert any("out of memory" in reason for reason in seen["reasons"]), seen["reasons"]
    assert not any("unreachable" in reason for reason in seen["reasons"]), "out of memory is not 'unreachable'"
    assert seen["epoch_kept"] and seen["ids"][1] > seen["ids"][0], "ids continue in the same epoch"
    assert oom_errors > 0
    assert "Traceback" not in seen["logs"]


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_read_only_replica_for_a_second_degrades_the_leader_and_it_recovers_in_the_same_epoch(
    own_redis: RedisServer, sim: Simulator, admin: Admin, key_prefix: str
) -> None:
    nobody = str(free_port())
    seen = await fault_then_recover(
        admin, own_redis, sim, key_prefix, ["REPLICAOF", "127.0.0.1", nobody], ["REPLICAOF", "NO", "ONE"]
    )
    read_only_errors = metric_value(seen["metrics"], "ingestor_bus_errors_total", {"kind": "read_only"})
    figures(
        "redis-read-only-1s",
        reasons=seen["reasons"],
        publishing_again_s=seen["publishing_again_s"],
        ready_again_s=seen["ready_again_s"],
        ids=seen["ids"],
        read_only_errors=read_only_errors,
    )
    assert seen["alive"], "a read-only replica does not end the ingestor"
    assert any("read-only replica" in reason for reason in seen["reasons"]), seen["reasons"]
    assert seen["epoch_kept"] and seen["ids"][1] > seen["ids"][0], "ids continue in the same epoch"
    assert read_only_errors > 0
    assert "Traceback" not in seen["logs"]


async def publish_failures(ingest_url: str) -> float:
    return metric_value(await metrics_text(ingest_url), "ingestor_publish_failures_total")


async def thirty_after(
    client: Client[Any], admin: Admin, key_prefix: str, ingest_url: str, failures_before: float
) -> dict[str, Any]:
    """30 consecutive gateway pulls, then 30 more ingestor publishes; what failed among them."""
    pulls = [await pull_stats(client) for _ in range(30)]
    start = await eventually(lambda: latest_stats(admin, key_prefix), 5, "stats")
    await eventually(lambda: _advanced(admin, key_prefix, int(start["id"]) + 30), 10, "30 more events published")
    return {
        "pulls_failed": [text for text in pulls if text],
        "publishes_failed": await publish_failures(ingest_url) - failures_before,
    }


async def _advanced(admin: Admin, prefix: str, target_id: int) -> bool:
    return int(await admin.get(f"{prefix}:mainnet:seq") or 0) >= target_id


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_after_client_kill_and_after_a_restart_the_next_30_calls_do_not_fail(
    own_redis: RedisServer, sim: Simulator, admin: Admin, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    try:
        ingest, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        gateway, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        async with Client(f"{gateway_url}/mcp") as client:
            await eventually(lambda: _pulled(client), 10, "a first pull")
            await asyncio.gather(*(pull_stats(client) for _ in range(16)))  # a pool of connections in use
            failures = await publish_failures(ingest_url)
            marks = [len(process.output()) for process in deployment.processes]
            killed = await admin.client_kill_filter(_type="normal", skipme=True)
            after_kill = await thirty_after(client, admin, key_prefix, ingest_url, failures)
            kill_logs = "".join(p.output()[mark:] for p, mark in zip(deployment.processes, marks, strict=True))

            await asyncio.gather(*(pull_stats(client) for _ in range(16)))
            await asyncio.to_thread(own_redis.kill)
            await asyncio.to_thread(own_redis.start)
            restarted, restarted_at = time.time(), time.monotonic()
            failures = await publish_failures(ingest_url)
            await eventually(lambda: published_after(admin, key_prefix, restarted), 10, "publishing after restart")
            publishing_s = time.monotonic() - restarted_at
            after_restart = await thirty_after(client, admin, key_prefix, ingest_url, failures)
        alive = ingest.alive() and gateway.alive()
    finally:
        await deployment.stop_all()
    figures(
        "redis-30-calls",
        clients_killed=killed,
        after_kill=after_kill,
        after_restart=after_restart,
        publishing_after_restart_s=publishing_s,
    )
    assert alive
    for outcome in (after_kill, after_restart):
        assert outcome["pulls_failed"] == [], "every pull right after the fault succeeds (the retry ran)"
        assert outcome["publishes_failed"] == 0, "every publish right after the fault succeeds"
    assert "unreachable" not in kill_logs, "a killed connection is retried, never reported as an outage"


async def _pulled(client: Client[Any]) -> bool:
    return await pull_stats(client) == ""


EVICTING_WARNING = "maxmemory-policy noeviction"


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("policy", "extra_args", "evicting"),
    [
        ("allkeys-lru", [], True),
        ("volatile-ttl", ["--rename-command", "CONFIG", ""], True),
        ("noeviction", [], False),
    ],
    ids=["allkeys-lru", "volatile-ttl-without-CONFIG", "noeviction"],
)
async def test_an_evicting_redis_is_reported_in_the_log_a_metric_and_the_bus_warnings(
    sim: Simulator, key_prefix: str, policy: str, extra_args: list[str], evicting: bool
) -> None:
    server = RedisServer(extra_args=["--maxmemory", "256mb", "--maxmemory-policy", policy, *extra_args])
    await asyncio.to_thread(server.start)
    deployment = Deployment(server.url, key_prefix)
    backend = RedisBackend(server.url, prefix=key_prefix)
    try:
        ingest, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        await wait_ready(ingest_url)
        await backend.connect()
        warnings = await backend.warnings()
        gauge = metric_value(await metrics_text(ingest_url), "ingestor_bus_warnings")
        logged = [line for line in ingest.output().splitlines() if EVICTING_WARNING in line]
        ready = await http_get(f"{ingest_url}/readyz")
    finally:
        await backend.close()
        await deployment.stop_all()
        await asyncio.to_thread(server.cleanup)
    figures(f"redis-policy-{policy}", warnings=warnings, gauge=gauge, logged=logged[:1])
    assert ready is not None and ready.status_code == 200, "an evicting Redis is a warning, not an outage"
    if evicting:
        assert len(warnings) == 1 and policy in warnings[0] and EVICTING_WARNING in warnings[0]
        assert gauge == 1
        assert len(logged) == 1 and "WARNING" in logged[0] and "vanish" in logged[0]
    else:
        assert warnings == [] and gauge == 0 and logged == []


async def test_the_evicting_warning_follows_a_policy_change(own_redis: RedisServer, admin: Admin) -> None:
    backend = RedisBackend(own_redis.url, prefix="policy", policy_check_interval_s=0.2)
    await backend.connect()
    try:
        assert await backend.warnings() == []
        await admin.config_set("maxmemory-policy", "volatile-lru")
        await eventually(backend.warnings, 3, "a warning about volatile-lru")
        await admin.config_set("maxmemory-policy", "noeviction")
        await eventually(lambda: _no_warnings(backend), 3, "the warning to clear")
    finally:
        await backend.close()


async def _no_warnings(backend: RedisBackend) -> bool:
    return await backend.warnings() == []


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_redis_restarted_empty_under_a_single_leader_keeps_it_leading(
    own_redis: RedisServer, sim: Simulator, admin: Admin, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    try:
        ingest, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        await wait_ready(ingest_url)
        await eventually(lambda: latest_stats(admin, key_prefix), 10, "publishing")
        await asyncio.to_thread(own_redis.kill)
        await asyncio.to_thread(own_redis.start)
        restarted, restarted_at = time.time(), time.monotonic()
        await eventually(lambda: published_after(admin, key_prefix, restarted), 10, "publishing after restart")
        publishing_s = time.monotonic() - restarted_at
        await eventually(lambda: _status_written(admin, key_prefix), 10, "the status record")
        status_s = time.monotonic() - restarted_at
        response = await http_get(f"{ingest_url}/readyz")
        role = response.json()["role"] if response is not None else "gone"
        leader = await admin.get(f"{key_prefix}:mainnet:ingestor:leader")
        logs = ingest.output()
    finally:
        await deployment.stop_all()
    figures("redis-restarted-empty", publishing_after_s=publishing_s, status_after_s=status_s, role=role)
    assert "stepping down" not in logs and "fenced" not in logs, "a wiped leader key is no reason to step down"
    assert logs.count("leading network") == 1, "it led once, without interruption"
    assert role == "leader" and leader is not None
    assert publishing_s < 1.5
    assert status_s < 1.5


async def _status_written(admin: Admin, prefix: str) -> bool:
    return bool(await admin.exists(f"{prefix}:mainnet:ingestor:status"))


async def _status_says(probe: RedisBackend, connected: bool) -> bool:
    status = await probe.read_status("mainnet")
    return status is not None and status.upstream_connected is connected


@pytest.mark.timeout(60)
async def test_the_status_follows_the_main_upstream_socket_at_once_not_on_the_next_tick(
    ingestor: StartIngestor, simulator: Simulator, probe: RedisBackend
) -> None:
    await ingestor(simulator.ws_url, f"{simulator.http_url}/api", status_interval_s=30)
    started = time.monotonic()
    await eventually(lambda: _status_says(probe, True), 10, "a status with the upstream connected")
    connected_s = time.monotonic() - started
    await simulator.go_offline()
    dropped = time.monotonic()
    await eventually(lambda: _status_says(probe, False), 5, "a status with the upstream disconnected")
    down_s = time.monotonic() - dropped
    await simulator.go_online()
    back = time.monotonic()
    await eventually(lambda: _status_says(probe, True), 10, "a status with the upstream connected again")
    up_s = time.monotonic() - back
    figures("status-follows-main-socket", first_connected_s=connected_s, down_s=down_s, up_again_s=up_s)
    assert down_s < 1, "written when the socket dropped, not 30 s later"
