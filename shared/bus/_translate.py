"""How the Redis backend reports what redis-py raised: one :class:`~shared.errors.BusError` per kind of failure."""

from __future__ import annotations

from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)

from shared.errors import BusError, BusOutOfMemory, BusReadOnly, BusUnavailable, Fenced

CLOSED_TRANSPORT = "handler is closed"
"""What uvloop's RuntimeError says when redis-py writes on a connection the server already closed."""
FENCED_REPLY = "FENCED"
"""The error code of the publish script when another replica holds the leadership."""


def bus_error(what: str, exc: BaseException, where: str) -> BusError:
    """The project's error for ``exc``, raised by redis-py (or a socket) while doing ``what``.

    ``where`` names the server without secrets (a redacted URL). Redis error replies are told apart by
    their code, also when a Lua script passes them on: OOM, READONLY, FENCED (ours), LOADING and
    MASTERDOWN; lost connections and timeouts are :class:`~shared.errors.BusUnavailable`.
    """
    text = str(exc)
    if isinstance(exc, AuthenticationError) or text.startswith(("NOAUTH", "WRONGPASS")):
        return BusUnavailable(f"{what}: Redis at {where} rejected the credentials")
    if isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in text or text.startswith("OOM"):
        return BusOutOfMemory(
            f"{what}: Redis at {where} is out of memory (used memory is over maxmemory) and refuses writes; "
            "raise its maxmemory or free memory (redis-cli INFO memory shows what uses it)"
        )
    if isinstance(exc, ReadOnlyError) or "READONLY" in text or "read only replica" in text:
        return BusReadOnly(
            f"{what}: Redis at {where} is a read-only replica (e.g. during a failover) and refuses writes; "
            "it recovers when the failover ends, or point the URL at the primary"
        )
    if FENCED_REPLY in text:
        return Fenced(f"{what}: fenced: another replica holds the leadership")
    if isinstance(exc, BusyLoadingError) or text.startswith("LOADING"):
        return BusUnavailable(f"{what}: Redis at {where} is loading its data and not serving yet")
    if isinstance(exc, MasterDownError) or text.startswith("MASTERDOWN"):
        return BusUnavailable(f"{what}: Redis at {where} is a replica that lost its primary (MASTERDOWN)")
    if isinstance(exc, ResponseError):
        return BusError(f"{what}: Redis answered with an error: {text}")
    if isinstance(exc, RedisError | OSError | TimeoutError) or closed_transport(exc):
        return BusUnavailable(f"{what}: Redis at {where} is unreachable ({type(exc).__name__})")
    return BusError(f"{what}: unexpected failure ({type(exc).__name__})")


def closed_transport(exc: BaseException) -> bool:
    """Whether ``exc`` is uvloop's RuntimeError for a write on a closed socket (Redis restarted under us):
    a lost connection, though not an OSError."""
    return isinstance(exc, RuntimeError) and CLOSED_TRANSPORT in str(exc)
