"""Where the Redis bus lives: one URL, three topologies.

=========================================================================  ==========================================
URL                                                                        topology
=========================================================================  ==========================================
``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://…``, ``unix://``  one server (redis-py's own URL forms)
``redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/SERVICE[/DB]``  Sentinel: the master of ``SERVICE``
``redis+cluster://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]``                Cluster: any of its nodes to start from
=========================================================================  ==========================================

``rediss+sentinel://`` and ``rediss+cluster://`` use TLS to every node (and, for Sentinel, to the
sentinels too). Ports default to 26379 for sentinels and 6379 for cluster nodes.

Credentials: the user and password of the URL authenticate to the data nodes (the Sentinel master and
its replicas, every cluster node). Sentinels are asked without credentials unless the query says
``sentinel_password=…`` (and ``sentinel_username=…``); give the same password twice if your sentinels
share the master's. Other query options are redis-py's connection options (``ssl_ca_certs``,
``ssl_cert_reqs``, ``socket_keepalive``, …) and apply to every connection. Passwords never appear in
logs (:func:`shared.settings.redact_url`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode

from redis.asyncio.connection import parse_url

from shared.errors import ConfigError
from shared.settings import redact_url

Topology = Literal["single", "sentinel", "cluster"]
SENTINEL_PORT = 26379
CLUSTER_PORT = 6379
SENTINEL_QUERY_KEYS = ("sentinel_password", "sentinel_username")
_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("single", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
SCHEMES = tuple(f"{scheme}://" for scheme in _SCHEMES)


@dataclass(frozen=True, slots=True)
class RedisLocation:
    """A parsed Redis URL."""

    topology: Topology
    url: str
    """The URL as given (secret: log :attr:`safe_url`)."""
    tls: bool
    hosts: tuple[tuple[str, int], ...] = ()
    """Sentinels or cluster start nodes; empty for a single server (redis-py reads its URL itself)."""
    service: str = ""
    """The Sentinel service (master) name."""
    db: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    """Connection options of the data nodes: credentials, TLS and query options (redis-py's names)."""
    sentinel_options: dict[str, Any] = field(default_factory=dict)
    """Connection options of the sentinels: TLS, query options and the sentinel credentials."""

    @property
    def safe_url(self) -> str:
        """The URL without secrets, for logs and errors."""
        return redact_url(self.url)


def parse_redis_url(url: str) -> RedisLocation:
    """Parse ``url`` (see the module); raise :class:`ConfigError` naming what is wrong, never the password."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ConfigError(f"the Redis URL must start with {', '.join(SCHEMES)} (MEMPOOL_WS_REDIS_URL)")
    topology, tls = _SCHEMES[scheme.lower()]
    if topology == "single":
        return RedisLocation(topology="single", url=url, tls=tls)
    netloc, path, query = _split(rest)
    userinfo, _, hostlist = netloc.rpartition("@")
    default_port = SENTINEL_PORT if topology == "sentinel" else CLUSTER_PORT
    hosts = tuple(_host(part, default_port, url) for part in hostlist.split(","))
    pairs = parse_qsl(query, keep_blank_values=True)
    sentinel_query = {key: value for key, value in pairs if key in SENTINEL_QUERY_KEYS}
    options = _options(tls, userinfo, urlencode([(k, v) for k, v in pairs if k not in SENTINEL_QUERY_KEYS]), url)
    if topology == "cluster":
        if path.strip("/") not in ("", "0"):
            raise ConfigError(f"a Redis Cluster has database 0 only; remove the path of {redact_url(url)}")
        return RedisLocation(topology="cluster", url=url, tls=tls, hosts=hosts, options=options)
    service, db = _service_and_db(path, url)
    shared = {key: value for key, value in options.items() if key not in ("username", "password")}
    sentinel_options = {**shared, **{key.removeprefix("sentinel_"): value for key, value in sentinel_query.items()}}
    return RedisLocation(
        topology="sentinel",
        url=url,
        tls=tls,
        hosts=hosts,
        service=service,
        db=db,
        options=options,
        sentinel_options=sentinel_options,
    )


def _split(rest: str) -> tuple[str, str, str]:
    rest, _, query = rest.partition("?")
    rest = rest.partition("#")[0]
    netloc, slash, path = rest.partition("/")
    return netloc, slash + path, query


def _host(part: str, default_port: int, url: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):
        host, _, tail = part[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = part.partition(":")
    if not host:
        raise ConfigError(f"the Redis URL lists an empty host: {redact_url(url)} (MEMPOOL_WS_REDIS_URL)")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"the Redis URL has an invalid port {port_text!r}: {redact_url(url)}")
    return host, int(port_text)


def _service_and_db(path: str, url: str) -> tuple[str, int]:
    parts = [unquote(part) for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise ConfigError(
            "a Sentinel URL names its service (the master's name) after the hosts: "
            f"redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB]; got {redact_url(url)}"
        )
    if len(parts) == 2 and not parts[1].isdigit():
        raise ConfigError(f"the database of a Sentinel URL is a number: {redact_url(url)}")
    return parts[0], int(parts[1]) if len(parts) == 2 else 0


def _options(tls: bool, userinfo: str, query: str, url: str) -> dict[str, Any]:
    """Credentials and query options, parsed by redis-py as it parses a single-server URL."""
    credentials = f"{userinfo}@" if userinfo else ""
    try:
        parsed: dict[str, Any] = dict(parse_url(f"{'rediss' if tls else 'redis'}://{credentials}localhost?{query}"))
    except ValueError as exc:
        raise ConfigError(f"the Redis URL has an invalid option ({exc}): {redact_url(url)}") from None
    for key in ("host", "port", "db", "connection_class"):
        parsed.pop(key, None)
    if tls:
        parsed["ssl"] = True
    return parsed
