"""Bitcoin address validation and encoding: Base58Check (P2PKH, P2SH) and bech32/bech32m (SegWit).

Validation checks the checksum, the network's prefixes and the SegWit program rules of BIP-173 and
BIP-350, and returns the canonical form (bech32 in lower case). Every failure is an
:class:`~shared.errors.InvalidAddress` whose message an agent can act on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from shared.errors import InvalidAddress
from shared.settings import Network

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {char: index for index, char in enumerate(BECH32_CHARSET)}
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_ADDRESS_LENGTH = 90


class Bech32Variant(Enum):
    """The two checksum constants: bech32 (witness v0) and bech32m (v1 and later)."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


@dataclass(frozen=True)
class NetworkParams:
    """Address prefixes of one network."""

    hrp: str
    p2pkh_version: int
    p2sh_version: int


NETWORK_PARAMS: dict[Network, NetworkParams] = {
    "mainnet": NetworkParams(hrp="bc", p2pkh_version=0x00, p2sh_version=0x05),
    "testnet": NetworkParams(hrp="tb", p2pkh_version=0x6F, p2sh_version=0xC4),
    "testnet4": NetworkParams(hrp="tb", p2pkh_version=0x6F, p2sh_version=0xC4),
    "signet": NetworkParams(hrp="tb", p2pkh_version=0x6F, p2sh_version=0xC4),
}


@dataclass(frozen=True)
class Address:
    """A validated address: its canonical text and its kind."""

    text: str
    kind: str
    """One of ``p2pkh``, ``p2sh``, ``p2wpkh``, ``p2wsh``, ``p2tr``, ``witness_v{N}``."""


def _double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def base58check_encode(version: int, payload: bytes) -> str:
    """Encode ``version || payload`` with a 4-byte double-SHA256 checksum in Base58."""
    raw = bytes([version]) + payload
    raw += _double_sha256(raw)[:4]
    number = int.from_bytes(raw, "big")
    encoded = ""
    while number:
        number, remainder = divmod(number, 58)
        encoded = BASE58_ALPHABET[remainder] + encoded
    leading_zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * leading_zeros + encoded


def base58check_decode(text: str) -> tuple[int, bytes]:
    """Decode Base58Check text into ``(version, payload)``; raise :class:`InvalidAddress` if corrupt."""
    number = 0
    for char in text:
        index = _BASE58_INDEX.get(char)
        if index is None:
            raise InvalidAddress(f"character {char!r} is not Base58 (0, O, I and l are never used)")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    raw = b"\0" * (len(text) - len(text.lstrip("1"))) + body
    if len(raw) < 5:
        raise InvalidAddress("too short for a Base58Check address")
    data, checksum = raw[:-4], raw[-4:]
    if _double_sha256(data)[:4] != checksum:
        raise InvalidAddress("Base58Check checksum does not match: a character is wrong or missing")
    return data[0], data[1:]


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data: list[int] | bytes, from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    accumulator = bits = 0
    result: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            result.append((accumulator >> bits) & max_value)
    if pad:
        if bits:
            result.append((accumulator << (to_bits - bits)) & max_value)
    elif bits >= from_bits or (accumulator << (to_bits - bits)) & max_value:
        return None
    return result


def bech32_encode(hrp: str, data: list[int], variant: Bech32Variant) -> str:
    """Encode 5-bit ``data`` under ``hrp`` with the checksum of ``variant``."""
    values = _hrp_expand(hrp) + data
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ variant.value
    checksum = [(polymod >> 5 * (5 - index)) & 31 for index in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[value] for value in data + checksum)


