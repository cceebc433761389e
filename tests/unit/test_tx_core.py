"""The publish core's transaction rules: the publish policy, REST read-backs, gap notices (pure)."""

from __future__ import annotations

from typing import Any

from ingestor.core import PublishCore, RestTxStatus
from ingestor.normalize import ControlReplies, NormalizedFrame
from shared.bus import Retention
from shared.channels import split_lease_keys, tx_lease_key
from shared.events import Publication, tx_topic
from shared.models import TxPosition, TxStatus

NET = "mainnet"
T1, T2, T3 = "11" * 32, "22" * 32, "33" * 32


def status(
    txid: str, state: str = "mempool", block: int | None = 2, vsize: float = 1000.0, **fields: Any
) -> dict[str, Any]:
    position = None
    if state == "mempool" and block is not None:
        position = TxPosition(block_index=block, vsize_ahead_vb=vsize, effective_fee_rate=fields.pop("rate", None))
    return TxStatus(txid=txid, status=state, position=position, **fields).model_dump(mode="json")  # type: ignore[arg-type]


def tx_frame(*statuses: dict[str, Any], ts: int = 1) -> NormalizedFrame:
    publications = [Publication(NET, tx_topic(data["txid"]), data, ts) for data in statuses]
    return NormalizedFrame(publications, None, [], ControlReplies(), [], [], [], [])


def drain(core: PublishCore, now: int = 10**6) -> list[Publication]:
    out: list[Publication] = []
    while (batch := core.next_batch(now)) is not None:
        out += batch.publications
        core.published(batch)
    return out


def published(core: PublishCore) -> list[tuple[str, str]]:
    """(txid, status or 'gap') of everything published."""
    return [(p.topic[3:], "gap" if "gap" in p.data else p.data["status"]) for p in drain(core)]


def tracked(*txids: str, socket: str = "txs-1", reported: tuple[str, ...] = (), now: int = 10) -> PublishCore:
    core = PublishCore(NET)
    core.txs_wanted(set(txids), 0)
    core.tx_tracking_confirmed(socket, txids, set(reported), now)
    return core


# -- the publish policy ---------------------------------------------------------------------------------


def test_a_position_repeated_or_only_moving_inside_its_projected_block_is_published_once() -> None:
    core = tracked(T1, reported=(T1,))
    core.frame(tx_frame(status(T1, block=3, vsize=500)), 1)
    core.frame(tx_frame(status(T1, block=3, vsize=500)), 2)
    core.frame(tx_frame(status(T1, block=3, vsize=80_000)), 3)
    assert published(core) == [(T1, "mempool")], "only the block index, not the vsize ahead, makes news"
    core.frame(tx_frame(status(T1, block=2, vsize=900_000)), 4)
    core.frame(tx_frame(status(T1, block=2, vsize=900_000, rate=12.5)), 5)
    core.frame(tx_frame(status(T1, block=2, rate=12.5, accelerated=True)), 6)
    core.frame(tx_frame(status(T1, state="replaced", replaced_by=T2)), 7)
    core.frame(tx_frame(status(T1, state="replaced", replaced_by=T2)), 8)
    assert [s for _, s in published(core)] == ["mempool", "mempool", "mempool", "replaced"]


def test_a_confirmation_is_published_once_with_its_block() -> None:
    core = tracked(T1, reported=(T1,))
    confirmed = status(T1, state="confirmed", block_height=900_001, block_hash="ab" * 32, confirmations=1)
    core.frame(tx_frame(confirmed), 1)
    core.frame(tx_frame(confirmed), 2)
    core.frame(tx_frame(status(T1, state="confirmed")), 3)
    assert published(core) == [(T1, "confirmed")]
    assert core.take_tx_checks() == []


def test_a_confirmation_without_its_block_is_read_back_over_rest_for_the_height() -> None:
    core = tracked(T1, reported=(T1,))
    core.frame(tx_frame(status(T1, state="confirmed")), 5)
    assert published(core) == [] and core.take_tx_checks() == [T1]
    core.frame(tx_frame(status(T1, state="confirmed")), 6)
    assert core.take_tx_checks() == [], "one read back at a time"
    core.tx_statuses_fetched({T1: RestTxStatus(True, 900_005, "cd" * 32, 1_764_000_000)}, 7)
    [event] = drain(core)
    assert event.data["status"] == "confirmed" and event.data["block_height"] == 900_005


def test_a_confirmation_without_its_block_is_published_bare_when_rest_fails() -> None:
    core = tracked(T1, reported=(T1,))
    core.frame(tx_frame(status(T1, state="confirmed")), 5)
    core.take_tx_checks()
    core.tx_statuses_fetched({T1: None}, 7)
    [event] = drain(core)
    assert event.data["status"] == "confirmed" and event.data["block_height"] is None


def test_an_overflow_drop_forgets_the_state_so_the_next_report_is_news_again() -> None:
    core = PublishCore(NET, capacity=1, pause_max_ms=0)
    core.txs_wanted({T1}, 0)
    core.frame(tx_frame(status(T1, block=1)), 1)
    core.clock(1)
    core.frame(tx_frame(status(T1, block=2)), 2)  # sheds the first
    drain(core)
    core.frame(tx_frame(status(T1, block=1)), 3)
    assert [(t, s) for t, s in published(core)] == [(T1, "mempool")]


# -- read-backs after a list is confirmed -----------------------------------------------------------------


