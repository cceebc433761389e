"""The randomized fault checker of issue 10: a seeded fault schedule over a real stack, judged independently.

Run it with ``uv run python -m tests.checker --minutes 30 --seed 11 [--write-reliability]``; the quick mode
runs in CI as ``tests/checker/test_quick.py``.
"""
