"""The status line survives a failing probe (the bus closing under it at shutdown) and ends quietly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.console import Figures, status_reporting


class FlakyProbe:
    """Answers, fails like a transport closed under it, then answers again."""

    def __init__(self) -> None:
        self.calls = 0

    async def upstream(self) -> str:
        return "connected"

    async def figures(self) -> Figures:
        self.calls += 1
        if self.calls in (2, 3):
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
        return Figures(tip_height=925_000, last_event_id=10 * self.calls, open_streams=0)


async def test_a_failing_probe_skips_a_line_and_the_block_still_ends_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    probe = FlakyProbe()
    with caplog.at_level(logging.INFO, logger="mempool_ws"):
        async with status_reporting(probe, interval_s=0.02, poll_s=0.01):
            await asyncio.sleep(0.3)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("status: ")]
    assert probe.calls > 3, "the reporter kept going after the failures"
    assert lines and all("tip 925000" in line for line in lines)


async def test_a_probe_that_fails_at_once_does_not_end_the_command() -> None:
    class Broken(FlakyProbe):
        async def figures(self) -> Figures:
            raise RuntimeError("the handler is closed")

    async with status_reporting(Broken(), interval_s=0.02, poll_s=0.01):
        await asyncio.sleep(0.1)
