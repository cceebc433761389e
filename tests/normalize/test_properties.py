"""Property tests: whatever arrives, normalize never raises and every event validates."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Collection
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestor.normalize import NormalizedFrame, Normalizer
from ingestor.normalize.dispatch import IGNORED_KEYS, KNOWN_KEYS
from ingestor.normalize.txs import TX_KEYS, read_txid
from shared.events import is_tx_topic
from tests.normalize import samples
from tests.normalize.fixtures import fixture_files, fixtures_dir
from tests.normalize.helpers import P2TR, P2WPKH, RECORDED_TXID, TRACKED_TXID, addresses_in, check_frame, topics

Path = tuple[str | int, ...]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frames() -> list[tuple[str, dict[str, Any]]]:
    frames: list[tuple[str, dict[str, Any]]] = []
    for path in fixture_files():
        decoded = json.loads(path.read_text(encoding="utf-8"))
        name = str(path.relative_to(fixtures_dir()))
        if name == "fee-mempool-blocks.json":
            frames.extend((f"{name}:{scenario}", {"mempool-blocks": value}) for scenario, value in decoded.items())
        frames.append((name, decoded))
    frames.extend((f"tx:{name}", frame) for name, frame in samples.tx_frames().items())
    return frames


def _field_names(frames: list[tuple[str, dict[str, Any]]]) -> list[str]:
    names: set[str] = set()
    stack: list[Any] = [frame for _, frame in frames]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            names.update(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    names.update(["vsize1", "vsize_0", "vsize2000", "unconfirmed_transactions", "prevout", "virtualSize"])
    names.update(["replacedBy", "confirmed", "cpfp", "effectiveFeePerVsize", "accelerated", RECORDED_TXID])
    return sorted(names)


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


FRAMES = _frames()
FRAME_PATHS = {name: _paths(frame) for name, frame in FRAMES}
FIELD_NAMES = _field_names(FRAMES)
ADDRESSES = [P2WPKH, P2TR, P2WPKH.upper(), "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"]

NASTY: list[Any] = [
    None, True, False, 0, -1, 1.5, float("nan"), float("inf"), float("-inf"), 2**63, -(2**63), 10**40,
    1e308, "", "x", "\ud800", [], {}, [1.0, None], {"a": 1},
]  # fmt: skip
nasty = st.sampled_from(NASTY)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63), 2**64, 10**40, 0, -1]),
    st.floats(),
    st.sampled_from([0.5, 1e308, 5e-324, -0.0]),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "x\udfff", "", P2WPKH, "2021-03-30T12:34:00Z", "2021-13-45"]),
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=8)
    ),
    max_leaves=25,
)
frame_keys = st.sampled_from(sorted(KNOWN_KEYS)) | st.text(max_size=10)


def run(raw: str | bytes, tracked: Collection[str] = ()) -> NormalizedFrame:
    """Normalize with a fresh normalizer (tracking :data:`TRACKED_TXID`) and check the result's invariants."""
    frame = Normalizer("mainnet").normalize(raw, received_ms=1, tracked=tracked, tracked_tx=TRACKED_TXID)
    check_frame(frame)
    return frame


@pytest.mark.parametrize("key", [*sorted(KNOWN_KEYS - IGNORED_KEYS), "transactions", "notAKey"])
@settings(PROPERTY_SETTINGS, max_examples=40)
@given(value=json_values, tracked=st.lists(st.sampled_from(ADDRESSES), max_size=3))
def test_any_value_under_every_known_key(key: str, value: Any, tracked: list[str]) -> None:
    frame = run(json.dumps({key: value}), tracked)
    assert frame.keys == [key]
    if key not in KNOWN_KEYS or frame.ignored_keys:
        assert (frame.publications, frame.errors) == ([], [])
    assert all(error.startswith(f"{key}: ") for error in frame.errors)


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(frames=st.lists(st.dictionaries(frame_keys, json_values, max_size=4), min_size=1, max_size=3))
def test_sequences_of_garbage_frames(frames: list[dict[str, Any]]) -> None:
    normalizer = Normalizer("mainnet")
    for decoded in frames:
        raw = json.dumps(decoded).encode()
        frame = normalizer.normalize(raw, received_ms=1, tracked=ADDRESSES, tracked_tx=TRACKED_TXID)
        check_frame(frame)
        assert frame.keys == [key.encode("utf-8", "backslashreplace").decode() for key in decoded]
        assert all(any(error.startswith(f"{key}: ") for key in decoded) for error in frame.errors)


def _navigate(root: Any, path: Path) -> tuple[Any, str | int] | None:
    node = root
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    last = path[-1]
    if isinstance(node, dict) and last in node:
        return node, last
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        return node, last
    return None


