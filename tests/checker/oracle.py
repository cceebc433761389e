"""The independent judge: what each consumer received against what the simulator produced.

Nothing here imports the code under test (no normaliser, bus, cursor or client module): it reads the
simulator's journal and the envelopes as the README documents them (``cursor`` ``"<epoch>:<id>"``,
``data.height``/``data.hash`` for blocks, ``data.mempool|confirmed|removed[].txid`` for an address,
``data.mempool.tx_count``/``vsize_vb`` for stats, ``data.gap.{from_ts_ms, to_ts_ms, missing_from_height,
missing_to_height}`` for a gap notice).

The promise judged (README, "Cursors" and "The Redis bus"; the ``stream()`` helper's docstring): a consumer
looping on its cursor gets every event, or a gap notice covering it. So every block height, every address
payment and every stats emission the simulator produced in the judged window is either delivered (blocks:
once per epoch, with the produced hash) or lies inside a gap the consumer saw. A gap's interval is in ingest
time and the journal's in production time, so an interval is widened by ``slack_ms`` on each side; how many
events needed that slack is counted. Also: ids strictly increase within an epoch, an epoch never comes back,
one (epoch, id) is one event for every consumer, and no call outlives its ``timeout_s`` by more than
``overrun_s``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Item = dict[str, Any]


@dataclass(frozen=True)
class Produced:
    """The simulator's journal, as served at ``/_sim/journal``."""

    blocks: list[tuple[int, int, str]]
    """``(ts_ms, height, hash)``."""
    payments: list[tuple[int, str, str]]
    """``(ts_ms, txid, address)``: every time a transaction of an address was announced."""
    stats: list[tuple[int, int, int]]
    """``(ts_ms, tx_count, vsize_vb)``."""

    @classmethod
    def from_journal(cls, journal: dict[str, Any]) -> Produced:
        """Read the JSON journal."""
        return cls(
            blocks=[(int(b["ts_ms"]), int(b["height"]), str(b["hash"])) for b in journal["blocks"]],
            payments=[(int(p["ts_ms"]), str(p["txid"]), str(p["address"])) for p in journal["payments"]],
            stats=[(int(s["ts_ms"]), int(s["tx_count"]), int(s["vsize_vb"])) for s in journal["stats"]],
        )


@dataclass(frozen=True)
class CallTiming:
    """One tool call as the consumer's client timed it."""

    tool: str
    timeout_s: float
    elapsed_s: float
    outcome: str
    """``result``, or the error's type name."""
    started_ms: int


@dataclass
class Received:
    """What one consumer received, in order, and how long its calls took."""

    name: str
    kind: str
    """``blocks``, ``stats`` or ``address``."""
    address: str | None = None
    items: list[Item] = field(default_factory=list)
    calls: list[CallTiming] = field(default_factory=list)


@dataclass
class Verdict:
    """The judgment: violations (each one sentence) and the counts behind them."""

    violations: list[str] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)
    """Produced events judged, per consumer kind (``blocks``, ``payments``, ``stats``)."""
    delivered: Counter[str] = field(default_factory=Counter)
    covered: Counter[str] = field(default_factory=Counter)
    """Missed but inside a gap the consumer saw."""
    covered_by_slack: Counter[str] = field(default_factory=Counter)
    """Of ``covered``: inside a gap only once widened by the slack."""
    gaps_seen: int = 0
    items_seen: int = 0
    calls: int = 0
    max_overrun_s: float = 0.0

    def merge(self, other: Verdict) -> None:
        """Add ``other`` to this verdict."""
        self.violations += other.violations
        for mine, theirs in (
            (self.checked, other.checked),
            (self.delivered, other.delivered),
            (self.covered, other.covered),
            (self.covered_by_slack, other.covered_by_slack),
        ):
            mine.update(theirs)
        self.gaps_seen += other.gaps_seen
        self.items_seen += other.items_seen
        self.calls += other.calls
        self.max_overrun_s = max(self.max_overrun_s, other.max_overrun_s)


@dataclass(frozen=True)
class Gap:
    """A gap notice as a consumer saw it."""

    from_ms: int
    to_ms: int
    from_height: int | None
    to_height: int | None


