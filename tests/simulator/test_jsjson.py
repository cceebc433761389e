"""Serialization matches JSON.stringify and the backend's serializeResponse()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.jsjson import dumps, frame, frame_of, js_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.000001, "0.000001"),
        (1.305e-05, "0.00001305"),
        (1e-7, "1e-7"),
        (-3.5e-6, "-0.0000035"),
        (2.0320855614973263, "2.0320855614973263"),
        (1e20, "100000000000000000000"),
        (1.5e21, "1.5e+21"),
        (83126997340024.61, "83126997340024.61"),
        (0.0, "0"),
    ],
)
def test_numbers_are_written_like_javascript(value: float, text: str) -> None:
    assert js_number(value) == text


def test_values_are_compact_and_frames_spaced_at_the_top_level() -> None:
    assert dumps({"a": [1, 2.0, None, 'é"'], "b": True}) == '{"a":[1,2,null,"é\\""],"b":true}'
    assert frame([("pong", "true"), ("fees", '{"x":1}')]) == '{"pong": true, "fees": {"x":1}}'
    assert frame_of({"a": 1, "skipped": None, "b": {"c": 0.5}}) == '{"a": 1, "b": {"c":0.5}}'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_output_is_json_that_reads_back_equal(value: Any) -> None:
    assert json.loads(dumps(value)) == value
