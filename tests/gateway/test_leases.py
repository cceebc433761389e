"""Lease writes of one address land in the order the gateway meant them, whatever the bus latency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from mcp_gateway.leases import RENEWALS_IN_FLIGHT, LeaseKeeper
from shared.bus import MemoryBackend
from shared.errors import BusUnavailable

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


async def test_a_renewal_round_keeps_a_few_renewals_in_flight_and_renews_them_all() -> None:
    backend = GatedBackend()
    keeper = LeaseKeeper(backend, "pod-1", ttl_s=30, renew_s=3600, linger_s=5, max_addresses=100)
    addresses = [f"{ADDRESS}{index}" for index in range(20)]
    stop = asyncio.Event()

    async def call(address: str) -> None:
        async with keeper.hold("mainnet", address):
            await stop.wait()

    calls = [asyncio.create_task(call(address)) for address in addresses]
    await until(lambda: backend.writes.count("renew") == len(addresses))
    backend.gate.clear()
    round_ = asyncio.create_task(keeper._renew_round())
    await until(lambda: backend.renewals_in_flight == RENEWALS_IN_FLIGHT)
    await asyncio.sleep(0.05)
    assert backend.renewals_in_flight == RENEWALS_IN_FLIGHT, "bounded, and more than one at a time"
    backend.gate.set()
    await round_
    assert backend.writes.count("renew") == 2 * len(addresses)
    stop.set()
    await asyncio.gather(*calls)
    await keeper.stop()


async def test_one_failing_renewal_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class FailingOnce(GatedBackend):
        async def renew_lease(self, network: str, address: str, holder: str, ttl_s: float) -> None:
            if address.endswith("3") and self.writes.count("renew") >= 5:
                raise BusUnavailable("renew lease: connection reset")
            await super().renew_lease(network, address, holder, ttl_s)

    backend = FailingOnce()
    keeper = LeaseKeeper(backend, "pod-1", ttl_s=30, renew_s=3600, linger_s=5, max_addresses=100)
    stop = asyncio.Event()

    async def call(address: str) -> None:
        async with keeper.hold("mainnet", address):
            await stop.wait()

    calls = [asyncio.create_task(call(f"{ADDRESS}{index}")) for index in range(5)]
    await until(lambda: backend.writes.count("renew") == 5)
    await keeper._renew_round()
    assert backend.writes.count("renew") == 9
    assert "lease renewal failed for 1 of 5 addresses" in caplog.text
    stop.set()
    await asyncio.gather(*calls)
    await keeper.stop()


async def test_a_call_neither_starts_nor_ends_later_because_a_lease_write_hangs() -> None:
    backend = GatedBackend()
    keeper = keeper_of(backend)
    backend.gate.clear()  # every lease write hangs, as on a Redis that stopped answering
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with keeper.hold("mainnet", ADDRESS):
        entered_after_s = loop.time() - started
    returned_after_s = loop.time() - started
    assert entered_after_s < 0.5 and returned_after_s < 0.5, "the writes run beside the call"
    await until(lambda: backend.renewals_in_flight >= 1)  # still on the wire after the call returned
    backend.gate.set()
    await until(lambda: "renew" in backend.writes)
    assert await backend.leased_addresses("mainnet") == {ADDRESS}, "the lease lingers for the next call"
    await keeper.stop()