def _mutate(root: Any, path: Path, operation: str, replacement: Any) -> bool:
    located = _navigate(root, path)
    if located is None:
        return False
    parent, key = located
    if operation == "drop":
        del parent[key]
    elif operation == "null":
        parent[key] = None
    elif operation == "insert" and isinstance(parent, list):
        parent.insert(key, replacement)  # type: ignore[arg-type]
    else:
        parent[key] = replacement
    return True


mutations = st.tuples(st.sampled_from(["drop", "null", "replace", "insert"]), nasty | json_values)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mutated_fixture_frames(data: st.DataObject) -> None:
    name, original = data.draw(st.sampled_from(FRAMES), label="frame")
    tracked = sorted(addresses_in(original))
    frame = copy.deepcopy(original)
    touched: set[str] = set()
    for _ in range(data.draw(st.integers(1, 4), label="count")):
        path = data.draw(st.sampled_from(FRAME_PATHS[name]), label="path")
        operation, replacement = data.draw(mutations, label="mutation")
        if _mutate(frame, path, operation, replacement):
            touched.add(str(path[0]))
    result = run(json.dumps(frame), tracked)
    assert all(any(error.startswith(f"{key}: ") for key in touched) for error in result.errors)
    untouched = {key: value for key, value in frame.items() if key not in touched}
    baseline = run(json.dumps(untouched), tracked)
    assert set(topics(baseline)) <= set(topics(result))
    if "block" in untouched:
        assert result.new_block == baseline.new_block
    if "blocks" in untouched:
        assert result.blocks_snapshot == baseline.blocks_snapshot


@PROPERTY_SETTINGS
@given(data=st.data())
def test_truncated_fixture_frames(data: st.DataObject) -> None:
    _, original = data.draw(st.sampled_from(FRAMES), label="frame")
    text = json.dumps(original, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    raw: str | bytes = text.encode() if data.draw(st.booleans(), label="bytes") else text
    cut = data.draw(st.integers(0, len(raw) - 1), label="cut")
    result = run(raw[:cut])
    assert len(result.errors) == 1
    assert result.errors[0].startswith("frame: ")
    assert result.publications == []


@PROPERTY_SETTINGS
@given(data=st.data())
def test_fixture_frames_with_a_changed_character(data: st.DataObject) -> None:
    _, original = data.draw(st.sampled_from(FRAMES), label="frame")
    text = json.dumps(original)
    position = data.draw(st.integers(0, len(text) - 1), label="position")
    char = data.draw(st.characters(), label="char")
    run(text[:position] + char + text[position + 1 :], sorted(addresses_in(original)))


NASTY_STRINGS = ["\ud800", "", "x\udfff", "2021-13-45T99:00:00", "0" * 300]
NASTY_NUMBERS: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63,
    10**40,
    1e308,
    -1,
    0.5,
    True,
    "1",
]


def _nasty_like(value: Any, rng: random.Random) -> Any:
    if isinstance(value, str):
        return rng.choice([*NASTY_STRINGS, value + "\ud800"])
    if isinstance(value, int | float) and rng.random() < 0.8:
        return rng.choice(NASTY_NUMBERS)
    return rng.choice(NASTY)


def _perturb(value: Any, rng: random.Random, rate: float) -> Any:
    """``value`` with some leaves and containers swapped for nasty values and some fields dropped."""
    if rng.random() < rate:
        return _nasty_like(value, rng)
    if isinstance(value, dict):
        return {key: _perturb(item, rng, rate) for key, item in value.items() if rng.random() >= rate / 2}
    if isinstance(value, list):
        return [_perturb(item, rng, rate) for item in value]
    return value


@PROPERTY_SETTINGS
@given(
    frame=st.sampled_from(FRAMES),
    seed=st.integers(0, 2**32),
    rate=st.sampled_from([0.005, 0.02, 0.1, 0.3]),
)
def test_perturbed_fixture_frames(frame: tuple[str, dict[str, Any]], seed: int, rate: float) -> None:
    _, original = frame
    perturbed = _perturb(original, random.Random(seed), rate)
    result = run(json.dumps(perturbed), sorted(addresses_in(original)))
    if isinstance(perturbed, dict):
        assert all(any(error.startswith(f"{key}: ") for key in perturbed) for error in result.errors)


