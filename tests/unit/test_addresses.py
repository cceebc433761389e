"""The address codec: BIP-173/BIP-350 vectors, Base58Check, and property-based round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bitcoin.addresses import (
    base58check_decode,
    base58check_encode,
    segwit_decode,
    segwit_encode,
    validate_address,
)
from shared.errors import InvalidAddress

VALID = [
    ("mainnet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "p2pkh"),
    ("mainnet", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "p2sh"),
    ("mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
    ("mainnet", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "p2wsh"),
    ("mainnet", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "p2tr"),
    ("mainnet", "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "witness_v1"),
    ("mainnet", "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "witness_v2"),
    ("testnet4", "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "p2wsh"),
    ("signet", "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "p2tr"),
    ("testnet", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "p2pkh"),
    ("testnet", "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", "p2sh"),
]

INVALID = [
    ("mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum"),
    ("mainnet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "checksum"),
    ("mainnet", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "network mainnet"),
    ("mainnet", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "but the network is mainnet"),
    ("mainnet", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3t4", "mixes upper and lower case"),
    ("mainnet", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "requires bech32m"),
    ("mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "requires bech32 "),
    ("mainnet", "bc1gmk9yu", "no witness version"),
    ("mainnet", "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "invalid length"),
    ("mainnet", "bc1" + "q" * 100, "at most 90"),
    ("mainnet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf\x00a", "control characters"),
    ("mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tü", "non-ASCII"),
    ("mainnet", "", "is empty"),
    ("mainnet", "0OIl", "not Base58"),
]


@pytest.mark.parametrize(("network", "address", "kind"), VALID)
def test_valid_addresses_are_accepted_in_canonical_form(network: str, address: str, kind: str) -> None:
    result = validate_address(address, network)  # type: ignore[arg-type]
    assert result.kind == kind
    assert validate_address(address.upper() if address.startswith(("bc1", "tb1")) else address, network).text == (  # type: ignore[arg-type]
        result.text
    )


@pytest.mark.parametrize(("network", "address", "fragment"), INVALID)
def test_invalid_addresses_say_what_is_wrong(network: str, address: str, fragment: str) -> None:
    with pytest.raises(InvalidAddress, match=fragment):
        validate_address(address, network)  # type: ignore[arg-type]


@given(version=st.integers(0, 16), program=st.binary(min_size=2, max_size=40))
def test_segwit_round_trip(version: int, program: bytes) -> None:
    if version == 0 and len(program) not in (20, 32):
        return
    text = segwit_encode("bc", version, program)
    assert segwit_decode(text) == ("bc", version, program)
    assert validate_address(text, "mainnet").text == text


@given(version=st.sampled_from([0x00, 0x05, 0x6F, 0xC4]), payload=st.binary(min_size=20, max_size=20))
def test_base58check_round_trip(version: int, payload: bytes) -> None:
    text = base58check_encode(version, payload)
    assert base58check_decode(text) == (version, payload)


@given(data=st.data())
def test_any_single_character_change_is_detected(data: st.DataObject) -> None:
    address = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    position = data.draw(st.integers(4, len(address) - 1))
    replacement = data.draw(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l"))
    mutated = address[:position] + replacement + address[position + 1 :]
    if mutated == address:
        return
    with pytest.raises(InvalidAddress):
        validate_address(mutated, "mainnet")