def bech32_decode(text: str) -> tuple[str, list[int], Bech32Variant]:
    """Decode bech32/bech32m text into ``(hrp, 5-bit data, variant)``; raise on any defect."""
    if text.lower() != text and text.upper() != text:
        raise InvalidAddress("mixes upper and lower case; write a bech32 address in one case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise InvalidAddress("has no valid bech32 separator '1' followed by data and a 6-character checksum")
    hrp, payload = text[:separator], text[separator + 1 :]
    if any(ord(char) < 33 or ord(char) > 126 for char in hrp):
        raise InvalidAddress("has a non-printable character in its prefix")
    data: list[int] = []
    for char in payload:
        index = _BECH32_INDEX.get(char)
        if index is None:
            raise InvalidAddress(f"character {char!r} is not in the bech32 alphabet (no 1, b, i or o after '1')")
        data.append(index)
    polymod = _polymod(_hrp_expand(hrp) + data)
    for variant in Bech32Variant:
        if polymod == variant.value:
            return hrp, data[:-6], variant
    raise InvalidAddress("bech32 checksum does not match: a character is wrong or missing")


def segwit_encode(hrp: str, witness_version: int, program: bytes) -> str:
    """Encode a SegWit address (bech32 for version 0, bech32m for 1 to 16)."""
    variant = Bech32Variant.BECH32 if witness_version == 0 else Bech32Variant.BECH32M
    converted = _convert_bits(program, 8, 5, pad=True)
    assert converted is not None
    return bech32_encode(hrp, [witness_version, *converted], variant)


def segwit_decode(text: str) -> tuple[str, int, bytes]:
    """Decode a SegWit address into ``(hrp, witness version, witness program)``; raise on any defect."""
    hrp, data, _ = bech32_decode(text)
    program = _convert_bits(data[1:], 5, 8, pad=False) if data else None
    if not data or program is None:
        raise InvalidAddress("has no valid witness program")
    return hrp, data[0], bytes(program)


def _segwit_kind(witness_version: int, program_length: int) -> str:
    if witness_version == 0:
        return "p2wpkh" if program_length == 20 else "p2wsh"
    if witness_version == 1 and program_length == 32:
        return "p2tr"
    return f"witness_v{witness_version}"


def _validate_segwit(text: str, params: NetworkParams, network: Network) -> Address:
    hrp, data, variant = bech32_decode(text)
    if hrp != params.hrp:
        raise InvalidAddress(
            f"is for prefix '{hrp}', but network {network} uses '{params.hrp}1...'; "
            "check the network parameter or the address"
        )
    if not data:
        raise InvalidAddress("has no witness version")
    witness_version, program = data[0], _convert_bits(data[1:], 5, 8, pad=False)
    if witness_version > 16:
        raise InvalidAddress(f"has witness version {witness_version}; only 0 to 16 exist")
    if program is None or not 2 <= len(program) <= 40:
        raise InvalidAddress("has a witness program of invalid length (2 to 40 bytes allowed)")
    if witness_version == 0 and len(program) not in (20, 32):
        raise InvalidAddress("is a version 0 witness program of neither 20 nor 32 bytes")
    expected = Bech32Variant.BECH32 if witness_version == 0 else Bech32Variant.BECH32M
    if variant is not expected:
        raise InvalidAddress(
            f"uses the {variant.name.lower()} checksum, but witness version {witness_version} "
            f"requires {expected.name.lower()} (BIP-350)"
        )
    return Address(text=text.lower(), kind=_segwit_kind(witness_version, len(program)))


def _validate_base58(text: str, params: NetworkParams, network: Network) -> Address:
    version, payload = base58check_decode(text)
    if len(payload) != 20:
        raise InvalidAddress("decodes to a payload that is not 20 bytes; it is not a P2PKH or P2SH address")
    if version == params.p2pkh_version:
        return Address(text=text, kind="p2pkh")
    if version == params.p2sh_version:
        return Address(text=text, kind="p2sh")
    owners = [name for name, other in NETWORK_PARAMS.items() if version in (other.p2pkh_version, other.p2sh_version)]
    if owners:
        raise InvalidAddress(f"is a {'/'.join(owners)} address, but the network is {network}")
    raise InvalidAddress(f"has version byte {version}, which no Bitcoin network uses")


def validate_address(text: str, network: Network) -> Address:
    """Validate ``text`` as an address of ``network``: its canonical form, or :class:`InvalidAddress`."""
    if not isinstance(text, str):
        raise InvalidAddress("must be a string")
    if not text:
        raise InvalidAddress("is empty")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"is {len(text)} characters long; Bitcoin addresses have at most 90")
    if text != text.strip() or any(not char.isprintable() or char.isspace() for char in text):
        raise InvalidAddress("contains spaces or control characters; paste the address alone")
    if not text.isascii():
        raise InvalidAddress("contains non-ASCII characters")
    params = NETWORK_PARAMS[network]
    lowered = text.lower()
    if "1" in lowered and lowered[: lowered.rfind("1")] in {p.hrp for p in NETWORK_PARAMS.values()} | {"bcrt"}:
        return _validate_segwit(text, params, network)
    return _validate_base58(text, params, network)
