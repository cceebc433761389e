"""Prompts for the requirements' scenarios, offered by hosts that surface prompts (slash commands, menus).

Each renders one user message that names the tool calls to make and the cursor loop to follow, so the
model does the right thing in its first call.
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field


def mempool_alert(
    threshold_mb: Annotated[float, Field(gt=0, description="Mempool size to wait for, MB of vsize.")] = 300,
) -> str:
    """Alert me when the mempool passes a size."""
    size = f"{threshold_mb:g}"
    return (
        f"Tell me when the Bitcoin mempool passes {size} MB. Call the tool alert_when with "
        f'metric="mempool_vsize_mb" and above={size}. If it answers triggered=false, call it again with the '
        "same arguments plus the cursor it returned, until triggered is true (already_true means it had "
        "passed before you asked). Then tell me the size it reached (value, in MB) and when."
    )


def watch_payment(
    address: Annotated[str, Field(description="The Bitcoin address that expects the payment.")],
    network: Annotated[str, Field(description="mainnet, testnet4, signet or testnet; empty: the default.")] = "",
) -> str:
    """Watch an address until its payment confirms."""
    on = f' and network="{network}"' if network else ""
    return (
        f"Watch the Bitcoin address {address} until a payment to it confirms. Call the tool track_address with "
        f'address="{address}"{on}. Each event lists transactions under mempool (unconfirmed), confirmed (with '
        "block_height) and removed (replaced or evicted), with net_sats for the address. When a transaction "
        "appears under mempool, tell me its txid and amount. Keep calling track_address with the cursor of the "
        "previous result (a result without events is normal; blocks come about every 10 minutes) until that "
        "txid appears under confirmed, then tell me the block height. If it appears under removed instead, tell "
        "me it was replaced and keep watching for the replacement."
    )


def next_block_fee() -> str:
    """What fee gets me into the next block now."""
    return (
        "What fee rate gets a Bitcoin transaction into the next block right now? Call the tool "
        "stream_mempool_blocks with want=false: next_block_median_fee_rate is the median fee rate of the next "
        "projected block, and the first value of blocks[0].fee_range the lowest rate that still got in. Then call "
        "stream_stats with want=false for the recommended fees (fees.fastest). Answer with one fee rate in sat/vB "
        "and a one-line reason."
    )


def register(mcp: FastMCP) -> None:
    """Add the scenario prompts to ``mcp``."""
    mcp.prompt(mempool_alert, name="mempool_alert", title="Alert when the mempool passes a size")
    mcp.prompt(watch_payment, name="watch_payment", title="Watch an address until its payment confirms")
    mcp.prompt(next_block_fee, name="next_block_fee", title="Fee for the next block")
