"""The read gate: closed, every upstream socket stops reading, so TCP pushes back on the upstream."""

from __future__ import annotations

import asyncio


class ReadGate:
    """Open or closed; readers wait at a closed gate before taking their next frame."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    @property
    def is_open(self) -> bool:
        """Whether readers may read."""
        return self._open.is_set()

    def set(self, is_open: bool) -> None:
        """Open or close the gate."""
        if is_open:
            self._open.set()
        else:
            self._open.clear()

    async def wait(self) -> None:
        """Return once the gate is open."""
        await self._open.wait()
