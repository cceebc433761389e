"""BlockExtended objects (header fields plus mining ``extras``) built from a seeded generator."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from shared.bitcoin.addresses import NETWORK_PARAMS, segwit_encode
from shared.settings import Network
from simulator.market import FeeMarket
from simulator.seeding import le_hex, random_hex, reverse_hex

SUBSIDY_SATS = 312_500_000
MAX_BLOCK_WEIGHT = 4_000_000
TARGET_ONE = 0xFFFF << 208
_VERSIONS = (0x20000000, 0x20000000, 0x2000E000, 0x20D8C000, 0x2A000000, 0x3FFF0000)


@dataclass(frozen=True)
class Pool:
    """A mining pool as mempool.space identifies it."""

    id: int
    name: str
    slug: str
    tag: str
    weight: float
    miner_names: tuple[str, ...] | None = None


POOLS: tuple[Pool, ...] = (
    Pool(111, "Foundry USA", "foundryusa", "/Foundry USA Pool #dropgold/", 30),
    Pool(44, "AntPool", "antpool", "Mined by AntPool", 17),
    Pool(73, "ViaBTC", "viabtc", "/ViaBTC/Mined by ViaBTC/", 11),
    Pool(36, "F2Pool", "f2pool", "/F2Pool/", 10),
    Pool(152, "SpiderPool", "spiderpool", "SpiderPool/", 8),
    Pool(141, "MARA Pool", "marapool", "MARA Pool/", 5),
    Pool(154, "SECPOOL", "secpool", "/SecPool/", 4),
    Pool(4, "Luxor", "luxor", "/LUXOR/", 3),
    Pool(105, "Binance Pool", "binancepool", "/Binance/", 3),
    Pool(43, "Braiins Pool", "braiinspool", "/slush/", 2),
    Pool(112, "SBI Crypto", "sbicrypto", "/SBICrypto.com Pool/", 1.5),
    Pool(163, "OCEAN", "ocean", "/OCEAN.XYZ/", 1.5, ("pooldemo", "satoshi-garage")),
    Pool(137, "Unknown", "unknown", "", 1),
)


@dataclass(frozen=True)
class BlockSpec:
    """Everything that fixes one block besides its seeded generator."""

    network: Network
    height: int
    timestamp: int
    mediantime: int
    previous_hash: str
    block_hash: str
    bits: int
    pressure: float


def difficulty_bits(difficulty: float) -> int:
    """Compact ``bits`` of the target that corresponds to ``difficulty``."""
    target = int(TARGET_ONE / difficulty)
    size = (target.bit_length() + 7) // 8
    compact = target << 8 * (3 - size) if size <= 3 else target >> 8 * (size - 3)
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return size << 24 | compact


def bits_target(bits: int) -> int:
    """The target encoded by compact ``bits``."""
    return (bits & 0xFFFFFF) << 8 * ((bits >> 24) - 3)


def bits_difficulty(bits: int) -> float:
    """The difficulty of compact ``bits``."""
    return TARGET_ONE / bits_target(bits)


def block_hash(rng: random.Random, bits: int) -> str:
    """A hash below the target of ``bits`` (so it has a realistic run of leading zeros)."""
    return f"{rng.randrange(bits_target(bits)):064x}"


def pick_pool(rng: random.Random) -> Pool:
    """A pool drawn by hashrate share."""
    return rng.choices(POOLS, weights=[pool.weight for pool in POOLS])[0]


def pool_address(network: Network, pool: Pool, rng: random.Random) -> tuple[str, bytes]:
    """The pool's payout address (P2WPKH) and its program; stable per pool except for unknown miners."""
    seed = pool.slug.encode() if pool.slug != "unknown" else rng.randbytes(8)
    program = hashlib.sha256(seed).digest()[:20]
    return segwit_encode(NETWORK_PARAMS[network].hrp, 0, program), program


def _percentile(sorted_rates: list[float], fraction: float) -> float:
    return sorted_rates[min(len(sorted_rates) - 1, int(fraction * len(sorted_rates)))]


def _block_rates(rng: random.Random, market: FeeMarket, pressure: float) -> list[float]:
    samples = sorted((market.sample_rate(rng, pressure) for _ in range(400)), reverse=True)
    keep = max(40, int(len(samples) * min(0.7, max(0.15, 0.7 / pressure))))
    return sorted(samples[:keep])


def _fee_extras(rng: random.Random, market: FeeMarket, pressure: float, vsize: float, tx_count: int) -> dict[str, Any]:
    rates = _block_rates(rng, market, pressure)
    avg_rate = sum(rates) / len(rates)
    total_fees = int(avg_rate * vsize)
    median = _percentile(rates, 0.5)
    fee_range = [rates[0], *(_percentile(rates, p) for p in (0.1, 0.25, 0.5, 0.75, 0.9)), rates[-1]]
    return {
        "medianFee": median,
        "feeRange": fee_range,
        "totalFees": total_fees,
        "avgFee": total_fees // tx_count,
        "avgFeeRate": round(avg_rate),
    }


