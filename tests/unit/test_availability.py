"""The availability verdict: one function from facts to status, reasons, readiness and refusals."""

from __future__ import annotations

import time

import pytest

from mcp_gateway.availability import BusState, Facts, TopicLatest, assess, bus_state, no_data_message
from shared.errors import BusError, BusOutOfMemory, BusReadOnly, BusUnavailable
from shared.models import IngestorStatus

NOW = time.time()


def status(*, connected: bool = True, age_s: float | None = 1.0, written_ago_s: float = 0.0) -> IngestorStatus:
    return IngestorStatus(
        network="mainnet",
        holder="i1",
        upstream_connected=connected,
        sockets=1,
        tracked_addresses=0,
        address_capacity=10,
        last_frame_ms=int((NOW - age_s) * 1000) if age_s is not None else None,
        updated_ms=int((NOW - written_ago_s) * 1000),
    )


def facts(
    network: str = "mainnet",
    *,
    bus: BusState = "ok",
    ingestor: IngestorStatus | None = None,
    shutting_down: bool = False,
    stats_age_s: float | None = None,
) -> Facts:
    stats_ts = int((NOW - stats_age_s) * 1000) if stats_age_s is not None else None
    return Facts(
        network=network,
        served=("mainnet", "signet"),
        shutting_down=shutting_down,
        bus=bus,
        ingestor=ingestor,
        topics=(TopicLatest("stats", "7" if stats_ts else None, stats_ts),),
        stale_after_s=90,
        now_s=NOW,
    )


def test_data_flowing_is_ok_and_ready() -> None:
    verdict = assess(facts(ingestor=status()))
    assert (verdict.status, verdict.reasons, verdict.ready, verdict.refusal()) == ("ok", (), True, None)
    assert verdict.quiet_reason == "no_events" and verdict.upstream_connected


@pytest.mark.parametrize(
    ("ingestor", "bus", "quiet", "fragment"),
    [
        (None, "ok", "no_ingestor", "no ingestor is reporting for mainnet"),
        (status(connected=False), "ok", "upstream_disconnected", "disconnected from the mempool upstream"),
        (status(age_s=200), "ok", "upstream_stale", "no upstream data for 200 s"),
        (status(age_s=None), "ok", "upstream_stale", "no upstream data yet"),
        (status(), "out_of_memory", "bus_out_of_memory", "out of memory and refuses writes"),
        (None, "read_only", "bus_read_only", "read-only replica"),
    ],
)
def test_transient_states_are_degraded_ready_and_refuse_nothing(
    ingestor: IngestorStatus | None, bus: BusState, quiet: str, fragment: str
) -> None:
    verdict = assess(facts(bus=bus, ingestor=ingestor))
    assert verdict.status == "degraded" and verdict.ready and verdict.refusal() is None
    assert verdict.quiet_reason == quiet and fragment in verdict.reasons[0]


def test_an_event_newer_than_the_status_record_shows_data_flowing_that_the_record_does_not_yet() -> None:
    record = status(connected=False, age_s=None, written_ago_s=1.0)
    assert assess(facts(ingestor=record)).status == "degraded"
    flowing = assess(facts(ingestor=record, stats_age_s=0.2))
    assert (
        flowing.status == "ok"
        and flowing.upstream_connected
        and flowing.last_frame_age_s == pytest.approx(0.2, abs=0.01)
    )
    older = assess(facts(ingestor=record, stats_age_s=5.0))
    assert older.status == "degraded" and not older.upstream_connected


@pytest.mark.parametrize(("bus", "fragment"), [("unreachable", "unreachable"), ("credentials_refused", "credentials")])
def test_an_unreachable_bus_is_down_and_not_ready_but_refuses_nothing(bus: BusState, fragment: str) -> None:
    verdict = assess(facts(bus=bus, ingestor=status()))
    assert verdict.status == "down" and not verdict.ready and verdict.refusal() is None
    assert fragment in verdict.reasons[0] and verdict.ingestor is None and verdict.last_frame_age_s is None


def test_shutting_down_is_down_and_not_ready() -> None:
    verdict = assess(facts(ingestor=status(), shutting_down=True))
    assert verdict.status == "down" and not verdict.ready and verdict.quiet_reason == "shutting_down"


def test_an_unserved_network_is_refused_naming_the_served_ones_and_how_to_add_it() -> None:
    verdict = assess(facts("testnet4", ingestor=status()))
    refusal = verdict.refusal()
    assert verdict.status == "down" and refusal is not None and verdict.reasons == (refusal,)
    assert "does not serve testnet4, only mainnet, signet" in refusal
    assert "mempool-ws ingest --network testnet4" in refusal and "MEMPOOL_WS_NETWORKS" in refusal
    assert "retry" not in refusal


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (BusUnavailable("ping: Redis at redis://x is unreachable (ConnectionError)"), "unreachable"),
        (BusUnavailable("Redis at redis://x rejected the credentials"), "credentials_refused"),
        (BusOutOfMemory("Redis is out of memory"), "out_of_memory"),
        (BusReadOnly("Redis is a read-only replica"), "read_only"),
        (BusError("publish: Redis answered with an error: OOM command not allowed"), "out_of_memory"),
        (BusError("publish: Redis answered with an error: READONLY You can't write"), "read_only"),
        (BusError("publish: Redis answered with an error: ERR unknown"), "error"),
    ],
)
def test_bus_errors_are_told_apart(error: BusError, state: BusState) -> None:
    assert bus_state(error) == state


def test_a_pull_without_data_says_when_the_next_event_comes_or_how_to_wait() -> None:
    flowing = no_data_message(assess(facts(ingestor=status())), "blocks")
    assert "about every 10 minutes" in flowing and "want=true" in flowing
    waiting = no_data_message(assess(facts()), "stats")
    assert "no ingestor is reporting" in waiting and "want=true" in waiting and " s" not in waiting.split(";")[-1]
