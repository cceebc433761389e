"""The bus contract, run unchanged against every backend kind of ``tests/bus/conftest.py``."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.bus import Backend, Delivery, Retention
from shared.bus.base import SequenceRegression
from shared.errors import BusError, Fenced
from shared.events import Event, Publication
from shared.models import IngestorStatus
from tests.bus.conftest import REDIS_KINDS, BackendFactory, Kit, only


def pub(topic: str = "stats", n: int = 0, network: str = "mainnet") -> Publication:
    return Publication(network=network, topic=topic, data={"n": n}, ts_ms=1_700_000_000_000 + n)


async def next_delivery(backend: Backend, timeout: float = 5.0) -> Delivery:
    message = await asyncio.wait_for(backend.next_message(), timeout)
    assert isinstance(message, Delivery), message
    return message


async def test_ids_increase_across_topics_and_envelope_is_exact(backend: Backend) -> None:
    events = await backend.publish([pub("stats", 1), pub("blocks", 2), pub("stats", 3)])
    ids = [event.seq for event in events]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[1] == ids[0] + 1 and ids[2] == ids[1] + 1
    decoded = json.loads(events[1].raw)
    assert decoded == {
        "v": 1,
        "id": events[1].id,
        "network": "mainnet",
        "topic": "blocks",
        "ts_ms": 1_700_000_000_002,
        "data": {"n": 2},
    }
    position = await backend.position("mainnet")
    assert position.last_id == ids[-1] and position.epoch
    later = await backend.publish([pub("stats", 4)])
    assert later[0].seq == ids[-1] + 1


async def test_networks_have_separate_ids_and_topics(backend: Backend) -> None:
    [main] = await backend.publish([pub("stats", 1, "mainnet")])
    [signet] = await backend.publish([pub("stats", 2, "signet")])
    latest_main = await backend.latest("mainnet", "stats")
    latest_signet = await backend.latest("signet", "stats")
    assert latest_main is not None and latest_main.data == {"n": 1}
    assert latest_signet is not None and latest_signet.data == {"n": 2}
    assert signet.network == "signet" and main.network == "mainnet"


async def test_latest_is_the_newest_event_or_none(backend: Backend) -> None:
    assert await backend.latest("mainnet", "stats") is None
    await backend.publish([pub("stats", 1), pub("stats", 2), pub("blocks", 3)])
    latest = await backend.latest("mainnet", "stats")
    assert latest is not None and latest.data == {"n": 2}
    assert latest.raw == json.dumps(json.loads(latest.raw), separators=(",", ":"))


async def test_history_after_a_cursor_is_ordered_bounded_and_paged(backend: Backend) -> None:
    events = await backend.publish([pub("stats", n) for n in range(4)])
    page = await backend.history("mainnet", "stats", after=events[0].seq, limit=2)
    assert [event.data["n"] for event in page.events] == [1, 2]
    assert page.has_more and not page.gap
    rest = await backend.history("mainnet", "stats", after=page.events[-1].seq, limit=10)
    assert [event.data["n"] for event in rest.events] == [3]
    assert not rest.has_more and not rest.gap
    empty = await backend.history("mainnet", "stats", after=events[-1].seq, limit=10)
    assert empty.events == [] and not empty.gap


async def test_recent_returns_the_newest_events_oldest_first(backend: Backend) -> None:
    assert await backend.recent("mainnet", "stats", 3) == []
    events = await backend.publish([pub("stats", n) for n in range(7)])
    recent = await backend.recent("mainnet", "stats", 3)
    assert [event.seq for event in recent] == [event.seq for event in events[-3:]]
    assert len(await backend.recent("mainnet", "stats", 100)) == 5


async def test_history_skips_other_topics_without_reporting_a_gap(backend: Backend) -> None:
    first, _, third = await backend.publish([pub("stats", 1), pub("blocks", 2), pub("stats", 3)])
    page = await backend.history("mainnet", "stats", after=first.seq, limit=10)
    assert [event.seq for event in page.events] == [third.seq]
    assert not page.gap


async def test_a_cursor_taken_from_another_topic_or_the_network_position_has_no_gap(backend: Backend) -> None:
    await backend.publish([pub("stats", 1)])
    start = await backend.position("mainnet")
    await backend.publish([pub("blocks", 2), pub("blocks", 3)])
    [stats] = await backend.publish([pub("stats", 4)])
    page = await backend.history("mainnet", "stats", after=start.last_id, limit=10)
    assert [event.seq for event in page.events] == [stats.seq] and not page.gap
    assert page.position.epoch == start.epoch and page.position.last_id == stats.seq


async def test_the_epoch_is_stable_while_the_sequence_lives(backend: Backend) -> None:
    before = await backend.position("mainnet")
    await backend.publish([pub("stats", 1)])
    after = await backend.position("mainnet")
    assert before.epoch == after.epoch and after.last_id == before.last_id + 1
    assert (await backend.position("signet")).epoch


async def test_history_reports_a_gap_when_the_window_moved_past_the_cursor(backend: Backend) -> None:
    events = await backend.publish([pub("stats", n) for n in range(8)])
    page = await backend.history("mainnet", "stats", after=events[0].seq, limit=10)
    assert page.gap
    assert [event.data["n"] for event in page.events] == [3, 4, 5, 6, 7]
    inside = await backend.history("mainnet", "stats", after=events[3].seq, limit=10)
    assert not inside.gap and [event.data["n"] for event in inside.events] == [4, 5, 6, 7]
    from_start = await backend.history("mainnet", "stats", after=0, limit=10)
    assert from_start.gap


async def test_history_from_zero_without_trimming_has_no_gap(backend: Backend) -> None:
    await backend.publish([pub("stats", n) for n in range(3)])
    page = await backend.history("mainnet", "stats", after=0, limit=10)
    assert not page.gap and len(page.events) == 3


async def test_a_cursor_from_the_future_is_a_gap(backend: Backend) -> None:
    [event] = await backend.publish([pub("stats", 1)])
    page = await backend.history("mainnet", "stats", after=event.seq + 1000, limit=10)
    assert page.gap and page.events == []


async def test_address_topics_keep_their_own_smaller_window(backend: Backend) -> None:
    events = await backend.publish([pub("address:bc1qexample", n) for n in range(5)])
    page = await backend.history("mainnet", "address:bc1qexample", after=0, limit=10)
    assert [event.seq for event in page.events] == [event.seq for event in events[-3:]]
    assert page.gap


async def test_live_delivery_matches_latest_and_history(backend: Backend) -> None:
    channel = backend.names("mainnet").channel("stats")
    await backend.subscribe(channel)
    [published] = await backend.publish([pub("stats", 7)])
    delivery = await next_delivery(backend)
    assert delivery.channel == channel
    assert delivery.event == published and delivery.event.raw == published.raw
    latest = await backend.latest("mainnet", "stats")
    page = await backend.history("mainnet", "stats", after=0, limit=10)
    assert latest is not None and latest.raw == published.raw == page.events[-1].raw


async def test_only_subscribed_channels_are_delivered(backend: Backend) -> None:
    names = backend.names("mainnet")
    await backend.subscribe(names.channel("blocks"))
    await backend.publish([pub("stats", 1), pub("blocks", 2)])
    delivery = await next_delivery(backend)
    assert delivery.event.topic == "blocks"
    await backend.unsubscribe(names.channel("blocks"))
    await backend.subscribe(names.channel("stats"))
    await backend.publish([pub("blocks", 3), pub("stats", 4)])
    delivery = await next_delivery(backend)
    assert delivery.event.topic == "stats" and delivery.event.data == {"n": 4}


async def test_a_batch_retried_with_its_token_is_applied_once(backend: Backend) -> None:
    """A publish whose reply was lost is retried with the same token: the same events, published once."""
    await backend.subscribe(backend.names("mainnet").channel("stats"))
    first = await backend.publish([pub("stats", 1), pub("stats", 2)], token="batch-1")
    again = await backend.publish([pub("stats", 1), pub("stats", 2)], token="batch-1")
    assert [event.id for event in again] == [event.id for event in first]
    assert [event.raw for event in again] == [event.raw for event in first]
    page = await backend.history("mainnet", "stats", after=0, limit=10)
    assert [event.id for event in page.events] == [event.id for event in first], "history holds them once"
    assert [(await next_delivery(backend)).event.id for _ in first] == [event.id for event in first]
    [later] = await backend.publish([pub("stats", 3)], token="batch-2")
    assert later.seq == first[-1].seq + 1
    [untokened] = await backend.publish([pub("stats", 4)])
    [new_batch] = await backend.publish([pub("stats", 5)], token="batch-1")  # not the last token: applied
    assert new_batch.seq == untokened.seq + 1 == later.seq + 2
    with pytest.raises(asyncio.TimeoutError):
        for _ in range(4):  # batch-2, the untokened one, the reused token: then nothing more
            await next_delivery(backend, timeout=0.3)


async def test_fenced_publish_requires_leadership(backend: Backend) -> None:
    with pytest.raises(BusError, match="fenced"):
        await backend.publish([pub()], fence="replica-a")
    assert await backend.latest("mainnet", "stats") is None
    assert await backend.hold_leadership("mainnet", "replica-a", ttl_s=5)
    [event] = await backend.publish([pub()], fence="replica-a")
    assert event.seq >= 1
    with pytest.raises(BusError, match="fenced"):
        await backend.publish([pub()], fence="replica-b")


async def test_a_fenced_publish_takes_back_a_lapsed_lock_for_its_last_leader(backend: Backend) -> None:
    assert await backend.hold_leadership("mainnet", "replica-a", ttl_s=0.3)
    await asyncio.sleep(0.45)
    assert await backend.leader("mainnet") is None, "the lock lapsed (as after an empty Redis restarted)"
    [event] = await backend.publish([pub()], fence="replica-a")
    assert event.seq >= 1
    assert await backend.leader("mainnet") == "replica-a", "taken back atomically with the publish"
    assert not await backend.hold_leadership("mainnet", "replica-b", ttl_s=5)
    await asyncio.sleep(0.45)
    assert await backend.leader("mainnet") is None, "taken back with the leader's own ttl"


async def test_a_replica_that_lost_the_lock_to_another_never_publishes_again(backend: Backend) -> None:
    assert await backend.hold_leadership("mainnet", "replica-a", ttl_s=0.3)
    await asyncio.sleep(0.45)
    assert await backend.hold_leadership("mainnet", "replica-b", ttl_s=0.3)
    with pytest.raises(Fenced, match="fenced"):
        await backend.publish([pub()], fence="replica-a")
    await asyncio.sleep(0.45)
    with pytest.raises(Fenced):
        await backend.publish([pub()], fence="replica-a")
    assert await backend.leader("mainnet") is None
    await backend.release_leadership("mainnet", "replica-b")
    with pytest.raises(Fenced):
        await backend.publish([pub()], fence="replica-b")
    assert await backend.latest("mainnet", "stats") is None


async def test_a_backend_without_known_problems_has_no_warnings(backend: Backend) -> None:
    assert await backend.warnings() == []


async def test_leadership_is_exclusive_renewable_and_expires(backend: Backend) -> None:
    assert await backend.hold_leadership("mainnet", "a", ttl_s=0.3)
    assert not await backend.hold_leadership("mainnet", "b", ttl_s=0.3)
    assert await backend.hold_leadership("mainnet", "a", ttl_s=0.3)
    assert await backend.leader("mainnet") == "a"
    await asyncio.sleep(0.45)
    assert await backend.leader("mainnet") is None
    assert await backend.hold_leadership("mainnet", "b", ttl_s=5)
    await backend.release_leadership("mainnet", "a")
    assert await backend.leader("mainnet") == "b"
    await backend.release_leadership("mainnet", "b")
    assert await backend.leader("mainnet") is None


async def test_leases_union_release_and_expiry(backend: Backend) -> None:
    await backend.renew_lease("mainnet", "addr-1", "pod-a", ttl_s=5)
    await backend.renew_lease("mainnet", "addr-1", "pod-b", ttl_s=5)
    await backend.renew_lease("mainnet", "addr-2", "pod-a", ttl_s=0.3)
    assert await backend.leased_addresses("mainnet") == {"addr-1", "addr-2"}
    await backend.release_lease("mainnet", "addr-1", "pod-a")
    assert await backend.leased_addresses("mainnet") == {"addr-1", "addr-2"}
    await backend.release_lease("mainnet", "addr-1", "pod-b")
    await asyncio.sleep(0.45)
    assert await backend.leased_addresses("mainnet") == set()
    assert await backend.leased_addresses("signet") == set()


async def test_status_round_trips_and_expires(backend: Backend) -> None:
    status = IngestorStatus(
        network="mainnet",
        holder="replica-a",
        upstream_connected=True,
        sockets=2,
        tracked_addresses=3,
        address_capacity=500,
        last_frame_ms=1,
        updated_ms=2,
    )
    await backend.write_status(status, ttl_s=0.3)
    assert await backend.read_status("mainnet") == status
    await asyncio.sleep(0.45)
    assert await backend.read_status("mainnet") is None


async def test_ids_stay_unique_across_two_publishers(make_backend: BackendFactory) -> None:
    first, second = make_backend(Retention()), make_backend(Retention())
    await first.connect()
    await second.connect()
    batches = await asyncio.gather(*[(first if n % 2 else second).publish([pub("stats", n)]) for n in range(40)])
    ids = [event.seq for batch in batches for event in batch]
    assert len(set(ids)) == 40
    page = await first.history("mainnet", "stats", after=0, limit=100)
    assert [event.seq for event in page.events] == sorted(ids)


def test_event_from_json_rejects_what_is_not_an_envelope() -> None:
    with pytest.raises(BusError):
        Event.from_json("not json")
    with pytest.raises(BusError):
        Event.from_json('{"v": 2, "id": "1", "network": "m", "topic": "t", "ts_ms": 1, "data": {}}')
    with pytest.raises(BusError):
        Event.from_json('{"v": 1, "id": "x", "network": "m", "topic": "t", "ts_ms": 1, "data": {}}')


# The embedded backend cannot lose what it acknowledged, so only backends with a Redis underneath can be made
# to: the test rewinds Redis as a failover to a replica that lacked the newest writes would.
@only(*REDIS_KINDS)
async def test_a_counter_gone_backwards_is_lifted_above_every_id_given_and_the_loss_is_reported(kit: Kit) -> None:
    backend = kit.make(Retention())
    await backend.connect()
    reports: list[SequenceRegression] = []
    backend.on_regression(reports.append)
    given = await backend.publish([pub("stats", 1), pub("blocks", 2), pub("stats", 3), pub("address:bc1qx", 4)])
    epoch = (await backend.position("mainnet")).epoch
    names, raw = backend.names("mainnet"), kit.raw()
    await raw.set(names.seq, given[0].seq)  # the replica had only the first event
    for event in given[1:]:
        await raw.xdel(names.history(event.topic), f"{event.seq}-0")
    [after] = await backend.publish([pub("stats", 5)])
    assert after.seq == given[-1].seq + 1, "no id is given out twice in an epoch"
    assert (await backend.position("mainnet")).epoch == epoch
    [report] = reports
    assert (report.network, report.epoch, report.held_id, report.lost_to_id) == (
        "mainnet",
        epoch,
        given[0].seq,
        given[-1].seq,
    )
    assert report.topics == {
        "blocks": (given[1].ts_ms, given[1].ts_ms),
        "stats": (given[2].ts_ms, given[2].ts_ms),
        "address:bc1qx": (given[3].ts_ms, given[3].ts_ms),
    }
    await backend.publish([pub("stats", 6)])
    assert len(reports) == 1, "reported once"


# Same reason: only a Redis can restart empty under a running publisher.
@only(*REDIS_KINDS)
async def test_an_emptied_redis_starts_a_new_epoch_and_is_not_a_regression(kit: Kit) -> None:
    backend = kit.make(Retention())
    await backend.connect()
    reports: list[SequenceRegression] = []
    backend.on_regression(reports.append)
    await backend.publish([pub("stats", n) for n in range(3)])
    before = await backend.position("mainnet")
    names, raw = backend.names("mainnet"), kit.raw()
    for key in (names.seq, names.epoch, names.history("stats"), names.latest("stats")):
        await raw.delete(key)
    [event] = await backend.publish([pub("stats", 9)])
    after = await backend.position("mainnet")
    assert after.epoch != before.epoch and event.seq == 1 and reports == []


# A native subscriber talks to Redis itself; the embedded backend has no Redis.
@only(*REDIS_KINDS)
async def test_a_redis_native_subscriber_receives_the_envelope_on_the_documented_channel(kit: Kit) -> None:
    backend = kit.make(Retention())
    await backend.connect()
    channel = backend.names("mainnet").channel("stats")
    raw, sharded = kit.raw(), kit.kind == "cluster"
    if sharded:
        await raw.initialize()  # redis-py's ClusterPubSub needs the slot map
    pubsub = raw.pubsub()
    assert channel == (f"{kit.prefix}:{{mainnet}}:stats" if sharded else f"{kit.prefix}:mainnet:stats")
    try:
        await (pubsub.ssubscribe(channel) if sharded else pubsub.subscribe(channel))
        read = pubsub.get_sharded_message if sharded else pubsub.get_message
        async with asyncio.timeout(5):
            while (await read(timeout=1.0)) is None:  # the subscribe confirmation
                pass
            [event] = await backend.publish([pub("stats", 1)])
            while (message := await read(timeout=1.0)) is None:
                pass
        assert message["channel"] == channel and message["data"] == event.raw
    finally:
        await pubsub.aclose()
