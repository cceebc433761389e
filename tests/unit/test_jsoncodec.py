"""The fast JSON codec gives exactly what the standard library gives."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.jsoncodec import dumps_compact, loads

EXACT_INTEGERS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # beyond: see the last test

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | EXACT_INTEGERS | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_loads_matches_the_standard_library(value: Any) -> None:
    text = json.dumps(value)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@given(JSON_VALUES)
def test_dumps_round_trips(value: Any) -> None:
    assert json.loads(dumps_compact(value)) == value


@pytest.mark.parametrize("text", ['{"a": NaN}', '"\\ud800"', "[1e999]", "[-Infinity]"])
def test_what_orjson_refuses_reads_as_the_standard_library_does(text: str) -> None:
    expected, got = json.loads(text), loads(text)
    assert repr(got) == repr(expected) and type(got) is type(expected)


def test_integers_beyond_64_bits_come_back_as_floats_of_the_same_magnitude() -> None:
    assert loads('{"a": 100000000000000000000000000000}') == {"a": 1e29}


@pytest.mark.parametrize("text", ["not json", '{"a": ', "[1,]"])
def test_invalid_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


@pytest.mark.parametrize("value", [math.nan, {"a": [math.inf]}, -math.inf])
def test_non_finite_numbers_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps_compact(value)
