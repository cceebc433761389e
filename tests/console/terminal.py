"""A ``mempool-ws`` command run on a pseudo-terminal, as when a person types it."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


class Terminal:
    """The command's stdin, stdout and stderr are one pseudo-terminal; :attr:`text` is what it showed."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mempool_ws.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.text = ""

    def read_until(self, predicate: Callable[[str], bool], timeout: float) -> str:
        """Read until ``predicate(text)`` holds; fail after ``timeout`` seconds with what was shown."""
        deadline = time.monotonic() + timeout
        while not predicate(self.text):
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"the terminal did not show what was expected in {timeout} s:\n{self.text}")
        return self.text

    def _read(self, wait_s: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], wait_s)
        if not ready:
            return self.process.poll() is None
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.text += chunk.decode(errors="replace").replace("\r\n", "\n")
        return bool(chunk)

    def interrupt(self, timeout: float = 20.0) -> int:
        """Send SIGINT (Ctrl-C), read the rest of the output and return the exit code."""
        self.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < deadline:
            pass
        return self.process.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        """Kill the command if it still runs and close the terminal."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        os.close(self._master)
