"""catalog.yaml and server.json list exactly the tools, with exactly the schemas, that the server serves."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from fastmcp import Client

from mcp_gateway.gateway import Gateway
from mcp_gateway.server import SERVER_NAME, build_server
from shared.bus import MemoryBackend
from shared.settings import GatewaySettings
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, http_ok, wait_until
from tools import render_catalog

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER_KEY = "io.modelcontextprotocol.registry/publisher-provided"
PUBLISHER_LIMIT_BYTES = 4096


def load_catalog() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    return loaded


def load_server_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "server.json").read_text())
    return loaded


def digest(schema: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def wire_tools(listed: list[Any]) -> list[dict[str, Any]]:
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed]


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``tools/list`` of the real server with default settings, over fastmcp's in-memory transport."""
    for key in [key for key in os.environ if key.startswith("MEMPOOL_WS_")]:
        monkeypatch.delenv(key)
    async with Client(build_server(Gateway(GatewaySettings(), MemoryBackend()))) as client:
        tools = wire_tools(await client.list_tools())
        assert client.server_info is not None
        assert client.server_info.name == SERVER_NAME
        return tools


def assert_same_tools(listed: list[dict[str, Any]], real: list[dict[str, Any]]) -> None:
    assert [tool["name"] for tool in listed] == [tool["name"] for tool in real]
    for entry, tool in zip(listed, real, strict=True):
        assert entry["inputSchema"] == tool["inputSchema"], f"{tool['name']}: input schema differs"
        assert entry["outputSchema"] == tool["outputSchema"], f"{tool['name']}: output schema differs"
        assert entry["description"] == tool["description"], f"{tool['name']}: description differs"


def test_catalog_is_valid_against_its_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "catalog.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(load_catalog())


def test_server_json_is_valid_and_within_the_registry_limits() -> None:
    schema = json.loads((ROOT / "schemas" / "server.schema.json").read_text())
    document = load_server_json()
    jsonschema.Draft202012Validator(schema).validate(document)
    publisher = json.dumps(document["_meta"][PUBLISHER_KEY], separators=(",", ":"))
    assert len(publisher.encode()) <= PUBLISHER_LIMIT_BYTES


def test_both_files_carry_the_version_of_pyproject() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    catalog, server = load_catalog(), load_server_json()
    assert catalog["version"] == server["version"] == version
    assert catalog["name"] == SERVER_NAME
    assert all(package.get("version", version) == version for package in server["packages"])
    assert catalog["image"].endswith(f":{version}")


async def test_catalog_lists_exactly_the_served_tools_and_schemas(served: list[dict[str, Any]]) -> None:
    assert_same_tools(load_catalog()["tools"], served)


async def test_server_json_lists_the_served_tools_with_their_schema_digests(served: list[dict[str, Any]]) -> None:
    listed = load_server_json()["_meta"][PUBLISHER_KEY]["tools"]
    assert [entry["name"] for entry in listed] == [tool["name"] for tool in served]
    for entry, tool in zip(listed, served, strict=True):
        assert entry["inputSchema"] == digest(tool["inputSchema"]), tool["name"]
        assert entry["outputSchema"] == digest(tool["outputSchema"]), tool["name"]


async def test_the_generated_files_are_up_to_date(served: list[dict[str, Any]]) -> None:
    texts = render_catalog.render_texts(served, render_catalog.project_version())
    stale = render_catalog.stale_files(texts)
    assert not stale, f"out of date: {[p.name for p in stale]}; run `uv run python tools/render_catalog.py`"


async def test_a_running_gateway_serves_what_the_catalog_says(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    catalog = load_catalog()
    port = free_port()
    gateway = ServiceProcess(["gateway", "--redis-url", redis_url, "--key-prefix", key_prefix, "--port", str(port)])
    gateway.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(base + catalog["healthCheck"]["readiness"]["path"]), 20, "gateway ready")
        assert http_ok(base + catalog["healthCheck"]["liveness"]["path"])
        assert http_ok(base + catalog["metrics"][0]["path"])
        async with Client(base + catalog["transport"]["path"]) as client:
            over_http = wire_tools(await client.list_tools())
        assert_same_tools(catalog["tools"], over_http)
    finally:
        gateway.stop()