TXIDS = [RECORDED_TXID, TRACKED_TXID, samples.TX_B, RECORDED_TXID.upper(), "ab" * 31, "zz" * 32]
txid_like = st.sampled_from(TXIDS) | st.text(max_size=8)
numbers = st.one_of(
    st.integers(-3, 10**7), st.floats(), st.sampled_from([2**63, -(2**63), 0.5, -0.0, 1e308]), st.booleans()
)
block_indexes = st.integers(0, 7) | st.integers(0, 7) | numbers | nasty
vsizes = st.floats(0, 4e6) | st.floats(0, 4e6) | numbers | nasty
position_extras = {
    "accelerated": st.booleans() | st.booleans() | nasty,
    "acceleratedBy": st.lists(st.integers(0, 200), max_size=3),
    "feeDelta": numbers,
}
positions = st.fixed_dictionaries({"block": block_indexes, "vsize": vsizes}, optional=position_extras) | (
    st.fixed_dictionaries({}, optional={"block": block_indexes, "vsize": vsizes, **position_extras})
)
cpfps = st.fixed_dictionaries(
    {},
    optional={
        "effectiveFeePerVsize": st.floats(0, 1e4) | numbers | nasty,
        "descendants": json_values,
        "ancestors": json_values,
    },
)
good_txids = st.sampled_from(TXIDS[:4])
good_positions = st.fixed_dictionaries(
    {"block": st.integers(0, 7), "vsize": st.floats(0, 4e6)}, optional={"accelerated": st.booleans()}
)
good_cpfps = st.fixed_dictionaries({"effectiveFeePerVsize": st.floats(0.1, 1e4)}, optional={"descendants": json_values})
mempool_infos = st.fixed_dictionaries(
    {"position": good_positions}, optional={"cpfp": good_cpfps, "accelerated": st.booleans(), "utxoSpent": json_values}
)
tracked_infos = (
    mempool_infos
    | mempool_infos
    | st.fixed_dictionaries(
        {},
        optional={
            "position": positions | nasty,
            "cpfp": cpfps | nasty,
            "replacedBy": txid_like | nasty,
            "confirmed": st.booleans() | nasty,
            "accelerated": st.booleans() | nasty,
            "utxoSpent": json_values,
        },
    )
)
tx_frames = st.fixed_dictionaries(
    {},
    optional={
        "block": st.just(samples.block()) | nasty,
        "txPosition": st.fixed_dictionaries(
            {"txid": good_txids, "position": good_positions}, optional={"cpfp": good_cpfps}
        )
        | st.fixed_dictionaries({"txid": txid_like, "position": positions}, optional={"cpfp": cpfps})
        | json_values,
        "txConfirmed": txid_like | nasty,
        "rbfTransaction": st.fixed_dictionaries({"txid": txid_like}) | nasty,
        "txReplaced": st.fixed_dictionaries({"txid": txid_like}) | nasty,
        "tracked-txs": st.dictionaries(good_txids, tracked_infos, max_size=4)
        | st.dictionaries(txid_like, tracked_infos | nasty, max_size=5)
        | nasty,
        "track-txs-error": st.text(max_size=20) | nasty,
        "utxoSpent": json_values,
    },
)


def _named_txids(decoded: dict[str, Any], tracked_tx: str | None) -> set[str]:
    """Every txid an event of this frame may be about (lower case)."""
    candidates: list[object] = [tracked_tx, decoded.get("txConfirmed")]
    position = decoded.get("txPosition")
    if isinstance(position, dict):
        candidates.append(position.get("txid"))
    tracked = decoded.get("tracked-txs")
    if isinstance(tracked, dict):
        candidates.extend(tracked)
    named = set()
    for candidate in candidates:
        try:
            named.add(read_txid(candidate))
        except ValueError:
            continue
    return named


@PROPERTY_SETTINGS
@given(frames=st.lists(tx_frames, min_size=1, max_size=4), tracked_tx=st.sampled_from([None, TRACKED_TXID, "nope"]))
def test_transaction_frames_never_raise_and_every_event_is_consistent(
    frames: list[dict[str, Any]], tracked_tx: str | None
) -> None:
    normalizer = Normalizer("mainnet")
    for decoded in frames:
        frame = normalizer.normalize(json.dumps(decoded), received_ms=1, tracked_tx=tracked_tx)
        check_frame(frame)
        if frame.errors and frame.errors[0].startswith("frame: "):
            continue
        assert all(any(error.startswith(f"{key}: ") for key in decoded) for error in frame.errors)
        tx_events = [p.data for p in frame.publications if is_tx_topic(p.topic)]
        assert len({data["txid"] for data in tx_events}) == len(tx_events)
        assert {data["txid"] for data in tx_events} <= _named_txids(decoded, tracked_tx)
        assert bool(tx_events) <= bool(set(TX_KEYS) & set(decoded))
        block = frame.new_block
        for data in tx_events:
            if data["status"] == "confirmed":
                assert data["block_height"] == (block.height if block else None)
        assert frame.control.track_txs_error is not None or "track-txs-error" not in decoded
