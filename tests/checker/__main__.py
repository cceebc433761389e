"""``uv run python -m tests.checker --minutes 30 --seed 11 [--write-reliability]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tests.checker.report import write_reliability
from tests.checker.run import Config, run

RELIABILITY = Path(__file__).resolve().parents[2] / "RELIABILITY.md"


def main(argv: list[str] | None = None) -> int:
    """Run the checker; exit 1 on any violation."""
    parser = argparse.ArgumentParser(prog="python -m tests.checker", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of faults (then the settle time)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the fault plan and of the simulator")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds without faults before judging")
    parser.add_argument("--dump", type=Path, help="write the journal, what each consumer got and the faults (JSON)")
    parser.add_argument("--write-reliability", action="store_true", help="write the section into RELIABILITY.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "httpx2", "mcp", "fastmcp", "mcp_gateway.client"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    command = f"uv run python -m tests.checker --minutes {args.minutes:g} --seed {args.seed}"
    config = Config(seed=args.seed, fault_s=args.minutes * 60, settle_s=args.settle, command=command, dump=args.dump)
    report = asyncio.run(run(config))
    print("\n".join(f"CHECKER {line}" for line in report.lines()))
    if args.write_reliability:
        if report.violations:
            print("CHECKER not writing RELIABILITY.md: there are violations", file=sys.stderr)
        else:
            write_reliability(report, RELIABILITY)
            print(f"CHECKER wrote {RELIABILITY}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
