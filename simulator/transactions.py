"""Esplora-style transactions with the mempool backend's extensions, and output scripts of addresses."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bitcoin.addresses import (
    NETWORK_PARAMS,
    base58check_decode,
    segwit_decode,
    segwit_encode,
    validate_address,
)
from shared.settings import Network
from simulator.seeding import random_hex

RBF_SEQUENCE = 0xFFFFFFFD
DUST_SATS = 546
_FLAGS = {"v0_p2wpkh": 1099511631881, "v1_p2tr": 8796093042697}
_DEFAULT_FLAGS = 1099511631881


@dataclass(frozen=True)
class Script:
    """An output script: hex, asm, esplora type and (when it has one) address."""

    hex: str
    asm: str
    type: str
    address: str | None


def _push(data: bytes) -> str:
    return f"OP_PUSHBYTES_{len(data)} {data.hex()}"


def _segwit_script(version: int, program: bytes, address: str) -> Script:
    opcode = "OP_0" if version == 0 else f"OP_PUSHNUM_{version}"
    kinds = {(0, 20): "v0_p2wpkh", (0, 32): "v0_p2wsh", (1, 32): "v1_p2tr"}
    script_hex = f"{(0x50 + version if version else 0):02x}{len(program):02x}{program.hex()}"
    return Script(script_hex, f"{opcode} {_push(program)}", kinds.get((version, len(program)), "unknown"), address)


def script_for(address: str, network: Network) -> Script:
    """The output script paying ``address`` (raises ``InvalidAddress`` if it is not of ``network``)."""
    valid = validate_address(address, network)
    if valid.kind in ("p2pkh", "p2sh"):
        _, payload = base58check_decode(valid.text)
        if valid.kind == "p2pkh":
            asm = f"OP_DUP OP_HASH160 {_push(payload)} OP_EQUALVERIFY OP_CHECKSIG"
            return Script(f"76a914{payload.hex()}88ac", asm, "p2pkh", valid.text)
        return Script(f"a914{payload.hex()}87", f"OP_HASH160 {_push(payload)} OP_EQUAL", "p2sh", valid.text)
    _, version, program = segwit_decode(valid.text)
    return _segwit_script(version, program, valid.text)


def random_script(rng: random.Random, network: Network) -> Script:
    """A P2WPKH (mostly) or P2TR script of a random key."""
    hrp = NETWORK_PARAMS[network].hrp
    version, length = (1, 32) if rng.random() < 0.2 else (0, 20)
    program = rng.randbytes(length)
    return _segwit_script(version, program, segwit_encode(hrp, version, program))


def _witness(rng: random.Random, script: Script) -> list[str]:
    if script.type == "v1_p2tr":
        return [random_hex(rng, 64)]
    signature = f"30440220{random_hex(rng, 32)}0220{random_hex(rng, 32)}01"
    return [signature, rng.choice(("02", "03")) + random_hex(rng, 32)]


def _input(rng: random.Random, script: Script, value: int) -> dict[str, Any]:
    return {
        "txid": random_hex(rng, 32),
        "vout": rng.randint(0, 3),
        "prevout": _output(script, value),
        "scriptsig": "",
        "scriptsig_asm": "",
        "witness": _witness(rng, script),
        "is_coinbase": False,
        "sequence": RBF_SEQUENCE,
    }


def _output(script: Script, value: int) -> dict[str, Any]:
    output: dict[str, Any] = {
        "scriptpubkey": script.hex,
        "scriptpubkey_asm": script.asm,
        "scriptpubkey_type": script.type,
    }
    if script.address is not None:
        output["scriptpubkey_address"] = script.address
    output["value"] = value
    return output


def _sizes(vin: list[dict[str, Any]], vout: list[dict[str, Any]]) -> tuple[int, int]:
    base = 10 + 41 * len(vin) + sum(9 + len(out["scriptpubkey"]) // 2 for out in vout)
    witness = 2 + sum(1 + sum(1 + len(item) // 2 for item in entry["witness"]) for entry in vin)
    return base + witness, 4 * base + witness


def order_of(txid: str) -> int:
    """The backend's ``order``: the last four txid bytes read as a little-endian uint32."""
    return int.from_bytes(bytes.fromhex(txid[56:]), "little")


def extend(tx: dict[str, Any], first_seen: int) -> dict[str, Any]:
    """Add the mempool fields (``extendMempoolTransaction``) to an esplora transaction."""
    adjusted = tx["weight"] / 4
    rate = tx["fee"] / adjusted
    input_types = {entry["prevout"]["scriptpubkey_type"] for entry in tx["vin"]}
    flags = 0
    for kind in input_types:
        flags |= _FLAGS.get(kind, _DEFAULT_FLAGS)
    tx.update(
        order=order_of(tx["txid"]),
        vsize=math.ceil(adjusted),
        adjustedVsize=adjusted,
        feePerVsize=rate,
        adjustedFeePerVsize=rate,
        effectiveFeePerVsize=rate,
        firstSeen=first_seen,
        inputs=[],
        cpfpDirty=False,
        ancestors=[],
        descendants=[],
        bestDescendant=None,
        position={"block": 0, "vsize": adjusted / 2},
        flags=flags,
    )
    return tx


