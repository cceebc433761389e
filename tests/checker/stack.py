"""The stack under test, every part a separate process on loopback.

A simulator (the upstream), a real redis-server, two ingestors (leader and standby), two gateways. Each
daemon reaches Redis through a TCP fault proxy of its own role (one per ingestor, one shared by the
gateways), so Redis can be slowed for all and one ingestor cut off alone. The proxies run on their own
event loop in a thread, so the consumers' loop cannot delay their forwarding. A monitor notices any daemon
that exits without the schedule killing it, and samples the resident memory of every daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from tests.faults.helpers import FAST_GATEWAY_ENV, FAST_INGEST_ENV, metric_value, rss_mib
from tests.support.fault_proxy import FaultProxy
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, http_ok
from tests.support.redis_server import RedisServer

T = TypeVar("T")

PREFIX = "chk"
NETWORK = "mainnet"
INGEST_ENV = {
    **FAST_INGEST_ENV,
    "MEMPOOL_WS_PUBLISH_QUEUE_ITEMS": "200",
    "MEMPOOL_WS_PUBLISH_PAUSE_MAX_S": "1.0",
}


class CheckerRedis(RedisServer):
    """A redis-server whose process id is known (to pause it)."""

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None


class ProxyLoop:
    """An asyncio loop in a thread of its own, running the fault proxies."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fault-proxies", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the proxies' loop and await its result."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def call(self, function: Any, *args: Any) -> None:
        """Call ``function`` on the proxies' loop (thread-safe)."""
        self.loop.call_soon_threadsafe(function, *args)

    def stop(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


@dataclass
class Daemon:
    """One daemon of the stack: how to start it, whether the schedule has it down on purpose."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: ServiceProcess | None = None
    expected_down: bool = False
    history: list[ServiceProcess] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    """Unexpected exits: code and the end of the log."""
    max_rss_mib: float = 0.0

    def start(self) -> None:
        """Start (again) with the same arguments and ports."""
        self.process = ServiceProcess(self.args, self.env).start()
        self.history.append(self.process)
        self.expected_down = False

    def kill(self, signum: int) -> None:
        """Send ``signum`` (the process is expected to go down)."""
        self.expected_down = True
        if self.process is not None:
            self.process.signal(signum)
            with contextlib.suppress(Exception):
                self.process.wait(10)

    def alive(self) -> bool:
        """Whether the current process runs."""
        return self.process is not None and self.process.alive()

    def stop(self) -> None:
        """Stop every process this daemon ran and drop their logs."""
        self.expected_down = True
        for process in self.history:
            process.stop()


class Stack:
    """Every process and proxy of one checker run."""

    def __init__(self, *, seed: int, speed: float, tick_s: float) -> None:
        self.redis = CheckerRedis()
        self.proxies = ProxyLoop()
        self.ingest_proxies: list[FaultProxy] = [FaultProxy(self.redis.port) for _ in range(2)]
        self.gateway_proxy = FaultProxy(self.redis.port)
        self.sim_port = free_port()
        self.sim = Daemon(
            "sim",
            ["sim", "--port", str(self.sim_port), "--speed", str(speed), "--tick-s", str(tick_s), "--seed", str(seed)],
            {},
        )
        self.ingestors: list[Daemon] = []
        self.ingest_metrics: list[str] = []
        self.gateways: list[Daemon] = []
        self.gateway_urls: list[str] = []
        self.redis_expected_down = False
        self.redis_max_rss_mib = 0.0
        self.monitor_task: asyncio.Task[None] | None = None

    @property
    def sim_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the simulator (REST and ``/_sim/`` controls)."""
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def all_proxies(self) -> list[FaultProxy]:
        """Every proxy in front of Redis."""
        return [*self.ingest_proxies, self.gateway_proxy]

    @property
    def daemons(self) -> list[Daemon]:
        """Every daemon (simulator, ingestors, gateways)."""
        return [self.sim, *self.ingestors, *self.gateways]

    async def start(self) -> None:
        """Start Redis, the proxies and every daemon; wait until the gateways and a leader are ready."""
        await asyncio.to_thread(self.redis.start)
        self.proxies.start()
        for proxy in self.all_proxies:
            await self.proxies.run(proxy.start())
        self.sim.start()
        common = ["--key-prefix", PREFIX, "--network", NETWORK]
        for index, proxy in enumerate(self.ingest_proxies):
            port = free_port()
            args = ["ingest", "--upstream-url", f"ws://127.0.0.1:{self.sim_port}/api/v1/ws"]
            args += ["--metrics-port", str(port), "--redis-url", f"redis://127.0.0.1:{proxy.port}/0", *common]
            env = {**INGEST_ENV, "MEMPOOL_WS_UPSTREAM_REST_URL": self.sim_url}
            self.ingestors.append(Daemon(f"ingestor-{index}", args, env))
            self.ingest_metrics.append(f"http://127.0.0.1:{port}")
        for index in range(2):
            port = free_port()
            args = ["gateway", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{self.gateway_proxy.port}/0"]
            self.gateways.append(Daemon(f"gateway-{index}", [*args, *common], dict(FAST_GATEWAY_ENV)))
            self.gateway_urls.append(f"http://127.0.0.1:{port}")
        for daemon in [*self.ingestors, *self.gateways]:
            daemon.start()
        await self.wait_ready(60)
        self.monitor_task = asyncio.create_task(self._monitor())

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until both gateways answer ``/readyz`` and one ingestor leads."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = await asyncio.to_thread(lambda: all(http_ok(f"{url}/readyz") for url in self.gateway_urls))
            if ready and await self.leader() is not None:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the stack was not ready after {timeout_s} s")

    async def leader(self) -> int | None:
        """Index of the ingestor whose ``ingestor_leader`` gauge is 1, if any."""
        for index, url in enumerate(self.ingest_metrics):
            if not self.ingestors[index].alive():
                continue
            text = await asyncio.to_thread(_get_text, f"{url}/metrics")
            if text and metric_value(text, "ingestor_leader") == 1:
                return index
        return None

    async def ingest_metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The sum of metric ``name`` over the running ingestors."""
        total = 0.0
        for index, url in enumerate(self.ingest_metrics):
            if self.ingestors[index].alive():
                text = await asyncio.to_thread(_get_text, f"{url}/metrics")
                total += metric_value(text, name, labels) if text else 0.0
        return total

    def redis_pid(self) -> int | None:
        """The redis-server's process id while it runs."""
        return self.redis.pid

    async def _monitor(self) -> None:
        """Every 0.5 s: unexpected exits (recorded, then the daemon restarted); every 2 s: memory."""
        tick = 0
        while True:
            await asyncio.sleep(0.5)
            tick += 1
            for daemon in self.daemons:
                if not daemon.expected_down and daemon.process is not None and not daemon.alive():
                    code = daemon.process.process.returncode if daemon.process.process else None
                    tail = "\n".join(daemon.process.output().splitlines()[-15:])
                    daemon.exits.append(f"{daemon.name} exited with code {code}; log tail:\n{tail}")
                    daemon.start()
            if tick % 4 == 0:
                self.sample_memory()

    def sample_memory(self) -> None:
        """Record the resident memory of every running daemon and of Redis."""
        for daemon in self.daemons:
            if daemon.alive() and daemon.process is not None:
                with contextlib.suppress(Exception):
                    daemon.max_rss_mib = max(daemon.max_rss_mib, rss_mib(daemon.process.pid))
        pid = self.redis_pid()
        if pid is not None:
            with contextlib.suppress(Exception):
                self.redis_max_rss_mib = max(self.redis_max_rss_mib, rss_mib(pid))

    async def stop(self) -> None:
        """Stop everything (safe after a partial start)."""
        if self.monitor_task is not None:
            self.monitor_task.cancel()
            with contextlib.suppress(BaseException):
                await self.monitor_task
        for daemon in self.daemons:
            await asyncio.to_thread(daemon.stop)
        for proxy in self.all_proxies:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proxies.run(proxy.stop()), 5)
        self.proxies.stop()
        await asyncio.to_thread(self.redis.cleanup)


def _get_text(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
