"""What a process costs, read from /proc (no psutil): CPU seconds, RSS, and its sockets to Redis."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_ESTABLISHED = "01"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of ``pid``, KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` now, MiB."""
    return memory_kib(pid)["VmRSS"] / 1024


@dataclass
class CpuWindow:
    """CPU share of one process over a wall-clock window (1.0 = one full core)."""

    pid: int
    cpu0: float = 0.0
    wall0: float = 0.0

    def start(self) -> CpuWindow:
        """Begin the window now."""
        self.cpu0, self.wall0 = cpu_seconds(self.pid), time.monotonic()
        return self

    def share(self) -> float:
        """Cores used on average since :meth:`start`."""
        wall = time.monotonic() - self.wall0
        return (cpu_seconds(self.pid) - self.cpu0) / wall if wall > 0 else 0.0


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def local_ports_to(pid: int, remote_port: int) -> set[int]:
    """Local ports of the established TCP connections ``pid`` holds to ``remote_port``."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == _ESTABLISHED and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports
