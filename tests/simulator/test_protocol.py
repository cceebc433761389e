"""The per-connection protocol without sockets: replies, subscriptions, address tracking, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator import jsjson
from simulator.events import AddressTx, ChartPoint, Conversions, MempoolChange, NewBlock, TxView
from simulator.protocol import (
    MSG_RATE_LIMIT,
    MSG_RATE_WINDOW_S,
    CloseReason,
    ConnectionState,
    Reply,
    address_limit_error,
    tracking_key,
)
from tests.simulator.conftest import BLOCK_FRAME_KEYS, OTHER, PAID

VALUES = {
    "blocks": "[1,2]",
    "mempool-blocks": "[3]",
    "mempoolInfo": '{"size":1}',
    "vBytesPerSecond": "1500",
    "fees": '{"fastestFee":2}',
    "da": '{"remainingBlocks":9}',
}
INIT = '{"backend": "esplora", "blocks": [1,2]}'


class FakeSnapshots:
    def __init__(self, followed: dict[str, TxView] | None = None) -> None:
        self.followed_txs = followed or {}

    def value(self, key: str) -> str | None:
        return VALUES.get(key)

    def init_data(self) -> str:
        return INIT

    def canonical(self, address: str) -> str | None:
        return address if address.startswith(("bc1", "1", "3")) else None

    def followed(self, txid: str) -> TxView | None:
        return self.followed_txs.get(txid)


def state(limit: int = 3, followed: dict[str, TxView] | None = None) -> ConnectionState:
    return ConnectionState(FakeSnapshots(followed), limit)


def send(conn: ConnectionState, message: dict[str, Any] | str, now: float = 0.0) -> list[str]:
    reply = conn.receive(message if isinstance(message, str) else json.dumps(message), now)
    assert reply.close is None
    return reply.frames


def want(*channels: str) -> dict[str, Any]:
    return {"action": "want", "data": list(channels)}


def test_want_replaces_the_set_and_snapshots_only_new_channels() -> None:
    conn = state()
    assert send(conn, want("blocks", "stats")) == [
        '{"blocks": [1,2], "mempoolInfo": {"size":1}, "vBytesPerSecond": 1500, '
        '"fees": {"fastestFee":2}, "da": {"remainingBlocks":9}}'
    ]
    assert send(conn, want("stats", "mempool-blocks", "live-2h-chart")) == ['{"mempool-blocks": [3]}']
    assert conn.wants == {"stats", "mempool-blocks", "live-2h-chart"}
    assert send(conn, want("stats", "mempool-blocks", "live-2h-chart")) == []
    assert send(conn, want("blocks")) == ['{"blocks": [1,2]}']
    assert conn.wants == {"blocks"}


def test_want_ignores_unknown_channels_and_non_array_data() -> None:
    conn = state()
    assert send(conn, want("tomahawk", "nonsense")) == []
    assert conn.wants == set()
    assert send(conn, {"action": "want", "data": "blocks"}) == []
    assert send(conn, want("live-2h-chart")) == []
    assert conn.wants == {"live-2h-chart"}


def test_init_is_its_own_frame_before_the_merged_reply_and_does_not_subscribe() -> None:
    conn = state(limit=1)
    frames = send(conn, {"action": "init", "track-addresses": [PAID, OTHER]})
    assert frames == [INIT, jsjson.frame([("track-addresses-error", jsjson.dumps(address_limit_error(1)))])]
    assert conn.wants == set()


def test_ping_and_refresh_blocks_merge_into_one_frame() -> None:
    conn = state()
    assert send(conn, {"action": "ping"}) == ['{"pong": true}']
    assert send(conn, {"action": "ping", "refresh-blocks": True}) == ['{"blocks": [1,2], "pong": true}']
    assert send(conn, {"refresh-blocks": False}) == []


def test_track_address_replaces_and_invalid_values_clear_silently() -> None:
    conn = state()
    reply = conn.receive(json.dumps({"track-address": PAID}), 0)
    assert reply.frames == [] and reply.tracked == [PAID]
    assert send(conn, {"track-address": OTHER}) == []
    assert conn.track_address is not None and conn.track_address.key == OTHER
    assert send(conn, {"track-address": "stop"}) == []
    assert conn.track_address is None


def test_tracking_keys_are_normalized_like_the_backend() -> None:
    assert tracking_key(PAID.upper()) == PAID
    assert tracking_key("02" + "ab" * 32) == "2102" + "ab" * 32 + "ac"
    assert tracking_key("04" + "cd" * 64) == "4104" + "cd" * 64 + "ac"
    assert tracking_key("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    for bad in ("stop", "", "bc1Qmixedcase0000000", 42, None, ["bc1q"], "0OIl" * 8):
        assert tracking_key(bad) is None


def test_track_addresses_keeps_valid_keys_as_sent_and_drops_invalid() -> None:
    conn = state()
    reply = conn.receive(json.dumps({"track-addresses": [PAID, "nope", PAID, PAID.upper()]}), 0)
    assert reply.frames == []
    assert list(conn.track_addresses) == [PAID, PAID.upper()]
    assert conn.track_addresses[PAID.upper()].canonical == PAID
    assert reply.tracked == [PAID, PAID]


def test_track_addresses_over_the_limit_errors_and_clears() -> None:
    conn = state(limit=2)
    send(conn, {"track-addresses": [PAID]})
    frames = send(conn, {"track-addresses": [PAID, OTHER, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]})
    assert frames == [
        '{"track-addresses-error": "too many addresses requested, this connection supports tracking '
        'a maximum of 2 addresses"}'
    ]
    assert conn.track_addresses == {}


def test_track_addresses_empty_clears_and_non_array_is_ignored() -> None:
    conn = state()
    send(conn, {"track-addresses": [PAID]})
    send(conn, {"track-addresses": PAID})
    assert list(conn.track_addresses) == [PAID]
    send(conn, {"track-addresses": []})
    assert conn.track_addresses == {}


def test_more_than_the_limit_in_the_window_closes() -> None:
    conn = state()
    for index in range(MSG_RATE_LIMIT):
        assert send(conn, {"action": "ping"}, now=index * 0.01) == ['{"pong": true}']
    reply = conn.receive('{"action":"ping"}', 1.0)
    assert reply == Reply(close=CloseReason.RATE_LIMIT)
    assert conn.max_in_window == MSG_RATE_LIMIT + 1
    assert conn.receive('{"action":"ping"}', 1.0).frames == []


def test_the_window_slides() -> None:
    conn = state()
    for index in range(MSG_RATE_LIMIT):
        send(conn, {"action": "ping"}, now=index * 0.01)
    for index in range(MSG_RATE_LIMIT):
        send(conn, {"action": "ping"}, now=MSG_RATE_WINDOW_S + index * 0.01 + 0.001)
    assert conn.messages_in == 2 * MSG_RATE_LIMIT
    assert conn.max_in_window == MSG_RATE_LIMIT


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{not json", CloseReason.INVALID_JSON),
        ('{"a": NaN}', CloseReason.INVALID_JSON),
        (b"\xff\xfe", CloseReason.INVALID_JSON),
        ("null", CloseReason.BAD_MESSAGE),
    ],
)
def test_unparsable_messages_close(message: str | bytes, reason: CloseReason) -> None:
    conn = state()
    assert conn.receive(message, 0).close is reason
    assert conn.closed is reason


def test_json_that_is_not_an_object_is_ignored() -> None:
    conn = state()
    for message in ("5", '"ping"', "[1]", "true"):
        assert conn.receive(message, 0) == Reply()


def tx(txid: str, *addresses: str) -> AddressTx:
    return AddressTx({"txid": txid}, frozenset(addresses))


def change(added: tuple[AddressTx, ...] = (), removed: tuple[AddressTx, ...] = ()) -> MempoolChange:
    stats = (
        ("mempoolInfo", "{}"),
        ("vBytesPerSecond", "1"),
        ("transactions", "[]"),
        ("da", "{}"),
        ("fees", "{}"),
    )
    return MempoolChange(stats, "[9]", added, removed)


def block(*confirmed: AddressTx) -> NewBlock:
    stats = (("mempoolInfo", "{}"), ("vBytesPerSecond", "1"), ("fees", "{}"), ("da", "{}"))
    return NewBlock('{"height":7}', 7, stats, "[9]", confirmed)


def keys(frame: str | None) -> list[str]:
    assert frame is not None
    return list(json.loads(frame))


def test_mempool_change_goes_to_wanters_in_backend_order() -> None:
    conn = state()
    assert conn.render(change()) is None
    send(conn, want("stats", "mempool-blocks"))
    assert keys(conn.render(change())) == [
        "mempoolInfo",
        "vBytesPerSecond",
        "transactions",
        "da",
        "fees",
        "mempool-blocks",
    ]
    send(conn, want("mempool-blocks"))
    assert conn.render(change()) == '{"mempool-blocks": [9]}'


def test_block_frame_carries_block_stats_blocks_and_addresses_but_no_transactions() -> None:
    conn = state()
    send(conn, {"action": "want", "data": ["blocks", "stats", "mempool-blocks"], "track-addresses": [PAID]})
    frame = json.loads(conn.render(block(tx("t1", PAID))) or "")
    assert list(frame) == [*BLOCK_FRAME_KEYS, "multi-address-transactions"]
    assert frame["multi-address-transactions"] == {PAID: {"mempool": [], "confirmed": [{"txid": "t1"}], "removed": []}}


def test_multi_address_reports_removals_only_alongside_new_mempool_txs() -> None:
    conn = state()
    send(conn, {"track-addresses": [PAID, OTHER]})
    assert conn.render(change(removed=(tx("old", PAID),))) is None
    frame = json.loads(conn.render(change((tx("new", PAID),), (tx("old", PAID),))) or "")
    assert frame == {
        "multi-address-transactions": {
            PAID: {"mempool": [{"txid": "new"}], "confirmed": [], "removed": [{"txid": "old"}]}
        }
    }


def test_single_address_gets_its_own_keys() -> None:
    conn = state()
    send(conn, {"track-address": PAID})
    frame = json.loads(conn.render(change((tx("new", PAID, OTHER),), (tx("old", PAID),))) or "")
    assert frame == {
        "address-transactions": [{"txid": "new"}],
        "address-removed-transactions": [{"txid": "old"}],
    }
    assert json.loads(conn.render(block(tx("t", PAID))) or "") == {"block-transactions": [{"txid": "t"}]}
    assert conn.render(block(tx("t", OTHER))) is None


def test_chart_points_go_to_wanters_and_prices_to_everyone() -> None:
    conn = state()
    assert conn.render(ChartPoint('{"added":1}')) is None
    assert conn.render(Conversions('{"USD":1}')) == '{"conversions": {"USD":1}}'
    send(conn, want("live-2h-chart"))
    assert conn.render(ChartPoint('{"added":1}')) == '{"live-2h-chart": {"added":1}}'
