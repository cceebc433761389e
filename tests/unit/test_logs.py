"""Log records as people and collectors get them: clean JSON, readable text, the format picked by the terminal."""

from __future__ import annotations

import io
import json
import logging

from shared.logs import JsonFormatter, TextFormatter, resolve_format


class _Socket:
    pass


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_drops_color_message_escapes_object_reprs_and_non_json_extras() -> None:
    record = _record(
        "Started server process [%d] for %s",
        42,
        _Socket(),
        color_message="Started server process [\x1b[36m%d\x1b[0m]",
        websocket=_Socket(),
        socket="main",
        unknown_keys=["x", "y"],
    )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "color_message" not in entry and "websocket" not in entry
    assert entry["socket"] == "main" and entry["unknown_keys"] == ["x", "y"]
    assert entry["msg"] == "Started server process [42] for <_Socket>"
    assert "\\u001b" not in line and "\x1b" not in line and " object at 0x" not in line


def test_json_cleans_escapes_inside_messages_and_exceptions() -> None:
    try:
        raise ValueError("\x1b[31mred\x1b[0m")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "\x1b[1mbold\x1b[0m", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "bold" and "\x1b" not in entry["exc"] and "ValueError: red" in entry["exc"]


def test_text_prints_console_lines_as_an_indented_block() -> None:
    record = _record("one line for collectors", console_lines=["headline", "MCP  http://x/mcp", "bus  embedded"])
    text = TextFormatter().format(record)
    assert text.endswith("uvicorn.error: headline\n    MCP  http://x/mcp\n    bus  embedded")
    assert "one line for collectors" not in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_picks_text_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format("auto", _Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", _Terminal()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
