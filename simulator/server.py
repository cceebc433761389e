"""The simulator's network side: the WebSocket, REST and control endpoints on one port."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from shared.errors import InvalidAddress
from shared.settings import SimSettings
from simulator import jsjson
from simulator.events import Event
from simulator.journal import Journal
from simulator.peer import Peer, silenceable_connection
from simulator.protocol import MAX_MESSAGE_BYTES, CloseReason, ConnectionState
from simulator.rest import WS_PATH, HttpReply, error, route, strip_network
from simulator.stats import SimStats
from simulator.world import World

logger = logging.getLogger("simulator")

CLOSE_TIMEOUT_S = 1.0
"""How long a closing handshake may take before the TCP connection is dropped."""
_TX_ACTIONS = ("replace", "bump", "accelerate", "evict")


class Simulator:
    """A mempool.space-compatible upstream: WebSocket at ``/api/v1/ws`` plus REST, on one port.

    Blocks come every ``600 / speed`` seconds on average, the mempool changes every ``tick_s``
    seconds, and everything random is seeded, so the same seed and anchor give the same chain.
    Control endpoints under ``/_sim/`` (mine, pay, replace, bump, accelerate, evict, silence, offline,
    inject, stats, journal) drive it in tests and demos.
    """

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.port = settings.port
        self._world: World | None = None
        self._server: Server | None = None
        self._peers: dict[int, Peer] = {}
        self._ids = itertools.count(1)
        self._closes: Counter[str] = Counter()
        self._silent = False
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._connection_class = silenceable_connection(lambda: self._silent)
        self.journal = Journal()
        """What the world announced (also while offline or silent), served at ``/_sim/journal``."""

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/api/v1/ws`` (loopback when bound to all interfaces)."""
        return f"ws://{self._url_host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """``http://HOST:PORT``, the REST base."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.settings.host, self.settings.host)
        return f"[{host}]" if ":" in host else host

    @property
    def world(self) -> World:
        """The simulated chain and mempool (available once started)."""
        if self._world is None:
            raise RuntimeError("the simulator is not started")
        return self._world

    @property
    def tip_height(self) -> int:
        """Height of the newest block."""
        return self.world.chain.tip_height

    async def start(self) -> None:
        """Bind the port (0 picks a free one) and start the clock."""
        if self._world is not None:
            return
        self._world = World(self.settings, time.time())
        await self._listen(self.settings.port)
        self._spawn(self._run_clock())

    async def _listen(self, port: int) -> None:
        self._server = await serve(
            self._handle,
            self.settings.host,
            port,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            max_size=MAX_MESSAGE_BYTES,
            close_timeout=CLOSE_TIMEOUT_S,
            create_connection=self._connection_class,
            logger=logging.getLogger("simulator.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("simulator task failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Close the server, every connection and the clock; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for peer in self._peers.values():
            peer.reason = peer.reason or CloseReason.SHUTDOWN
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _run_clock(self) -> None:
        while True:
            delay = self.world.next_due() - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, 1.0))
            self._dispatch(self.world.advance(time.time()))

    def _dispatch(self, events: list[Event]) -> None:
        self.journal.record(events, int(time.time() * 1000))
        if self._silent:
            return
        for event in events:
            for peer in list(self._peers.values()):
                frame = peer.state.render(event)
                if frame is not None:
                    peer.send(frame)

    async def _handle(self, ws: ServerConnection) -> None:
        peer = Peer(next(self._ids), ws, ConnectionState(self.world, self.settings.address_limit))
        self._peers[peer.id] = peer
        try:
            async for message in ws:
                self._receive(peer, message)
        except ConnectionClosed:
            pass
        finally:
            del self._peers[peer.id]
            await peer.finish()
            self._closes[self._close_reason(peer)] += 1

    def _receive(self, peer: Peer, message: str | bytes) -> None:
        reply = peer.state.receive(message, time.monotonic())
        self.world.track(reply.tracked)
        if not self._silent:
            for frame in reply.frames:
                peer.send(frame)
        if reply.close is not None:
            peer.close(reply.close)

    @staticmethod
    def _close_reason(peer: Peer) -> str:
        if peer.reason is not None:
            return peer.reason.value
        sent = peer.ws.protocol.close_sent
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            return CloseReason.TOO_BIG.value
        return CloseReason.CLIENT.value

    async def mine_block(self) -> dict[str, Any]:
        """Mine a block now and announce it; later slot blocks are one height higher."""
        block, events = self.world.mine_now(time.time())
        self._dispatch(events)
        return block

    def pay(self, address: str, sats: int, rate: float | None = None) -> str:
        """Queue a transaction paying ``sats`` to ``address`` (sent at the next tick) at ``rate`` sat/vB
        (default: the fastest recommended fee); return its txid.

        Raises ``InvalidAddress`` for an address of another network and ``ValueError`` for a bad amount
        or rate.
        """
        return self.world.pay(address, sats, time.time(), rate)

    def replace(self, txid: str, rate: float | None = None) -> str:
        """Replace a mempool transaction (RBF) by a higher-fee version now; return the replacing txid.

        Raises ``LookupError`` for an unknown txid and ``ValueError`` when it is not in the mempool.
        """
        new_txid, events = self.world.replace_now(txid, time.time(), rate)
        self._dispatch(events)
        return new_txid

    def bump(self, txid: str, rate: float | None = None) -> tuple[str, float]:
        """Add a CPFP child to a mempool transaction now; return its txid and the package's new
        effective fee rate (sat/vB). Raises like :meth:`replace`."""
        child_txid, effective, events = self.world.bump_now(txid, time.time(), rate)
        self._dispatch(events)
        return child_txid, effective

    def accelerate(self, txid: str) -> None:
        """Accelerate a mempool transaction (and its package): the next block mines it."""
        self._dispatch(self.world.accelerate_now(txid, time.time()))

    def evict(self, txid: str) -> None:
        """Drop a mempool transaction and its descendants unmined (expiry, purge)."""
        self._dispatch(self.world.evict_now(txid, time.time()))

    def set_silent(self, silent: bool) -> None:
        """While silent, sockets stay open but receive nothing: no replies, updates or pongs."""
        self._silent = silent

    async def go_offline(self) -> None:
        """Drop every socket abruptly and refuse connections; the chain keeps going."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close(close_connections=False)
        for peer in list(self._peers.values()):
            peer.abort(CloseReason.OFFLINE)
        await server.wait_closed()

    async def go_online(self) -> None:
        """Accept connections again on the same port."""
        if self._server is None and not self._stopped:
            await self._listen(self.port)

    async def inject(self, frame: str | bytes) -> int:
        """Send ``frame`` as is (``str``: text, ``bytes``: binary) to every open socket, even when silent.

        Returns the number of sockets it was queued for.
        """
        peers = [peer for peer in self._peers.values() if peer.state.closed is None]
        for peer in peers:
            peer.send(frame)
        return len(peers)

    def stats(self) -> SimStats:
        """Connections, their counters and closes by reason."""
        return SimStats(
            online=self._server is not None,
            silent=self._silent,
            tip_height=self.tip_height,
            connections=len(self._peers),
            accepted=sum(self._closes.values()) + len(self._peers),
            per_connection=[peer.stats() for peer in self._peers.values()],
            closes=dict(self._closes),
        )

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        path = strip_network(parts.path)
        if path == WS_PATH:
            return None
        if path.startswith("/_sim/"):
            reply = await self._control(path, parse_qs(parts.query))
        else:
            reply = route(self.world, path)
        return _http_response(reply)

    async def _control(self, path: str, query: dict[str, list[str]]) -> HttpReply:
        def arg(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        try:
            return await self._control_action(path.removeprefix("/_sim/"), arg)
        except (InvalidAddress, ValueError) as exc:
            return error(HTTPStatus.BAD_REQUEST, str(exc))
        except LookupError as exc:
            return error(HTTPStatus.NOT_FOUND, str(exc))

    async def _control_action(self, action: str, arg: Callable[..., str]) -> HttpReply:
        if action == "mine":
            return _ok(await self.mine_block())
        if action == "pay":
            return _ok({"txid": self.pay(arg("address"), int(arg("sats", "0")), _rate(arg("rate")))})
        if action in _TX_ACTIONS:
            return self._tx_control(action, arg("txid").lower(), _rate(arg("rate")))
        if action == "silence":
            self.set_silent(arg("on", "1") not in ("0", "false", "off"))
            return _ok({"silent": self._silent})
        if action == "offline":
            seconds = float(arg("seconds", "5"))
            self._spawn(self._offline_for(seconds))
            return _ok({"offline": True, "seconds": seconds})
        if action == "inject":
            return _ok({"sent": await self.inject(arg("frame"))})
        if action == "stats":
            return _ok(self.stats().to_dict())
        if action == "journal":
            return _ok(self.journal.to_dict(int(arg("after_ms", "0") or 0)))
        return error(HTTPStatus.NOT_FOUND, f"unknown control action: {action}")

    def _tx_control(self, action: str, txid: str, rate: float | None) -> HttpReply:
        if action == "replace":
            return _ok({"txid": self.replace(txid, rate)})
        if action == "bump":
            child_txid, effective = self.bump(txid, rate)
            return _ok({"txid": child_txid, "effective_fee_rate": effective})
        if action == "accelerate":
            self.accelerate(txid)
            return _ok({"txid": txid, "accelerated": True})
        self.evict(txid)
        return _ok({"txid": txid, "evicted": True})

    async def _offline_for(self, seconds: float) -> None:
        await asyncio.sleep(0.05)
        await self.go_offline()
        await asyncio.sleep(seconds)
        await self.go_online()


def _rate(text: str) -> float | None:
    return float(text) if text else None


def _ok(value: Any) -> HttpReply:
    return HttpReply(HTTPStatus.OK, jsjson.dumps(value))


def _http_response(reply: HttpReply) -> Response:
    body = reply.body.encode()
    headers = Headers(
        [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(body))),
            ("Access-Control-Allow-Origin", "*"),
            ("Connection", "close"),
        ]
    )
    return Response(reply.status.value, reply.status.phrase, headers, body)


async def run(settings: SimSettings) -> None:
    """Serve until cancelled: start, log the URL, wait, stop."""
    async with Simulator(settings) as simulator:
        logger.info("simulator listening on %s", simulator.ws_url)
        await asyncio.Event().wait()