def _coinbase(spec: BlockSpec, pool: Pool, rng: random.Random) -> dict[str, Any]:
    tag = pool.tag.encode().hex()
    raw = f"03{le_hex(spec.height, 3)}04{le_hex(spec.timestamp, 4)}{tag}{random_hex(rng, 12)}00000000"
    address, program = pool_address(spec.network, pool, rng)
    return {
        "coinbaseRaw": raw,
        "coinbaseAddress": address,
        "coinbaseAddresses": [address],
        "coinbaseSignature": f"OP_0 OP_PUSHBYTES_20 {program.hex()}",
        "coinbaseSignatureAscii": pool.tag,
    }


def _tx_summary(rng: random.Random, tx_count: int) -> tuple[int, int, dict[str, Any]]:
    weight = MAX_BLOCK_WEIGHT - rng.randint(1_000, 12_000)
    size = rng.randint(1_350_000, 2_250_000)
    inputs = int(tx_count * rng.uniform(1.6, 2.6))
    outputs = int(tx_count * rng.uniform(2.1, 3.2))
    summary = {
        "utxoSetChange": outputs - inputs,
        "avgTxSize": round(size / tx_count, 2),
        "totalInputs": inputs,
        "totalOutputs": outputs,
        "totalOutputAmt": rng.randint(40_000, 900_000) * 10**6 + rng.randint(0, 10**6),
        "segwitTotalTxs": int(tx_count * rng.uniform(0.9, 0.99)),
        "segwitTotalSize": int(size * rng.uniform(0.88, 0.97)),
        "segwitTotalWeight": int(weight * rng.uniform(0.85, 0.95)),
    }
    return weight, size, summary


def _audit(rng: random.Random, total_fees: int, weight: int) -> dict[str, Any]:
    return {
        "matchRate": round(rng.uniform(96, 100), 2) if rng.random() < 0.6 else 100,
        "expectedFees": int(total_fees * rng.uniform(0.97, 1.03)),
        "expectedWeight": weight - rng.randint(-3000, 3000),
        "similarity": rng.uniform(0.93, 1.0),
    }


def _pool_json(pool: Pool) -> dict[str, Any]:
    names = list(pool.miner_names) if pool.miner_names else None
    return {"id": pool.id, "name": pool.name, "slug": pool.slug, "minerNames": names}


def _header(spec: BlockSpec, version: int, merkle_root: str, nonce: int) -> str:
    return (
        le_hex(version, 4)
        + reverse_hex(spec.previous_hash)
        + reverse_hex(merkle_root)
        + le_hex(spec.timestamp, 4)
        + le_hex(spec.bits, 4)
        + le_hex(nonce, 4)
    )


def build_block(spec: BlockSpec, rng: random.Random, market: FeeMarket) -> dict[str, Any]:
    """The BlockExtended of ``spec``, with the field order of the backend's ``$getBlockExtended``."""
    tx_count = rng.randint(1_800, 5_200)
    version, nonce, merkle_root = rng.choice(_VERSIONS), rng.getrandbits(32), random_hex(rng, 32)
    weight, size, summary = _tx_summary(rng, tx_count)
    fees = _fee_extras(rng, market, spec.pressure, weight / 4, tx_count)
    pool = pick_pool(rng)
    coinbase = _coinbase(spec, pool, rng)
    extras: dict[str, Any] = {
        "reward": SUBSIDY_SATS + fees["totalFees"],
        "coinbaseRaw": coinbase.pop("coinbaseRaw"),
        "orphans": [],
        **fees,
        **summary,
        "feePercentiles": None,
        "virtualSize": weight / 4,
        **coinbase,
        "header": _header(spec, version, merkle_root, nonce),
        "utxoSetSize": None,
        "totalInputAmt": None,
        "pool": _pool_json(pool),
        **_audit(rng, fees["totalFees"], weight),
        "firstSeen": None,
    }
    return {
        "id": spec.block_hash,
        "height": spec.height,
        "version": version,
        "timestamp": spec.timestamp,
        "bits": spec.bits,
        "nonce": nonce,
        "difficulty": bits_difficulty(spec.bits),
        "merkle_root": merkle_root,
        "tx_count": tx_count,
        "size": size,
        "weight": weight,
        "previousblockhash": spec.previous_hash,
        "mediantime": spec.mediantime,
        "stale": False,
        "extras": extras,
    }
