"""Strict readers of decoded JSON values: right type and finite, or :class:`Malformed` with a path."""

from __future__ import annotations

from typing import Any, Final

JsonObject = dict[str, Any]

INT_LIMIT: Final = 1 << 63
"""Integers must lie strictly between -INT_LIMIT and INT_LIMIT (a signed 64-bit range)."""

_MISSING: Final = object()
_TYPE_NAMES: Final = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


class Malformed(ValueError):
    """A value that cannot be read; ``path`` locates it inside the part being read."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def within(self, segment: str | int) -> Malformed:
        """The same problem seen from the container that holds it under ``segment``."""
        head = f"[{segment}]" if isinstance(segment, int) else segment
        if not self.path:
            return Malformed(self.reason, head)
        separator = "" if self.path.startswith("[") else "."
        return Malformed(self.reason, f"{head}{separator}{self.path}")

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


def describe(value: object) -> str:
    """A short JSON-flavoured description of a value's type, for error messages."""
    if value is None:
        return "null"
    if value is _MISSING:
        return "nothing (missing)"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _wrong(expected: str, value: object, path: str) -> Malformed:
    return Malformed(f"expected {expected}, got {describe(value)}", path)


def to_int(value: object, path: str = "") -> int:
    """An integer (an integral float is accepted); booleans, fractions and huge values are not."""
    if type(value) is int:
        if -INT_LIMIT < value < INT_LIMIT:
            return value
        raise Malformed("integer out of range", path)
    if type(value) is float:
        if not value.is_integer():
            raise Malformed(f"expected an integer, got {value!r}", path)
        if -INT_LIMIT < value < INT_LIMIT:
            return int(value)
        raise Malformed("integer out of range", path)
    raise _wrong("an integer", value, path)


def to_rounded_int(value: object, path: str = "") -> int:
    """An integer, rounding a finite fractional number (for times and sizes)."""
    if type(value) is float and value - value == 0.0 and -INT_LIMIT < value < INT_LIMIT:
        return round(value)
    return to_int(value, path)


def to_float(value: object, path: str = "") -> float:
    """A finite number within the 64-bit integer range, as a float."""
    if type(value) is float:
        if value - value != 0.0:
            raise Malformed(f"expected a finite number, got {value!r}", path)
        if -INT_LIMIT < value < INT_LIMIT:
            return value
        raise Malformed("number out of range", path)
    if type(value) is int:
        if -INT_LIMIT < value < INT_LIMIT:
            return float(value)
        raise Malformed("number out of range", path)
    raise _wrong("a number", value, path)


def to_str(value: object, path: str = "") -> str:
    """A string that encodes to UTF-8 (no lone surrogates)."""
    if type(value) is not str:
        raise _wrong("a string", value, path)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise Malformed("string is not valid Unicode", path) from None
    return value


def to_bool(value: object, path: str = "") -> bool:
    """A JSON boolean."""
    if type(value) is bool:
        return value
    raise _wrong("a boolean", value, path)


def to_object(value: object, path: str = "") -> JsonObject:
    """A JSON object."""
    if type(value) is dict:
        return value
    raise _wrong("an object", value, path)


def to_array(value: object, path: str = "") -> list[Any]:
    """A JSON array."""
    if type(value) is list:
        return value
    raise _wrong("an array", value, path)


def to_float_list(value: object, path: str = "") -> list[float]:
    """An array of finite numbers."""
    items = to_array(value, path)
    try:
        return [item if type(item) is float and -INT_LIMIT < item < INT_LIMIT else to_float(item) for item in items]
    except Malformed:
        for index, item in enumerate(items):
            to_float(item, f"{path}[{index}]")
        raise


def to_rounded_int_list(value: object, path: str = "") -> list[int]:
    """An array of integers, fractional numbers rounded."""
    items = to_array(value, path)
    try:
        return [item if type(item) is int and -INT_LIMIT < item < INT_LIMIT else to_rounded_int(item) for item in items]
    except Malformed:
        for index, item in enumerate(items):
            to_rounded_int(item, f"{path}[{index}]")
        raise


def req_int(obj: JsonObject, key: str) -> int:
    """The required integer ``obj[key]``."""
    value = obj.get(key, _MISSING)
    if type(value) is int and -INT_LIMIT < value < INT_LIMIT:
        return value
    return to_int(value, key)


def req_float(obj: JsonObject, key: str) -> float:
    """The required number ``obj[key]``."""
    value = obj.get(key, _MISSING)
    if type(value) is float and -INT_LIMIT < value < INT_LIMIT:  # also false for NaN and infinities
        return value
    return to_float(value, key)


def req_str(obj: JsonObject, key: str) -> str:
    """The required string ``obj[key]``."""
    value = obj.get(key, _MISSING)
    if type(value) is str and value.isascii():
        return value
    return to_str(value, key)


def opt_int(obj: JsonObject, key: str) -> int | None:
    """The integer ``obj[key]``, None when missing or null."""
    value = obj.get(key)
    if value is None or (type(value) is int and -INT_LIMIT < value < INT_LIMIT):
        return value
    return to_int(value, key)


def opt_rounded_int(obj: JsonObject, key: str) -> int | None:
    """``obj[key]`` rounded to an integer, None when missing or null."""
    value = obj.get(key)
    return None if value is None else to_rounded_int(value, key)


def opt_float(obj: JsonObject, key: str) -> float | None:
    """The number ``obj[key]``, None when missing or null."""
    value = obj.get(key)
    if value is None or (type(value) is float and -INT_LIMIT < value < INT_LIMIT):
        return value
    return to_float(value, key)


def opt_str(obj: JsonObject, key: str) -> str | None:
    """The string ``obj[key]``, None when missing or null."""
    value = obj.get(key)
    if value is None or (type(value) is str and value.isascii()):
        return value
    return to_str(value, key)


def opt_bool(obj: JsonObject, key: str) -> bool | None:
    """The boolean ``obj[key]``, None when missing or null."""
    value = obj.get(key)
    return None if value is None else to_bool(value, key)


def opt_object(obj: JsonObject, key: str) -> JsonObject | None:
    """The object ``obj[key]``, None when missing or null."""
    value = obj.get(key)
    return None if value is None else to_object(value, key)
