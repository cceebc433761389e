"""Redis topologies on loopback for tests: a master with replicas and three sentinels, and a 3-master cluster.

Everything runs as real ``redis-server`` processes on ports from :mod:`tests.support.ports`, in temporary
directories, and is removed by ``cleanup()``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
import redis.asyncio as aioredis

from tests.support.ports import free_port
from tests.support.redis_server import RedisServer, redis_cli_binary, redis_server_binary

SERVICE = "mymaster"
CLUSTER_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]


def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout_s} s: {what}")


class SentinelServer(RedisServer):
    """``redis-server --sentinel`` watching ``SERVICE`` at ``master_port`` (quorum 2)."""

    def __init__(self, master_port: int, *, down_after_ms: int = 1000, failover_timeout_ms: int = 60_000) -> None:
        super().__init__()
        self._config = Path(self._dir) / "sentinel.conf"
        self._config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self._dir}\n"
            f"logfile {Path(self._dir) / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )

    def _args(self) -> list[str]:
        return [redis_server_binary(), str(self._config), "--sentinel"]

    def master_port(self) -> int:
        """The port of the master this sentinel names now."""
        with self.client() as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)


class SentinelGroup:
    """A master, ``replicas`` replicas and three sentinels.

    ``replica_source`` can put something between a replica and its master (the failover test routes
    replication through a fault proxy): it maps the master's port to the port the replicas connect to.
    """

    def __init__(self, *, replicas: int = 1, down_after_ms: int = 1000, failover_timeout_ms: int = 60_000) -> None:
        self.master = RedisServer()
        self.replicas = [RedisServer() for _ in range(replicas)]
        self.sentinels = [
            SentinelServer(self.master.port, down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms)
            for _ in range(3)
        ]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/mymaster/0``."""
        return f"redis+sentinel://{','.join(sentinel.address for sentinel in self.sentinels)}/{SERVICE}/0"

    def start(self, replica_source: int | None = None, timeout_s: float = 20.0) -> None:
        """Start every server; return once each sentinel sees the replicas and the other two sentinels."""
        self.master.start()
        for replica in self.replicas:
            replica.start()
            with replica.client() as client:
                client.execute_command("REPLICAOF", "127.0.0.1", str(replica_source or self.master.port))
        for replica in self.replicas:
            _until(lambda r=replica: _linked(r), timeout_s, f"replica {replica.port} in sync")  # type: ignore[misc]
        for sentinel in self.sentinels:
            sentinel.start()
        for sentinel in self.sentinels:
            _until(lambda s=sentinel: self._sees_all(s), timeout_s, f"sentinel {sentinel.port} sees all")  # type: ignore[misc]

    def _sees_all(self, sentinel: SentinelServer) -> bool:
        with sentinel.client() as client:
            [master] = [m for m in client.execute_command("SENTINEL", "MASTERS") if _field(m, "name") == SERVICE]
            replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE)
        up = [r for r in replicas if "s_down" not in str(_field(r, "flags"))]
        return str(_field(master, "num-other-sentinels")) == "2" and len(up) == len(self.replicas)

    def current_master(self) -> RedisServer:
        """The server the sentinels name as master now."""
        port = self.sentinels[0].master_port()
        return next(server for server in (self.master, *self.replicas) if server.port == port)

    def cleanup(self) -> None:
        """Stop everything and remove the directories."""
        for server in (*self.sentinels, *self.replicas, self.master):
            server.cleanup()


def _field(reply: object, name: str) -> object:
    if isinstance(reply, dict):
        return reply[name]
    assert isinstance(reply, list)
    pairs = dict(zip(reply[::2], reply[1::2], strict=True))
    return pairs[name]


def _linked(replica: RedisServer) -> bool:
    with replica.client() as client:
        return bool(client.info("replication").get("master_link_status") == "up")


class ClusterServers:
    """``masters`` cluster-enabled servers joined by ``redis-cli --cluster create``."""

    def __init__(self, n: int = 3) -> None:
        # The cluster bus listens on its own port (by default the node's + 10000, maybe taken): pick a free one.
        self.nodes = [RedisServer(extra_args=[*CLUSTER_ARGS, "--cluster-port", str(free_port())]) for _ in range(n)]

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``."""
        return f"redis+cluster://{','.join(node.address for node in self.nodes)}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the nodes, create the cluster, wait until every node says ``cluster_state:ok``."""
        for node in self.nodes:
            node.start()
        subprocess.run(
            [redis_cli_binary(), "--cluster", "create", *(node.address for node in self.nodes), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        for node in self.nodes:
            _until(lambda n=node: _cluster_ok(n), timeout_s, f"cluster node {node.port} ok")  # type: ignore[misc]

    def client(self) -> redis.RedisCluster:
        """A synchronous cluster client (decoded responses)."""
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, decode_responses=True)

    def cleanup(self) -> None:
        """Stop the nodes and remove their directories."""
        for node in self.nodes:
            node.cleanup()


def _cluster_ok(node: RedisServer) -> bool:
    with node.client() as client:
        return "cluster_state:ok" in str(client.execute_command("CLUSTER", "INFO"))


async def delete_keys(url: str, pattern: str) -> None:
    """Delete the keys matching ``pattern`` on the server at ``url`` (one cluster node: its own keys)."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        for key in keys:  # one at a time: on a cluster node the keys span slots
            await client.delete(key)
    finally:
        await client.aclose()
