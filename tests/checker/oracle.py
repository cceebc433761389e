"""The independent judge: what each consumer received against what the simulator produced.

Nothing here imports the code under test (no normaliser, bus, cursor or client module): it reads the
simulator's journal and the envelopes as the README documents them (``cursor`` ``"<epoch>:<id>"``,
``data.height``/``data.hash`` for blocks, ``data.mempool|confirmed|removed[].txid`` for an address,
``data.mempool.tx_count``/``vsize_vb`` for stats, ``data.gap.{from_ts_ms, to_ts_ms, missing_from_height,
missing_to_height}`` for a gap notice).

The promise judged (README, "Cursors" and "The Redis bus"; the ``stream()`` helper's docstring): a consumer
looping on its cursor gets every event, or a gap notice covering it. So every block height, every address
payment and every stats emission the simulator produced in the judged window is either delivered (blocks: once
per epoch, with the produced hash) or lies inside a gap the consumer saw. A gap's interval is in ingest time
and the journal's in production time: a missed event is covered when a gap holds its production time, or else
when a gap meets the span its ingest time must lie in (after its production and after the ingest time of the
delivered event produced before it, before that of the delivered event produced after it, at most
``max_lag_ms`` after its production); how many needed the second rule is counted. Also: ids strictly increase
within an epoch, an epoch never comes back, one (epoch, id) is one event for every consumer, and no call
outlives its ``timeout_s`` by more than ``overrun_s``.
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
    covered_by_bounds: Counter[str] = field(default_factory=Counter)
    """Of ``covered``: the gap meets the event's ingest-time span but not its production time."""
    gaps_seen: int = 0
    items_seen: int = 0
    calls: int = 0
    max_overrun_s: float = 0.0
    longest_gap_s: float = 0.0

    def merge(self, other: Verdict) -> None:
        """Add ``other`` to this verdict."""
        self.violations += other.violations
        for mine, theirs in (
            (self.checked, other.checked),
            (self.delivered, other.delivered),
            (self.covered, other.covered),
            (self.covered_by_bounds, other.covered_by_bounds),
        ):
            mine.update(theirs)
        self.gaps_seen += other.gaps_seen
        self.items_seen += other.items_seen
        self.calls += other.calls
        self.max_overrun_s = max(self.max_overrun_s, other.max_overrun_s)
        self.longest_gap_s = max(self.longest_gap_s, other.longest_gap_s)


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


def gaps_of(items: list[Item], window_start: int) -> list[Gap]:
    """The gaps a consumer saw. A gap starting at 0 (the helper's "since nothing it yielded") starts at the
    consumer's previous event instead (or the window's start): what came before that was delivered or
    missed earlier, and a gap cannot cover it after the fact."""
    gaps: list[Gap] = []
    previous = window_start
    for item in items:
        if not is_gap(item):
            previous = max(previous, int(item.get("ts_ms") or 0))
            continue
        gap = _gap(item)
        if gap.from_ms <= 0:
            gap = Gap(previous, gap.to_ms, gap.from_height, gap.to_height)
        gaps.append(gap)
    return gaps


def _epoch_id(item: Item) -> tuple[str, int]:
    epoch, _, last = str(item.get("cursor", "")).rpartition(":")
    return epoch, int(last or item.get("id") or 0)


@dataclass(frozen=True)
class _Entry:
    """One produced event of a consumer's kind: when, under which key it is delivered, its height."""

    ts_ms: int
    key: str
    height: int | None = None


class _Coverage:
    """Whether a missed event lies inside one of a consumer's gaps.

    ``exact``: a gap's interval holds the production time (or, for a block, its height range holds the
    height). ``bounds``: a gap's interval meets the span the event's ingest time must lie in: not before
    its production, nor before the ingest time of the delivered event produced just before it (frames are
    read in order), nor after that of the delivered event produced just after it, nor more than
    ``max_lag_ms`` after its production.
    """

    def __init__(self, gaps: list[Gap], max_lag_ms: int) -> None:
        self.gaps = gaps
        self.max_lag_ms = max_lag_ms

    def covers(self, entries: list[_Entry], delivered: dict[str, int], missed: list[_Entry]) -> str | None:
        """``exact``, ``bounds`` or None for the entries ``missed`` (one event, produced at one or more
        times), with ``entries`` every produced entry in time order and ``delivered`` key -> ingest time."""
        for entry in missed:
            for gap in self.gaps:
                heights = (gap.from_height, gap.to_height)
                if entry.height is not None and None not in heights and heights[0] <= entry.height <= heights[1]:  # type: ignore[operator]
                    return "exact"
                if gap.from_ms <= entry.ts_ms <= gap.to_ms:
                    return "exact"
        for entry in missed:
            low, high = self._ingest_span(entries, delivered, entry)
            if any(gap.from_ms <= high and gap.to_ms >= low for gap in self.gaps):
                return "bounds"
        return None

    def _ingest_span(self, entries: list[_Entry], delivered: dict[str, int], entry: _Entry) -> tuple[int, int]:
        before = [delivered[e.key] for e in entries if e.ts_ms < entry.ts_ms and e.key in delivered]
        after = [delivered[e.key] for e in entries if e.ts_ms > entry.ts_ms and e.key in delivered]
        high = min([entry.ts_ms + self.max_lag_ms, *after[:1]])
        low = max(entry.ts_ms, before[-1]) if before and before[-1] <= high else entry.ts_ms
        return low, max(low, high)


