"""Run a Starlette/ASGI app with uvicorn inside an asyncio program that owns its own signal handling.

The server bounds what one client can make it hold before the app (and so auth) sees a request: see
:class:`HttpLimits` and :class:`BoundedHttpToolsProtocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from asyncio import TimerHandle
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from shared.settings import GatewaySettings

log = logging.getLogger(__name__)

LINGER_S = 1.0
"""After a refusal, how long the connection keeps reading (and discarding) so the client reads the answer."""


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


_OWS = b" \t"


class TrimmedHeaderValues:
    """Strips optional whitespace around header values (RFC 9110 section 5.5) before the app sees them.

    uvicorn's h11 parser trims it, its httptools parser does not: ``Mcp-Name:  stream_blocks `` must
    still name ``stream_blocks``.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(
            value and (value[0] in _OWS or value[-1] in _OWS) for _, value in scope["headers"]
        ):
            scope = {**scope, "headers": [(name, value.strip(_OWS)) for name, value in scope["headers"]]}
        await self._app(scope, receive, send)


@dataclass(frozen=True)
class HttpLimits:
    """What one client may make the server hold before the app sees its request.

    The defaults are the gateway's (``GatewaySettings.http_*``, which document each one).
    """

    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    max_body_bytes: int = 64 * 1024
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_idle_s: float = 5.0

    @classmethod
    def of(cls, settings: GatewaySettings) -> HttpLimits:
        """The limits configured in ``settings``."""
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            max_header_count=settings.http_max_header_count,
            max_body_bytes=settings.http_max_body_bytes,
            head_timeout_s=settings.http_head_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            keep_alive_idle_s=settings.http_keep_alive_idle_s,
        )


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that has just been refused."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on what a client can make it hold before the app runs.

    uvicorn's httptools protocol has no limit on header size and no read timeouts: the parser buffers a
    header of any size, and a connection that sends nothing, or a byte now and then, is held forever.
    Here, per request:

    * the head (request line and headers) takes at most ``max_header_bytes`` and ``max_header_count``
      fields (else 431), and must arrive within ``head_timeout_s`` of the connection's accept or of the
      end of the previous response (else 408; a connection that sent not a byte is closed silently);
    * the body takes at most ``max_body_bytes`` (else 413, before the app starts when Content-Length
      says so) and must arrive within ``body_timeout_s`` of the end of the head (else 408);
    * an idle keep-alive connection is closed after ``keep_alive_idle_s``.

    No timer runs while a response is being sent (unless the app answers before it has read the whole
    body), so long streams are never cut. A refusal carries ``Connection: close``; the connection then
    reads and discards for up to :data:`LINGER_S` so that a client still sending reads the answer rather
    than a reset. Bytes pipelined behind a request in the same read are counted from the next read on: a
    head can pass ``max_header_bytes`` by one read at most.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_keep_alive = self.limits.keep_alive_idle_s  # type: ignore[assignment]  # call_later takes float
        self._in_head = True
        self._head_bytes = 0
        self._heads_seen = 0
        self._header_count = 0
        self._body_bytes = 0
        self._deadline: TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_head:
            self._feed(data)
            return
        room = self.limits.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        heads = self._heads_seen
        self._head_bytes += room
        self._feed(data[:room])
        if self._refused or self.transport.is_closing():
            return
        if self._heads_seen == heads:
            self._refuse(431, "Request header fields too large")
        else:
            self.data_received(data[room:])

    def _feed(self, data: bytes) -> None:
        """uvicorn's ``data_received``, quiet about the requests refused here."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if not self._refused:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        self._body_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            self._refuse(431, "Too many header fields")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._declared_body_bytes() > self.limits.max_body_bytes:
            self._refuse(413, "Request body too large")
            raise _Refused
        queued = self.cycle is not None and not self.cycle.response_complete  # pipelined behind a response
        self._in_head = False
        self._heads_seen += 1
        super().on_headers_complete()
        if queued:
            self._disarm()  # its body is read once the response before it has ended
        else:
            self._arm(self.limits.body_timeout_s)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refuse(413, "Request body too large")
            raise _Refused
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if not self.cycle.response_complete:
            self._disarm()  # the body's deadline; once a response has ended, the next head's deadline runs
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.timeout_keep_alive_task is not None:  # nothing queued: the next head is due
            self._arm(self.limits.head_timeout_s)
        elif self.cycle.more_body:  # a pipelined request has started: its body is due
            self._arm(self.limits.body_timeout_s)

    def _declared_body_bytes(self) -> int:
        for name, value in self.headers:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    def _arm(self, delay_s: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        self._refuse(408, "Request timeout")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` when no response is under way, then close the connection."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm()
        in_flight = self.cycle is not None and not self.cycle.response_complete
        answer = self._may_answer(in_flight)
        if in_flight:
            self.cycle.disconnected = True  # the app's receive() says http.disconnect, its sends are dropped
            self.cycle.message_event.set()
        log.debug("HTTP %d (%s) to %s", status, reason, self.client)
        if not answer:
            self.transport.close()
            return
        self.transport.write(_plain_response(status, reason, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_S, self.transport.close)

    def _may_answer(self, in_flight: bool) -> bool:
        """Whether no response is under way and the client has sent part of a request (a head's bytes)."""
        if self._in_head:  # self.cycle is the previous request's, if any
            return self._head_bytes > 0 and not in_flight
        return in_flight and not self.cycle.response_started


def _plain_response(status: int, reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = reason.encode("ascii")
    lines = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in default_headers)]
    lines.append(b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n")
    lines.append(b"content-length: %d\r\n\r\n" % len(body))
    return b"".join(lines) + body


def bounded_protocol(limits: HttpLimits) -> type[BoundedHttpToolsProtocol]:
    """A :class:`BoundedHttpToolsProtocol` class enforcing ``limits`` (uvicorn instantiates it per connection)."""

    class Protocol(BoundedHttpToolsProtocol):
        pass

    Protocol.limits = limits
    return Protocol


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP is inherited by accepted sockets, so asyncio turns Nagle off on them.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class HttpServer:
    """An ASGI app served on one socket until :meth:`stop`; signals stay with the caller."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        *,
        timeout_graceful_shutdown_s: float = 5.0,
        limits: HttpLimits | None = None,
    ) -> None:
        self._socket = bind_socket(host, port)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        self.limits = limits or HttpLimits()
        config = uvicorn.Config(
            TrimmedHeaderValues(app),
            http=bounded_protocol(self.limits),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(timeout_graceful_shutdown_s),
            ws="none",
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start serving and return once the server accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within the grace period, then return."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._socket.close()

    async def wait(self) -> None:
        """Return when the server stops by itself."""
        if self._task is not None:
            await self._task
