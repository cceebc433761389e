"""The project's exception tree.

    MempoolWsError
    ├── ConfigError               bad settings or flags; the process cannot start
    ├── BusError                  the event bus failed (any other Redis error reply)
    │   ├── BusUnavailable        Redis cannot be reached: refused, lost, timed out, credentials refused
    │   ├── BusOutOfMemory        Redis refuses writes: used memory is over its maxmemory (noeviction)
    │   ├── BusReadOnly           Redis refuses writes: it is a read-only replica (a failover in progress)
    │   └── Fenced                this process no longer holds the leadership its publish was fenced on
    ├── UpstreamError             the mempool upstream failed
    │   ├── UpstreamUnavailable   cannot connect or the connection dropped (retryable)
    │   └── UpstreamRejected      the upstream refused what we asked (not retryable as is)
    ├── CapacityError             a limit was reached (address tracking, concurrent streams)
    ├── InvalidAddress            a Bitcoin address failed validation
    └── FeatureUnavailable        a subcommand or feature that is not built yet

Every ``BusError`` is transient for a daemon: its loops retry with back-off and recover on their own; none
ends a process. What differs is what is reported (``health``, ``/readyz``, metrics, tool errors).

Errors cross boundaries translated: ``redis.*`` and ``websockets.*`` exceptions are caught where they
enter and re-raised as one of these, chained with ``from``. Messages never contain secrets.
"""

from __future__ import annotations


class MempoolWsError(Exception):
    """Base of every error raised on purpose by this project."""


class ConfigError(MempoolWsError):
    """Settings or flags are invalid; the message says which and how to fix it."""


class BusError(MempoolWsError):
    """The event bus failed."""


class BusUnavailable(BusError):
    """The bus backend (Redis) cannot be reached right now."""


class BusOutOfMemory(BusError):
    """Redis answered OOM: it is over ``maxmemory`` and refuses writes (policy ``noeviction``)."""


class BusReadOnly(BusError):
    """Redis answered READONLY: it is a replica (for example right after a failover) and refuses writes."""


class Fenced(BusError):
    """A fenced publish was refused: another replica holds (or nobody holds) the leadership now."""


class UpstreamError(MempoolWsError):
    """The mempool upstream failed."""


class UpstreamUnavailable(UpstreamError):
    """The upstream cannot be reached, or the connection dropped."""


class UpstreamRejected(UpstreamError):
    """The upstream refused a request (for example ``track-addresses-error``)."""


class CapacityError(MempoolWsError):
    """A configured limit was reached."""


class InvalidAddress(MempoolWsError, ValueError):
    """A Bitcoin address failed validation; the message tells what is wrong with it."""


class FeatureUnavailable(MempoolWsError):
    """A feature that this build does not provide."""
