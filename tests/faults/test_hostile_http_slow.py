"""Slow and idle clients against a real gateway process: heads, bodies and keep-alive are timed, streams are not.

The gateway's timeouts are short here (head 2 s, body 2 s, idle keep-alive 1 s); file descriptors and RSS
are read from /proc, and a real MCP client is served while the attack runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastmcp import Client

from tests.faults.helpers import figures
from tests.faults.hostile_http import (
    BODY_TIMEOUT_S,
    HEAD_TIMEOUT_S,
    IDLE_S,
    SLOWLORIS,
    TOKEN,
    Target,
    running_target,
    served,
    status_of,
)


@pytest.fixture(scope="module")
def target(redis_url: str) -> Iterator[Target]:
    """One gateway process (and its ingestor and simulator) for the module."""
    with running_target(redis_url) as running:
        yield running


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_1000_slowloris_heads_are_closed_after_the_head_timeout_and_their_fds_released(
    target: Target,
) -> None:
    fds_before, rss_before = target.fds(), target.rss()
    opened: list[float] = []
    lifetimes: list[float] = []
    statuses: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def slow_head() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        at = time.monotonic()
        opened.append(at)
        writers.append(writer)
        writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = b""
        try:
            with contextlib.suppress(ConnectionError):
                answer = await reader.read()
            lifetimes.append(time.monotonic() - at)
            statuses.append(status_of(answer))
        finally:
            writer.close()

    async def drip() -> None:
        while True:
            await asyncio.sleep(1)
            for writer in writers:
                if not writer.is_closing():
                    writer.write(b"x")

    attack_started = time.monotonic()
    holders: list[asyncio.Task[None]] = []
    for _ in range(SLOWLORIS // 100):
        holders += [asyncio.create_task(slow_head()) for _ in range(100)]
        await asyncio.sleep(0.05)
    dripping = asyncio.create_task(drip())
    try:
        while len(opened) < SLOWLORIS and time.monotonic() - attack_started < 15:
            await asyncio.sleep(0.05)
        all_open_s = time.monotonic() - attack_started
        fds_during, rss_during = target.fds(), target.rss()
        served_s = await served(target)
        done, pending = await asyncio.wait(holders, timeout=HEAD_TIMEOUT_S + 6)
        closed_by = time.monotonic() - attack_started
    finally:
        dripping.cancel()
        for holder in holders:
            holder.cancel()
        await asyncio.gather(dripping, *holders, return_exceptions=True)
    fds_after = await _settled_fds(target, fds_before)
    figures(
        "hostile-http-slowloris",
        connections=len(opened),
        all_open_after_s=all_open_s,
        fds_before=fds_before,
        fds_during=fds_during,
        fds_after=fds_after,
        rss_mib_before=rss_before,
        rss_mib_during=rss_during,
        rss_mib_after=target.rss(),
        mcp_call_during_s=served_s,
        closed_by_server=len(done),
        answered_408=statuses.count(408),
        longest_held_s=max(lifetimes, default=0.0),
        all_closed_after_s=closed_by,
        still_open=len(pending),
    )
    assert len(opened) == SLOWLORIS and fds_during >= fds_before + SLOWLORIS * 0.9, "the attack held its sockets"
    assert not pending, f"{len(pending)} slow heads still open {HEAD_TIMEOUT_S + 6} s later"
    assert max(lifetimes) < HEAD_TIMEOUT_S + 3, "each head is closed near its timeout"
    assert statuses.count(408) == SLOWLORIS, "and told why"
    assert fds_after <= fds_before + 5, "the sockets are released"
    assert rss_during - rss_before < 64


async def _settled_fds(target: Target, baseline: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while target.fds() > baseline + 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return target.fds()


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_slow_body_gets_408_after_the_body_timeout(target: Target) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n" % (TOKEN.encode(), len(body))
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(head)
    started = time.monotonic()

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            for byte in body:
                await asyncio.sleep(1)
                writer.write(bytes([byte]))

    dripping = asyncio.create_task(drip())
    try:
        response = await asyncio.wait_for(reader.read(), BODY_TIMEOUT_S + 6)
    except TimeoutError:
        response = b""
    elapsed = time.monotonic() - started
    dripping.cancel()
    await asyncio.gather(dripping, return_exceptions=True)
    writer.close()
    served_s = await served(target)
    figures("hostile-http-slow-body", status=status_of(response), closed_after_s=elapsed, mcp_call_after_s=served_s)
    assert status_of(response) == 408
    assert BODY_TIMEOUT_S - 0.2 < elapsed < BODY_TIMEOUT_S + 2


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_idle_connections_are_closed_after_their_limits(target: Target) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
    )
    await reader.readexactly(length)
    answered = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), 10)
    keep_alive_s = time.monotonic() - answered
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    accepted = time.monotonic()
    silent = await asyncio.wait_for(reader.read(), 10)
    silent_s = time.monotonic() - accepted
    writer.close()
    figures("hostile-http-idle", keep_alive_closed_after_s=keep_alive_s, silent_connection_closed_after_s=silent_s)
    assert rest == b"" and IDLE_S - 0.1 < keep_alive_s < IDLE_S + 1, "idle keep-alive closed at its limit"
    assert silent == b"" and HEAD_TIMEOUT_S - 0.1 < silent_s < HEAD_TIMEOUT_S + 1.5, "closed silently"


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_15_second_stream_is_not_cut_by_the_request_timeouts(target: Target) -> None:
    pushed: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pushed.append(time.monotonic())

    started = time.monotonic()
    async with Client(f"{target.url}/mcp", auth=TOKEN) as client:
        arguments = {"want": True, "timeout_s": 15, "max_events": 500}
        result = await client.call_tool("stream_stats", arguments, progress_handler=on_progress)
    elapsed = time.monotonic() - started
    body: dict[str, Any] = result.structured_content or {}
    figures(
        "hostile-http-long-stream",
        call_s=elapsed,
        events=len(body.get("events", [])),
        progress_pushes=len(pushed),
        last_push_s=pushed[-1] - started if pushed else 0.0,
    )
    # Not `timed_out`: issue 11 item 3 (it is sometimes false after a whole wait) belongs to another change.
    assert elapsed > 15 and body.get("events"), "the call ran its whole 15 s and returned its events"
    assert pushed and pushed[-1] - started > 14, "events kept streaming until the end"
