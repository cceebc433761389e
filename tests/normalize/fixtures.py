"""Where the upstream fixture frames live, and small helpers to load them."""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES_ENV = "MEMPOOL_WS_FIXTURES_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
_FALLBACK = Path("/work/shared/fixtures/mempool-upstream")


def candidate_dirs() -> list[Path]:
    """The places tried, in order: the env variable, ``<repo>/../shared/...``, ``/work/shared/...``."""
    candidates = []
    configured = os.environ.get(FIXTURES_ENV)
    if configured:
        candidates.append(Path(configured))
    candidates.append(REPO_ROOT.parent / "shared" / "fixtures" / "mempool-upstream")
    candidates.append(_FALLBACK)
    return candidates


def fixtures_dir() -> Path:
    """The first existing fixtures folder; raises (so tests fail, never skip) when there is none."""
    tried = candidate_dirs()
    for candidate in tried:
        if candidate.is_dir():
            return candidate
    listed = ", ".join(str(path) for path in tried)
    raise FileNotFoundError(f"mempool upstream fixtures not found; tried {listed}. Set {FIXTURES_ENV} to the folder.")


def fixture_files() -> list[Path]:
    """Every JSON file under the fixtures folder (recorded and composed), sorted."""
    return sorted(fixtures_dir().rglob("*.json"))


def read_fixture(relative: str) -> str:
    """The text of one fixture file, by its path relative to the fixtures folder."""
    return (fixtures_dir() / relative).read_text(encoding="utf-8")
