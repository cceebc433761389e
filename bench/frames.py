"""Realistic upstream frames stamped with a sequence number, and the cheap readers that find it again.

A stats frame is the composed mempool-change frame of the handbook fixtures (``mempoolInfo``,
``vBytesPerSecond``, ``transactions``, ``da``, ``fees``, ``mempool-blocks``) whose ``mempoolInfo.size``
carries the sequence number. The ingestor publishes it as ``data.mempool.tx_count`` of a ``stats``
event, so every receiver (a plain WebSocket client or an MCP client) can name the frame it got.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from tests.normalize.fixtures import fixtures_dir

SEQ_BASE = 1_000_000
"""Stamped sizes start here, far from the fixture's own value, so a stray frame is never mistaken."""

_FRAME_SEQ = re.compile(rb'"mempoolInfo":\s*\{[^}]*?"size":(\d+)')
_EVENT_SEQ = re.compile(rb'tx_count\\?":(\d+)')


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((fixtures_dir() / name).read_text())
    return loaded


class FrameFactory:
    """Builds stamped stats frames and consecutive block frames from the fixtures."""

    def __init__(self) -> None:
        stats = _load("composed/stats.json")
        size = stats["mempoolInfo"]["size"]
        marker = f'"size":{size}'
        text = json.dumps(stats, separators=(",", ":"))
        head, _, tail = text.partition(marker)
        if not tail:
            raise ValueError("composed/stats.json has no mempoolInfo.size to stamp")
        self._stats_head = head + '"size":'
        self._stats_tail = tail
        blocks = _load("tx01_ws_blocks_01.json")["blocks"]
        self._blocks: list[dict[str, Any]] = blocks
        self._tip: dict[str, Any] = copy.deepcopy(blocks[-1])

    def stats(self, seq: int) -> str:
        """The stats frame carrying ``seq``."""
        return f"{self._stats_head}{SEQ_BASE + seq}{self._stats_tail}"

    def snapshot(self) -> str:
        """The reply to ``want``: the recent blocks, as the real upstream sends after subscribing."""
        return json.dumps({"blocks": self._blocks}, separators=(",", ":"))

    def next_block(self) -> str:
        """A ``block`` frame one height above the previous tip."""
        block = copy.deepcopy(self._tip)
        block["height"] = int(block["height"]) + 1
        block["previousblockhash"] = block["id"]
        block["id"] = f"{block['height']:064x}"
        block["timestamp"] = int(block["timestamp"]) + 600
        self._tip = block
        return json.dumps({"block": block}, separators=(",", ":"))


def frame_seq(frame: bytes) -> int | None:
    """The sequence number of a raw upstream stats frame, or None."""
    found = _FRAME_SEQ.search(frame)
    return int(found.group(1)) - SEQ_BASE if found else None


def event_seqs(data: bytes) -> list[int]:
    """Sequence numbers of the stats events inside an SSE data line (escaped or plain JSON)."""
    return [int(match) - SEQ_BASE for match in _EVENT_SEQ.findall(data)]
