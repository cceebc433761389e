"""Lease writes of one address land in the order the gateway meant them, whatever the bus latency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from mcp_gateway.leases import LeaseKeeper
from shared.bus import MemoryBackend

ADDRESS = "bc1qexampleaddress"


class GatedBackend(MemoryBackend):
    """An embedded bus whose lease renewals can be held in flight, as on a slow Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.renewals_in_flight = 0
        self.writes: list[str] = []

    async def renew_lease(self, network: str, address: str, holder: str, ttl_s: float) -> None:
        self.renewals_in_flight += 1
        try:
            await self.gate.wait()
            await super().renew_lease(network, address, holder, ttl_s)
            self.writes.append("renew")
        finally:
            self.renewals_in_flight -= 1

    async def release_lease(self, network: str, address: str, holder: str) -> None:
        await super().release_lease(network, address, holder)
        self.writes.append("release")


def keeper_of(backend: GatedBackend) -> LeaseKeeper:
    return LeaseKeeper(backend, "pod-1", ttl_s=30, renew_s=0.01, linger_s=5, max_addresses=10)


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def test_a_release_during_a_background_renewal_lands_after_it() -> None:
    backend = GatedBackend()
    keeper = keeper_of(backend)
    keeper.start()
    entered = asyncio.Event()

    async def waiting_call() -> None:
        async with keeper.hold("mainnet", ADDRESS):
            entered.set()
            await asyncio.Event().wait()

    call = asyncio.create_task(waiting_call())
    await entered.wait()
    backend.gate.clear()
    await until(lambda: backend.renewals_in_flight == 1)
    call.cancel()  # the caller hangs up while the renewal is on the wire
    await asyncio.sleep(0.05)
    backend.gate.set()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    await until(lambda: backend.writes[-1:] == ["release"])
    await asyncio.sleep(0.05)  # later renewal rounds must not bring it back
    await keeper.stop()
    assert await backend.leased_addresses("mainnet") == set()
    assert keeper.held == 0


async def test_a_call_arriving_while_the_last_one_releases_keeps_the_address_leased() -> None:
    backend = GatedBackend()
    keeper = keeper_of(backend)
    keeper.start()
    first_in, second_in = asyncio.Event(), asyncio.Event()

    async def call(entered: asyncio.Event) -> None:
        async with keeper.hold("mainnet", ADDRESS):
            entered.set()
            await asyncio.Event().wait()

    first = asyncio.create_task(call(first_in))
    await first_in.wait()
    backend.gate.clear()
    await until(lambda: backend.renewals_in_flight == 1)
    first.cancel()
    await asyncio.sleep(0.02)
    second = asyncio.create_task(call(second_in))  # takes the address up again before the release ran
    await asyncio.sleep(0.02)
    backend.gate.set()
    await second_in.wait()
    await asyncio.sleep(0.05)
    try:
        assert await backend.leased_addresses("mainnet") == {ADDRESS}
        assert keeper.held == 1
    finally:
        second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        await keeper.stop()
    assert await backend.leased_addresses("mainnet") == set()
