"""A private ``redis-server`` on a free loopback port, for tests that must own their Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.ports import free_port


def redis_cli_binary() -> str:
    """Path of ``redis-cli`` (installed with the server, see :func:`redis_server_binary`)."""
    found = shutil.which("redis-cli")
    if found:
        return found
    redis_server_binary()
    found = shutil.which("redis-cli")
    if not found:
        raise RuntimeError("redis-cli is not installed: install it (Debian: apt-get install redis-tools)")
    return found


def redis_server_binary() -> str:
    """Path of ``redis-server``; installs Debian's package when missing and running as root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server", "redis-tools"],
            check=True,
            env=env,
            capture_output=True,
        )
        found = shutil.which("redis-server")
        if found:
            return found
    raise RuntimeError(
        "redis-server is not installed: install it (Debian: apt-get install redis-server) "
        "or set MEMPOOL_WS_TEST_REDIS_URL to a Redis the tests may use"
    )


class RedisServer:
    """A throw-away redis-server process; nothing is written to disk."""

    def __init__(self, port: int | None = None, *, extra_args: list[str] | None = None) -> None:
        self.port = port or free_port()
        self._extra_args = extra_args or []
        self._dir = tempfile.mkdtemp(prefix="mempool-ws-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> Path:
        """The server's working directory (its log, a cluster's nodes.conf)."""
        return Path(self._dir)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        """A new synchronous client of this server (decoded responses)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            decode_responses=True,
        )

    def _args(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            "--logfile", str(Path(self._dir) / "redis.log"),
            *self._extra_args,
        ]  # fmt: skip

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self._process = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}; see {self._dir}")
            try:
                client = redis.Redis(
                    host="127.0.0.1", port=self.port, socket_connect_timeout=0.2, password=self.password
                )
                client.ping()
                client.close()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout_s} s")

    @property
    def password(self) -> str | None:
        """The ``--requirepass`` given in the extra arguments, if any."""
        if "--requirepass" in self._extra_args:
            return self._extra_args[self._extra_args.index("--requirepass") + 1]
        return None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def cleanup(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
