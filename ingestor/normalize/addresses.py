"""Address keys: full transactions as :class:`AddressTransaction` lists per tracked address.

``multi-address-transactions`` names the address of each list. The single-address keys
(``address-transactions``, ``address-removed-transactions``, ``block-transactions``) do not, so each
transaction goes to every tracked address found in its outputs or in its inputs' prevouts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from ingestor.normalize._coerce import (
    JsonObject,
    Malformed,
    opt_bool,
    opt_float,
    opt_int,
    opt_object,
    opt_rounded_int,
    opt_str,
    req_int,
    req_str,
    to_array,
    to_float,
    to_object,
    to_str,
)
from shared.models import AddressActivity, AddressTransaction

LIST_NAMES: Final = ("mempool", "confirmed", "removed")
SINGLE_ADDRESS_KEYS: Final = {
    "address-transactions": "mempool",
    "address-removed-transactions": "removed",
    "block-transactions": "confirmed",
}
_RATE_KEYS: Final = ("effectiveFeePerVsize", "adjustedFeePerVsize", "feePerVsize")


def tracked_lookup(addresses: Collection[str]) -> dict[str, str]:
    """Map each form an address takes in a transaction to the tracked string (bech32 is lower case)."""
    lookup = {address: address for address in addresses}
    for address in addresses:
        if address.isupper():
            lookup.setdefault(address.lower(), address)
    return lookup


class AddressCollector:
    """The transactions of one frame per address and list, each txid once per list."""

    def __init__(self) -> None:
        self._lists: dict[str, dict[str, list[AddressTransaction]]] = {}
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, address: str, list_name: str, tx: AddressTransaction) -> None:
        """File ``tx`` under ``address`` in ``list_name`` unless it is there already."""
        marker = (address, list_name, tx.txid)
        if marker in self._seen:
            return
        self._seen.add(marker)
        lists = self._lists.setdefault(address, {name: [] for name in LIST_NAMES})
        lists[list_name].append(tx)

    def activities(self) -> list[AddressActivity]:
        """One activity per address, in the order the addresses were first seen."""
        return [
            AddressActivity(
                address=address,
                mempool=lists["mempool"],
                confirmed=lists["confirmed"],
                removed=lists["removed"],
            )
            for address, lists in self._lists.items()
        ]


def _list(obj: JsonObject, key: str) -> list[Any]:
    value = obj.get(key)
    return [] if value is None else to_array(value, key)


def _credit(found: dict[str, list[int]], targets: Mapping[str, str], entry: JsonObject, slot: int) -> None:
    address = opt_str(entry, "scriptpubkey_address")
    tracked = None if address is None else targets.get(address)
    if tracked is not None:
        found.setdefault(tracked, [0, 0])[slot] += req_int(entry, "value")


def _credit_input(found: dict[str, list[int]], targets: Mapping[str, str], vin: object) -> None:
    prevout = opt_object(to_object(vin), "prevout")
    if prevout is None:
        return
    try:
        _credit(found, targets, prevout, 1)
    except Malformed as exc:
        raise exc.within("prevout") from None


def _amounts(obj: JsonObject, targets: Mapping[str, str]) -> dict[str, list[int]]:
    """Per tracked address touched: [sats received by outputs, sats spent from prevouts]."""
    found: dict[str, list[int]] = {}
    for index, vout in enumerate(_list(obj, "vout")):
        try:
            _credit(found, targets, to_object(vout), 0)
        except Malformed as exc:
            raise exc.within(index).within("vout") from None
    for index, vin in enumerate(_list(obj, "vin")):
        try:
            _credit_input(found, targets, vin)
        except Malformed as exc:
            raise exc.within(index).within("vin") from None
    return found


def _fee_rate(obj: JsonObject, fee: int | None, vsize: float | None) -> float | None:
    for key in _RATE_KEYS:
        rate = opt_float(obj, key)
        if rate is not None:
            return rate
    if fee is None or not vsize:
        return None
    return to_float(fee / vsize, "fee / vsize")


def _status(obj: JsonObject, list_name: str) -> dict[str, Any]:
    status = opt_object(obj, "status") or {}
    try:
        return {
            "confirmed": list_name == "confirmed" or opt_bool(status, "confirmed") is True,
            "block_height": opt_int(status, "block_height"),
            "block_hash": opt_str(status, "block_hash"),
            "block_time_unix_s": opt_rounded_int(status, "block_time"),
        }
    except Malformed as exc:
        raise exc.within("status") from None


def _common(obj: JsonObject, list_name: str) -> dict[str, Any]:
    """The fields that do not depend on the address."""
    fee = opt_int(obj, "fee")
    vsize = opt_float(obj, "vsize")
    if vsize is None:
        weight = opt_int(obj, "weight")
        vsize = None if weight is None else weight / 4
    return {
        "txid": req_str(obj, "txid"),
        "fee_sats": fee,
        "vsize_vb": vsize,
        "fee_rate": _fee_rate(obj, fee, vsize),
        "first_seen_unix_s": opt_rounded_int(obj, "firstSeen"),
        **_status(obj, list_name),
    }


def _read_tx(value: object, list_name: str, targets: Mapping[str, str]) -> dict[str, AddressTransaction]:
    """The transaction as it concerns each tracked address it touches."""
    obj = to_object(value)
    common = _common(obj, list_name)
    return {
        address: AddressTransaction.model_validate(
            {**common, "received_sats": received, "sent_sats": sent, "net_sats": received - sent}
        )
        for address, (received, sent) in _amounts(obj, targets).items()
    }


def collect_multi(value: object, collector: AddressCollector) -> list[Malformed]:
    """Read ``{address: {mempool, confirmed, removed}}``; return one error per skipped part.

    Raises :class:`Malformed` when the value is not an object.
    """
    errors: list[Malformed] = []
    for address, entry in to_object(value).items():
        try:
            lists = to_object(entry)
            to_str(address)
            if not address:
                raise Malformed("empty address")
        except Malformed as exc:
            errors.append(exc.within(address))
            continue
        targets = tracked_lookup((address,))
        for list_name in LIST_NAMES:
            errors.extend(_collect_list(lists, list_name, targets, collector, address))
    return errors


def _collect_list(
    lists: JsonObject, list_name: str, targets: Mapping[str, str], collector: AddressCollector, address: str
) -> list[Malformed]:
    errors: list[Malformed] = []
    try:
        items = _list(lists, list_name)
    except Malformed as exc:
        return [exc.within(address)]
    for index, item in enumerate(items):
        try:
            tx = _read_tx(item, list_name, targets).get(address)
            if tx is None:
                tx = _untouched(item, list_name)
            collector.add(address, list_name, tx)
        except Malformed as exc:
            errors.append(exc.within(index).within(list_name).within(address))
    return errors


def _untouched(value: object, list_name: str) -> AddressTransaction:
    """A listed transaction in which the address appears in no output or prevout (e.g. P2PK)."""
    common = _common(to_object(value), list_name)
    return AddressTransaction.model_validate({**common, "received_sats": 0, "sent_sats": 0, "net_sats": 0})


def collect_single(key: str, value: object, lookup: Mapping[str, str], collector: AddressCollector) -> list[Malformed]:
    """Read a single-address key's tx list, filing each tx under the tracked addresses it touches.

    Raises :class:`Malformed` when the value is not an array.
    """
    list_name = SINGLE_ADDRESS_KEYS[key]
    errors: list[Malformed] = []
    for index, item in enumerate(to_array(value)):
        try:
            per_address = _read_tx(item, list_name, lookup)
            if not per_address:
                raise Malformed("touches no tracked address")
        except Malformed as exc:
            errors.append(exc.within(index))
            continue
        for address, tx in per_address.items():
            collector.add(address, list_name, tx)
    return errors
