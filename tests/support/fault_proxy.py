"""A small asyncio TCP fault proxy for loopback tests: latency, blackhole, refusal, resets.

Put it between a process and a server it talks to (the upstream WebSocket, redis-server) and switch
faults on and off while traffic flows:

* ``latency_s``: every chunk is held this long in each direction (order kept, no throughput cap);
* ``mode = "blackhole"``: connections stay open but nothing is forwarded either way (new ones too);
* ``mode = "refuse"``: every new connection is reset at once (counted in :attr:`attempts`);
* :meth:`reset_all`: every live connection is reset (RST, as a crash or a cable pull would).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "blackhole", "refuse"]
CHUNK = 65536


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port`` with switchable faults."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.mode: Mode = "pass"
        self.latency_s = 0.0
        self.attempts: list[float] = []
        """Monotonic time of every connection accepted (including refused ones)."""
        self.bytes_forwarded = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        """Connections being forwarded now."""
        return len(self._links)

    async def start(self) -> FaultProxy:
        """Listen (port 0 picks a free one)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening and reset every live connection."""
        if self._server is not None:
            self._server.close()
            self.reset_all()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset_all(self) -> int:
        """Reset every live connection on both sides; return how many there were."""
        links, self._links = list(self._links), set()
        for link in links:
            _reset(link.client)
            _reset(link.server)
            for task in link.tasks:
                task.cancel()
        return len(links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts.append(time.monotonic())
        if self.mode == "refuse":
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]
        with contextlib.suppress(asyncio.CancelledError):  # Python 3.11's stream server logs a cancelled handler
            await asyncio.gather(*link.tasks, return_exceptions=True)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link) -> None:
        pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        writer = asyncio.create_task(self._deliver(pending, sink))
        try:
            while chunk := await source.read(CHUNK):
                while self.mode == "blackhole":
                    await asyncio.sleep(0.05)
                pending.put_nowait((time.monotonic() + self.latency_s, chunk))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await pending.put((0.0, b""))
            with contextlib.suppress(Exception):
                await writer
            self._drop(link)

    async def _deliver(self, pending: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter) -> None:
        while True:
            due, chunk = await pending.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sink.write(chunk)
            self.bytes_forwarded += len(chunk)
            try:
                await sink.drain()
            except OSError:
                return

    def _drop(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            for writer in (link.client, link.server):
                with contextlib.suppress(Exception):
                    writer.close()
