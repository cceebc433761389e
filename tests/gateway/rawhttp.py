"""A raw HTTP/1.1 client for byte comparisons: one request, the whole response (chunked or not)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

MODERN = "2026-07-28"


def modern_call(
    tool: str,
    arguments: dict[str, Any] | None,
    request_id: int | str = 1,
    *,
    token: str | int | None = "p1",
    extra_headers: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a 2026-07-28 ``tools/call`` (``arguments`` None: no arguments member)."""
    envelope: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    if token is not None:
        envelope["progressToken"] = token
    envelope.update(meta or {})
    params: dict[str, Any] = {"name": tool, "_meta": envelope}
    if arguments is not None:
        params["arguments"] = arguments
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    headers.update(extra_headers or {})
    return headers, body


@dataclass
class RawResponse:
    """A response: status, headers in order (without ``date``), the body (de-chunked)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


async def exchange(port: int, headers: dict[str, str], body: bytes, *, timeout_s: float = 20.0) -> RawResponse:
    """POST ``body`` to ``/mcp`` and read the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        fields = {"Host": f"127.0.0.1:{port}", **headers}
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        writer.write(f"POST /mcp HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            return await _read_response(reader)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    status_line = await reader.readline()
    status = int(status_line.split(b" ", 2)[1])
    headers: list[tuple[str, str]] = []
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() != "date":
            headers.append((name.lower(), value.strip()))
    fields = dict(headers)
    if fields.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    return RawResponse(status, headers, body)
