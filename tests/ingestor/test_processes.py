"""The ingestor as a real process: the issue's done-when scenario, failover, SIGTERM and --check."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, http_ok, run_command, wait_until

FAST_ENV = {
    "MEMPOOL_WS_BACKOFF_INITIAL_S": "0.1",
    "MEMPOOL_WS_BACKOFF_MAX_S": "1",
    "MEMPOOL_WS_HEALTHY_AFTER_S": "1",
    "MEMPOOL_WS_LEADER_TTL_S": "3",
    "MEMPOOL_WS_LEADER_RENEW_S": "0.5",
    "MEMPOOL_WS_STATUS_INTERVAL_S": "0.5",
}


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop()


def sim_process(port: int, anchor: float) -> ServiceProcess:
    args = ["sim", "--port", str(port), "--speed", "120", "--tick-s", "0.2", "--anchor-unix-s", str(anchor)]
    return ServiceProcess(args).start()


def ingest_process(sim_port: int, redis_url: str, prefix: str, metrics_port: int) -> ServiceProcess:
    return ServiceProcess(
        [
            "ingest",
            "--upstream-url", f"ws://127.0.0.1:{sim_port}/api/v1/ws",
            "--redis-url", redis_url,
            "--key-prefix", prefix,
            "--metrics-port", str(metrics_port),
        ],
        env=FAST_ENV,
    ).start()  # fmt: skip


def stats_messages(pubsub: redis.client.PubSub, seconds: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    received = []
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message:
            received.append(json.loads(message["data"]))
    return received


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_subscribers_keep_receiving_across_a_30_second_upstream_outage(
    processes: list[ServiceProcess], redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    sim_port, anchor = free_port(), time.time()
    processes.append(sim_process(sim_port, anchor))
    processes.append(ingest_process(sim_port, redis_url, key_prefix, free_port()))
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(f"{key_prefix}:mainnet:stats")
    try:
        first = stats_messages(pubsub, 5)
        assert first, "envelopes within 5 s of starting"
        processes[0].stop()
        stats_messages(pubsub, 1)
        assert stats_messages(pubsub, 29) == [], "nothing is invented while the upstream is down"
        processes[0] = sim_process(sim_port, anchor)
        later = stats_messages(pubsub, 10)
        assert later, "envelopes again after the upstream came back, without restarting the ingestor"
        assert int(str(later[0]["id"])) > int(str(first[-1]["id"]))
        assert processes[1].alive()
    finally:
        pubsub.close()
        client.close()


@pytest.mark.timeout(90)
def test_the_standby_takes_over_within_15_seconds_without_duplicate_ids(
    processes: list[ServiceProcess], redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    sim_port = free_port()
    processes.append(sim_process(sim_port, time.time()))
    ports = [free_port(), free_port()]
    replicas = [ingest_process(sim_port, redis_url, key_prefix, port) for port in ports]
    processes.extend(replicas)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    leader_key = f"{key_prefix}:mainnet:ingestor:leader"
    try:
        wait_until(lambda: client.get(leader_key) is not None, 20, "a leader")
        wait_until(lambda: all(http_ok(f"http://127.0.0.1:{p}/readyz") for p in ports), 20, "both replicas ready")
        leader_index = next(i for i, p in enumerate(ports) if '"role":"leader"' in _readyz(p))
        before = int(client.get(f"{key_prefix}:mainnet:seq") or 0)
        replicas[leader_index].signal(signal.SIGKILL)
        killed_at = time.monotonic()
        survivor = ports[1 - leader_index]
        wait_until(lambda: '"role":"leader"' in _readyz(survivor), 15, "the standby to lead")
        wait_until(lambda: int(client.get(f"{key_prefix}:mainnet:seq") or 0) > before + 5, 10, "new events")
        takeover_s = time.monotonic() - killed_at
        assert takeover_s < 15, f"takeover took {takeover_s:.1f} s"
        entries: list[tuple[str, dict[str, str]]] = client.xrange(f"{key_prefix}:mainnet:stats:history")  # type: ignore[assignment]
        ids = [int(json.loads(fields["e"])["id"]) for _, fields in entries]
        assert ids == sorted(set(ids)), "ids stay unique and increasing across the failover"
    finally:
        client.close()


def _readyz(port: int) -> str:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).text.replace(" ", "")
    except httpx.HTTPError:
        return ""


@pytest.mark.timeout(60)
def test_sigterm_stops_cleanly_and_frees_leadership_and_check_probes_it(
    processes: list[ServiceProcess], redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    sim_port, metrics_port = free_port(), free_port()
    processes.append(sim_process(sim_port, time.time()))
    ingest = ingest_process(sim_port, redis_url, key_prefix, metrics_port)
    processes.append(ingest)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    check = ["ingest", "--check", "--metrics-port", str(metrics_port)]
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{metrics_port}/readyz"), 20, "ready")
        assert run_command(check) == 0
        metrics = _get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert "ingestor_upstream_connected 1.0" in metrics and "ingestor_leader 1.0" in metrics
        ingest.signal(signal.SIGTERM)
        assert ingest.wait(15) == 0
        assert client.get(f"{key_prefix}:mainnet:ingestor:leader") is None
        assert run_command(check) == 1
    finally:
        client.close()


def _get(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=2).text
