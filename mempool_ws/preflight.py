"""Checks run before a command starts, so a typo ends in one line naming the flag instead of endless retries."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from shared.bus.location import parse_redis_url
from shared.errors import ConfigError
from shared.settings import SIM_UPSTREAM, BusSettings, IngestorSettings, redact_url

_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
RESOLVE_RETRY_S = 1.0


def check_upstream_url(settings: IngestorSettings, *, sim_allowed: bool) -> None:
    """A ``ws://``/``wss://`` URL (or ``sim`` when allowed), else :class:`ConfigError`."""
    url = settings.upstream_url
    if url == SIM_UPSTREAM:
        if not sim_allowed:
            raise ConfigError("--upstream-url sim works with 'serve' only; run `mempool-ws sim` and pass its ws:// URL")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        hint = " or 'sim' for the built-in simulator" if sim_allowed else ""
        raise ConfigError(
            f"--upstream-url must be a ws:// or wss:// URL{hint} (MEMPOOL_WS_UPSTREAM_URL); got {redact_url(url)!r}"
        )


def check_redis_host(settings: BusSettings) -> None:
    """Fail with one line when the Redis URL is malformed or its host name does not exist.

    A name the resolver says does not exist is retried for ``redis_connect_timeout_s`` (a cluster's DNS
    may lag a new Service by a moment); any other resolver trouble (no network yet) is left to the
    bus's own reconnect loop. A Sentinel or Cluster URL fails only when none of its hosts exists (one
    sentinel or node may be away). ``unix://`` is left to the backend.
    """
    url = settings.redis_dsn()
    if not url:
        return
    location = parse_redis_url(url)
    if location.topology != "single":
        hosts = list(location.hosts)
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            return
        try:
            hosts = [(parts.hostname or "", parts.port or 6379)]
        except ValueError:
            raise ConfigError(f"--redis-url has an invalid port: {redact_url(url)} (MEMPOOL_WS_REDIS_URL)") from None
        if not hosts[0][0]:
            raise ConfigError(f"--redis-url has no host: {redact_url(url)} (MEMPOOL_WS_REDIS_URL)")
    deadline = time.monotonic() + settings.redis_connect_timeout_s
    while True:
        missing: list[tuple[str, str]] = []
        for host, port in hosts:
            problem = _resolve(host, port)
            if problem is None:
                return
            missing.append((host, problem))
        if time.monotonic() + RESOLVE_RETRY_S > deadline:
            host, problem = missing[0]
            raise ConfigError(
                f"the Redis host {host!r} does not resolve ({problem}); check --redis-url "
                f"(MEMPOOL_WS_REDIS_URL): {redact_url(url)}"
            )
        time.sleep(RESOLVE_RETRY_S)


def _resolve(host: str, port: int) -> str | None:
    """None when ``host`` resolves (or the resolver cannot tell now); why not, when it does not exist."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise ConfigError(
            f"the Redis host {host!r} is not a valid host name; check --redis-url (MEMPOOL_WS_REDIS_URL)"
        ) from None
    except socket.gaierror as exc:
        if exc.errno in _NO_SUCH_NAME:
            return str(exc.strerror)
    return None