def is_gap(item: Item) -> bool:
    """Whether ``item`` is a gap notice (the ingestor's or the helper's)."""
    data = item.get("data")
    return isinstance(data, dict) and isinstance(data.get("gap"), dict)


def _gap(item: Item) -> Gap:
    gap = item["data"]["gap"]
    return Gap(
        int(gap.get("from_ts_ms") or 0),
        int(gap.get("to_ts_ms") or 0),
        gap.get("missing_from_height"),
        gap.get("missing_to_height"),
    )


def _epoch_id(item: Item) -> tuple[str, int]:
    epoch, _, last = str(item.get("cursor", "")).rpartition(":")
    return epoch, int(last or item.get("id") or 0)


class _Coverage:
    """Whether a time (or a block height) lies inside one of a consumer's gaps."""

    def __init__(self, gaps: list[Gap], slack_ms: int) -> None:
        self.gaps = gaps
        self.slack_ms = slack_ms

    def covers(self, times: list[int], height: int | None = None) -> str | None:
        """``exact``, ``slack`` or None."""
        for gap in self.gaps:
            if height is not None and gap.from_height is not None and gap.to_height is not None:  # noqa: SIM102
                if int(gap.from_height) <= height <= int(gap.to_height):
                    return "exact"
        for gap in self.gaps:
            if any(gap.from_ms <= t <= gap.to_ms for t in times):
                return "exact"
        for gap in self.gaps:
            if any(gap.from_ms - self.slack_ms <= t <= gap.to_ms + self.slack_ms for t in times):
                return "slack"
        return None


def judge_consumer(
    produced: Produced, received: Received, window: tuple[int, int], *, slack_ms: int = 1000, overrun_s: float = 2.0
) -> Verdict:
    """Judge one consumer over the events produced inside ``window`` (Unix ms, both ends included)."""
    verdict = Verdict(items_seen=len(received.items), calls=len(received.calls))
    gaps = [_gap(item) for item in received.items if is_gap(item)]
    verdict.gaps_seen = len(gaps)
    coverage = _Coverage(gaps, slack_ms)
    events = [item for item in received.items if not is_gap(item)]
    _check_ids(received.name, events, verdict)
    _check_calls(received, verdict, overrun_s)
    start, end = window
    if received.kind == "blocks":
        _judge_blocks(produced, received.name, events, coverage, (start, end), verdict)
    elif received.kind == "stats":
        _judge_stats(produced, received.name, events, coverage, (start, end), verdict)
    elif received.kind == "address":
        _judge_payments(produced, received, events, coverage, (start, end), verdict)
    else:
        verdict.violations.append(f"{received.name}: unknown consumer kind {received.kind!r}")
    return verdict


def _count(verdict: Verdict, kind: str, how: str | None) -> None:
    verdict.checked[kind] += 1
    if how == "delivered":
        verdict.delivered[kind] += 1
    elif how in ("exact", "slack"):
        verdict.covered[kind] += 1
        if how == "slack":
            verdict.covered_by_slack[kind] += 1


def _judge_blocks(
    produced: Produced, name: str, events: list[Item], coverage: _Coverage, window: tuple[int, int], verdict: Verdict
) -> None:
    seen: dict[int, list[tuple[str, str]]] = {}
    for item in events:
        data = item.get("data") or {}
        if "height" in data:
            seen.setdefault(int(data["height"]), []).append((_epoch_id(item)[0], str(data.get("hash"))))
    for ts, height, block_hash in produced.blocks:
        if not window[0] <= ts <= window[1]:
            continue
        got = seen.get(height, [])
        if got:
            _count(verdict, "blocks", "delivered")
            if any(h != block_hash for _, h in got):
                verdict.violations.append(f"{name}: block {height} delivered with another hash than produced")
            epochs = Counter(epoch for epoch, _ in got)
            for epoch, times in epochs.items():
                if times > 1:
                    verdict.violations.append(f"{name}: block {height} delivered {times} times in epoch {epoch}")
            continue
        how = coverage.covers([ts], height)
        _count(verdict, "blocks", how)
        if how is None:
            verdict.violations.append(f"{name}: block {height} (produced at {ts}) never delivered and in no gap")


