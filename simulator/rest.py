"""REST snapshots on the WebSocket port: the endpoints a reconnecting client reads."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from shared.settings import NETWORKS
from simulator import jsjson
from simulator.txprotocol import is_txid
from simulator.world import World

JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
REST_BLOCKS = 15
WS_PATH = "/api/v1/ws"
_VALUE_PATHS = {
    "/api/v1/fees/precise": "fees",
    "/api/v1/fees/mempool-blocks": "mempool-blocks",
    "/api/v1/difficulty-adjustment": "da",
    "/api/v1/prices": "conversions",
    "/api/v1/backend-info": "backendInfo",
}


@dataclass(frozen=True)
class HttpReply:
    """Status, body and content type of one HTTP response."""

    status: HTTPStatus
    body: str
    content_type: str = JSON


def strip_network(path: str) -> str:
    """``path`` without a leading ``/{network}`` segment (``/testnet4/api/v1/ws`` -> ``/api/v1/ws``)."""
    head, _, rest = path.lstrip("/").partition("/")
    return f"/{rest}" if head in NETWORKS and rest else path


def error(status: HTTPStatus, message: str) -> HttpReply:
    """A JSON error reply."""
    return HttpReply(status, jsjson.dumps({"error": message}))


def route(world: World, path: str) -> HttpReply:
    """Answer a GET of ``path`` (network prefix already stripped)."""
    path = path.rstrip("/") or "/"
    if path == "/api/v1/init-data":
        return HttpReply(HTTPStatus.OK, world.init_data())
    if path in ("/api/v1/blocks/tip/height", "/api/blocks/tip/height"):
        return HttpReply(HTTPStatus.OK, str(world.chain.tip_height), TEXT)
    if path in ("/api/v1/blocks/tip/hash", "/api/blocks/tip/hash"):
        return HttpReply(HTTPStatus.OK, world.chain.hash_at(world.chain.tip_height), TEXT)
    if path == "/api/v1/blocks" or path.startswith("/api/v1/blocks/"):
        return _blocks(world, path.removeprefix("/api/v1/blocks").lstrip("/"))
    if path == "/api/v1/statistics/2h":
        return HttpReply(HTTPStatus.OK, world.chart_history())
    if path == "/api/v1/fees/recommended":
        return HttpReply(HTTPStatus.OK, jsjson.dumps(world.recommended_fees()))
    if path.startswith("/api/tx/") and path.endswith("/status"):
        return _tx_status(world, path.removeprefix("/api/tx/").removesuffix("/status"))
    value = world.value(_VALUE_PATHS.get(path, ""))
    if value is not None:
        return HttpReply(HTTPStatus.OK, value)
    return error(HTTPStatus.NOT_FOUND, f"not found: {path}")


def _tx_status(world: World, txid: str) -> HttpReply:
    """Esplora's answer: ``{"confirmed": false}`` for anything not in a block (mempool, replaced,
    evicted or never seen alike), 400 ``Invalid hex string`` for a txid that is not 64 hex digits."""
    if not is_txid(txid):
        return HttpReply(HTTPStatus.BAD_REQUEST, "Invalid hex string", TEXT)
    return HttpReply(HTTPStatus.OK, jsjson.dumps(world.tx_status(txid.lower())))


def _blocks(world: World, start: str) -> HttpReply:
    if not start:
        return HttpReply(HTTPStatus.OK, jsjson.dumps(world.chain.recent(REST_BLOCKS)))
    if not start.isdigit():
        return error(HTTPStatus.NOT_FOUND, f"not found: /api/v1/blocks/{start}")
    return HttpReply(HTTPStatus.OK, jsjson.dumps(world.chain.recent(REST_BLOCKS, int(start))))
