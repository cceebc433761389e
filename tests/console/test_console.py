"""What a person at the terminal (and a log collector) sees from real ``mempool-ws`` processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.terminal import Terminal
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, http_ok, wait_until

SIM = ["--upstream-url", "sim", "--sim-speed", "600"]
STATUS_LINE = re.compile(r"status: tip \d+, [\d.]+ events/s, 0 open streams, upstream connected")


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.timeout(90)
def test_a_terminal_shows_where_to_connect_then_a_status_line_and_ctrl_c_ends_quietly() -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "MEMPOOL_WS_LOG_FORMAT"}
    env["MEMPOOL_WS_STATUS_LOG_INTERVAL_S"] = "1"
    terminal = Terminal(["serve", "--transport", "http", "--port", str(port), *SIM], env)
    try:
        text = terminal.read_until(lambda shown: len(STATUS_LINE.findall(shown)) >= 2, 60)
        assert f"mempool-ws serve: connect MCP clients to http://127.0.0.1:{port}/mcp\n" in text
        assert re.search(r"\n +upstream +built-in simulator at ws://127\.0\.0\.1:\d+/api/v1/ws", text)
        assert re.search(r"\n +network +mainnet\n", text) and re.search(r"\n +bus +embedded", text)
        assert not any(line.startswith("{") for line in text.splitlines()), "text, not JSON, on a terminal"
        assert terminal.interrupt() == 0
        assert "Traceback" not in terminal.text and "gateway stopped" in terminal.text
    finally:
        terminal.close()


@pytest.mark.timeout(90)
def test_json_off_a_terminal_has_named_fields_no_escapes_or_reprs_and_no_traceback_on_a_second_ctrl_c(
    processes: list[ServiceProcess],
) -> None:
    port = free_port()
    env = {"MEMPOOL_WS_LOG_FORMAT": "auto", "MEMPOOL_WS_STATUS_LOG_INTERVAL_S": "1", "MEMPOOL_WS_LOG_LEVEL": "DEBUG"}
    serve = ServiceProcess(["serve", "--transport", "http", "--port", str(port), *SIM], env).start()
    processes.append(serve)
    wait_until(lambda: '"tip_height": 9' in serve.output(), 60, "a status record with a tip height")
    assert http_ok(f"http://127.0.0.1:{port}/readyz")
    serve.signal(signal.SIGINT)
    time.sleep(0.3)
    serve.signal(signal.SIGINT)  # an impatient second Ctrl-C during the drain: stop now, still quietly
    assert serve.wait(20) == 130
    output = serve.output()
    records = [json.loads(line) for line in output.splitlines()]
    assert not [r for r in records if r["level"] == "error" or "exc" in r]
    assert "\\u001b" not in output and "color_message" not in output and " object at 0x" not in output
    [started] = [r for r in records if r.get("event") == "started"]
    assert started["mcp"].startswith(f"http://127.0.0.1:{port}/mcp") and started["network"] == "mainnet"
    assert started["upstream"].startswith("built-in simulator at ws://") and started["bus"].startswith("embedded")
    status = next(r for r in records if r.get("event") == "status")
    assert isinstance(status["tip_height"], int) and status["upstream"] == "connected"
    assert status["open_streams"] == 0 and isinstance(status["events_per_s"], float | int)


@pytest.mark.timeout(90)
def test_a_port_in_use_is_one_line_naming_it_and_exit_2(processes: list[ServiceProcess]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        no_redis = ["--redis-url", f"redis://127.0.0.1:{free_port()}"]
        commands = {
            "--port or MEMPOOL_WS_PORT": [
                ["serve", "--transport", "http", "--port", str(port), *SIM],
                ["gateway", "--port", str(port), *no_redis],
                ["sim", "--port", str(port)],
            ],
            "--metrics-port or MEMPOOL_WS_METRICS_PORT": [["ingest", "--metrics-port", str(port), *no_redis]],
        }
        started = [(flag, ServiceProcess(args).start()) for flag, group in commands.items() for args in group]
        processes.extend(process for _, process in started)
        for flag, process in started:
            assert process.wait(40) == 2
            lines = process.output().strip().splitlines()
            assert len(lines) == 1, process.output()
            assert f"port {port} is already in use" in lines[0] and flag in lines[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:6379", "must start with redis://"),
        ("redis://redis..local:6379", "'redis..local' is not a valid host name"),
    ],
)
def test_a_bad_redis_url_is_one_line_and_exit_2(processes: list[ServiceProcess], url: str, says: str) -> None:
    gateway = ServiceProcess(["gateway", "--port", str(free_port()), "--redis-url", url]).start()
    processes.append(gateway)
    assert gateway.wait(30) == 2
    [line] = gateway.output().strip().splitlines()
    assert says in line and "MEMPOOL_WS_REDIS_URL" in line


@pytest.mark.timeout(90)
def test_unreachable_upstream_and_redis_are_one_line_per_attempt_and_the_process_keeps_trying(
    processes: list[ServiceProcess],
) -> None:
    fast = {
        "MEMPOOL_WS_BACKOFF_INITIAL_S": "0.1",
        "MEMPOOL_WS_BACKOFF_MAX_S": "0.5",
        "MEMPOOL_WS_REDIS_RETRY_MAX_S": "0.5",
    }
    upstream = f"ws://127.0.0.1:{free_port()}/api/v1/ws"
    http = ["serve", "--transport", "http"]
    no_upstream = ServiceProcess([*http, "--port", str(free_port()), "--upstream-url", upstream], fast).start()
    redis_url = f"redis://127.0.0.1:{free_port()}"
    no_redis = ServiceProcess([*http, "--port", str(free_port()), "--redis-url", redis_url, *SIM], fast).start()
    processes.extend([no_upstream, no_redis])
    wait_until(lambda: no_upstream.output().count("reconnecting in") >= 3, 60, "three upstream attempts")
    wait_until(
        lambda: no_redis.output().count("ingestor.service: connect to the event bus failed") >= 3,
        60,
        "three Redis attempts",
    )
    warning = next(line for line in no_upstream.output().splitlines() if "cannot reach the upstream" in line)
    assert upstream in warning and "--upstream-url sim" in warning
    for process in (no_upstream, no_redis):
        assert process.alive() and "Traceback" not in process.output()
        process.signal(signal.SIGTERM)
        assert process.wait(20) == 0


@pytest.mark.timeout(60)
def test_stdio_keeps_stdout_for_json_rpc_and_puts_the_banner_and_status_on_stderr(tmp_path: Path) -> None:
    env = {**os.environ, "MEMPOOL_WS_LOG_FORMAT": "text", "MEMPOOL_WS_STATUS_LOG_INTERVAL_S": "0.5"}
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mempool_ws.cli", "serve", "--transport", "stdio", *SIM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert process.stdin is not None and process.stdout is not None
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]  # fmt: skip
    try:
        process.stdin.write("".join(json.dumps(request) + "\n" for request in requests).encode())
        process.stdin.flush()
        replies = [json.loads(process.stdout.readline()) for _ in range(2)]
        wait_until(lambda: "status: tip" in stderr_path.read_text(), 30, "a status line on stderr")
        process.stdin.close()
        assert process.wait(20) == 0
        rest = process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [reply["id"] for reply in replies] == [1, 2] and all(reply["jsonrpc"] == "2.0" for reply in replies)
    assert rest == "", "nothing but JSON-RPC replies on stdout"
    logs = stderr_path.read_text()
    assert "mempool-ws serve: serving MCP over stdio (stdin/stdout); logs go to stderr" in logs
    assert re.search(r"\n +MCP +stdio\n", logs) and "built-in simulator at ws://" in logs
