"""The checker's quick mode in CI: 75 s of seeded faults over the real stack, then judged; no violation allowed.

Prints the figures as ``CHECKER ...`` lines (``uv run pytest -s tests/checker/test_quick.py``). The full
mode is ``uv run python -m tests.checker --minutes 30 --seed 11``.
"""

from __future__ import annotations

import pytest

from tests.checker.run import Config, run
from tests.checker.schedule import KINDS

SEED = 7


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_quick_mode_finds_no_violation() -> None:
    report = await run(Config(seed=SEED, fault_s=75, settle_s=20, command=f"quick mode, seed {SEED}"))
    print("\n" + "\n".join(f"CHECKER {line}" for line in report.lines()))
    assert set(report.faults) == set(KINDS), f"every kind of fault is injected: {report.faults}"
    for kind in ("blocks", "payments", "stats"):
        assert report.verdict.checked[kind] > 0, f"no {kind} judged"
    assert report.verdict.calls > 0
    assert report.subscriber_messages > 0
    assert report.violations == [], "\n".join(report.violations)
