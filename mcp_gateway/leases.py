"""This process's tracking leases: one per (network, key), shared by every call that waits on it.

A key is an address, or ``tx:{txid}`` for a transaction (:func:`shared.channels.tx_lease_key`); one
keeper per kind, each with its own limit.

The first call on an address creates the lease; the lease is renewed in the background while any call
waits. When the last call ends normally the lease is left to linger (so an agent looping with its
cursor keeps the address tracked between calls); when it ends by cancellation or disconnect the lease
is released at once. Lease writes run beside the calls, never inside them: a call neither starts nor
returns later because Redis is slow to take a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.bus import Coordinator
from shared.errors import BusError, CapacityError

log = logging.getLogger(__name__)

STOP_WRITES_WAIT_S = 2.0
"""At shutdown, how long lease writes still in flight may take before every lease is released."""
RENEWALS_IN_FLIGHT = 8
"""Lease renewals sent at once: 500 addresses over a 100 ms link take about 13 s, well inside the TTL."""


@dataclass(eq=False)
class _Slot:
    """The calls waiting on one (network, address) and the lock that orders its lease writes."""

    calls: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LeaseKeeper:
    """Holds and renews address leases for one gateway process (``holder``).

    Every write to one lease (create, renew, release) runs under its slot's lock, so a background renewal
    can never land after the release of the last call and bring a dead lease back for its whole TTL.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        holder: str,
        *,
        ttl_s: float,
        renew_s: float,
        linger_s: float,
        max_addresses: int,
        noun: str = "addresses",
    ) -> None:
        self._coordinator = coordinator
        self.holder = holder
        self._ttl_s = ttl_s
        self._renew_s = renew_s
        self._linger_s = linger_s
        self._max_addresses = max_addresses
        self._noun = noun
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> int:
        """Distinct keys with at least one waiting call."""
        return sum(1 for slot in self._slots.values() if slot.calls)

    def start(self) -> None:
        """Start renewing held leases."""
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="lease-renewer")

    async def stop(self) -> None:
        """Stop renewing and release every lease now."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=STOP_WRITES_WAIT_S)
        for network, address in list(self._slots):
            with contextlib.suppress(BusError):
                await self._coordinator.release_lease(network, address, self.holder)
        self._slots.clear()

    @contextlib.asynccontextmanager
    async def hold(self, network: str, address: str) -> AsyncIterator[None]:
        """Keep ``address`` tracked upstream while inside the block."""
        key = (network, address)
        slot = self._slots.get(key)
        if (slot is None or not slot.calls) and self.held >= self._max_addresses:
            raise CapacityError(
                f"this gateway process already tracks {self._max_addresses} {self._noun} (its limit); "
                "wait for other calls to finish or retry on another replica"
            )
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.calls += 1
        if slot.calls == 1:
            self._in_background(self._create(key, slot))
        ended_normally = False
        try:
            yield
            ended_normally = True
        finally:
            self._leave(key, slot, linger=ended_normally)

    @contextlib.asynccontextmanager
    async def hold_all(self, network: str, keys: Sequence[str]) -> AsyncIterator[None]:
        """Keep every one of ``keys`` tracked upstream while inside the block (all or none)."""
        async with contextlib.AsyncExitStack() as stack:
            for key in dict.fromkeys(keys):
                await stack.enter_async_context(self.hold(network, key))
            yield

    def _in_background(self, write: Coroutine[Any, Any, None]) -> None:
        """Run a lease write without making the call wait for it (a slow Redis must not hold a result)."""
        task = asyncio.create_task(write, name="lease-write")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _create(self, key: tuple[str, str], slot: _Slot) -> None:
        network, address = key
        async with slot.lock:
            if not slot.calls:
                return  # the call already ended: its end writes the lease
            try:
                await self._coordinator.renew_lease(network, address, self.holder, self._ttl_s)
            except BusError as exc:  # transient: the renewal rounds create it once the bus answers
                log.warning("could not lease %s yet, the next renewal round retries: %s", address, exc)

    def _leave(self, key: tuple[str, str], slot: _Slot, *, linger: bool) -> None:
        slot.calls -= 1
        if not slot.calls:
            self._in_background(self._end(key, slot, linger=linger))

    async def _end(self, key: tuple[str, str], slot: _Slot, *, linger: bool) -> None:
        network, address = key
        async with slot.lock:
            if slot.calls:
                return  # another call took the address up while this one waited
            try:
                if linger:
                    await self._coordinator.renew_lease(network, address, self.holder, self._linger_s)
                else:
                    await self._coordinator.release_lease(network, address, self.holder)
            except BusError as exc:
                log.warning("could not %s the lease on %s: %s", "extend" if linger else "release", address, exc)
            finally:
                if not slot.calls and self._slots.get(key) is slot:
                    del self._slots[key]

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_s)
            await self._renew_round()

    async def _renew_round(self) -> None:
        """Renew every held lease, a few at a time, so a slow bus still renews hundreds within the TTL."""
        in_flight = asyncio.Semaphore(RENEWALS_IN_FLIGHT)

        async def renew(key: tuple[str, str], slot: _Slot) -> None:
            async with in_flight, slot.lock:
                if slot.calls:
                    await self._coordinator.renew_lease(*key, self.holder, self._ttl_s)

        slots = list(self._slots.items())
        outcomes = await asyncio.gather(*(renew(key, slot) for key, slot in slots), return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if failures:
            log.warning("lease renewal failed for %d of %d addresses: %s", len(failures), len(slots), failures[0])
