"""Security: Redis with a password over TLS (the secret never shows), bearer auth, DNS rebinding, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from shared.bitcoin.addresses import segwit_encode
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.helpers import Deployment, eventually, figures, http_get, status_of, wait_ready
from tests.faults.tls import TlsRedisServer
from tests.support.processes import ServiceProcess

SECRET = "Tr0ub4dor-s3cret-pw"
TOKEN = "bearer-t0ken-abc123"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=23)) as running:
        yield running


@pytest.fixture
async def tls_redis(tmp_path: Path) -> AsyncIterator[TlsRedisServer]:
    server = TlsRedisServer(tmp_path, SECRET)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)


async def _texts_of(client: Client[Any]) -> list[str]:
    """Everything a client sees: results and error texts of a few calls."""
    seen = []
    calls: list[tuple[str, dict[str, Any]]] = [("health", {}), ("stream_stats", {"want": False})]
    for tool, arguments in [*calls, ("stream_blocks", {"timeout_s": 1})]:
        try:
            seen.append(json.dumps((await client.call_tool(tool, arguments)).structured_content))
        except ToolError as exc:
            seen.append(str(exc))
    return seen


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_redis_over_tls_with_a_password_works_and_the_password_never_shows(
    tls_redis: TlsRedisServer, sim: Simulator, key_prefix: str
) -> None:
    good = Deployment(tls_redis.url, key_prefix)
    bad = Deployment(tls_redis.url_with(SECRET[::-1]), key_prefix)
    in_query = Deployment(
        f"rediss://127.0.0.1:{tls_redis.tls_port}/0?ssl_ca_certs={tls_redis.ca}&password={SECRET}", key_prefix
    )
    debug = {"MEMPOOL_WS_LOG_LEVEL": "DEBUG"}
    seen: list[str] = []
    try:
        _, ingest_url = good.ingest(sim.ws_url, f"{sim.http_url}/api", env=debug)
        _, gateway_url = good.gateway(env=debug)
        _, wrong_url = bad.gateway(env=debug)
        _, query_url = in_query.gateway(env=debug)
        await wait_ready(ingest_url, gateway_url, query_url)
        async with Client(f"{gateway_url}/mcp") as client:
            await eventually(lambda: _has_stats(client), 15, "stats over TLS")
            seen += await _texts_of(client)
        await eventually(lambda: _answers_503(f"{wrong_url}/readyz"), 15, "the wrong password not ready")
        async with Client(f"{wrong_url}/mcp") as client:
            seen += await _texts_of(client)
        for url in (ingest_url, gateway_url, wrong_url, query_url):
            for path in ("/metrics", "/readyz", "/healthz"):
                response = await http_get(f"{url}{path}")
                seen.append(response.text if response is not None else "")
        cli = [
            await asyncio.to_thread(_cli, ["gateway", "--redis-url", tls_redis.url, "--port", "99999"]),
            await asyncio.to_thread(_cli, ["gateway", "--redis-url", tls_redis.url.replace("rediss", "http")]),
        ]
        seen += [output for _, output in cli]
        logs = good.output() + bad.output() + in_query.output()
    finally:
        for deployment in (good, bad, in_query):
            await deployment.stop_all()
    everything = "\n".join([*seen, logs])
    figures(
        "security-tls-password",
        scanned_chars=len(everything),
        secret_found=everything.count(SECRET),
        redacted_urls_in_logs=logs.count("***@127.0.0.1") + logs.count("password=***"),
        wrong_password_says=next((s for s in seen if "unreachable" in s), "")[:80],
        bad_cli=[code for code, _ in cli],
    )
    assert SECRET not in everything and SECRET[::-1] not in everything
    assert "rediss://***@127.0.0.1" in logs and "password=***" in logs, "URLs are logged redacted: the scan had prey"
    assert any("rejected the credentials" in line for line in logs.splitlines()), "a wrong password is named"
    assert [code for code, _ in cli] == [2, 2], "bad settings stop the process with a message"


def _cli(args: list[str]) -> tuple[int, str]:
    """Exit code and output of a ``mempool-ws`` command that must fail at once."""
    process = ServiceProcess(args).start()
    try:
        return process.wait(20), process.output()
    finally:
        process.stop()


async def _has_stats(client: Client[Any]) -> bool:
    try:
        body = (await client.call_tool("stream_stats", {"want": False})).structured_content
    except ToolError:
        return False
    return bool(body and body["events"])


async def _answers_503(url: str) -> bool:
    return await status_of(url) == 503


async def _post_mcp(url: str, headers: dict[str, str]) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
    base = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.post(url, json=body, headers={**base, **headers})).status_code


@pytest.mark.timeout(60)
async def test_bearer_token_and_dns_rebinding_guard_mcp_but_not_the_probes(
    deployment: Deployment, sim: Simulator
) -> None:
    _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
    gateway, gateway_url = deployment.gateway(env={"MEMPOOL_WS_AUTH_TOKEN": TOKEN})
    await wait_ready(ingest_url, gateway_url)
    mcp = f"{gateway_url}/mcp"
    statuses = {
        "no token": await _post_mcp(mcp, {}),
        "wrong token": await _post_mcp(mcp, {"authorization": "Bearer nope"}),
        "token of another scheme": await _post_mcp(mcp, {"authorization": f"Basic {TOKEN}"}),
        "right token": await _post_mcp(mcp, {"authorization": f"Bearer {TOKEN}"}),
        "foreign Host": await _post_mcp(mcp, {"authorization": f"Bearer {TOKEN}", "host": "evil.example"}),
        "foreign Origin": await _post_mcp(mcp, {"authorization": f"Bearer {TOKEN}", "origin": "http://evil.example"}),
    }
    async with httpx.AsyncClient(timeout=5) as client:
        pod_ip = "203.0.113.7:8000"  # kubelet probes carry the pod IP as Host (a documentation-range address)
        probe = (await client.get(f"{gateway_url}/readyz", headers={"host": pod_ip})).status_code
        metrics = (await client.get(f"{gateway_url}/metrics", headers={"host": "pod.internal"})).status_code
    async with Client(mcp, auth=TOKEN) as authed:
        health = (await authed.call_tool("health", {})).structured_content
    logs = gateway.output()
    figures("security-http", **{k.replace(" ", "_"): v for k, v in statuses.items()}, probe=probe, metrics=metrics)
    assert statuses == {
        "no token": 401,
        "wrong token": 401,
        "token of another scheme": 401,
        "right token": 200,
        "foreign Host": 421,
        "foreign Origin": 403,
    }
    assert probe == metrics == 200, "probes work by pod IP and without the token"
    assert health is not None and TOKEN not in json.dumps(health) and TOKEN not in logs


def _address(n: int) -> str:
    return segwit_encode("bc", 0, bytes([n]) * 20)


async def _hold(url: str, address: str) -> None:
    """A track_address call that waits (until cancelled)."""
    async with Client(url) as client:
        await client.call_tool("track_address", {"address": address, "timeout_s": 60})


async def _refusal(url: str, address: Any) -> str:
    """The error text of a track_address call that must be refused at once."""
    try:
        async with asyncio.timeout(5), Client(url) as client:
            await client.call_tool("track_address", {"address": address, "timeout_s": 30})
    except ToolError as exc:
        return str(exc)
    return "accepted"


async def _leases(deployment: Deployment, count: int) -> bool:
    client = aioredis.Redis.from_url(deployment.redis_url)
    try:
        return int(await client.zcard(f"{deployment.prefix}:mainnet:leases")) == count
    finally:
        await client.aclose()


@pytest.mark.timeout(60)
async def test_address_limits_per_call_per_pod_and_overall_give_clear_errors(
    deployment: Deployment, sim: Simulator
) -> None:
    limits = {"MEMPOOL_WS_ADDRESS_LIMIT_PER_SOCKET": "2", "MEMPOOL_WS_MAX_ADDRESS_SOCKETS": "2"}
    _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api", env=limits)
    _, pod_a = deployment.gateway(env={"MEMPOOL_WS_MAX_TRACKED_ADDRESSES_PER_POD": "3"})
    _, pod_b = deployment.gateway()
    await wait_ready(ingest_url, pod_a, pod_b)
    a, b = f"{pod_a}/mcp", f"{pod_b}/mcp"
    per_call = [await _refusal(a, [_address(1), _address(2)]), await _refusal(a, f"{_address(1)},{_address(2)}")]
    holders = [asyncio.create_task(_hold(a, _address(n))) for n in (1, 2, 3)]
    try:
        await eventually(lambda: _leases(deployment, 3), 10, "three leases from pod A")
        per_pod = await _refusal(a, _address(4))
        holders.append(asyncio.create_task(_hold(b, _address(4))))
        await eventually(lambda: _leases(deployment, 4), 10, "the fourth lease, from pod B")
        overall = await _refusal(b, _address(5))
        still_waiting = [not holder.done() for holder in holders]
    finally:
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
    figures("security-address-limits", per_call=per_call, per_pod=per_pod, overall=overall)
    assert "address must be text" in per_call[0]
    assert "takes one address" in per_call[1] and "more_addresses=" in per_call[1]
    assert still_waiting == [True] * 4, "the calls within the limits are served"
    assert "tracks 3 addresses" in per_pod and "retry" in per_pod
    assert "capacity (4 addresses" in overall and "retry" in overall
