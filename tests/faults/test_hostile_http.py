"""Hostile HTTP clients against a real gateway process: oversized heads and bodies, malformed ids.

Every bound holds before auth (the gateway requires a token). RSS is read from /proc before, during and
after, and a real MCP client is served while the attack runs. Slow clients: test_hostile_http_slow.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.faults.helpers import figures
from tests.faults.hostile_http import (
    MAX_BODY_BYTES,
    MAX_HEADER_COUNT,
    MIB,
    TOKEN,
    Target,
    exchange,
    rss_samples,
    running_target,
    served,
    status_of,
)


@pytest.fixture(scope="module")
def target(redis_url: str) -> Iterator[Target]:
    """One gateway process (and its ingestor and simulator) for the module."""
    with running_target(redis_url) as running:
        yield running


async def oversized_head(port: int, header_bytes: int) -> tuple[int, float]:
    """A POST to /mcp with one header of ``header_bytes``: the status and the seconds until it came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def push() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            for _ in range(header_bytes // MIB):
                writer.write(b"a" * MIB)
                await writer.drain()
            writer.write(b"\r\n\r\n")
            await writer.drain()

    pushing = asyncio.create_task(push())
    try:
        line = await asyncio.wait_for(reader.readline(), 60)
    except (ConnectionError, TimeoutError):
        line = b""
    elapsed = time.monotonic() - started
    pushing.cancel()
    await asyncio.gather(pushing, return_exceptions=True)
    writer.close()
    return status_of(line), elapsed


def test_the_server_defaults_are_the_gateway_settings_defaults() -> None:
    from shared.http_server import HttpLimits
    from shared.settings import GatewaySettings

    assert HttpLimits.of(GatewaySettings()) == HttpLimits()
    assert (HttpLimits().max_header_count, HttpLimits().max_body_bytes) == (MAX_HEADER_COUNT, MAX_BODY_BYTES)
    with pytest.raises(ValueError, match="http_keep_alive_idle_s"):
        GatewaySettings(http_keep_alive_idle_s=20, http_head_timeout_s=10)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_20_concurrent_16_mib_headers_get_431_at_once_and_memory_stays_flat(target: Target) -> None:
    before = target.rss()
    async with rss_samples(target) as rss:
        attack = asyncio.gather(*(oversized_head(target.port, 16 * MIB) for _ in range(20)))
        served_s = await served(target)
        answers = await attack
    await asyncio.sleep(1)
    after = target.rss()
    figures(
        "hostile-http-16-mib-headers",
        statuses=sorted({status for status, _ in answers}),
        slowest_answer_s=max(seconds for _, seconds in answers),
        rss_mib_before=before,
        rss_mib_peak=max(rss),
        rss_mib_after=after,
        mcp_call_during_s=served_s,
    )
    assert [status for status, _ in answers] == [431] * 20, "refused before auth, not 200 or 401"
    assert max(seconds for _, seconds in answers) < 10
    assert max(rss) - before < 32, "the heads are not buffered (main: +400 MiB)"
    assert after - before < 16


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_head_with_too_many_header_fields_gets_431(target: Target) -> None:
    def head(fields: int, start: bytes = b"POST /mcp") -> bytes:
        lines = b"".join(b"x-f%d: v\r\n" % n for n in range(fields))
        return start + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"Connection: close\r\n\r\n"

    started = time.monotonic()
    many = await exchange(target.port, head(5_000))  # about 50 kB: the count limit, not the byte limit
    many_s = time.monotonic() - started
    over = await exchange(target.port, head(MAX_HEADER_COUNT))
    within = await exchange(target.port, head(MAX_HEADER_COUNT - 10, b"GET /healthz"))
    served_s = await served(target)
    figures(
        "hostile-http-header-count",
        status_5000_fields=status_of(many),
        answered_s=many_s,
        status_just_over=status_of(over),
        status_within=status_of(within),
        mcp_call_after_s=served_s,
    )
    assert status_of(many) == 431 and b"Too many header fields" in many
    assert status_of(over) == 431
    assert status_of(within) == 200, "a request within the limits is served"


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_bodies_over_the_limit_get_413_before_auth(target: Target) -> None:
    declared = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    started = time.monotonic()
    big = await exchange(target.port, declared % (4 * MIB))  # no body sent: refused on the header alone
    declared_s = time.monotonic() - started
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b"a" * 32 * 1024)
    # With a valid token: an unauthenticated one may be answered 401 before its body is read, which is
    # also right; what must hold is that a body with no declared length is counted as it comes.
    chunked_head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    chunked_head += b"Authorization: Bearer %s\r\n" % TOKEN.encode()
    chunked = await exchange(target.port, chunked_head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3)
    limit = MAX_BODY_BYTES
    figures("hostile-http-body-size", declared=status_of(big), declared_s=declared_s, chunked=status_of(chunked))
    assert status_of(big) == 413 and declared_s < 2, "refused from Content-Length alone, before auth (401)"
    assert status_of(chunked) == 413 and limit < 3 * 32 * 1024, "a chunked body is counted as it comes"


