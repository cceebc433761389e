"""Free loopback ports for the servers a test starts, chosen so that nothing else can take them first.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the same range the kernel
draws the local ports of outgoing connections from, and it may be handed out again as soon as it is
released: between choosing it and the server binding it, another process's connection or a second
call can take it. Ports here come from below the ephemeral range and are never handed out twice by one
process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000
_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, outside the ephemeral range, and new to this process."""
    ceiling = _ephemeral_floor()
    if ceiling - LOWEST < 1000:
        raise RuntimeError(f"the ephemeral port range starts at {ceiling}: too low to keep test ports apart")
    for _ in range(200):
        port = random.randrange(LOWEST, ceiling)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port between {LOWEST} and {ceiling} after 200 tries")
