"""No failure nobody foresaw ends the ingestor: it says so loudly, then tries again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ingestor.service import IngestorService
from shared.bus import MemoryBackend
from shared.settings import IngestorSettings, SimSettings
from simulator import Simulator
from tests.faults.helpers import until
from tests.support.timing import FAST_INGESTOR_SETTINGS


class OnceBrokenBackend(MemoryBackend):
    """An embedded bus whose first leadership attempt fails with an error of no known kind."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def hold_leadership(self, network: str, holder: str, ttl_s: float) -> bool:
        if not self.failures:
            self.failures += 1
            raise ValueError("nobody foresaw this")
        return await super().hold_leadership(network, holder, ttl_s)


async def test_an_unforeseen_error_is_logged_and_the_ingestor_goes_on_to_lead(caplog: pytest.LogCaptureFixture) -> None:
    backend = OnceBrokenBackend()
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.05, seed=7)) as sim:
        settings = IngestorSettings(**{**FAST_INGESTOR_SETTINGS, "upstream_url": sim.ws_url, "upstream_rest_url": ""})
        service = IngestorService(settings, backend)
        with caplog.at_level(logging.ERROR, logger="ingestor.service"):
            running = asyncio.create_task(service.run())
            await until(lambda: service.role == "leader", 10, "leading after the failure")
            await until(lambda: service.pipeline is not None and service.pipeline.main_connected, 10, "upstream")
        assert not running.done() and backend.failures == 1
        assert any("unexpected failure" in record.getMessage() and record.exc_info for record in caplog.records)
        service.stop()
        await asyncio.wait_for(running, 15)
