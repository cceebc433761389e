"""Benchmarks of mempool-ws: latency against the floor, fan-out, pulls, ingest throughput, footprint.

Run ``uv run python -m bench`` (full, under 10 minutes) or ``uv run python -m bench --quick`` (CI).
"""
