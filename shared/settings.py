"""One settings object per process, read once from flags and ``MEMPOOL_WS_*`` environment variables.

Every limit is a named setting with a unit in its name and a default. Command-line flags override the
environment; the environment overrides the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = Literal["mainnet", "testnet", "testnet4", "signet"]
NETWORKS: tuple[Network, ...] = get_args(Network)

UPSTREAM_URLS: dict[Network, str] = {
    "mainnet": "wss://mempool.space/api/v1/ws",
    "testnet": "wss://mempool.space/testnet/api/v1/ws",
    "testnet4": "wss://mempool.space/testnet4/api/v1/ws",
    "signet": "wss://mempool.space/signet/api/v1/ws",
}

SIM_UPSTREAM = "sim"
"""The ``--upstream-url`` value that starts the built-in simulator in the same process."""


def rest_base_url(ws_url: str) -> str:
    """The REST base (``http(s)://host[/network]/api``) that matches an upstream WebSocket URL."""
    parts = urlsplit(ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    path = parts.path
    for suffix in ("/v1/ws", "/ws"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((scheme, parts.netloc, path.rstrip("/"), "", ""))


SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "auth", "token", "secret", "sentinel_password"})
"""Query parameters hidden by :func:`redact_url` (redis-py takes ``?password=`` as the password)."""


def redact_url(url: str | None) -> str:
    """The URL with any password (in the user part or the query) replaced by ``***``, safe for logs.

    Works on every Redis URL form, also those listing several hosts (``redis+sentinel://:pw@h1:1,h2:2/s``).
    """
    if not url:
        return ""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = parts.query
    if any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs):
        query = urlencode([(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs], safe="/*")
    if "@" not in parts.netloc:
        return url if query == parts.query else f"{url.split('?', 1)[0]}?{query}"
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}:***@{hosts}" if user else f"***@{hosts}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEMPOOL_WS_",
        extra="ignore",
        validate_default=True,
        frozen=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log records written to stderr."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="json: one JSON object per line (production); text: human-readable lines; auto: text "
        "when stderr is a terminal, json otherwise.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class BusSettings(_Base):
    """Where events live: the network, the Redis URL (or none: the embedded bus) and key naming."""

    network: Network = Field(default="mainnet", description="Bitcoin network served by this process.")
    redis_url: SecretStr | None = Field(
        default=None,
        description="URL of the Redis event bus: redis://, rediss:// or unix:// (one server), "
        "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB] (Sentinel) or redis+cluster://HOST:PORT[,...] "
        "(Cluster), rediss+... for TLS; unset means the embedded in-process bus.",
    )
    key_prefix: str = Field(
        default="mempool",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="First segment of every Redis channel and key, so deployments can share one Redis.",
    )
    redis_connect_timeout_s: float = Field(default=5.0, gt=0, description="Redis connect timeout, seconds.")
    redis_retry_max_s: float = Field(
        default=10.0, gt=0, description="Longest wait between Redis reconnect attempts, seconds."
    )
    redis_policy_check_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often Redis's maxmemory-policy is read (besides at connect), seconds; an evicting"
        " policy (allkeys-*, volatile-*) is logged as a warning, since it may drop this service's keys.",
    )
    status_log_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="How often a one-line status (tip height, events per second, open streams, upstream "
        "state) is logged, seconds; 0 turns it off.",
    )
    readiness_bus_timeout_s: float = Field(
        default=2.5,
        gt=0,
        description=(
            "Longest wait for the Redis ping behind /readyz, seconds: room for a reconnect over a slow link,"
            " and below the orchestrator's probe timeout (3 s in the chart)."
        ),
    )

    def redis_dsn(self) -> str | None:
        """The Redis URL in clear text (never log it; use :func:`redact_url`)."""
        return self.redis_url.get_secret_value() if self.redis_url else None


