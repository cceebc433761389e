"""Followed transactions in the world: determinism, packages, replacement, mining by position."""

from __future__ import annotations

from simulator.events import MempoolChange, NewBlock
from simulator.mempool import BLOCK_WEIGHT
from simulator.world import World
from tests.simulator.conftest import PAID
from tests.simulator.test_world import START, run, world
from tests.simulator.test_ws_addresses import replaced_address

STEP = 0.05


def entered(made: World, *txids: str) -> None:
    """Advance one tick so queued payments enter the mempool."""
    events = run(made, STEP, STEP)
    assert all(txid in events[-1].txs for txid in txids if isinstance(events[-1], MempoolChange))
    for txid in txids:
        assert made.txbook.get(txid) is not None


def story(seed: int) -> list[object]:
    """Pay, bump, replace the child, accelerate and mine; record txids, rates and positions."""
    made = world(seed=seed, speed=0.001, tick_s=STEP)
    low, other = made.pay(PAID, 30_000, START, rate=0.4), made.pay(PAID, 31_000, START, rate=0.6)
    entered(made, low, other)
    child, effective, _ = made.bump_now(low, START, rate=12.0)
    new_child, _ = made.replace_now(child, START)
    made.accelerate_now(other, START)
    views = made.txbook.take_views(block=False)
    _, events = made.mine_now(START + 1)
    block = events[0]
    assert isinstance(block, NewBlock)
    return [low, other, child, effective, new_child, views[low].position, sorted(block.txs)]


def test_the_same_seed_and_controls_give_the_same_transactions() -> None:
    assert story(3) == story(3)
    assert story(3)[:3] != story(4)[:3]


def test_a_cpfp_child_lifts_its_package_and_replacing_the_parent_evicts_the_child() -> None:
    made = world(speed=0.001, tick_s=STEP)
    parent = made.pay(PAID, 80_000, START, rate=0.3)
    entered(made, parent)
    before = made.followed(parent)
    assert before is not None and before.position is not None
    child, effective, [change] = made.bump_now(parent, START, rate=25.0)
    assert 25.0 <= effective < 25.1
    assert isinstance(change, MempoolChange)
    parent_view, child_view = change.txs[parent], change.txs[child]
    assert parent_view.cpfp is not None and parent_view.cpfp["effectiveFeePerVsize"] == effective
    assert child_view.cpfp is not None and child_view.cpfp["ancestors"][0]["txid"] == parent
    assert parent_view.spent == {"1": {"vin": 0, "txid": child}}
    assert parent_view.position is not None and parent_view.position["block"] < before.position["block"]
    assert child_view.entered_now and child_view.tx["vin"][0]["txid"] == parent
    replacing, [change] = made.replace_now(parent, START, rate=30.0)
    assert isinstance(change, MempoolChange)
    assert change.txs[parent].replaced_now and change.txs[parent].replaced_by == replacing
    assert child not in change.txs
    assert [tx.tx["txid"] for tx in change.removed] == [parent, child]
    removed = made.txbook.get(child)
    assert removed is not None and removed.state == "removed"
    assert made.tx_status(child) == made.tx_status(parent) == {"confirmed": False}


def test_a_block_mines_only_the_packages_that_fit_and_never_a_payment_awaiting_replacement() -> None:
    made = world(speed=0.001, tick_s=STEP)
    fast, deep = made.pay(PAID, 10_000, START, rate=50.0), made.pay(PAID, 20_000, START, rate=0.2)
    entered(made, fast, deep)
    held = made.txbook.get(fast)
    assert held is not None
    index = made.txbook.reposition()
    deep_item = made.txbook.get(deep)
    assert deep_item is not None and index.ahead(deep_item.rate) > BLOCK_WEIGHT
    held.held = True
    assert made.txbook.mineable() == []
    held.held = False
    assert [item.txid for item in made.txbook.mineable()] == [fast]
    block, events = made.mine_now(START + 1)
    status = made.tx_status(fast)
    assert status == {
        "confirmed": True,
        "block_height": block["height"],
        "block_hash": block["id"],
        "block_time": block["timestamp"],
    }
    [announced, _] = events
    assert isinstance(announced, NewBlock)
    assert announced.txs[fast].confirmed_now and announced.txs[deep].position is not None
    assert [tx.tx["txid"] for tx in announced.confirmed] == [fast]


def test_automatic_replacements_are_held_then_replaced_and_mined() -> None:
    made = world(speed=600.0, tick_s=STEP)
    address = replaced_address(4)
    made.track([address])
    events = run(made, 3, STEP)
    changes = [e for e in events if isinstance(e, MempoolChange) and any(e.added)]
    first = next(e for e in changes if any(address in tx.addresses for tx in e.added))
    [original] = [tx.tx["txid"] for tx in first.added if address in tx.addresses]
    swapped = next(e for e in changes if original in e.txs and e.txs[original].replaced_now)
    replacing = swapped.txs[original].replaced_by
    assert replacing is not None
    mined = [e for e in events if isinstance(e, NewBlock) and replacing in e.txs and e.txs[replacing].confirmed_now]
    assert mined and not any(
        original in e.txs and e.txs[original].confirmed_now for e in events if isinstance(e, NewBlock)
    )
