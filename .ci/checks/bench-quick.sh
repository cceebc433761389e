#!/usr/bin/env bash
# Benchmark harness in quick mode (about 35 s; bench/ is type-checked with the rest of the repo).
# Fails when the harness breaks (lost events, failed calls, errors), never on timing,
# which is too noisy on shared CI machines. Figures land in bench/results/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."

timeout 600 uv run python -m bench --quick
