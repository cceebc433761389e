"""The publish path's rules, input by input (pure: no sockets, Redis or clock)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor.core import Batch, Dropped, FetchBlocks, FetchChart, Paused, PublishCore, Resumed
from ingestor.core.addresses import AddressGap, AddressWatch
from ingestor.core.flow import Flow
from ingestor.normalize import ControlReplies, NormalizedFrame
from shared.events import Publication
from shared.models import Block

NET = "mainnet"
A, B, C = "bc1qa", "bc1qb", "bc1qc"


def block(height: int) -> Block:
    return Block(
        height=height,
        hash=f"{height:064x}",
        timestamp_unix_s=1_764_000_000 + height,
        tx_count=1,
        size_bytes=1,
        weight_wu=4,
        vsize_vb=1.0,
    )


def pub(topic: str, ts: int, **data: Any) -> Publication:
    return Publication(NET, topic, data or {"n": ts}, ts)


def frame(
    *publications: Publication, new_block: Block | None = None, snapshot: list[Block] | None = None
) -> NormalizedFrame:
    return NormalizedFrame(
        publications=list(publications),
        new_block=new_block,
        blocks_snapshot=snapshot or [],
        control=ControlReplies(),
        keys=[],
        unknown_keys=[],
        ignored_keys=[],
        errors=[],
    )


def drain(core: PublishCore, now: int = 10**6) -> list[Publication]:
    """Publish every batch the core offers (answering no fetch)."""
    out: list[Publication] = []
    while (batch := core.next_batch(now)) is not None:
        out += batch.publications
        core.published(batch)
    return out


def gaps(publications: list[Publication], topic: str | None = None) -> list[dict[str, Any]]:
    return [p.data["gap"] for p in publications if "gap" in p.data and topic in (None, p.topic)]


def data(publications: list[Publication]) -> list[tuple[str, int]]:
    return [(p.topic, p.ts_ms) for p in publications if "gap" not in p.data]


# -- ordering and batches --------------------------------------------------------------------------------


def test_frames_are_published_in_arrival_order_and_a_batch_stays_until_published() -> None:
    core = PublishCore(NET)
    core.frame(frame(pub("stats", 1), pub("mempool-blocks", 1)), 1)
    core.frame(frame(pub("address:x", 2)), 2)
    first = core.next_batch(3)
    assert first is not None and data(first.publications) == [("stats", 1), ("mempool-blocks", 1), ("address:x", 2)]
    core.frame(frame(pub("stats", 4)), 4)
    assert core.next_batch(5) is first, "an unpublished batch is offered again, unchanged"
    core.published(first)
    assert data(drain(core)) == [("stats", 4)]
    assert core.idle


def test_batches_are_bounded() -> None:
    core = PublishCore(NET, max_batch=3)
    for ts in range(7):
        core.frame(frame(pub("stats", ts)), ts)
    sizes = []
    while (batch := core.next_batch(10)) is not None:
        sizes.append(len(batch.publications))
        core.published(batch)
    assert sizes == [3, 3, 1]


# -- backpressure and overflow ----------------------------------------------------------------------------


def test_flow_pauses_at_capacity_resumes_at_half_and_sheds_after_the_longest_pause() -> None:
    flow = Flow(capacity=4, pause_max_ms=1000)
    assert [flow.filled(depth, 0) for depth in (1, 2, 3)] == [0, 0, 0] and flow.reading
    assert flow.filled(4, 100) == 0 and not flow.reading and flow.deadline_ms == 1100
    assert flow.drained(3, 200) is None and not flow.reading, "still above half"
    assert flow.drained(2, 300) == 200 and flow.reading, "resumed at half, after 200 ms"
    assert flow.filled(4, 400) == 0 and flow.clock(1399) is None
    assert flow.clock(1400) == 1000 and flow.state == "shedding" and flow.reading
    assert flow.filled(5, 1500) == 1, "shedding: what exceeds the capacity goes"
    assert flow.drained(2, 1600) is None and flow.state == "reading"
    assert flow.paused_ms == 1200


def test_a_full_queue_pauses_the_readers_and_a_drain_resumes_them() -> None:
    core = PublishCore(NET, capacity=4, pause_max_ms=5000)
    for ts in range(4):
        core.frame(frame(pub("stats", ts)), ts)
    assert not core.reading and core.deadline_ms == 3 + 5000
    notes = core.take_notes()
    assert notes == [Paused(3, 4)]
    batch = core.next_batch(50)
    assert batch is not None and core.reading
    assert core.take_notes() == [Resumed(50, 47, shedding=False)]
    assert not gaps(batch.publications)


def test_a_pause_past_its_bound_sheds_the_oldest_work_and_the_next_batch_marks_it() -> None:
    core = PublishCore(NET, capacity=3, pause_max_ms=1000)
    core.frame(frame(pub("stats", 1)), 1)
    in_flight = core.next_batch(1)
    for ts in (10, 11, 12):
        core.frame(frame(pub("address:x", ts), pub("stats", ts)), ts)
    assert not core.reading
    core.clock(1012)
    assert core.reading and core.shedding
    for ts in (1100, 1101):
        core.frame(frame(pub("address:x", ts)), ts)
    assert core.depth == 3
    assert in_flight is not None and core.next_batch(1200) is in_flight
    core.published(in_flight)
    batch = core.next_batch(1300)
    assert batch is not None
    notices = {p.topic: p.data["gap"] for p in batch.publications if "gap" in p.data}
    assert notices["address:x"]["from_ts_ms"] == 10 and notices["address:x"]["to_ts_ms"] == 11
    assert notices["stats"]["from_ts_ms"] == 10 and notices["stats"]["to_ts_ms"] == 11
    assert batch.publications[0].data.get("gap") and batch.publications[1].data.get("gap"), "the notices come first"
    assert data(batch.publications) == [("address:x", 12), ("stats", 12), ("address:x", 1100), ("address:x", 1101)]
    assert {(m.topic, m.reason) for m in batch.marks} == {("address:x", "overflow"), ("stats", "overflow")}
    dropped = [note for note in core.take_notes() if isinstance(note, Dropped)]
    assert dropped == [Dropped("overflow", 4, 2)]


def test_dropped_gap_notices_widen_the_overflow_interval() -> None:
    core = PublishCore(NET, capacity=1, pause_max_ms=0)
    core.socket_down("main", main=True, now_ms=5)
    core.frame(frame(pub("stats", 20)), 20)
    core.clock(20)
    core.frame(frame(pub("stats", 30)), 30)
    published = drain(core)
    assert gaps(published, "stats") == [
        {
            "reason": "the ingestor's publish queue overflowed: events received in this interval were dropped",
            "from_ts_ms": 5,
            "to_ts_ms": 20,
            "missing_from_height": None,
            "missing_to_height": None,
        }
    ]
    assert data(published) == [("stats", 30)]


def test_dropped_blocks_are_kept_aside_and_published_in_height_order() -> None:
    core = PublishCore(NET, capacity=1, pause_max_ms=0)
    core.leadership_gained(recent_blocks=[block(9)])
    core.frame(frame(new_block=block(10)), 10)
    core.clock(10)
    core.frame(frame(new_block=block(11)), 11)
    core.frame(frame(pub("stats", 12)), 12)
    published = drain(core)
    heights = [p.data["height"] for p in published if p.topic == "blocks"]
    assert heights == [10, 11] and not gaps(published, "blocks")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["frame", "frame", "frame", "publish", "tick"]), st.integers(0, 3)),
        max_size=120,
    ),
    st.integers(1, 6),
)
def test_every_event_is_published_or_inside_a_gap_notice_of_its_topic(
    steps: list[tuple[str, int]], capacity: int
) -> None:
    core = PublishCore(NET, capacity=capacity, pause_max_ms=3, max_batch=4)
    now = 0
    sent: list[tuple[str, int]] = []
    published: list[Publication] = []
    for action, n in steps:
        now += 1
        if action == "frame":
            topic = f"address:{n}"
            core.frame(frame(pub(topic, now)), now)
            sent.append((topic, now))
        elif action == "publish" and (batch := core.next_batch(now)) is not None:
            published += batch.publications
            core.published(batch)
        else:
            core.clock(now)
        assert core.depth <= capacity
    published += drain(core, now + 1)
    got = set(data(published))
    for topic, ts in sent:
        covered = any(g["from_ts_ms"] <= ts <= g["to_ts_ms"] for g in gaps(published, topic))
        assert (topic, ts) in got or covered, f"{topic} at {ts} lost silently"


# -- blocks --------------------------------------------------------------------------------------------


def test_missing_heights_are_fetched_and_published_in_order_before_the_new_block() -> None:
    core = PublishCore(NET)
    core.leadership_gained(recent_blocks=[block(10)], last_block_ms=1)
    core.frame(frame(new_block=block(14)), 50)
    assert core.next_batch(51) is None and core.take_fetches() == [FetchBlocks(11, 13)]
    core.frame(frame(pub("stats", 52)), 52)
    assert core.next_batch(53) is None, "later work waits for the fetch"
    core.blocks_fetched([block(11), block(12), block(13)])
    published = drain(core)
    assert [p.data.get("height") for p in published if p.topic == "blocks"] == [11, 12, 13, 14]
    assert data(published)[-1] == ("stats", 52)


def test_heights_the_fetch_cannot_recover_get_a_gap_notice_with_their_heights() -> None:
    core = PublishCore(NET)
    core.leadership_gained(recent_blocks=[block(10)], last_block_ms=1)
    core.socket_down("main", main=True, now_ms=20)
    core.socket_up("main", main=True, reconnect=True, now_ms=40)
    core.frame(frame(snapshot=[block(13), block(14)]), 41)
    assert core.next_batch(42) is None
    assert core.take_fetches() == [FetchBlocks(11, 12)]
    core.blocks_fetched(None)
    published = drain(core)
    notice = gaps(published, "blocks")
    assert len(notice) == 1 and (notice[0]["missing_from_height"], notice[0]["missing_to_height"]) == (11, 12)
    assert (notice[0]["from_ts_ms"], notice[0]["to_ts_ms"]) == (20, 41)
    assert [p.data.get("height") for p in published if p.topic == "blocks" and "gap" not in p.data] == [13, 14]


# -- upstream outages ---------------------------------------------------------------------------------------


def test_after_a_main_socket_outage_stats_and_mempool_blocks_get_a_gap_notice_before_new_data() -> None:
    core = PublishCore(NET)
    core.socket_down("main", main=True, now_ms=100)
    core.socket_up("main", main=True, reconnect=True, now_ms=300)
    core.frame(frame(pub("stats", 310), pub("mempool-blocks", 310)), 310)
    published = drain(core)
    topics = [(p.topic, "gap" in p.data) for p in published]
    assert topics == [("stats", True), ("mempool-blocks", True), ("stats", False), ("mempool-blocks", False)]
    assert all((g["from_ts_ms"], g["to_ts_ms"]) == (100, 310) for g in gaps(published))


def test_an_outage_is_marked_from_the_last_frame_read_not_from_when_the_drop_was_noticed() -> None:
    core = PublishCore(NET)
    core.socket_down("main", main=True, now_ms=2500, last_read_ms=1200)
    core.socket_up("main", main=True, reconnect=True, now_ms=3000)
    core.frame(frame(pub("stats", 3010)), 3010)
    assert [(g["from_ts_ms"], g["to_ts_ms"]) for g in gaps(drain(core), "stats")] == [(1200, 3010)]
    core.addresses_wanted({A}, 3050)
    core.tracking_confirmed("addresses-1", [A], 3100)
    core.socket_down("addresses-1", main=False, now_ms=4000, last_read_ms=3500)
    core.tracking_confirmed("addresses-1", [A], 4200)
    assert [(g["from_ts_ms"], g["to_ts_ms"]) for g in gaps(drain(core), f"address:{A}")] == [(3500, 4200)]


def test_an_outage_while_reads_were_paused_is_marked_from_the_pause() -> None:
    core = PublishCore(NET, capacity=2, pause_max_ms=10_000)
    for ts in (100, 101):
        core.frame(frame(pub("stats", ts)), ts)
    assert not core.reading, "the queue is full: reads pause at 101"
    core.socket_down("main", main=True, now_ms=900)  # no frame read known: the pause bounds it
    assert data(drain(core, 901)) == [("stats", 100), ("stats", 101)]
    core.socket_up("main", main=True, reconnect=True, now_ms=1000)
    core.frame(frame(pub("stats", 1010)), 1010)
    assert [(g["from_ts_ms"], g["to_ts_ms"]) for g in gaps(drain(core, 1020), "stats")] == [(101, 1010)]


def test_the_chart_is_backfilled_after_an_outage_and_marked_only_when_that_fails() -> None:
    core = PublishCore(NET)
    core.leadership_gained(chart_added_unix_s=1000)
    core.socket_down("main", main=True, now_ms=100)
    core.socket_up("main", main=True, reconnect=True, now_ms=300)
    assert core.next_batch(301) is None and core.take_fetches() == [FetchChart(300)]
    points = [pub("live-2h-chart", 300, added_unix_s=added) for added in (990, 1000, 1060, 1120)]
    core.chart_fetched(points)
    assert [p.data["added_unix_s"] for p in drain(core)] == [1060, 1120]
    core.socket_down("main", main=True, now_ms=400)
    core.socket_up("main", main=True, reconnect=True, now_ms=500)
    core.next_batch(501)
    core.chart_fetched(None)
    assert [(g["from_ts_ms"], g["to_ts_ms"]) for g in gaps(drain(core), "live-2h-chart")] == [(400, 500)]


def test_an_address_socket_outage_is_marked_when_its_list_is_confirmed_again() -> None:
    core = PublishCore(NET)
    core.addresses_wanted({A, B}, 0)
    core.tracking_confirmed("addresses-1", [A, B], 10)
    assert not gaps(drain(core)), "a first confirmation marks nothing"
    core.socket_down("addresses-1", main=False, now_ms=100)
    core.socket_up("addresses-1", main=False, reconnect=True, now_ms=150)
    assert not gaps(drain(core)), "up is not enough: the list must be confirmed"
    core.tracking_confirmed("addresses-1", [A, B], 180)
    marked = {p.topic: (p.data["gap"]["from_ts_ms"], p.data["gap"]["to_ts_ms"]) for p in drain(core)}
    assert marked == {f"address:{A}": (100, 180), f"address:{B}": (100, 180)}


# -- addresses moving between sockets, cleared lists, takeover ----------------------------------------------


def test_an_address_moving_between_sockets_is_blind_only_between_the_two_confirmations() -> None:
    watch = AddressWatch()
    watch.wanted({A, B}, 0)
    assert watch.confirmed("s1", [A, B], 10) == []
    assert watch.confirmed("s2", [B], 20) == [], "confirmed elsewhere first: never blind"
    assert watch.confirmed("s1", [A], 30) == []
    assert watch.socket_of(B) == "s2"
    assert watch.confirmed("s1", [], 40) == []
    gaps_ = watch.confirmed("s3", [A], 55)
    assert [(g.address, g.from_ms, g.to_ms, g.reason) for g in gaps_] == [(A, 40, 55, "tracking_interrupted")]


def test_a_cleared_list_is_marked_when_the_addresses_are_confirmed_again() -> None:
    core = PublishCore(NET)
    core.addresses_wanted({A}, 0)
    core.tracking_confirmed("s1", [A], 10)
    core.tracking_cleared("s1", 20)
    core.tracking_confirmed("s2", [A], 35)
    assert [(g["from_ts_ms"], g["to_ts_ms"]) for g in gaps(drain(core))] == [(20, 35)]


def test_an_address_wanted_again_is_blind_since_it_stopped_being_wanted() -> None:
    watch = AddressWatch()
    watch.wanted({A, B}, 0)
    watch.confirmed("s1", [A, B], 10)
    watch.wanted({B}, 20)  # its lease lapsed: a consumer was killed, or Redis was emptied
    watch.wanted({A, B}, 25)  # the consumer resumed from its cursor
    assert watch.confirmed("s1", [A, B], 30) == [AddressGap(A, 20, 30, "untracked")]
    watch.lost("s1", 40, "upstream_outage")
    watch.wanted({B}, 50)
    watch.wanted({A, B}, 60)
    gaps = watch.confirmed("s1", [A, B], 70)
    assert sorted(gaps, key=lambda gap: gap.address) == sorted(
        [AddressGap(A, 40, 70, "untracked"), AddressGap(B, 40, 70, "upstream_outage")], key=lambda gap: gap.address
    ), "A was blind since its socket dropped, before it stopped being wanted"


def test_an_address_wanted_again_after_its_history_expired_is_new() -> None:
    watch = AddressWatch()
    watch.wanted({A}, 0)
    watch.confirmed("s1", [A], 10)
    watch.wanted(set(), 20)
    watch.wanted({A}, 20 + 86_400_001)
    assert watch.confirmed("s1", [A], 86_400_100) == []


def test_a_takeover_marks_every_inherited_address_and_the_snapshot_topics() -> None:
    core = PublishCore(NET)
    core.leadership_gained(previous_activity_ms=1000, last_event_ms={"stats": 990, f"address:{A}": 400})
    core.addresses_wanted({A, B}, 1400)
    core.socket_up("main", main=True, reconnect=False, now_ms=1500)
    core.frame(frame(pub("stats", 1600), pub("mempool-blocks", 1600)), 1600)
    core.tracking_confirmed("addresses-1", [A, B], 1700)
    core.addresses_wanted({A, B, C}, 1750)
    core.tracking_confirmed("addresses-1", [A, B, C], 1800)
    published = drain(core)
    marked = {p.topic: (p.data["gap"]["from_ts_ms"], p.data["gap"]["to_ts_ms"]) for p in published if "gap" in p.data}
    assert marked == {
        "stats": (990, 1600),
        "mempool-blocks": (1000, 1600),
        f"address:{A}": (400, 1700),
        f"address:{B}": (1000, 1700),
    }, "from each topic's last event (else the last activity) to the first data; C is new: nothing to mark"
    assert all("leader changed" in gap["reason"] for gap in gaps(published))


def test_a_gap_the_previous_leader_never_announced_is_inside_the_takeover_interval() -> None:
    old = PublishCore(NET)
    old.addresses_wanted({A, B}, 0)
    old.tracking_confirmed("s1", [A], 10)
    old.tracking_confirmed("s2", [B], 10)
    old.frame(frame(pub(f"address:{A}", 20)), 20)
    old.frame(frame(pub(f"address:{B}", 25)), 25)
    last_seen = {p.topic: p.ts_ms for p in drain(old)}
    old.socket_down("s1", main=False, now_ms=30)
    old.frame(frame(pub(f"address:{B}", 40)), 40)
    last_seen.update({p.topic: p.ts_ms for p in drain(old)})
    assert old.leadership_lost(50).events == 0, "A's blind interval (from 30) was never announced"
    new = PublishCore(NET)
    new.leadership_gained(previous_activity_ms=max(last_seen.values()), last_event_ms=last_seen)
    new.addresses_wanted({A, B}, 80)
    new.tracking_confirmed("s1", [A, B], 90)
    marked = {g_topic: (g["from_ts_ms"], g["to_ts_ms"]) for g_topic, g in _gaps_by_topic(drain(new))}
    assert marked[f"address:{A}"] == (20, 90), "from A's last event: the socket drop at 30 is inside"
    assert marked[f"address:{B}"] == (40, 90)


def _gaps_by_topic(publications: list[Publication]) -> list[tuple[str, dict[str, Any]]]:
    return [(p.topic, p.data["gap"]) for p in publications if "gap" in p.data]


def test_a_takeover_without_history_marks_nothing() -> None:
    core = PublishCore(NET)
    core.leadership_gained(previous_activity_ms=None)
    core.addresses_wanted({A}, 0)
    core.frame(frame(pub("stats", 10)), 10)
    core.tracking_confirmed("addresses-1", [A], 20)
    assert not gaps(drain(core))


def test_losing_leadership_discards_and_counts_what_was_not_published() -> None:
    core = PublishCore(NET, capacity=2, pause_max_ms=1000)
    core.frame(frame(pub("stats", 1)), 1)
    in_flight = core.next_batch(1)
    core.frame(frame(pub("stats", 2), pub("mempool-blocks", 2)), 2)
    core.frame(frame(pub("stats", 3)), 3)
    assert in_flight is not None and not core.reading
    core.take_notes()
    dropped = core.leadership_lost(10)
    assert dropped == Dropped("leadership_lost", 4, 3)
    assert core.idle and core.reading and core.next_batch(11) is None
    assert dropped in core.take_notes()


def test_a_batch_from_an_older_term_is_ignored() -> None:
    core = PublishCore(NET)
    core.frame(frame(pub("stats", 1)), 1)
    stale = Batch([pub("stats", 0)], 0, [])
    core.published(stale)
    assert core.next_batch(2) is not None