def judge_consumer(
    produced: Produced,
    received: Received,
    window: tuple[int, int],
    *,
    max_lag_ms: int = 5000,
    overrun_s: float = 2.0,
) -> Verdict:
    """Judge one consumer over the events produced inside ``window`` (Unix ms, both ends included)."""
    verdict = Verdict(items_seen=len(received.items), calls=len(received.calls))
    gaps = gaps_of(received.items, window[0])
    verdict.gaps_seen = len(gaps)
    verdict.longest_gap_s = max([verdict.longest_gap_s, *((g.to_ms - g.from_ms) / 1000 for g in gaps)])
    for gap in gaps:
        if gap.from_ms > gap.to_ms:
            verdict.violations.append(f"{received.name}: a gap notice ends before it starts ({gap})")
    events = [item for item in received.items if not is_gap(item)]
    _check_ids(received.name, events, verdict)
    _check_calls(received, verdict, overrun_s)
    if received.kind == "blocks":
        kind, entries, delivered = "blocks", *_blocks(produced, received.name, events, verdict)
    elif received.kind == "stats":
        kind, entries, delivered = "stats", *_stats(produced, events)
    elif received.kind == "address":
        kind, entries, delivered = "payments", *_payments(produced, received.address, events)
    else:
        verdict.violations.append(f"{received.name}: unknown consumer kind {received.kind!r}")
        return verdict
    coverage = _Coverage(gaps, max_lag_ms)
    by_key: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_key.setdefault(entry.key, []).append(entry)
    for key, group in by_key.items():
        if not window[0] <= group[0].ts_ms <= window[1]:
            continue
        verdict.checked[kind] += 1
        if key in delivered:
            verdict.delivered[kind] += 1
            continue
        how = coverage.covers(entries, delivered, group)
        if how is None:
            verdict.violations.append(
                f"{received.name}: {kind[:-1] if kind != 'stats' else 'stats emission'} {key} "
                f"(produced at {group[0].ts_ms}) never delivered and in no gap"
            )
            continue
        verdict.covered[kind] += 1
        if how == "bounds":
            verdict.covered_by_bounds[kind] += 1
    return verdict


def _blocks(produced: Produced, name: str, events: list[Item], verdict: Verdict) -> tuple[list[_Entry], dict[str, int]]:
    seen: dict[int, list[tuple[str, str, int]]] = {}
    for item in events:
        data = item.get("data") or {}
        if "height" in data:
            epoch = _epoch_id(item)[0]
            seen.setdefault(int(data["height"]), []).append((epoch, str(data.get("hash")), int(item.get("ts_ms") or 0)))
    hashes = {height: block_hash for _, height, block_hash in produced.blocks}
    for height, got in seen.items():
        if height in hashes and any(h != hashes[height] for _, h, _ in got):
            verdict.violations.append(f"{name}: block {height} delivered with another hash than produced")
        for epoch, times in Counter(epoch for epoch, _, _ in got).items():
            if times > 1:
                verdict.violations.append(f"{name}: block {height} delivered {times} times in epoch {epoch}")
    entries = [_Entry(ts, str(height), height) for ts, height, _ in sorted(produced.blocks)]
    return entries, {str(height): min(ts for _, _, ts in got) for height, got in seen.items()}


def _stats(produced: Produced, events: list[Item]) -> tuple[list[_Entry], dict[str, int]]:
    delivered: dict[str, int] = {}
    for item in events:
        mempool = (item.get("data") or {}).get("mempool") or {}
        if "tx_count" in mempool and "vsize_vb" in mempool:
            key = f"{int(mempool['tx_count'])} tx/{int(mempool['vsize_vb'])} vB"
            delivered.setdefault(key, int(item.get("ts_ms") or 0))
    entries = [_Entry(ts, f"{tx_count} tx/{vsize} vB") for ts, tx_count, vsize in sorted(produced.stats)]
    return entries, delivered


def _payments(produced: Produced, address: str | None, events: list[Item]) -> tuple[list[_Entry], dict[str, int]]:
    delivered: dict[str, int] = {}
    for item in events:
        data = item.get("data") or {}
        for part in ("mempool", "confirmed", "removed"):
            for tx in data.get(part) or []:
                if isinstance(tx, dict) and "txid" in tx:
                    delivered.setdefault(str(tx["txid"]), int(item.get("ts_ms") or 0))
    entries = [_Entry(ts, txid) for ts, txid, to in sorted(produced.payments) if to == address]
    return entries, delivered


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
    max_lag_ms: int = 5000,
    overrun_s: float = 2.0,
) -> Verdict:
    """Judge every consumer and the ids they share."""
    verdict = Verdict()
    for received in consumers:
        verdict.merge(judge_consumer(produced, received, window, max_lag_ms=max_lag_ms, overrun_s=overrun_s))
    verdict.violations += check_id_reuse(consumers)
    return verdict
