#!/usr/bin/env bash
# Benchmark harness in quick mode (about 35 s): type-checks bench/ (it is not in mypy's package
# list) and fails when the harness breaks (lost events, failed calls, errors), never on timing,
# which is too noisy on shared CI machines. Figures land in bench/results/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."

uv run mypy bench
timeout 600 uv run python -m bench --quick
