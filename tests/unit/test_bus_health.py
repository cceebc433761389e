"""The ingestor's bus health: reasons per failing operation, the state gauge, the error counter."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from ingestor.bus_health import BusHealth
from shared.errors import BusError, BusOutOfMemory, BusReadOnly, BusUnavailable, Fenced


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return value if value is not None else 0.0


def test_each_operation_keeps_its_reason_until_it_succeeds_and_a_read_that_works_hides_nothing() -> None:
    registry = CollectorRegistry()
    up = Gauge("up", "bus up", registry=registry)
    health = BusHealth(registry, up=up)
    recovered: list[bool] = []
    health.on_recovered(lambda: recovered.append(True))
    assert health.ok and health.reasons == [] and sample(registry, "ingestor_bus_state", state="ok") == 1

    health.failed("status", BusOutOfMemory("write status: Redis ... is out of memory"))
    health.failed("leases", BusOutOfMemory("read leases: ..."))
    health.succeeded("ping")
    assert health.reasons == ["Redis is out of memory (used memory over maxmemory): writes are refused"]
    assert sample(registry, "ingestor_bus_state", state="out_of_memory") == 1
    assert sample(registry, "ingestor_bus_state", state="ok") == 0
    assert sample(registry, "up") == 1 and health.reachable, "Redis answers: it is up, though it refuses writes"

    health.failed("ping", BusUnavailable("ping: unreachable"))
    assert health.reasons[0] == "event bus (Redis) unreachable", "the worst first"
    assert sample(registry, "ingestor_bus_state", state="unavailable") == 1 and sample(registry, "up") == 0
    assert not health.reachable

    health.succeeded("ping", "status")
    assert not recovered
    health.succeeded("leases")
    assert health.ok and recovered == [True]
    assert sample(registry, "ingestor_bus_errors_total", kind="out_of_memory") == 2
    assert sample(registry, "ingestor_bus_errors_total", kind="unavailable") == 1


def test_read_only_other_replies_and_fenced_are_told_apart() -> None:
    registry = CollectorRegistry()
    health = BusHealth(registry)
    health.failed("leadership", BusReadOnly("hold leadership: ... read-only replica"))
    health.failed("restore", BusError("read recent history: Redis answered with an error: WRONGTYPE ..."))
    health.failed("publisher", Fenced("publish: fenced"))
    assert health.reasons == [
        "Redis is a read-only replica (e.g. during a failover): writes are refused",
        "read recent history: Redis answered with an error: WRONGTYPE ...",
    ]
    assert sample(registry, "ingestor_bus_errors_total", kind="fenced") == 1, "counted, never a state"
    assert sample(registry, "ingestor_bus_state", state="read_only") == 1
