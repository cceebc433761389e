"""Cursor parsing: what agents may pass back."""

from __future__ import annotations

import pytest

from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import InvalidParameter


@pytest.mark.parametrize(
    ("text", "epoch", "last_id"),
    [("a1b2c3d4:1234", "a1b2c3d4", 1234), ("42", None, 42), (" deadbeef:0 ", "deadbeef", 0)],
)
def test_valid_cursors_round_trip(text: str, epoch: str | None, last_id: int) -> None:
    cursor = Cursor.parse(text)
    assert (cursor.epoch, cursor.last_id) == (epoch, last_id)
    assert Cursor.parse(str(cursor)) == cursor


@pytest.mark.parametrize("text", ["", "abc", "x:1", "1:2:3", "-5", "12345678901234567890", "a1:1e3"])
def test_malformed_cursors_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidParameter, match="cursor must be"):
        Cursor.parse(text)
