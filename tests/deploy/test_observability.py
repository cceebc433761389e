"""The metrics endpoints pass ``promtool check metrics``; dashboards and alerts use only real metric names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from fastmcp import Client
from prometheus_client import CollectorRegistry

from ingestor.metrics import IngestorMetrics
from mcp_gateway.metrics import GatewayMetrics
from shared.settings import SimSettings
from simulator import Simulator
from tests.gateway.stack import FAST_INGEST_ENV, wait_ready
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL_ENV = "MEMPOOL_WS_PROMTOOL"
DASHBOARD = ROOT / "deploy" / "grafana" / "mempool-ws.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
CHART_FILES = ROOT / "charts" / "mempool-ws" / "files"
METRIC_NAME = re.compile(r"\b(?:ingestor|gateway)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"), "gauge": ("",)}


def promtool() -> str:
    """promtool from ``MEMPOOL_WS_PROMTOOL``, ``.tools/bin`` (what ops.sh installs) or PATH."""
    candidates = [os.environ.get(PROMTOOL_ENV), str(ROOT / ".tools" / "bin" / "promtool"), shutil.which("promtool")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"promtool not found (looked at ${PROMTOOL_ENV}, .tools/bin/promtool and PATH): "
        "install it with `bash .ci/checks/ops.sh install`"
    )


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )


@dataclass
class Deployment:
    ingestor_metrics: str
    gateway: str


@pytest.fixture
async def deployment(redis_url: str, key_prefix: str, redis_cleanup: None) -> AsyncIterator[Deployment]:
    """Simulator, one ingestor process and one gateway process on a real Redis."""
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=5)) as sim:
        common = ["--redis-url", redis_url, "--key-prefix", key_prefix]
        metrics_port, gateway_port = free_port(), free_port()
        ingest = ServiceProcess(
            ["ingest", "--upstream-url", sim.ws_url, "--metrics-port", str(metrics_port), *common],
            env={**FAST_INGEST_ENV, "MEMPOOL_WS_UPSTREAM_REST_URL": f"{sim.http_url}/api"},
        ).start()
        gateway = ServiceProcess(["gateway", "--port", str(gateway_port), *common]).start()
        try:
            deployment = Deployment(f"http://127.0.0.1:{metrics_port}", f"http://127.0.0.1:{gateway_port}")
            await wait_ready(f"{deployment.ingestor_metrics}/readyz")
            await wait_ready(f"{deployment.gateway}/readyz")
            yield deployment
        finally:
            ingest.stop()
            gateway.stop()


async def exercise(gateway: str) -> None:
    """Calls that give the labelled gateway metrics samples: snapshots, a stream, a refused address."""
    async with Client(f"{gateway}/mcp") as client:
        await client.call_tool("stream_stats", {"want": False})
        await client.call_tool("stream_blocks", {"max_events": 1, "timeout_s": 10})
        await client.call_tool("health", {})
        await client.call_tool("track_address", {"address": "not-an-address", "want": False}, raise_on_error=False)


async def test_both_metrics_endpoints_pass_promtool(deployment: Deployment) -> None:
    await exercise(deployment.gateway)
    async with httpx.AsyncClient(timeout=5) as http:
        bodies = {
            "ingestor": (await http.get(f"{deployment.ingestor_metrics}/metrics")).text,
            "gateway": (await http.get(f"{deployment.gateway}/metrics")).text,
        }
    assert "ingestor_events_published_total{" in bodies["ingestor"]
    assert "gateway_delivery_lag_seconds_bucket{" in bodies["gateway"]
    assert 'gateway_tool_calls_total{outcome="ok",tool="stream_stats"}' in bodies["gateway"]
    for name, body in bodies.items():
        result = check_metrics(body)
        assert result.returncode == 0, f"promtool check metrics on the {name}: {result.stdout}{result.stderr}"


def test_promtool_rejects_bad_exposition_text() -> None:
    """The check above can fail: promtool flags a counter without ``_total`` and a missing HELP."""
    result = check_metrics("# TYPE ingestor_oops counter\ningestor_oops 1\n")
    assert result.returncode != 0


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry can expose (histogram buckets, counter totals, gauges)."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def dashboard_queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    panels = [*dashboard["panels"], *(nested for row in dashboard["panels"] for nested in row.get("panels", []))]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    rules: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_and_alerts_use_only_metrics_the_services_export() -> None:
    known = series_names(IngestorMetrics().registry) | series_names(GatewayMetrics().registry)
    queries = dashboard_queries() + alert_queries()
    used = {name for query in queries for name in METRIC_NAME.findall(query)}
    assert len(queries) > 20
    assert used - known == set()
    assert {"gateway_delivery_lag_seconds_bucket", "ingestor_upstream_connected"} <= used


def test_the_chart_ships_the_same_alerts_and_dashboard() -> None:
    assert (CHART_FILES / "alerts.yml").read_bytes() == ALERTS.read_bytes()
    assert (CHART_FILES / "mempool-ws.json").read_bytes() == DASHBOARD.read_bytes()