def _judge_stats(
    produced: Produced, name: str, events: list[Item], coverage: _Coverage, window: tuple[int, int], verdict: Verdict
) -> None:
    seen: set[tuple[int, int]] = set()
    for item in events:
        mempool = (item.get("data") or {}).get("mempool") or {}
        if "tx_count" in mempool and "vsize_vb" in mempool:
            seen.add((int(mempool["tx_count"]), int(mempool["vsize_vb"])))
    for ts, tx_count, vsize in produced.stats:
        if not window[0] <= ts <= window[1]:
            continue
        if (tx_count, vsize) in seen:
            _count(verdict, "stats", "delivered")
            continue
        how = coverage.covers([ts])
        _count(verdict, "stats", how)
        if how is None:
            verdict.violations.append(
                f"{name}: stats emission at {ts} ({tx_count} tx, {vsize} vB) never delivered and in no gap"
            )


def _judge_payments(
    produced: Produced,
    received: Received,
    events: list[Item],
    coverage: _Coverage,
    window: tuple[int, int],
    verdict: Verdict,
) -> None:
    seen: set[str] = set()
    for item in events:
        data = item.get("data") or {}
        for part in ("mempool", "confirmed", "removed"):
            for tx in data.get(part) or []:
                if isinstance(tx, dict) and "txid" in tx:
                    seen.add(str(tx["txid"]))
    times: dict[str, list[int]] = {}
    for ts, txid, address in produced.payments:
        if address == received.address:
            times.setdefault(txid, []).append(ts)
    for txid, when in times.items():
        if not window[0] <= min(when) <= window[1]:
            continue
        if txid in seen:
            _count(verdict, "payments", "delivered")
            continue
        how = coverage.covers(when)
        _count(verdict, "payments", how)
        if how is None:
            verdict.violations.append(
                f"{received.name}: payment {txid[:16]}… to {received.address} (announced at {when}) "
                "never delivered and in no gap"
            )


def _check_ids(name: str, events: list[Item], verdict: Verdict) -> None:
    """Ids strictly increase within an epoch, and an epoch left never comes back."""
    finished: set[str] = set()
    epoch: str | None = None
    last = 0
    for item in events:
        item_epoch, item_id = _epoch_id(item)
        if item_epoch != epoch:
            if item_epoch in finished:
                verdict.violations.append(f"{name}: epoch {item_epoch} came back after {epoch}")
            if epoch is not None:
                finished.add(epoch)
            epoch, last = item_epoch, item_id
            continue
        if item_id <= last:
            verdict.violations.append(f"{name}: id {item_id} after id {last} in epoch {epoch} (not increasing)")
        last = max(last, item_id)


def _check_calls(received: Received, verdict: Verdict, overrun_s: float) -> None:
    for call in received.calls:
        overrun = call.elapsed_s - call.timeout_s
        verdict.max_overrun_s = max(verdict.max_overrun_s, overrun)
        if overrun > overrun_s:
            verdict.violations.append(
                f"{received.name}: {call.tool} with timeout_s={call.timeout_s:g} took {call.elapsed_s:.2f} s "
                f"({call.outcome})"
            )


def check_id_reuse(consumers: list[Received]) -> list[str]:
    """One (epoch, id) is one event for every consumer: same topic, same ingest time, same data.

    Gap items are left out: the helper's own gap notices carry the id of the position they resume at.
    """
    owners: dict[tuple[str, int], tuple[str, str]] = {}
    violations: list[str] = []
    for received in consumers:
        for item in received.items:
            if is_gap(item):
                continue
            key = _epoch_id(item)
            fingerprint = json.dumps([item.get("topic"), item.get("ts_ms"), item.get("data")], sort_keys=True)
            owner = owners.setdefault(key, (received.name, fingerprint))
            if owner[1] != fingerprint:
                violations.append(
                    f"id {key[0]}:{key[1]} reused: {owner[0]} and {received.name} got different events under it"
                )
    return violations


def judge(
    produced: Produced,
    consumers: list[Received],
    window: tuple[int, int],
    *,
    slack_ms: int = 1000,
    overrun_s: float = 2.0,
) -> Verdict:
    """Judge every consumer and the ids they share."""
    verdict = Verdict()
    for received in consumers:
        verdict.merge(judge_consumer(produced, received, window, slack_ms=slack_ms, overrun_s=overrun_s))
    verdict.violations += check_id_reuse(consumers)
    return verdict
