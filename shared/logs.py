"""Logging setup, always on stderr: readable lines on a terminal, one JSON object per line elsewhere.

``auto`` (the default format) picks ``text`` when stderr is a terminal and ``json`` otherwise, so a
person sees sentences and a log collector gets objects. Either way records are cleaned: no ANSI escape
sequences, no uvicorn ``color_message`` duplicate, no ``<x.Y object at 0x...>`` reprs, and only
JSON-native extra fields (a library's ``websocket`` object is dropped, not printed).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_DROPPED = frozenset({"color_message", "console_lines", "taskName"})
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_OBJECT_REPR = re.compile(r"<([A-Za-z_][\w.<>]*?) object at 0x[0-9a-fA-F]+>")
_NOISY_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "websockets",
    "uvicorn.access",
    "uvicorn.error",
    "mcp",
    "docket",
    "sse_starlette",
    "simulator.websockets",
)
"""Libraries whose INFO lines narrate their own plumbing; only their warnings and errors are shown."""


def clean_text(text: str) -> str:
    """``text`` without ANSI escape sequences, with ``<pkg.Cls object at 0x...>`` shortened to ``<Cls>``."""
    text = _ANSI.sub("", text)
    return _OBJECT_REPR.sub(lambda match: f"<{match.group(1).rsplit('.', 1)[-1]}>", text)


_UNFIT = object()


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` if it is JSON-native (strings cleaned), else :data:`_UNFIT`."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if depth < 4 and isinstance(value, list | tuple):
        items = [_plain(item, depth + 1) for item in value]
        return _UNFIT if any(item is _UNFIT for item in items) else items
    if depth < 4 and isinstance(value, dict) and all(isinstance(key, str) for key in value):
        fields = {key: _plain(item, depth + 1) for key, item in value.items()}
        return _UNFIT if any(item is _UNFIT for item in fields.values()) else fields
    return _UNFIT


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's JSON-native extra fields (what a caller passed with ``extra=``)."""
    fields = {}
    for key, value in record.__dict__.items():
        if key in _RESERVED or key in _DROPPED or key.startswith("_"):
            continue
        plain = _plain(value)
        if plain is not _UNFIT:
            fields[key] = plain
    return fields


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"ts": ..., "level": ..., "logger": ..., "msg": ..., **extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": clean_text(record.getMessage()),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = clean_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``2026-12-01 15:09:51 INFO    logger: message``; a record carrying ``console_lines`` prints those
    lines instead of its message (the first on the line, the others indented below it)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        lines = getattr(record, "console_lines", None)
        if isinstance(lines, list) and lines:
            record.message = "\n    ".join(str(line) for line in lines)
        record.message = clean_text(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return clean_text(super().formatException(ei))


def resolve_format(fmt: str, stream: TextIO | None = None) -> str:
    """``json`` or ``text``: ``auto`` becomes ``text`` when ``stream`` (stderr) is a terminal."""
    if fmt != "auto":
        return fmt
    stream = stream or sys.stderr
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def configure_logging(level: str = "INFO", fmt: str = "auto") -> str:
    """Send every record at ``level`` or above to stderr as ``fmt`` (``auto``, ``json`` or ``text``).

    Returns the format chosen (``json`` or ``text``).
    """
    chosen = resolve_format(fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(quiet)
    fastmcp_logger = logging.getLogger("fastmcp")
    fastmcp_logger.handlers.clear()
    fastmcp_logger.propagate = True
    fastmcp_logger.setLevel(quiet)
    return chosen
