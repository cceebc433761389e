"""track_tx and multi-address track_address through fastmcp's in-memory Client, over the embedded bus."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.gateway import Gateway
from shared.bitcoin.addresses import segwit_encode
from shared.channels import split_lease_keys
from shared.events import Event
from shared.models import TxPosition, TxStatus
from tests.gateway.conftest import FakeFeed

T1, T2 = "a1" * 32, "b2" * 32


def tx_data(txid: str, state: str = "mempool", block: int = 3, **fields: Any) -> dict[str, Any]:
    position = TxPosition(block_index=block, vsize_ahead_vb=1234.0) if state == "mempool" else None
    return TxStatus(txid=txid, status=state, position=position, **fields).model_dump(mode="json")  # type: ignore[arg-type]


async def publish_tx(feed: FakeFeed, txid: str, state: str = "mempool", **fields: Any) -> Event:
    return await feed.publish(f"tx:{txid}", tx_data(txid, state, **fields))


async def leased_txids(backend: Any) -> set[str]:
    _, txids = split_lease_keys(await backend.leased_addresses("mainnet"))
    return txids


async def until_leased(backend: Any, txid: str) -> None:
    while txid not in await leased_txids(backend):
        await asyncio.sleep(0.01)


def body_of(result: Any) -> dict[str, Any]:
    body = result.structured_content
    assert isinstance(body, dict)
    return body


def statuses(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(event["data"]["txid"][:2], event["data"]["status"]) for event in body["events"]]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"txid": "12ab"}, "txid '12ab' is not a transaction id: expected 64 hexadecimal characters, got 4"),
        ({"txid": f"{T1},{T2}"}, "put the others in more_txids"),
        ({"txid": T1, "more_txids": [T2, "zz"]}, r"more_txids\[1\] 'zz' is not a transaction id"),
        ({"txid": T1, "until": "mined"}, "until"),
        ({"txid": T1, "more_txids": [T2] * 20}, "more_txids"),
    ],
)
async def test_bad_txids_get_errors_naming_the_parameter(
    gateway_client: tuple[Gateway, Client[Any]], arguments: dict[str, Any], fragment: str
) -> None:
    _, client = gateway_client
    with pytest.raises(ToolError, match=fragment):
        await client.call_tool("track_tx", arguments)


async def test_until_confirmed_starts_with_the_current_position_and_returns_at_the_confirmation(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await publish_tx(feed, T1, block=4)
    pushed: list[dict[str, Any]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if "data" in (envelope := json.loads(message or "{}")):  # not a keep-alive
            pushed.append(envelope)

    async def life() -> None:
        await until_leased(backend, T1)
        await asyncio.sleep(0.1)
        await publish_tx(feed, T1, block=1)
        await asyncio.sleep(0.1)
        await publish_tx(feed, T1, "confirmed", block_height=900_010, block_hash="cc" * 32, confirmations=1)
        await feed.block(900_012)

    task = asyncio.create_task(life())
    result = await client.call_tool("track_tx", {"txid": T1.upper(), "timeout_s": 10}, progress_handler=on_progress)
    await task
    body = body_of(result)
    assert statuses(body) == [("a1", "mempool"), ("a1", "mempool"), ("a1", "confirmed")]
    assert [event["data"]["position"]["block_index"] for event in body["events"][:2]] == [4, 1]
    summary = result.content[0].text.split("\n", 1)[0]  # type: ignore[union-attr]
    assert summary.startswith("3 changes; latest: a1a1a1a1a1a1… confirmed at height 900010"), summary
    assert not body["timed_out"] and "not_seen" not in body
    assert [event["data"]["status"] for event in pushed] == ["mempool", "mempool", "confirmed"]
    assert pushed[0]["cursor"].endswith(f":{pushed[0]['id']}")
    assert pushed[-1]["data"]["confirmations"] == 1, "as published, in the block that confirmed it"
    later = body_of(await client.call_tool("track_tx", {"txid": T1, "want": False}))
    assert statuses(later) == [("a1", "confirmed")]
    assert later["events"][0]["data"]["confirmations"] == 3, "counted at the tip (900,012) when asked"
    assert T1 in await leased_txids(backend), "the lease lingers after a normal return"


async def test_until_any_returns_each_change_and_a_confirmed_one_returns_at_once(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await publish_tx(feed, T1, block=2)
    first = body_of(await client.call_tool("track_tx", {"txid": T1, "until": "any", "timeout_s": 5}))
    assert statuses(first) == [("a1", "mempool")], "the current status is the first change"

    async def move() -> None:
        await asyncio.sleep(0.2)
        await publish_tx(feed, T1, block=0)

    task = asyncio.create_task(move())
    arguments = {"txid": T1, "until": "any", "timeout_s": 5, "cursor": first["cursor"]}
    second = body_of(await client.call_tool("track_tx", arguments))
    await task
    assert [event["data"]["position"]["block_index"] for event in second["events"]] == [0]
    await publish_tx(feed, T1, "confirmed", block_height=5, block_hash="dd" * 32, confirmations=1)
    started = time.monotonic()
    settled = body_of(await client.call_tool("track_tx", {"txid": T1, "timeout_s": 5}))
    assert statuses(settled) == [("a1", "confirmed")] and time.monotonic() - started < 1


async def test_until_replaced_names_the_replacing_txid_and_several_txids_share_one_result(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await publish_tx(feed, T1, block=1)

    async def life() -> None:
        await until_leased(backend, T2)
        await publish_tx(feed, T2, block=5)
        await asyncio.sleep(0.1)
        await publish_tx(feed, T2, "replaced", replaced_by="ef" * 32)

    task = asyncio.create_task(life())
    arguments = {"txid": T1, "more_txids": [T2, T1.upper()], "until": "replaced", "timeout_s": 5}
    body = body_of(await client.call_tool("track_tx", arguments))
    await task
    assert statuses(body) == [("a1", "mempool"), ("b2", "mempool"), ("b2", "replaced")]
    assert body["events"][-1]["data"]["replaced_by"] == "ef" * 32
    assert body["topic"] == f"tx:{T1},tx:{T2}"
    ids = [int(event["id"]) for event in body["events"]]
    assert ids == sorted(ids) and body["cursor"].endswith(f":{ids[-1]}")


async def test_want_false_answers_at_once_and_looks_up_an_untracked_txid_for_a_few_seconds(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await publish_tx(feed, T1, block=6)
    started = time.monotonic()
    known = body_of(await client.call_tool("track_tx", {"txid": T1, "want": False}))
    assert statuses(known) == [("a1", "mempool")] and time.monotonic() - started < 0.5
    unknown = body_of(await client.call_tool("track_tx", {"txid": T2, "want": False, "timeout_s": 0.5}))
    assert unknown["events"] == [] and unknown["not_seen"] == [T2]
    again = await client.call_tool("track_tx", {"txid": T2, "want": False, "timeout_s": 0.5})
    assert "no status yet" in again.content[0].text  # type: ignore[union-attr]
    assert T2 in await leased_txids(backend), "now tracked, so the next call finds its status"

    async def looked_up() -> None:
        await asyncio.sleep(0.2)
        await publish_tx(feed, "cc" * 32, block=0)

    task = asyncio.create_task(looked_up())
    found = body_of(await client.call_tool("track_tx", {"txid": "cc" * 32, "want": False, "timeout_s": 5}))
    await task
    assert statuses(found) == [("cc", "mempool")] and "not_seen" not in found


async def test_track_tx_refuses_beyond_capacity_and_the_resource_serves_its_history(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await feed.status(tx_capacity=1)
    await backend.renew_lease("mainnet", f"tx:{T2}", "other-pod", 60)
    await asyncio.sleep(0.6)
    with pytest.raises(ToolError, match="capacity"):
        await client.call_tool("track_tx", {"txid": T1, "timeout_s": 1})
    await publish_tx(feed, T1, block=2)
    await publish_tx(feed, T1, "confirmed", block_height=7, block_hash="ee" * 32, confirmations=1)
    [history] = await client.read_resource(f"mempool://mainnet/tx/{T1.upper()}")
    assert [event["data"]["status"] for event in json.loads(history.text)] == ["mempool", "confirmed"]  # type: ignore[union-attr]
    with pytest.raises(Exception, match="invalid network or txid"):
        await client.read_resource("mempool://mainnet/tx/abc")


async def test_several_addresses_in_one_call_give_one_result_and_one_cursor(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    wallet = [segwit_encode("bc", 0, bytes([n]) * 20) for n in (1, 2, 3)]

    def paid(address: str, txid: str) -> dict[str, Any]:
        return {"address": address, "mempool": [{"txid": txid, "received_sats": 1000, "sent_sats": 0,
                "net_sats": 1000, "confirmed": False}], "confirmed": [], "removed": []}  # fmt: skip

    async def pay_all() -> None:
        while not set(wallet) <= await backend.leased_addresses("mainnet"):
            await asyncio.sleep(0.01)
        for n, address in enumerate([wallet[2], wallet[0], wallet[1]]):
            await feed.publish(f"address:{address}", paid(address, f"{n:064x}"))

    task = asyncio.create_task(pay_all())
    arguments = {"address": wallet[0], "more_addresses": wallet[1:], "max_events": 3, "timeout_s": 5}
    body = body_of(await client.call_tool("track_address", arguments))
    await task
    assert [event["data"]["address"] for event in body["events"]] == [wallet[2], wallet[0], wallet[1]]
    assert body["cursor"].endswith(f":{body['events'][-1]['id']}")
    await feed.publish(f"address:{wallet[1]}", paid(wallet[1], "ff" * 32))
    resumed = body_of(await client.call_tool("track_address", {**arguments, "cursor": body["cursor"]}))
    assert [event["data"]["mempool"][0]["txid"] for event in resumed["events"]] == ["ff" * 32]
    pulled = body_of(await client.call_tool("track_address", {**arguments, "want": False, "max_events": 10}))
    assert len(pulled["events"]) == 4
    with pytest.raises(ToolError, match=r"more_addresses\[0\] 'bc1nope'"):
        await client.call_tool("track_address", {"address": wallet[0], "more_addresses": ["bc1nope"]})
    with pytest.raises(ToolError, match="put the others in more_addresses"):
        await client.call_tool("track_address", {"address": f"{wallet[0]}, {wallet[1]}"})
