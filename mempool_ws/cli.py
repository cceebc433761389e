"""mempool-ws: the mempool.space feed as a Redis event bus and MCP tools (serve, ingest, gateway, sim).

Every flag also reads an environment variable (``MEMPOOL_WS_<FIELD>``); a flag given on the command
line wins over the environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from mempool_ws.preflight import check_redis_host, check_upstream_url
from shared.errors import ConfigError, MempoolWsError
from shared.settings import NETWORKS, GatewaySettings, IngestorSettings, ServeSettings, SimSettings

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

LOG_FORMATS = ("auto", "json", "text")
LOG_FORMAT_HELP = "log lines: text, json, or auto (text on a terminal, else json; the default) [MEMPOOL_WS_LOG_FORMAT]"


def _add_bus_flags(parser: argparse.ArgumentParser, *, redis_required: bool = False) -> None:
    parser.add_argument("--network", choices=NETWORKS, help="Bitcoin network [MEMPOOL_WS_NETWORK]")
    parser.add_argument(
        "--redis-url",
        help="redis:// or rediss:// URL of the event bus"
        + ("" if redis_required else "; omit for the embedded bus")
        + " [MEMPOOL_WS_REDIS_URL]",
    )
    parser.add_argument("--key-prefix", help="prefix of Redis channels and keys [MEMPOOL_WS_KEY_PREFIX]")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR [MEMPOOL_WS_LOG_LEVEL]")
    parser.add_argument("--log-format", choices=LOG_FORMATS, help=LOG_FORMAT_HELP)


def _add_http_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address [MEMPOOL_WS_HOST]")
    parser.add_argument("--port", type=int, help="port [MEMPOOL_WS_PORT]")


def _add_upstream_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream-url",
        help="upstream WebSocket URL (default: mempool.space for the network; 'sim' runs the built-in "
        "simulator in this process, serve only) [MEMPOOL_WS_UPSTREAM_URL]",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="mempool-ws", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="ingestor and MCP gateway in one process")
    serve.add_argument("--transport", choices=("stdio", "http"), help="MCP transport [MEMPOOL_WS_TRANSPORT]")
    _add_http_flags(serve)
    _add_upstream_flags(serve)
    _add_bus_flags(serve)
    serve.add_argument("--sim-speed", type=float, help="with --upstream-url sim: time multiplier (default 1)")
    serve.add_argument("--sim-seed", type=int, help="with --upstream-url sim: random seed (default 1)")

    ingest = commands.add_parser("ingest", help="the ingestor daemon")
    _add_upstream_flags(ingest)
    _add_bus_flags(ingest, redis_required=True)
    ingest.add_argument("--metrics-host", help="bind address of the probes [MEMPOOL_WS_METRICS_HOST]")
    ingest.add_argument("--metrics-port", type=int, help="port of the probes [MEMPOOL_WS_METRICS_PORT]")
    ingest.add_argument(
        "--check", action="store_const", const=True, help="probe a running ingestor: exit 0 if ready, else 1"
    )

    gateway = commands.add_parser("gateway", help="the MCP gateway over Streamable HTTP")
    _add_http_flags(gateway)
    _add_bus_flags(gateway, redis_required=True)

    sim = commands.add_parser("sim", help="a mempool-compatible upstream simulator")
    sim.add_argument("--host", help="bind address [MEMPOOL_WS_HOST]")
    sim.add_argument("--port", type=int, help="port, 0 for any free one [MEMPOOL_WS_PORT]")
    sim.add_argument("--speed", type=float, help="time multiplier: a block every 600 s / speed [MEMPOOL_WS_SPEED]")
    sim.add_argument("--seed", type=int, help="random seed [MEMPOOL_WS_SEED]")
    sim.add_argument("--address-limit", type=int, help="addresses per socket [MEMPOOL_WS_ADDRESS_LIMIT]")
    sim.add_argument("--network", choices=NETWORKS, help="network to mimic [MEMPOOL_WS_NETWORK]")
    sim.add_argument("--tick-s", type=float, help="seconds between mempool updates [MEMPOOL_WS_TICK_S]")
    sim.add_argument("--anchor-unix-s", type=float, help="chain time origin [MEMPOOL_WS_ANCHOR_UNIX_S]")
    sim.add_argument("--log-level", help="log level [MEMPOOL_WS_LOG_LEVEL]")
    sim.add_argument("--log-format", choices=LOG_FORMATS, help=LOG_FORMAT_HELP)
    return parser


def load_settings(cls: type[SettingsT], args: argparse.Namespace, skip: Sequence[str] = ()) -> SettingsT:
    """Settings of ``cls`` from the environment, overridden by the flags that were given."""
    overrides: dict[str, Any] = {
        key: value for key, value in vars(args).items() if value is not None and key not in {"command", *skip}
    }
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def _run_ingest(args: argparse.Namespace) -> int:
    settings = load_settings(IngestorSettings, args)
    if not settings.check and not settings.redis_url:
        raise ConfigError("ingest needs --redis-url (or MEMPOOL_WS_REDIS_URL); use 'serve' for one process")
    if not settings.check:
        check_upstream_url(settings, sim_allowed=False)
        check_redis_host(settings)
    from ingestor.main import run

    return run(settings)


def _run_gateway(args: argparse.Namespace) -> int:
    settings = load_settings(GatewaySettings, args)
    if not settings.redis_url:
        raise ConfigError("gateway needs --redis-url (or MEMPOOL_WS_REDIS_URL); use 'serve' for one process")
    check_redis_host(settings)
    from mcp_gateway.main import run

    return run(settings)


def _run_serve(args: argparse.Namespace) -> int:
    settings = load_settings(ServeSettings, args, skip=("sim_speed", "sim_seed"))
    check_upstream_url(settings, sim_allowed=True)
    check_redis_host(settings)
    from mempool_ws.embedded import run

    return run(settings, sim_speed=args.sim_speed, sim_seed=args.sim_seed)


def _run_sim(args: argparse.Namespace) -> int:
    settings = load_settings(SimSettings, args)
    from mempool_ws.sim_command import run

    return run(settings)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _run_serve,
    "ingest": _run_ingest,
    "gateway": _run_gateway,
    "sim": _run_sim,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MempoolWsError as exc:
        print(f"mempool-ws {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
