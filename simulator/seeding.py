"""Deterministic randomness: every random choice draws from a generator seeded by (seed, labels...)."""

from __future__ import annotations

import hashlib
import random


def rng_for(seed: int, *labels: object) -> random.Random:
    """A generator that depends only on ``seed`` and ``labels`` (stable across processes)."""
    text = "/".join(str(part) for part in (seed, *labels))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big"))


def random_hex(rng: random.Random, n_bytes: int) -> str:
    """``n_bytes`` random bytes as lower-case hex."""
    return rng.getrandbits(8 * n_bytes).to_bytes(n_bytes, "big").hex()


def le_hex(value: int, n_bytes: int) -> str:
    """``value`` as little-endian hex of ``n_bytes`` bytes."""
    return value.to_bytes(n_bytes, "little").hex()


def reverse_hex(text: str) -> str:
    """Byte-reversed hex (display order of hashes versus their order in headers)."""
    return bytes.fromhex(text)[::-1].hex()
