"""This process's address leases: one per (network, address), shared by every call that waits on it.

The first call on an address creates the lease; the lease is renewed in the background while any call
waits. When the last call ends normally the lease is left to linger (so an agent looping with its
cursor keeps the address tracked between calls); when it ends by cancellation or disconnect the lease
is released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from shared.bus import Coordinator
from shared.errors import BusUnavailable, CapacityError

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Holds and renews address leases for one gateway process (``holder``)."""

    def __init__(
        self,
        coordinator: Coordinator,
        holder: str,
        *,
        ttl_s: float,
        renew_s: float,
        linger_s: float,
        max_addresses: int,
    ) -> None:
        self._coordinator = coordinator
        self.holder = holder
        self._ttl_s = ttl_s
        self._renew_s = renew_s
        self._linger_s = linger_s
        self._max_addresses = max_addresses
        self._holds: dict[tuple[str, str], int] = {}
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """Distinct addresses with at least one waiting call."""
        return len(self._holds)

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
        for network, address in list(self._holds):
            with contextlib.suppress(BusUnavailable):
                await self._coordinator.release_lease(network, address, self.holder)
        self._holds.clear()

    @contextlib.asynccontextmanager
    async def hold(self, network: str, address: str) -> AsyncIterator[None]:
        """Keep ``address`` tracked upstream while inside the block."""
        key = (network, address)
        if key not in self._holds and len(self._holds) >= self._max_addresses:
            raise CapacityError(
                f"this gateway process already tracks {self._max_addresses} addresses (its limit); "
                "wait for other calls to finish or retry on another replica"
            )
        first = key not in self._holds
        self._holds[key] = self._holds.get(key, 0) + 1
        ended_normally = False
        try:
            if first:
                await self._coordinator.renew_lease(network, address, self.holder, self._ttl_s)
            yield
            ended_normally = True
        finally:
            await asyncio.shield(self._leave(key, linger=ended_normally))

    async def _leave(self, key: tuple[str, str], *, linger: bool) -> None:
        remaining = self._holds.get(key, 1) - 1
        if remaining > 0:
            self._holds[key] = remaining
            return
        self._holds.pop(key, None)
        network, address = key
        try:
            if linger:
                await self._coordinator.renew_lease(network, address, self.holder, self._linger_s)
            else:
                await self._coordinator.release_lease(network, address, self.holder)
        except BusUnavailable as exc:
            log.warning("could not %s the lease on %s: %s", "extend" if linger else "release", address, exc)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_s)
            for network, address in list(self._holds):
                try:
                    await self._coordinator.renew_lease(network, address, self.holder, self._ttl_s)
                except BusUnavailable as exc:
                    log.warning("lease renewal failed: %s", exc)
                    break
