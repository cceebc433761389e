"""Per-frame cost of the normalizer (a measurement script, not a test).

Run: ``uv run python -m tests.normalize.bench_normalize [frames]``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ingestor.normalize import Normalizer
from tests.normalize.fixtures import fixtures_dir


def _per_frame_us(normalizer: Normalizer, raw: str, frames: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(frames):
            normalizer.normalize(raw, received_ms=i)
        best = min(best, time.perf_counter() - start)
    return best / frames * 1e6


def _json_loads_us(raw: str, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        json.loads(raw)
    return (time.perf_counter() - start) / frames * 1e6


def main() -> None:
    """Print the best-of-5 mean cost per frame for a few representative frames."""
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    folder: Path = fixtures_dir()
    cases = {
        "stats+mempool-blocks (composed/stats.json)": folder / "composed" / "stats.json",
        "mempool-blocks only (tx01_ws_mempool_blocks_01)": folder / "tx01_ws_mempool_blocks_01.json",
        "live-2h-chart (composed)": folder / "composed" / "live-2h-chart.json",
        "multi-address (composed)": folder / "composed" / "multi-address-transactions.json",
        "init reply, 8 blocks (mainnet_mempoolInfo)": folder / "mainnet_mempoolInfo.json",
    }
    normalizer = Normalizer("mainnet")
    for label, path in cases.items():
        raw = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
        cost = _per_frame_us(normalizer, raw, frames)
        loads = _json_loads_us(raw, frames)
        print(f"{label:50s} {len(raw):6d} B  {cost:7.1f} us/frame  (json.loads alone {loads:.1f} us)")


if __name__ == "__main__":
    main()