def payment(
    rng: random.Random,
    network: Network,
    pay_to: Script,
    value: int,
    *,
    rate: float,
    first_seen: int,
    locktime: int,
) -> dict[str, Any]:
    """A mempool transaction paying ``value`` sats to ``pay_to`` at about ``rate`` sat/vB, with change."""
    sources = [random_script(rng, network) for _ in range(1 if rng.random() < 0.8 else 2)]
    change = random_script(rng, network)
    spare = rng.randint(20_000, 5_000_000)
    vin = [_input(rng, script, 0) for script in sources]
    vout = [_output(pay_to, value), _output(change, spare)]
    size, weight = _sizes(vin, vout)
    fee = max(1, math.ceil(rate * weight / 4))
    total_in = value + spare + fee
    for index, entry in enumerate(vin):
        entry["prevout"]["value"] = total_in // len(vin) + (total_in % len(vin) if index == 0 else 0)
    tx: dict[str, Any] = {
        "txid": random_hex(rng, 32),
        "version": 2,
        "locktime": locktime,
        "vin": vin,
        "vout": vout,
        "size": size,
        "weight": weight,
        "sigops": sum(1 for script in sources if script.type == "v0_p2wpkh"),
        "fee": fee,
        "status": {"confirmed": False},
    }
    return extend(tx, first_seen)


def replacement(rng: random.Random, original: dict[str, Any], rate: float, first_seen: int) -> dict[str, Any]:
    """An RBF replacement of ``original``: same inputs and payment, higher fee taken from the change."""
    fee = max(original["fee"] + math.ceil(original["weight"] / 4), math.ceil(rate * original["weight"] / 4))
    vout = [dict(out) for out in original["vout"]]
    vout[-1]["value"] = max(DUST_SATS, vout[-1]["value"] - (fee - original["fee"]))
    tx = {key: original[key] for key in ("version", "locktime", "vin", "size", "weight", "sigops")}
    tx = {"txid": random_hex(rng, 32), **tx, "vout": vout, "fee": fee, "status": {"confirmed": False}}
    return extend(tx, first_seen)


def child(
    rng: random.Random,
    network: Network,
    parent: dict[str, Any],
    fee_for_weight: Callable[[int], int],
    first_seen: int,
) -> dict[str, Any]:
    """A CPFP child: spends the parent's last output (its change) to a new address, paying
    ``fee_for_weight(weight)``. Raises ``ValueError`` when that output cannot pay the fee."""
    index = len(parent["vout"]) - 1
    spent = parent["vout"][index]
    source = Script(spent["scriptpubkey"], spent["scriptpubkey_asm"], spent["scriptpubkey_type"], None)
    entry = {
        "txid": parent["txid"],
        "vout": index,
        "prevout": dict(spent),
        "scriptsig": "",
        "scriptsig_asm": "",
        "witness": _witness(rng, source),
        "is_coinbase": False,
        "sequence": RBF_SEQUENCE,
    }
    vout = [_output(random_script(rng, network), 0)]
    size, weight = _sizes([entry], vout)
    fee = fee_for_weight(weight)
    if spent["value"] - fee < DUST_SATS:
        raise ValueError(f"the change output ({spent['value']} sats) cannot pay a {fee} sats child fee")
    vout[0]["value"] = spent["value"] - fee
    tx: dict[str, Any] = {
        "txid": random_hex(rng, 32),
        "version": 2,
        "locktime": parent["locktime"],
        "vin": [entry],
        "vout": vout,
        "size": size,
        "weight": weight,
        "sigops": 1 if source.type == "v0_p2wpkh" else 0,
        "fee": fee,
        "status": {"confirmed": False},
    }
    return extend(tx, first_seen)


def confirmed(tx: dict[str, Any], height: int, block_hash: str, block_time: int) -> dict[str, Any]:
    """A copy of ``tx`` as it looks once mined: status confirmed, no mempool position."""
    status = {"confirmed": True, "block_height": height, "block_hash": block_hash, "block_time": block_time}
    return {**{key: value for key, value in tx.items() if key != "position"}, "status": status}


def touched_addresses(tx: dict[str, Any]) -> frozenset[str]:
    """Addresses in the outputs and in the inputs' prevouts of ``tx``."""
    outputs = [out.get("scriptpubkey_address") for out in tx["vout"]]
    inputs = [entry["prevout"].get("scriptpubkey_address") for entry in tx["vin"]]
    return frozenset(address for address in outputs + inputs if address)


def stripped(tx: dict[str, Any]) -> dict[str, Any]:
    """The TransactionStripped form (``transactions`` key)."""
    vsize = tx["weight"] / 4
    return {
        "txid": tx["txid"],
        "fee": tx["fee"],
        "vsize": vsize,
        "value": sum(out["value"] for out in tx["vout"]),
        "rate": tx["fee"] / vsize,
        "time": tx["firstSeen"],
    }
