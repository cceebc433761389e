"""``mempool-ws sim``: the upstream simulator as a foreground process."""

from __future__ import annotations

import asyncio
import logging

from shared.lifecycle import run_until_signal
from shared.logs import configure_logging
from shared.settings import SimSettings
from simulator import Simulator

log = logging.getLogger(__name__)


async def _serve(settings: SimSettings, stop: asyncio.Event) -> int:
    async with Simulator(settings) as sim:
        log.info(
            "simulator listening on %s (REST and controls on %s), speed %g, seed %d",
            sim.ws_url,
            sim.http_url,
            settings.speed,
            settings.seed,
        )
        print(f"mempool-ws sim: {sim.ws_url}", flush=True)
        await stop.wait()
    return 0


def run(settings: SimSettings) -> int:
    """Serve the simulator until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.log_format)
    return run_until_signal(lambda stop: _serve(settings, stop))
