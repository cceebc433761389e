"""Address keys: multi-address lists, single-address attribution through ``tracked``, tx fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.normalize import samples
from tests.normalize.helpers import P2TR, P2WPKH, data_of, normalize, topics


def test_one_bad_transaction_of_an_address_is_skipped() -> None:
    value = samples.multi_address_value()
    good = value[P2WPKH]["mempool"][0]
    bad = copy.deepcopy(good)
    bad["vout"][0]["value"] = "1000000"
    value[P2WPKH]["mempool"] = [bad, good]
    value[P2TR]["confirmed"] = "not a list"
    result = normalize({"multi-address-transactions": value})
    assert result.errors == [
        f"multi-address-transactions: {P2WPKH}.mempool[0].vout[0].value: expected an integer, got a string",
        f"multi-address-transactions: {P2TR}.confirmed: expected an array, got a string",
    ]
    assert topics(result) == [f"address:{P2WPKH}", f"address:{P2TR}"]
    assert [tx["txid"] for tx in data_of(result, f"address:{P2WPKH}")["mempool"]] == [good["txid"]]


def test_single_address_keys_are_attributed_through_tracked() -> None:
    paying, spending = samples.paying_tx(), samples.spending_tx()
    both = copy.deepcopy(spending)
    both["txid"] = "ab" * 32
    both["vout"].append({"scriptpubkey_address": P2WPKH, "value": 700})
    both["status"] = {
        "confirmed": True,
        "block_height": 923151,
        "block_hash": "cd" * 32,
        "block_time": 1763165000,
    }
    frame = {
        "address-transactions": [paying],
        "address-removed-transactions": [spending],
        "block-transactions": [both],
    }
    result = normalize(frame, tracked={P2WPKH, P2TR, "bc1qsomeoneelse"})
    assert result.errors == []
    assert topics(result) == [f"address:{P2WPKH}", f"address:{P2TR}"]
    mine = data_of(result, f"address:{P2WPKH}")
    assert [tx["txid"] for tx in mine["mempool"]] == [paying["txid"]]
    assert mine["removed"] == []
    (confirmed,) = mine["confirmed"]
    assert (confirmed["received_sats"], confirmed["sent_sats"], confirmed["confirmed"]) == (700, 0, True)
    assert (confirmed["block_height"], confirmed["block_time_unix_s"]) == (923151, 1763165000)
    taproot = data_of(result, f"address:{P2TR}")
    assert taproot["mempool"] == []
    assert [tx["net_sats"] for tx in taproot["removed"]] == [-2136168]
    assert [tx["net_sats"] for tx in taproot["confirmed"]] == [-2136168]


def test_single_address_matching_accepts_an_upper_case_bech32_tracked_string() -> None:
    result = normalize({"address-transactions": [samples.paying_tx()]}, tracked=[P2WPKH.upper()])
    assert topics(result) == [f"address:{P2WPKH.upper()}"]
    assert data_of(result, f"address:{P2WPKH.upper()}")["mempool"][0]["received_sats"] == 250000


def test_a_tx_seen_by_both_multi_and_single_keys_is_listed_once() -> None:
    value = samples.multi_address_value()
    frame = {"multi-address-transactions": value, "address-transactions": value[P2WPKH]["mempool"]}
    result = normalize(frame, tracked=[P2WPKH])
    assert len(data_of(result, f"address:{P2WPKH}")["mempool"]) == 1


def test_single_address_tx_touching_no_tracked_address_is_an_error() -> None:
    frame = {"address-transactions": [samples.paying_tx(), samples.spending_tx()]}
    result = normalize(frame, tracked=[P2TR])
    assert topics(result) == [f"address:{P2TR}"]
    assert result.errors == ["address-transactions: [0]: touches no tracked address"]


@pytest.mark.parametrize(
    ("changes", "vsize", "rate"),
    [
        ({}, 141.0, 2.0320855614973263),
        ({"effectiveFeePerVsize": None}, 141.0, 2.0320855614973263),
        ({"effectiveFeePerVsize": None, "adjustedFeePerVsize": None, "feePerVsize": 3.0}, 141.0, 3.0),
        ({"effectiveFeePerVsize": None, "adjustedFeePerVsize": None, "feePerVsize": None}, 141.0, 285 / 141),
        (
            {"effectiveFeePerVsize": None, "adjustedFeePerVsize": None, "feePerVsize": None, "vsize": None},
            561 / 4,
            285 / (561 / 4),
        ),
        (
            {"effectiveFeePerVsize": None, "adjustedFeePerVsize": None, "feePerVsize": None, "fee": None},
            141.0,
            None,
        ),
    ],
)
def test_tx_fee_rate_and_vsize_fallbacks(changes: dict[str, Any], vsize: float, rate: float | None) -> None:
    tx = {**samples.paying_tx(), **changes}
    tx = {key: value for key, value in tx.items() if value is not None}
    result = normalize({"address-transactions": [tx]}, tracked=[P2WPKH])
    (normalized,) = data_of(result, f"address:{P2WPKH}")["mempool"]
    assert normalized["vsize_vb"] == vsize
    assert normalized["fee_rate"] == rate


def test_an_unusable_address_key_is_skipped_and_the_others_kept() -> None:
    value = samples.multi_address_value()
    value["\ud800"] = value[P2TR]
    value[""] = value[P2TR]
    value["bc1qnotalist"] = "x"
    result = normalize({"multi-address-transactions": value})
    assert topics(result) == [f"address:{P2WPKH}", f"address:{P2TR}"]
    assert result.errors == [
        "multi-address-transactions: \\ud800: string is not valid Unicode",
        "multi-address-transactions: empty address",
        "multi-address-transactions: bc1qnotalist: expected an object, got a string",
    ]


def test_prevouts_count_as_spent_and_coinbase_inputs_are_fine() -> None:
    tx = samples.spending_tx()
    tx["vin"].append({"txid": "00" * 32, "vout": 0, "prevout": None, "is_coinbase": True})
    good = normalize({"address-transactions": [tx]}, tracked=[P2TR])
    assert data_of(good, f"address:{P2TR}")["mempool"][0]["sent_sats"] == 7685427
    tx["vin"][0]["prevout"]["value"] = None
    bad = normalize({"address-transactions": [tx]}, tracked=[P2TR])
    assert bad.publications == []
    assert bad.errors == ["address-transactions: [0].vin[0].prevout.value: expected an integer, got null"]
