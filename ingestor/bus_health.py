"""What the ingestor knows about its bus now: which operations fail and why, counted and exported.

Every loop reports its own operation (``connect``, ``leadership``, ``leases``, ``status``, ``ping``):
a failure records the reason until that operation succeeds again, so a read that works under an
out-of-memory Redis does not hide the writes that do not. The reasons feed ``/readyz`` and ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.errors import BusOutOfMemory, BusReadOnly, BusUnavailable, Fenced

STATES = ("ok", "unavailable", "out_of_memory", "read_only", "error")
"""Bus states, worst first after ``ok``; ``ingestor_bus_state`` is 1 for the current one."""


def kind_of(error: BaseException) -> str:
    """The metric label of a bus error: unavailable, out_of_memory, read_only, fenced or error."""
    if isinstance(error, BusUnavailable):
        return "unavailable"
    if isinstance(error, BusOutOfMemory):
        return "out_of_memory"
    if isinstance(error, BusReadOnly):
        return "read_only"
    if isinstance(error, Fenced):
        return "fenced"
    return "error"


def reason_of(error: BaseException) -> str:
    """A short reason for a probe body."""
    kind = kind_of(error)
    if kind == "unavailable":
        refused = "credentials" in str(error)
        return "event bus (Redis) refused our credentials" if refused else "event bus (Redis) unreachable"
    if kind == "out_of_memory":
        return "Redis is out of memory (used memory over maxmemory): writes are refused"
    if kind == "read_only":
        return "Redis is a read-only replica (e.g. during a failover): writes are refused"
    if kind == "fenced":
        return "another replica holds the leadership"
    return str(error)[:200] or "the event bus failed"


class BusHealth:
    """Failing bus operations and their reasons; metrics on the ingestor's registry."""

    def __init__(self, registry: CollectorRegistry, up: Gauge | None = None) -> None:
        self.errors = Counter(
            "ingestor_bus_errors_total",
            "Failed bus operations (each is retried), by kind: unavailable, out_of_memory, read_only, fenced, error.",
            ["kind"],
            registry=registry,
        )
        self.state = Gauge(
            "ingestor_bus_state",
            "1 for the bus state now (ok, unavailable, out_of_memory, read_only, error), 0 for the others.",
            ["state"],
            registry=registry,
        )
        self.warnings = Gauge(
            "ingestor_bus_warnings",
            "Conditions of the bus an operator should fix although it works (an evicting maxmemory-policy).",
            registry=registry,
        )
        self._up = up
        self._failing: dict[str, BaseException] = {}
        self._recovered: list[Callable[[], None]] = []
        self._show()

    def on_recovered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the last failing operation succeeds again."""
        self._recovered.append(callback)

    def count(self, error: BaseException) -> None:
        """Count a bus error in ``ingestor_bus_errors_total`` without keeping it as a state."""
        self.errors.labels(kind_of(error)).inc()

    def failed(self, operation: str, error: BaseException, *, count: bool = True) -> None:
        """``operation`` fails with ``error`` until it succeeds (a fenced one is only counted)."""
        if count:
            self.count(error)
        if not isinstance(error, Fenced):
            self._failing[operation] = error
            self._show()

    def succeeded(self, *operations: str) -> None:
        """These operations work (again); also used to forget the operations of a loop that ended."""
        was_failing = bool(self._failing)
        for operation in operations:
            self._failing.pop(operation, None)
        self._show()
        if was_failing and not self._failing:
            for callback in list(self._recovered):
                callback()

    @property
    def ok(self) -> bool:
        """Whether no bus operation fails now."""
        return not self._failing

    @property
    def reachable(self) -> bool:
        """Whether the bus answers (it may still refuse writes: out of memory, read-only)."""
        return not any(isinstance(error, BusUnavailable) for error in self._failing.values())

    @property
    def reasons(self) -> list[str]:
        """Why the bus fails now, one line per distinct reason, worst first."""
        ordered = sorted(self._failing.values(), key=lambda error: STATES.index(_state_of(error)))
        return list(dict.fromkeys(reason_of(error) for error in ordered))

    def _show(self) -> None:
        states = {_state_of(error) for error in self._failing.values()}
        current = next((state for state in STATES[1:] if state in states), "ok")
        for state in STATES:
            self.state.labels(state).set(1 if state == current else 0)
        if self._up is not None:
            self._up.set(0 if current == "unavailable" else 1)


def _state_of(error: BaseException) -> str:
    kind = kind_of(error)
    return kind if kind in STATES else "error"
