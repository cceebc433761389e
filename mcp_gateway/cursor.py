"""Stream cursors: ``{epoch}:{id}`` (or a bare ``{id}``), handed to agents and passed back to resume."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp_gateway.errors import InvalidParameter

_CURSOR = re.compile(r"^(?:(?P<epoch>[0-9a-f]{1,32}):)?(?P<id>\d{1,19})$")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a network's event sequence: resume right after event ``last_id`` of ``epoch``."""

    epoch: str | None
    last_id: int

    def __str__(self) -> str:
        return f"{self.epoch}:{self.last_id}" if self.epoch else str(self.last_id)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Parse a cursor given by an agent; raise :class:`InvalidParameter` with a hint when malformed."""
        match = _CURSOR.match(text.strip())
        if match is None:
            raise InvalidParameter(
                'cursor must be the cursor of a previous result or an event id, e.g. cursor="a1b2c3d4:1234"; '
                "omit it to start with new events"
            )
        return cls(epoch=match.group("epoch"), last_id=int(match.group("id")))
