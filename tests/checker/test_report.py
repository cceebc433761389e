"""The RELIABILITY.md section of a full run: written once, replaced by the next run, other sections kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.checker.oracle import Verdict
from tests.checker.report import SECTION, Report, write_reliability


def report(seed: int) -> Report:
    """A report of a clean run."""
    verdict = Verdict(checked=Counter(blocks=10, stats=50), delivered=Counter(blocks=10, stats=45))
    verdict.covered["stats"] = 5
    return Report("uv run python -m tests.checker --minutes 30 --seed 11", seed, 30, verdict=verdict)


def test_the_section_is_appended_then_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "RELIABILITY.md"
    path.write_text("# Reliability\n\n## Redis\n\nrows\n")
    write_reliability(report(11), path)
    first = path.read_text()
    assert first.startswith("# Reliability\n\n## Redis\n\nrows\n")
    assert first.count(SECTION) == 1
    assert "| 11 | 30 |" in first
    assert "stats 50 (45 delivered, 5 in a gap)" in first
    path.write_text(first + "\n## Later\n\nkept\n")
    write_reliability(report(12), path)
    second = path.read_text()
    assert second.count(SECTION) == 1
    assert "| 12 | 30 |" in second and "| 11 | 30 |" not in second
    assert second.endswith("## Later\n\nkept\n")
    assert "## Redis\n\nrows" in second