def test_a_new_txid_left_out_of_the_first_reply_is_read_back_and_published_if_confirmed() -> None:
    core = tracked(T1, T2, T3, reported=(T1,), now=100)
    assert sorted(core.take_tx_checks()) == [T2, T3], "T1 was named (in the mempool): nothing to read"
    core.tx_statuses_fetched({T2: RestTxStatus(True, 900_000, "ef" * 32, 1_764_000_000), T3: RestTxStatus(False)}, 110)
    [event] = drain(core)
    assert event.topic == tx_topic(T2) and event.data["status"] == "confirmed"
    assert event.data["confirmations"] == 1, "no block published yet: counted as the tip"
    core.tx_tracking_confirmed("txs-1", [T1, T2, T3], set(), 200)
    assert core.take_tx_checks() == [], "confirmed is final and T3 was never seen: nothing to read again"


def test_a_txid_seen_in_the_mempool_then_left_out_is_removed_when_rest_says_unconfirmed() -> None:
    core = tracked(T1, reported=(T1,))
    core.frame(tx_frame(status(T1, block=4)), 20)
    drain(core)
    core.tx_tracking_confirmed("txs-1", [T1], set(), 80)  # a recheck: the reply no longer names it
    assert core.take_tx_checks() == [T1]
    core.tx_statuses_fetched({T1: RestTxStatus(False)}, 90)
    [event] = drain(core)
    assert event.data["status"] == "removed" and event.data["position"] is None


def test_a_read_back_asked_before_the_first_sighting_never_calls_the_transaction_removed() -> None:
    core = tracked(T1, reported=(), now=10)  # tracked before it was broadcast: the reply leaves it out
    assert core.take_tx_checks() == [T1]
    core.frame(tx_frame(status(T1, block=2)), 20)  # then it enters the mempool while the read is in flight
    core.tx_statuses_fetched({T1: RestTxStatus(False)}, 30)  # the read, made before: "not confirmed"
    assert [(txid, state) for txid, state in published(core)] == [(T1, "mempool")]


def test_a_frame_naming_the_txid_while_its_check_is_in_flight_outranks_the_answer() -> None:
    core = tracked(T1, reported=(T1,))
    core.frame(tx_frame(status(T1, block=4)), 20)
    drain(core)
    core.tx_tracking_confirmed("txs-1", [T1], set(), 80)
    assert core.take_tx_checks() == [T1]
    core.frame(tx_frame(status(T1, block=3)), 85)  # still in the mempool after all
    core.tx_statuses_fetched({T1: RestTxStatus(False)}, 90)
    assert [event.data["status"] for event in drain(core)] == ["mempool"]


def test_a_reconnect_reads_back_what_the_reply_leaves_out_and_marks_only_what_rest_cannot_tell() -> None:
    core = tracked(T1, T2, T3, reported=(T1, T2, T3), now=10)
    core.frame(tx_frame(status(T1), status(T2), status(T3)), 10)
    drain(core)
    core.socket_down("txs-1", main=False, now_ms=100)
    core.tx_tracking_confirmed("txs-1", [T1, T2, T3], {T1}, 400)
    assert sorted(core.take_tx_checks()) == [T2, T3]
    core.tx_statuses_fetched({T2: RestTxStatus(True, 900_002, "aa" * 32, 1), T3: None}, 450)
    out = drain(core)
    assert [(p.topic, "gap" if "gap" in p.data else p.data["status"]) for p in out] == [
        (tx_topic(T2), "confirmed"),
        (tx_topic(T3), "gap"),
    ]
    gap = out[1].data["gap"]
    assert (gap["from_ts_ms"], gap["to_ts_ms"]) == (100, 450) and "REST" in gap["reason"]


def test_a_takeover_compares_with_the_last_published_state_and_reads_back_the_rest() -> None:
    core = PublishCore(NET)
    last = {tx_topic(T1): 500, tx_topic(T2): 600}
    core.leadership_gained(
        previous_activity_ms=700, last_event_ms=last, tx_states={T1: status(T1, block=1), T2: status(T2, block=5)}
    )
    core.txs_wanted({T1, T2, T3}, 900)
    core.tx_tracking_confirmed("txs-1", [T1, T2, T3], {T1}, 1000)
    core.frame(tx_frame(status(T1, block=1, vsize=12_345)), 1000)
    assert published(core) == [], "T1 is where the previous leader left it"
    assert sorted(core.take_tx_checks()) == [T2, T3]
    core.tx_statuses_fetched({T2: None, T3: None}, 1100)
    out = drain(core)
    assert [(p.topic, (p.data["gap"]["from_ts_ms"], p.data["gap"]["to_ts_ms"])) for p in out] == [
        (tx_topic(T2), (600, 1100)),
        (tx_topic(T3), (700, 1100)),
    ], "each from its last event, else the previous leader's last activity"


def test_answers_for_txids_no_longer_wanted_are_ignored() -> None:
    core = tracked(T1)
    assert core.take_tx_checks() == [T1]
    core.txs_wanted(set(), 15)
    core.tx_statuses_fetched({T1: RestTxStatus(True, 1, "00" * 32, 1)}, 20)
    assert drain(core) == []


def test_transaction_topics_keep_a_short_history_that_expires_like_an_address_and_leases_sort_apart() -> None:
    retention = Retention(history_size=1000, address_history_size=200, address_ttl_s=3600)
    assert (retention.max_len(tx_topic(T1)), retention.ttl_s(tx_topic(T1))) == (200, 3600)
    assert (retention.max_len("stats"), retention.ttl_s("stats")) == (1000, 0)
    assert split_lease_keys(["bc1qxyz", tx_lease_key(T1), "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"]) == (
        {"bc1qxyz", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"},
        {T1},
    )
