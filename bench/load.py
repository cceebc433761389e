"""Running load processes (:mod:`bench.loadgen`) from the orchestrator."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

RESULT_LIMIT = 256 * 1024 * 1024
"""Largest result line read from a load process (a line per process holds every sample)."""


class LoadProcess:
    """One ``python -m bench.loadgen`` child: started, told to stop, and read."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 60) -> LoadProcess:
        """Start it and wait until it says ``ready``."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            json.dumps(self.spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=RESULT_LIMIT,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
        if line.strip() != b"ready":
            self._process.kill()
            raise RuntimeError(f"load process ({self.spec['mode']}) failed to start: {line!r}")
        return self

    def stop(self) -> None:
        """Ask it to finish now."""
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(b"stop\n")

    async def result(self, timeout_s: float = 120) -> dict[str, Any]:
        """Its JSON result once it exits (killed, with an error, after ``timeout_s``)."""
        process = self._process
        assert process is not None and process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"load process ({self.spec['mode']}) gave no result in {timeout_s} s") from None
        await process.wait()
        if not line:
            raise RuntimeError(f"load process ({self.spec['mode']}) exited with {process.returncode}")
        result: dict[str, Any] = json.loads(line)
        return result

    def kill(self) -> None:
        """Kill it if it still runs."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()


async def start_all(specs: list[dict[str, Any]]) -> list[LoadProcess]:
    """Start every load process in parallel and wait until each is ready."""
    return list(await asyncio.gather(*(LoadProcess(spec).start() for spec in specs)))


async def results(processes: list[LoadProcess], timeout_s: float = 120) -> list[dict[str, Any]]:
    """Every process's result."""
    return list(await asyncio.gather(*(p.result(timeout_s) for p in processes)))