BAD_IDS = ["NaN", "Infinity", "-Infinity", "{}", '{"a": 1}', "[]", "[1]", "true", "false", "1.5", "null"]


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_requests_with_malformed_ids_get_400_with_a_json_rpc_error(target: Target) -> None:
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    eras: dict[str, dict[str, str]] = {
        "no version header": {},
        "2025-11-25": {"mcp-protocol-version": "2025-11-25"},
        "2026-07-28": {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"},
    }
    seen: dict[str, dict[str, int]] = {}
    bodies: list[Any] = []
    async with httpx.AsyncClient(timeout=10) as client:

        async def post(body: str, extra: dict[str, str]) -> httpx.Response:
            return await client.post(f"{target.url}/mcp", content=body, headers={**headers, **extra})

        for era, extra in eras.items():
            seen[era] = {}
            for request_id in BAD_IDS:
                response = await post(f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/list"}}', extra)
                seen[era][request_id] = response.status_code
                bodies.append(response.json() if response.status_code == 400 else response.text)
        valid = [await post(f'{{"jsonrpc":"2.0","id":{i},"method":"tools/list"}}', {}) for i in ("7", '"a"')]
        notification = await post('{"jsonrpc":"2.0","method":"notifications/initialized"}', {})
    figures("hostile-http-ids", **{era.replace(" ", "_"): sorted(set(codes.values())) for era, codes in seen.items()})
    for era, codes in seen.items():
        assert codes == dict.fromkeys(BAD_IDS, 400), f"{era}: {codes}"
    for body in bodies:
        assert isinstance(body, dict) and body["jsonrpc"] == "2.0" and body["id"] is None, body
        assert body["error"]["code"] == -32600, body
    assert [response.status_code for response in valid] == [200, 200]
    assert notification.status_code == 202, "a notification (no id) is still accepted"


async def _echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers its length (after ``x-delay-s`` seconds, streaming a byte a second)."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    delay = float(dict(scope["headers"]).get(b"x-delay-s", b"0"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for _ in range(int(delay)):
        await send({"type": "http.response.body", "body": b".", "more_body": True})
        await asyncio.sleep(1)
    await send({"type": "http.response.body", "body": b"%d" % size})


@pytest.mark.timeout(30)
async def test_legitimate_requests_are_not_caught_by_the_limits() -> None:
    from shared.http_server import HttpLimits, HttpServer

    limits = HttpLimits(max_header_bytes=4096, body_timeout_s=1.0, head_timeout_s=1.0, keep_alive_idle_s=1.0)
    server = HttpServer(_echo_length, "127.0.0.1", 0, limits=limits)
    await server.start()
    try:
        body = b"a" * 60_000  # far beyond the header limit, in the same write as the head
        post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
        one_write = await exchange(server.port, post % (len(body), b"Connection: close\r\n") + body)
        # A request pipelined behind a 3 s streamed response, the end of its body sent 2 s later (after the
        # body timeout): no timer runs while the first response streams, so neither is cut.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post % (0, b"x-delay-s: 3\r\n") + post % (5, b"Connection: close\r\n") + b"ab")
        await asyncio.sleep(2)
        writer.write(b"cde")
        pipelined = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await server.stop()
    assert status_of(one_write) == 200 and one_write.endswith(b"\r\n\r\n5\r\n60000\r\n0\r\n\r\n")
    assert pipelined.count(b"HTTP/1.1 200") == 2 and b"1\r\n.\r\n" * 3 in pipelined, pipelined
    assert pipelined.endswith(b"\r\n\r\n1\r\n5\r\n0\r\n\r\n"), "the pipelined body was read whole"
