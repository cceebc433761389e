"""The project's one retry policy: exponential back-off with jitter, on tenacity.

Use :func:`retrying` wherever something must be tried again until it works::

    async for attempt in retrying("connect to the event bus", on=BusError, max_s=settings.redis_retry_max_s,
                                  stop=self._stop, logger=log):
        with attempt:
            await backend.connect()

* Waits: ``first_s`` after the first failure, doubling up to ``max_s``; each wait is drawn at random
  between half of that and all of it (so replicas do not retry in step), and never exceeds ``max_s``.
* Retried: exceptions of the ``on`` types, except the ``unless`` ones; any other exception propagates at
  once, and so does anything that is not an ``Exception`` (``asyncio.CancelledError``, ``KeyboardInterrupt``).
* Logged: each retry once, at WARNING, on ``logger``: ``"<what> failed (<reason>); retry <n> in <s> s"``;
  the first success after failures once at INFO. ``on_retry(error)`` is called before each wait, e.g. to
  count the failure or record the reason for a health probe.
* Ends: on success; after ``attempts`` attempts by re-raising the last error (``None``: never gives up);
  and, when ``stop`` is set, quietly and at once (a back-off wait is cut short and no further attempt is
  made), so the caller checks ``stop.is_set()`` after the loop. A daemon passes its stop event so that a
  shutdown is never delayed by a retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, AttemptManager, RetryCallState, stop_after_attempt, stop_any, stop_never
from tenacity.retry import retry_base
from tenacity.stop import stop_base

log = logging.getLogger(__name__)

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class _Stopped(Exception):
    """The stop event was set during a back-off wait."""


class _RetryOn(retry_base):
    def __init__(self, on: ExceptionTypes, unless: ExceptionTypes) -> None:
        self._on, self._unless = on, unless

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        error = outcome.exception()
        return isinstance(error, Exception) and isinstance(error, self._on) and not isinstance(error, self._unless)


class _StopEvent(stop_base):
    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._event.is_set()


class Retrying(AsyncRetrying):
    """An :class:`~tenacity.AsyncRetrying` that ends quietly once its stop event is set (see the module)."""

    def __init__(
        self,
        *,
        what: str = "operation",
        stop_event: asyncio.Event | None = None,
        logger: logging.Logger = log,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.what = what
        self._stop_event = stop_event
        self._logger = logger

    async def __anext__(self) -> AttemptManager:
        stopped = self._stop_event is not None and self._stop_event.is_set()
        if stopped and self._retry_state.outcome is None:  # not even a first attempt
            raise StopAsyncIteration
        try:
            return await super().__anext__()
        except _Stopped:
            raise StopAsyncIteration from None
        except StopAsyncIteration:
            state = self._retry_state
            if state.attempt_number > 1 and state.outcome is not None and not state.outcome.failed:
                self._logger.info("%s succeeded after %d attempts", self.what, state.attempt_number)
            raise


def retrying(
    what: str,
    *,
    on: ExceptionTypes,
    max_s: float,
    first_s: float = 0.1,
    unless: ExceptionTypes = (),
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    on_retry: Callable[[BaseException], object] | None = None,
    logger: logging.Logger = log,
) -> Retrying:
    """Retry ``async for attempt in retrying(...): with attempt: ...`` as the module docstring describes.

    ``what`` names the operation in the log ("connect to the event bus"); ``on``/``unless`` pick the
    errors worth retrying; ``first_s``/``max_s`` bound the waits (seconds); ``stop`` ends the retrying
    at once when set; ``attempts`` caps the attempts (None: unlimited); ``on_retry`` sees each error
    before its wait; ``logger`` is the caller's module logger.
    """
    if max_s <= 0 or first_s <= 0:
        raise ValueError("retry waits must be positive")
    first_s = min(first_s, max_s)

    def wait(state: RetryCallState) -> float:
        ceiling = min(max_s, first_s * 2 ** min(state.attempt_number - 1, 62))
        return random.uniform(ceiling / 2, ceiling)

    async def sleep(seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):  # unlike wait_for (3.11), never swallows a cancellation
                await stop.wait()
        except TimeoutError:
            return
        raise _Stopped

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        assert error is not None
        if on_retry is not None:
            on_retry(error)
        logger.warning(
            "%s failed (%s); retry %d in %.2f s",
            what,
            str(error) or type(error).__name__,
            state.attempt_number,
            state.upcoming_sleep,
            extra={"attempt": state.attempt_number, "delay_s": round(state.upcoming_sleep, 3)},
        )

    def give_up(state: RetryCallState) -> None:
        if stop is not None and stop.is_set():
            return
        assert state.outcome is not None
        state.outcome.result()  # re-raises the last error

    stop_when = stop_after_attempt(attempts) if attempts is not None else stop_never
    return Retrying(
        what=what,
        stop_event=stop,
        logger=logger,
        sleep=sleep,
        wait=wait,
        retry=_RetryOn(on, unless),
        stop=stop_any(stop_when, _StopEvent(stop)) if stop is not None else stop_when,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        reraise=True,
    )
