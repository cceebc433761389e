"""``mempool-ws sim``: the upstream simulator as a foreground process."""

from __future__ import annotations

import asyncio
import logging

from shared.console import announce, listen_error
from shared.lifecycle import run_until_signal
from shared.logs import configure_logging
from shared.settings import SimSettings
from simulator import Simulator

log = logging.getLogger(__name__)


async def _serve(settings: SimSettings, stop: asyncio.Event) -> int:
    sim = Simulator(settings)
    try:
        await sim.start()
    except OSError as exc:
        await sim.stop()
        raise listen_error(exc, settings.host, settings.port, "--port", "MEMPOOL_WS_PORT") from None
    try:
        announce(
            "sim",
            f"simulator listening on {sim.ws_url}",
            [
                ("WebSocket", f"{sim.ws_url} (pass it to ingest or serve as --upstream-url)"),
                ("REST", f"{sim.http_url}/api (controls under {sim.http_url}/_sim/)"),
                ("network", settings.network),
                ("speed", f"{settings.speed:g} (a block every ~{600 / settings.speed:.0f} s), seed {settings.seed}"),
            ],
        )
        print(f"mempool-ws sim: {sim.ws_url}", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def run(settings: SimSettings) -> int:
    """Serve the simulator until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.log_format)
    return run_until_signal(lambda stop: _serve(settings, stop))
