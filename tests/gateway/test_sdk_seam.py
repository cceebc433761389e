"""The seam to FastMCP's and the SDK's private internals (mcp_gateway/sdk.py) finds them, and falls back."""

from __future__ import annotations

import logging

import pytest
from fastmcp import FastMCP

from mcp_gateway import sdk


def test_the_installed_versions_are_the_tested_ones() -> None:
    assert sdk.untested_versions() == {}, "new FastMCP/SDK: check mcp_gateway/sdk.py, then add it to TESTED"
    assert sdk.check_versions()


def test_every_private_internal_is_found_on_the_installed_versions() -> None:
    mcp = FastMCP("seam")
    assert sdk.low_level_server(mcp) is not None
    assert sdk.serve_input_schemas(mcp, {"t": {"type": "object"}})
    lookup = sdk.input_schema_lookup(mcp)
    assert lookup is not None and lookup("t") == {"type": "object"} and lookup("u") is None
    assert sdk.progress_stream(object()) is None  # type: ignore[arg-type]


def test_an_untested_version_is_reported_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sdk.TESTED, "fastmcp", ("0.0.1",))
    with caplog.at_level(logging.WARNING, logger=sdk.__name__):
        assert not sdk.check_versions()
    assert "untested fastmcp" in caplog.text


def test_without_the_sdk_server_the_public_fallbacks_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    mcp = FastMCP("seam")
    monkeypatch.setattr(mcp, "_mcp_server", None)
    assert sdk.low_level_server(mcp) is None
    assert not sdk.serve_input_schemas(mcp, {})
    assert sdk.input_schema_lookup(mcp) is None
    assert not sdk.add_request_handler(mcp, "subscriptions/listen", dict, lambda ctx, params: None)  # type: ignore[arg-type,return-value]
