"""The seeded fault plan: which fault comes next and with what parameters.

Faults come one after another. Each round is a shuffled list of every kind (so a short run still sees
each kind once), and every fault draws its parameters (durations, latency, counts, which consumer) and
the quiet pause after it from the same seeded generator: a seed gives the same plan every time, only
its timing follows the machine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

KINDS = (
    "redis_restart",
    "redis_slow",
    "redis_pause",
    "redis_oom",
    "redis_replica",
    "leader_kill",
    "leader_cutoff",
    "gateway_kill",
    "upstream_offline",
    "garbage_frames",
    "burst",
    "client_kill",
)


@dataclass(frozen=True)
class Step:
    """One fault of the plan."""

    kind: str
    duration_s: float
    """How long the fault lasts (0 for instant ones)."""
    amount: float
    """The fault's own size: latency (s), frames, which consumer or daemon (an index), ..."""
    pause_s: float
    """Quiet time after the fault before the next one."""

    def describe(self) -> str:
        """One line for the log."""
        return f"{self.kind} duration={self.duration_s:.2f}s amount={self.amount:g} then pause {self.pause_s:.2f}s"


def _step(kind: str, rng: random.Random) -> Step:
    duration, amount = {
        "redis_restart": (rng.uniform(0.3, 2.0), 0.0),
        "redis_slow": (rng.uniform(3.0, 8.0), rng.uniform(0.010, 0.500)),
        "redis_pause": (rng.uniform(0.5, 3.0), 0.0),
        "redis_oom": (rng.uniform(0.8, 1.5), 0.0),
        "redis_replica": (rng.uniform(1.0, 3.0), 0.0),
        "leader_kill": (rng.uniform(0.5, 3.0), 0.0),
        "leader_cutoff": (rng.uniform(3.0, 10.0), 0.0),
        "gateway_kill": (rng.uniform(0.3, 2.0), float(rng.randrange(2))),
        "upstream_offline": (rng.uniform(1.0, 8.0), 0.0),
        "garbage_frames": (0.0, float(rng.randint(3, 20))),
        "burst": (rng.uniform(2.0, 4.0), float(rng.randint(300, 800))),
        "client_kill": (rng.uniform(0.0, 2.0), float(rng.randrange(1000))),
    }[kind]
    return Step(kind, duration, amount, rng.uniform(2.0, 5.0))


def plan(seed: int) -> Iterator[Step]:
    """The endless fault plan of ``seed``."""
    rng = random.Random(seed)
    while True:
        kinds = list(KINDS)
        rng.shuffle(kinds)
        for kind in kinds:
            yield _step(kind, rng)
