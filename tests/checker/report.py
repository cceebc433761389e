"""The checker's report: figures printed after a run, and the RELIABILITY.md section of a full run."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.checker.oracle import Verdict

SECTION = "## Randomized fault checker"


@dataclass
class Report:
    """Everything a run measured."""

    command: str
    seed: int
    fault_minutes: float
    wall_s: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    violations: list[str] = field(default_factory=list)
    """Every violation: the judge's and the stack's (exits, memory, refused calls, subscriber)."""
    max_rss_mib: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    subscriber_messages: int = 0
    subscriber_sessions: int = 0
    consumer_kills: int = 0
    overflow_drops: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)
    """Lowest and highest 1-minute load average seen during the run."""
    window_s: float = 0.0
    settle_s: float = 0.0

    def lines(self) -> list[str]:
        """The figures, one per line."""
        verdict = self.verdict
        checked = ", ".join(f"{kind} {count}" for kind, count in sorted(verdict.checked.items()))
        lines = [
            f"seed {self.seed}, {self.fault_minutes:g} min of faults, wall {self.wall_s:.0f} s, "
            f"judged window {self.window_s:.0f} s, "
            f"load average {self.load_average[0]:.1f} to {self.load_average[1]:.1f}",
            f"faults injected ({sum(self.faults.values())}): "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items())),
            f"events checked: {checked}",
            "delivered: "
            + ", ".join(f"{k} {v}" for k, v in sorted(verdict.delivered.items()))
            + "; covered by a gap the consumer saw: "
            + (", ".join(f"{k} {v}" for k, v in sorted(verdict.covered.items())) or "none")
            + " (of which by the ingest-time span, not the production time: "
            + (", ".join(f"{k} {v}" for k, v in sorted(verdict.covered_by_bounds.items())) or "none")
            + ")",
            f"consumer items {verdict.items_seen}, gap notices seen {verdict.gaps_seen} "
            f"(longest {verdict.longest_gap_s:.1f} s), "
            f"tool calls timed {verdict.calls}, "
            f"longest overrun of timeout_s {verdict.max_overrun_s:+.2f} s, consumers killed {self.consumer_kills}",
            f"redis subscriber: {self.subscriber_messages} messages over {self.subscriber_sessions} epochs",
            f"events the ingestors dropped for overflow during the bursts: {self.overflow_drops:g}",
            "max RSS MiB: " + ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(self.max_rss_mib.items())),
            "restarts by the schedule: " + ", ".join(f"{name} {n}" for name, n in sorted(self.restarts.items())),
        ]
        if self.skipped:
            lines.append(f"faults not applicable when due ({len(self.skipped)}): " + "; ".join(self.skipped[:10]))
        lines.append(f"violations: {len(self.violations)}")
        lines += [f"  - {violation}" for violation in self.violations[:50]]
        return lines

    def section(self) -> str:
        """The RELIABILITY.md section."""
        verdict = self.verdict
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        checked = ", ".join(
            f"{kind} {verdict.checked[kind]} ({verdict.delivered[kind]} delivered, {verdict.covered[kind]} in a gap"
            f"{f', {verdict.covered_by_bounds[kind]} by ingest time' if verdict.covered_by_bounds[kind] else ''})"
            for kind in sorted(verdict.checked)
        )
        return "\n".join(
            [
                SECTION,
                "",
                "A seeded schedule of faults, one after another, over a real stack of separate processes: the",
                "simulator, a redis-server, two ingestors (leader and standby, each behind its own TCP fault proxy",
                "to Redis), two gateways (behind a third proxy), six consumers looping on cursors through",
                "`mcp_gateway.client.stream()` (`stream_blocks`, `stream_stats` and `track_address` for two paid",
                "addresses, on both gateways) and a plain redis-py `SUBSCRIBE`. An independent judge",
                "(`tests/checker/oracle.py`, sharing no code with the product) compares what each consumer got",
                "with the simulator's journal (`/_sim/journal`): every block height, address payment and stats",
                "emission is delivered (blocks once per epoch, with their hash) or lies in a gap the consumer saw",
                "(its interval holds the production time, or meets the span the ingest time must lie in); ids",
                "strictly increase within an epoch and mean one event for every consumer; no call outlives its",
                "`timeout_s` by more than 2 s; no daemon exits unless killed by the schedule; no daemon above",
                "400 MiB RSS. Quick mode (75 s of faults, seed 7) runs in CI as `tests/checker/test_quick.py`.",
                "",
                f"Command: `{self.command} --write-reliability` (faults, then {self.settle_s:.0f} s without "
                "faults before judging; `--write-reliability` rewrites this section when there is no violation).",
                "",
                "| seed | minutes of faults | faults injected by kind | events checked | violations |",
                "|---|---|---|---|---|",
                f"| {self.seed} | {self.fault_minutes:g} | {faults} | {checked} | {len(self.violations)} |",
                "",
                f"Also measured: {self.overflow_drops:.0f} events dropped by the ingestors' full publish queue "
                "during the bursts (mostly the injected chart frames, which are not judged; the judged events among "
                f"them are in the counts above), {self.consumer_kills} consumers killed and "
                f"resumed from their cursor, {verdict.items_seen} items received, {verdict.gaps_seen} gap notices seen "
                f"(longest {verdict.longest_gap_s:.1f} s), "
                f"{verdict.calls} tool calls, longest overrun of `timeout_s` {verdict.max_overrun_s:+.2f} s, "
                f"{self.subscriber_messages} messages to the Redis subscriber in {self.subscriber_sessions} "
                "epochs, max RSS "
                + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(self.max_rss_mib.items()))
                + f"; load average {self.load_average[0]:.1f} to {self.load_average[1]:.1f} on 2 cores; "
                f"wall time {self.wall_s / 60:.1f} min.",
                "",
                "Payments are judged per transaction: one the consumer saw in any state (mempool, confirmed,",
                "removed) is delivered. Judged per state instead, two 30-minute runs (seeds 11 and 23) each",
                "lost 5 of about 1,700 mempool arrivals without a gap notice (9 of the 10 confirmed later):",
                "after a `track_address` consumer was killed (its lease is released at once, so the address",
                "went untracked until it resumed from its cursor) and after Redis restarted empty (the leases",
                "go with the data until the gateways renew them). With seed 23 one payment entered the mempool",
                "and was confirmed within 0.2 s while its consumer was down, and was never delivered nor marked:",
                "that run's only violation. Fixed after these runs: an address or transaction wanted again is",
                "blind from when it stopped being wanted (for the 24 h its history lives), and that interval is",
                "published as an `untracked` gap notice once tracking resumes",
                "(`tests/unit/test_publish_core.py::test_an_address_wanted_again_is_blind_since_it_stopped_being_wanted`).",
                "",
            ]
        )


def write_reliability(report: Report, path: Path) -> None:
    """Put the report's section into ``path``, replacing an earlier one (it is the last section)."""
    text = path.read_text()
    section = report.section()
    if SECTION in text:
        text = re.sub(re.escape(SECTION) + r".*?(?=\n## |\Z)", lambda _: section.rstrip("\n") + "\n", text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
