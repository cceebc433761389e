"""Running the Locust scenario (bench/locustfile.py) with ``uvx --from locust==2.47.0``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.stack import Stack
from bench.stats import summary

LOCUST = "locust==2.47.0"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def available() -> bool:
    """Whether ``uvx`` is on PATH."""
    return shutil.which("uvx") is not None


async def locust_run(stack: Stack, users: int, duration_s: int) -> dict[str, Any]:
    """``users`` virtual agents (one call per second each) for ``duration_s`` against the gateway."""
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as folder:
        samples_path = Path(folder) / "samples.json"
        process = await asyncio.create_subprocess_exec(
            *("uvx", "--quiet", "--from", LOCUST, "locust", "-f", str(LOCUSTFILE), "--headless"),
            *("-u", str(users), "-r", str(users), "-t", f"{duration_s}s", "--stop-timeout", "15"),
            *("--host", f"http://127.0.0.1:{stack.gateway_port}", "--only-summary", "--loglevel", "WARNING"),
            env={**os.environ, "BENCH_LOCUST_SAMPLES": str(samples_path)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), duration_s + 300)
        if not samples_path.exists():
            raise RuntimeError(f"locust wrote no samples (exit {process.returncode}): {stderr.decode()[-600:]}")
        samples = json.loads(samples_path.read_text())
    by_name: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for name, elapsed_ms, ok in samples:
        if ok:
            by_name[name].append(elapsed_ms)
        else:
            failures[name] += 1
    return {
        "users": users,
        "duration_s": duration_s,
        "exit_code": process.returncode,
        "requests_per_s": len(samples) / duration_s,
        "by_name": {
            name: {"latency_ms": summary(values), "failures": failures[name]} for name, values in by_name.items()
        },
        "failures": sum(failures.values()),
    }
