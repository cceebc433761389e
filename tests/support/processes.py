"""Running ``mempool-ws`` subcommands as real child processes in tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx


class ServiceProcess:
    """A ``mempool-ws`` subcommand running as a child process, its output kept in a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.args = [sys.executable, "-m", "mempool_ws.cli", *args]
        self.env = {**os.environ, "MEMPOOL_WS_LOG_FORMAT": "text", **(env or {})}
        self._log = tempfile.NamedTemporaryFile(prefix="mempool-ws-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        """Start the process."""
        self.process = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        """Everything the process printed so far."""
        return Path(self._log.name).read_text(errors="replace")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Send a signal."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the exit code."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; remove the log file."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.wait(5)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def wait_until(predicate: Callable[[], bool], timeout: float, message: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s: {message}")


async def wait_http_ok(url: str, timeout: float = 20.0) -> None:
    """Wait until GET ``url`` answers 200; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout} s")


def http_ok(url: str) -> bool:
    """Whether GET ``url`` answers 200."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_command(args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> int:
    """Run a ``mempool-ws`` subcommand to completion and return its exit code."""
    process = ServiceProcess(args, env).start()
    try:
        return process.wait(timeout)
    finally:
        process.stop()