class IngestorSettings(BusSettings):
    """Settings of the ingestor daemon (``mempool-ws ingest``)."""

    upstream_url: str = Field(
        default="",
        description="Upstream WebSocket URL; empty means the mempool.space URL of the network; 'sim' "
        "starts the built-in simulator (serve only).",
    )
    upstream_rest_url: str = Field(
        default="", description="Upstream REST base for backfill; empty means derived from upstream_url."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Bind address of /metrics, /healthz, /readyz.")
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="Port of the ingestor HTTP endpoint.")
    address_limit_per_socket: int = Field(
        default=10, ge=1, le=10_000, description="Addresses tracked per upstream socket (mainnet allows 10)."
    )
    max_address_sockets: int = Field(
        default=50, ge=0, le=1000, description="Most upstream sockets opened for address tracking."
    )
    tx_limit_per_socket: int = Field(
        default=100,
        ge=1,
        le=100,
        description="Transactions tracked per upstream socket with track-txs (the upstream allows 100 and "
        "closes a socket that sends more).",
    )
    max_tx_sockets: int = Field(
        default=10, ge=0, le=1000, description="Most upstream sockets opened for transaction tracking."
    )
    tx_recheck_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often each transaction socket sends its list again, seconds: the reply omits "
        "transactions that left the mempool unmined (the upstream reports no eviction), which are then "
        "checked over REST and reported removed. One message per socket per interval.",
    )
    max_messages_per_window: int = Field(
        default=80,
        ge=1,
        le=100,
        description="Messages sent per upstream socket per rate window (the upstream closes at 100/10 s).",
    )
    rate_window_s: float = Field(default=10.0, gt=0, description="Length of the upstream rate window, seconds.")
    ping_after_silence_s: float = Field(
        default=25.0, gt=0, description="Send a JSON ping after this many seconds without upstream frames."
    )
    dead_after_silence_s: float = Field(
        default=35.0,
        gt=0,
        description="Replace a socket silent for this long (upstream proxy drops at 120 s).",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, description="Upstream connect timeout, seconds.")
    backoff_initial_s: float = Field(default=1.0, gt=0, description="First reconnect delay, seconds.")
    backoff_max_s: float = Field(default=60.0, gt=0, description="Longest reconnect delay, seconds.")
    healthy_after_s: float = Field(
        default=30.0, gt=0, description="A connection up this long resets the reconnect backoff, seconds."
    )
    max_frame_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest upstream frame accepted, bytes."
    )
    history_size: int = Field(default=1000, ge=1, description="Events kept per topic history.")
    address_history_size: int = Field(
        default=200, ge=1, description="Events kept per address history (and per transaction history)."
    )
    address_history_ttl_s: int = Field(
        default=86_400,
        ge=60,
        description="Address (and transaction) history and latest keys expire this long after the last event.",
    )
    lease_poll_interval_s: float = Field(
        default=0.25, gt=0, description="How often the ingestor re-reads address leases, seconds."
    )
    leader_ttl_s: float = Field(default=10.0, gt=0, description="Leader lease lifetime, seconds.")
    leader_renew_s: float = Field(default=3.0, gt=0, description="Leader lease renewal interval, seconds.")
    status_interval_s: float = Field(default=2.0, gt=0, description="How often the status key is written.")
    stale_after_s: float = Field(default=90.0, gt=0, description="Data older than this makes /readyz fail, seconds.")
    shutdown_timeout_s: float = Field(default=10.0, gt=0, description="Grace period on SIGTERM, seconds.")
    publish_queue_items: int = Field(
        default=10_000,
        ge=1,
        description="Work items (one per upstream frame) the publish queue holds while Redis is slow or away;"
        " when it is full, upstream reads pause.",
    )
    publish_pause_max_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest pause of upstream reads for a full publish queue, seconds; beyond it the oldest"
        " work is dropped and gap notices mark what was lost (the upstream drops readers that fall too far"
        " behind).",
    )
    check: bool = Field(default=False, description="Probe a running ingestor and exit 0 (healthy) or 1.")

    @model_validator(mode="after")
    def _defaults_from_network(self) -> IngestorSettings:
        if not self.upstream_url:
            object.__setattr__(self, "upstream_url", UPSTREAM_URLS[self.network])
        if not self.upstream_rest_url and self.upstream_url != SIM_UPSTREAM:
            object.__setattr__(self, "upstream_rest_url", rest_base_url(self.upstream_url))
        if self.dead_after_silence_s <= self.ping_after_silence_s:
            raise ValueError("dead_after_silence_s must be larger than ping_after_silence_s")
        return self


