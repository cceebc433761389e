"""A client process that holds many streams open on one gateway until it is killed.

``python -m tests.faults.stream_holder URL COUNT SEED``: COUNT concurrent calls, one in five a
``track_address`` on an address of its own (so leases are held), the rest topic streams.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from mcp import Client

from shared.bitcoin.addresses import segwit_encode

TOPIC_TOOLS = ("stream_stats", "stream_mempool_blocks", "stream_blocks", "stream_live2h")


def holder_address(seed: int, index: int) -> str:
    """The address call ``index`` of holder ``seed`` tracks."""
    return segwit_encode("bc", 0, seed.to_bytes(2, "big") + index.to_bytes(18, "big"))


def arguments(seed: int, index: int) -> tuple[str, dict[str, Any]]:
    """Tool and arguments of call ``index``."""
    wait = {"max_events": 500, "timeout_s": 300}
    if index % 5 == 0:
        return "track_address", {"address": holder_address(seed, index), **wait}
    return TOPIC_TOOLS[index % len(TOPIC_TOOLS)], wait


async def hold(url: str, count: int, seed: int) -> None:
    """Open ``count`` streams and wait forever."""
    async with Client(url) as client:
        calls = [asyncio.create_task(client.call_tool(*arguments(seed, index))) for index in range(count)]
        print("started", flush=True)
        await asyncio.gather(*calls)


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
