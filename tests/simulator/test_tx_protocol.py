"""Transaction tracking without sockets: track-tx and track-txs replies, limits, and event frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.events import MempoolChange, NewBlock, TxView
from simulator.protocol import CloseReason, Reply
from simulator.txprotocol import MAX_TRACKED_TXS, TRACK_TXS_FORMAT_ERROR, track_txs_limit_error
from tests.simulator.fixtures import fixture_frame
from tests.simulator.test_protocol import send, state

TXID = "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698"
"""The txid of the recorded txPosition and txReplaced frames."""
OTHER = "0f" * 32
NEW = "ab" * 32
ACCELERATION = {"accelerated": True, "acceleratedBy": [111, 44], "acceleratedAt": 1770000000, "feeDelta": 900}


def in_mempool(txid: str = TXID, block: int = 0, vsize: float = 110880, **changes: Any) -> TxView:
    return TxView(txid, "mempool", {"txid": txid, "fee": 141}, position={"block": block, "vsize": vsize}, **changes)


def replaced(txid: str = TXID, by: str = NEW, **changes: Any) -> TxView:
    return TxView(txid, "replaced", {"txid": txid}, replaced_by=by, **changes)


def confirmed(txid: str = TXID) -> TxView:
    return TxView(txid, "confirmed", {"txid": txid, "status": {"confirmed": True}}, confirmed_now=True)


def change(*views: TxView) -> MempoolChange:
    return MempoolChange((), "[]", txs={view.txid: view for view in views})


def block(*views: TxView) -> NewBlock:
    return NewBlock('{"height":7}', 7, (), "[]", txs={view.txid: view for view in views})


def frame_of(text: str | None) -> dict[str, Any]:
    assert text is not None
    parsed = json.loads(text)
    assert isinstance(parsed, dict)
    return parsed


def test_track_tx_answers_with_the_position_exactly_like_the_recorded_frame() -> None:
    conn = state(followed={TXID: in_mempool()})
    [frame] = send(conn, {"track-tx": TXID})
    assert json.loads(frame) == fixture_frame("tx02_ws_tx_position.json")
    assert conn.txs.track_tx == TXID


def test_track_tx_of_an_unknown_txid_is_silent_stop_clears_and_a_falsy_value_is_ignored() -> None:
    conn = state()
    assert send(conn, {"track-tx": OTHER}) == []
    assert conn.txs.track_tx == OTHER
    assert send(conn, {"track-tx": ""}) == []
    assert conn.txs.track_tx == OTHER
    assert send(conn, {"track-tx": "stop"}) == []
    assert conn.txs.track_tx is None


def test_upper_case_txids_are_accepted_but_never_match_like_the_backend_maps() -> None:
    conn = state(followed={TXID: in_mempool()})
    assert send(conn, {"track-tx": TXID.upper()}) == []
    assert conn.txs.track_tx == TXID.upper()
    assert send(conn, {"track-txs": [TXID.upper()]}) == []
    assert conn.txs.track_txs == [TXID.upper()]


def test_watch_mempool_of_a_replaced_tx_answers_txreplaced_and_stops_tracking() -> None:
    conn = state(followed={TXID: replaced(by=TXID)})
    [frame] = send(conn, {"track-tx": TXID, "watch-mempool": True})
    assert json.loads(frame) == fixture_frame("tx01_ws_tx_replaced.json")
    assert conn.txs.track_tx is None


def test_watch_mempool_sends_the_full_tx_now_or_once_it_enters_the_mempool() -> None:
    view = in_mempool(acceleration=ACCELERATION)
    conn = state(followed={TXID: view})
    [frame] = send(conn, {"track-tx": TXID, "watch-mempool": True})
    assert frame_of(frame) == {
        "tx": view.tx,
        "txPosition": {"txid": TXID, "position": {"block": 0, "vsize": 110880, "accelerated": True}},
    }
    waiting = state()
    assert send(waiting, {"track-tx": OTHER, "watch-mempool": 1}) == []
    assert (
        waiting.render(change(in_mempool(OTHER)))
        == '{"txPosition": {"txid":"' + OTHER + '","position":{"block":0,"vsize":110880}}}'
    )
    later = frame_of(waiting.render(change(in_mempool(OTHER, entered_now=True))))
    assert list(later) == ["tx", "txPosition"] and later["tx"]["txid"] == OTHER
    assert list(frame_of(waiting.render(change(in_mempool(OTHER, entered_now=True))))) == ["txPosition"]


def test_track_txs_first_reply_lists_only_mempool_and_replaced_txids_in_list_order() -> None:
    followed = {TXID: in_mempool(acceleration=ACCELERATION), OTHER: replaced(OTHER), NEW: confirmed(NEW)}
    conn = state(followed=followed)
    [frame] = send(conn, {"track-txs": [OTHER, NEW, "not a txid", 5, TXID, OTHER]})
    assert frame == (
        '{"tracked-txs": {"' + OTHER + '":{"replacedBy":"' + NEW + '","confirmed":false},"' + TXID + '":'
        '{"position":{"block":0,"vsize":110880},"accelerated":true,"confirmed":false}}}'
    )
    assert conn.txs.track_txs == [OTHER, NEW, TXID, OTHER]
    assert send(conn, {"track-txs": [NEW]}) == []
    assert send(conn, {"track-txs": []}) == []
    assert conn.txs.track_txs is None


def test_exactly_the_limit_is_accepted() -> None:
    conn = state()
    txids = [f"{index:064x}" for index in range(MAX_TRACKED_TXS)]
    assert send(conn, {"action": "ping", "track-txs": txids}) == ['{"pong": true}']
    assert conn.txs.track_txs == txids


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([f"{index:064x}" for index in range(MAX_TRACKED_TXS + 1)], track_txs_limit_error()),
        ([TXID] * 50 + ["bad"] * 51, track_txs_limit_error()),
        ("abc", TRACK_TXS_FORMAT_ERROR),
        ({"txid": TXID}, TRACK_TXS_FORMAT_ERROR),
        (7, TRACK_TXS_FORMAT_ERROR),
    ],
    ids=["101-txids", "counted-before-validation", "string", "object", "number"],
)
def test_a_bad_track_txs_sends_the_reply_so_far_with_the_error_then_closes(value: Any, error: str) -> None:
    conn = state(followed={TXID: in_mempool()})
    message = {"action": "ping", "refresh-blocks": True, "track-tx": TXID, "track-txs": value}
    reply = conn.receive(json.dumps(message), 0)
    assert reply.close is CloseReason.TRACK_TXS_ERROR
    [frame] = reply.frames
    assert frame_of(frame) == {
        "blocks": [1, 2],
        "txPosition": {"txid": TXID, "position": {"block": 0, "vsize": 110880}},
        "track-txs-error": error,
    }
    assert conn.closed is CloseReason.TRACK_TXS_ERROR
    assert conn.receive('{"action": "ping"}', 1) == Reply()


def test_the_limit_error_text_is_the_backends() -> None:
    assert track_txs_limit_error() == (
        "too many txids requested, this connection supports tracking a maximum of 100 transactions"
    )


def test_a_mempool_change_reports_spends_replacements_positions_and_cpfp_in_backend_order() -> None:
    cpfp: dict[str, Any] = {"ancestors": [], "bestDescendant": None, "descendants": [], "effectiveFeePerVsize": 4.5}
    spent = {"1": {"vin": 0, "txid": NEW}}
    moved = in_mempool(block=2, vsize=5.5, cpfp=cpfp, spent=spent, acceleration=ACCELERATION)
    gone = replaced(OTHER, replaced_now=True, rbf_info={"tx": {"txid": NEW}, "replaces": []})
    conn = state(followed={})
    send(conn, {"action": "want", "data": ["stats"], "track-tx": TXID, "track-txs": [TXID, OTHER, NEW]})
    frame = frame_of(conn.render(change(moved, gone)))
    position = {"block": 2, "vsize": 5.5, **ACCELERATION}
    assert list(frame) == ["utxoSpent", "txPosition", "tracked-txs"]
    assert frame["utxoSpent"] == spent
    assert frame["txPosition"] == {
        "txid": TXID,
        "position": position,
        "cpfp": {**cpfp, "acceleration": True},
    }
    assert frame["tracked-txs"] == {
        TXID: {"utxoSpent": spent, "position": position, "cpfp": cpfp},
        OTHER: {"replacedBy": NEW},
    }
    single = state()
    send(single, {"track-tx": OTHER})
    assert frame_of(single.render(change(gone))) == {
        "rbfTransaction": {"txid": NEW},
        "rbfInfo": {"tx": {"txid": NEW}, "replaces": []},
    }


def test_nothing_to_report_renders_nothing() -> None:
    conn = state()
    send(conn, {"track-tx": TXID, "track-txs": [OTHER]})
    assert conn.render(change()) is None
    assert conn.render(change(replaced(OTHER))) is None
    assert conn.render(block(in_mempool(NEW))) is None


def test_a_block_reports_txconfirmed_alone_or_the_new_position() -> None:
    conn = state()
    send(conn, {"action": "want", "data": ["blocks"], "track-tx": TXID, "track-txs": [TXID, OTHER]})
    frame = frame_of(conn.render(block(confirmed(), in_mempool(OTHER, block=1, acceleration=ACCELERATION))))
    assert frame == {
        "block": {"height": 7},
        "txConfirmed": TXID,
        "tracked-txs": {
            TXID: {"confirmed": True},
            OTHER: {"position": {"block": 1, "vsize": 110880}, **ACCELERATION},
        },
    }
    send(conn, {"track-tx": OTHER})
    frame = frame_of(conn.render(block(in_mempool(OTHER, block=3, vsize=2.0))))
    assert frame["txPosition"] == {"txid": OTHER, "position": {"block": 3, "vsize": 2.0}}


def test_acceleration_positions_ride_along_with_the_position() -> None:
    positions = ({"poolId": 111, "block": 0, "vsize": 70.5},)
    view = in_mempool(acceleration=ACCELERATION, acceleration_positions=positions)
    conn = state(followed={TXID: view})
    [frame] = send(conn, {"track-tx": TXID})
    assert frame_of(frame)["txPosition"]["accelerationPositions"] == [positions[0]]