class GatewaySettings(BusSettings):
    """Settings of the MCP gateway (``mempool-ws gateway``)."""

    host: str = Field(default="127.0.0.1", description="Bind address of the HTTP server.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port of the HTTP server.")
    default_timeout_s: float = Field(default=30.0, gt=0, description="Stream wait when the caller gives none.")
    max_timeout_s: float = Field(default=300.0, gt=0, description="Longest wait one stream call may ask for.")
    default_max_events: int = Field(default=10, ge=1, description="Events per stream call when not given.")
    max_events_limit: int = Field(default=500, ge=1, description="Most events one stream call may ask for.")
    keepalive_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="A waiting call that sent no progress for this long sends a keep-alive progress notification "
        '({"keepalive":true,"waited_s":N}), so hosts that restart their timeout on progress wait longer; '
        "0 turns them off, seconds.",
    )
    call_queue_size: int = Field(
        default=256, ge=1, description="Events buffered per waiting call; beyond it the oldest are dropped."
    )
    max_concurrent_streams: int = Field(
        default=2_500,
        ge=1,
        description="Stream calls one process holds at once; beyond it calls get 'busy'. An open call costs about "
        "31 KiB when the fast path answers it (2026-07-28 clients) and about 106 KiB through FastMCP (handshake-era "
        "clients; track_address, track_tx, alert_when), so the default fits a 384 MiB pod whatever the mix "
        "(see BENCHMARKS.md); raise it with the memory.",
    )
    shutdown_drain_s: float = Field(
        default=2.0,
        ge=0,
        description="After SIGTERM, stream calls return at once with what they have, /readyz answers 503 and"
        " every other request is still served this long (a client's follow-up tools/list, calls routed while"
        " the pod leaves the Service) before the server stops accepting, seconds.",
    )
    lease_ttl_s: float = Field(default=30.0, gt=0, description="Address lease lifetime, seconds.")
    lease_renew_s: float = Field(default=10.0, gt=0, description="Address lease renewal interval, seconds.")
    max_tracked_addresses_per_pod: int = Field(
        default=500, ge=1, description="Distinct addresses one gateway process tracks at once."
    )
    max_tracked_txids_per_pod: int = Field(
        default=1000, ge=1, description="Distinct transactions one gateway process tracks at once."
    )
    max_addresses_per_call: int = Field(
        default=20, ge=1, le=100, description="Addresses one track_address call may watch (a small wallet)."
    )
    max_txids_per_call: int = Field(default=20, ge=1, le=100, description="Transactions one track_tx call may watch.")
    tracking_confirm_timeout_s: float = Field(
        default=5.0, gt=0, description="How long track_address waits for the ingestor to accept an address."
    )
    stale_after_s: float = Field(
        default=90.0, gt=0, description="Upstream data older than this is reported stale, seconds."
    )
    fast_path: bool = Field(
        default=True,
        description="Answer 2026-07-28 tools/call requests of the topic stream tools with the gateway's own "
        "lean handler (same bytes, less memory and CPU per call); false sends every request through FastMCP.",
    )
    dns_rebinding_protection: bool = Field(
        default=True, description="Reject requests whose Host or Origin is not allowed."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names accepted besides loopback and the bind address (comma-separated in the "
        "environment; fnmatch patterns such as '*.svc.cluster.local').",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins accepted besides loopback ones, e.g. 'https://app.example.com'.",
    )
    auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MEMPOOL_WS_AUTH_TOKEN", "auth_token"),
        description="When set, /mcp requires 'Authorization: Bearer <token>'.",
    )
    networks: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Networks this deployment serves: one ingestor publishes each of them to the bus "
        "(comma-separated in the environment, e.g. 'mainnet,testnet4'). Empty means only 'network'. Calls for "
        "any other network are refused at once, naming these.",
    )
    http_max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Most bytes of one request's head (request line and headers); beyond it 431 and close. "
        "Enforced by the HTTP server before the app and auth run.",
    )
    http_max_header_count: int = Field(
        default=100, ge=10, description="Most header fields in one request; beyond it 431 and close."
    )
    http_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Most bytes of one request body; beyond it 413 and close (before the app when "
        "Content-Length says so). MCP requests to this gateway are a few KB.",
    )
    http_head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time to send a request's head, from the connection's accept or the end of the previous "
        "response; then 408 and close (a silent close when not a byte came), seconds.",
    )
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Time to send a request body once its head has arrived; then 408 and close, seconds. "
        "No timer runs while a response streams.",
    )
    http_keep_alive_idle_s: float = Field(
        default=5.0,
        gt=0,
        description="An idle keep-alive connection is closed after this long without a byte, seconds "
        "(at most http_head_timeout_s).",
    )

    @field_validator("allowed_hosts", "allowed_origins", "networks", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _check_http_limits(self) -> GatewaySettings:
        if self.http_keep_alive_idle_s > self.http_head_timeout_s:
            raise ValueError(
                "http_keep_alive_idle_s must not exceed http_head_timeout_s: the next request's head is due "
                "within http_head_timeout_s of the previous response"
            )
        return self

    @model_validator(mode="after")
    def _network_is_served(self) -> GatewaySettings:
        if self.networks and self.network not in self.networks:
            raise ValueError(
                f"network {self.network} (the default of calls) must be one of networks ({', '.join(self.networks)})"
            )
        return self

    @property
    def served_networks(self) -> tuple[Network, ...]:
        """The networks calls may ask for, the default one first."""
        return (self.network, *(network for network in dict.fromkeys(self.networks) if network != self.network))


class ServeSettings(IngestorSettings, GatewaySettings):
    """Settings of ``mempool-ws serve``: ingestor and gateway in one process."""

    transport: Literal["stdio", "http"] = Field(default="stdio", description="MCP transport to serve.")

    @model_validator(mode="after")
    def _embedded_serves_its_network(self) -> ServeSettings:
        if self.redis_url is None:  # the embedded bus holds only what this process's own ingestor publishes
            object.__setattr__(self, "networks", [self.network])
        return self


class SimSettings(_Base):
    """Settings of the upstream simulator (``mempool-ws sim``)."""

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8999, ge=0, le=65535, description="Port (0 picks a free one).")
    network: Network = Field(default="mainnet", description="Network whose addresses and heights it mimics.")
    speed: float = Field(default=1.0, gt=0, le=100_000, description="Time multiplier: blocks every 600 s / speed.")
    seed: int = Field(default=1, description="Seed of every random choice; same seed, same data.")
    address_limit: int = Field(
        default=10, ge=1, le=100_000, description="Addresses one socket may track with track-addresses."
    )
    tick_s: float = Field(
        default=1.0,
        gt=0,
        description="Wall-clock interval of mempool updates (stats, projected blocks), seconds.",
    )
    anchor_unix_s: float | None = Field(
        default=None,
        description="Chain time origin; the same anchor and seed give the same chain across restarts. "
        "Unset: the start time.",
    )
