"""Load the recorded and composed upstream frames (``shared/fixtures/mempool-upstream``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_CANDIDATES = (
    os.environ.get("MEMPOOL_WS_FIXTURES_DIR", ""),
    str(Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "mempool-upstream"),
    "/work/shared/fixtures/mempool-upstream",
)


def fixture_frame(name: str) -> dict[str, Any]:
    """The parsed frame of fixture ``name`` (e.g. ``composed/stats.json``); fails if none is found."""
    for folder in filter(None, _CANDIDATES):
        path = Path(folder) / name
        if path.is_file():
            parsed = json.loads(path.read_text())
            assert isinstance(parsed, dict)
            return parsed
    raise FileNotFoundError(f"fixture {name} not found in {[c for c in _CANDIDATES if c]}")
