"""The package version, read once from the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("mempool-ws")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0.0.0+source"
