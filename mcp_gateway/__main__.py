"""``python -m mcp_gateway``: the gateway configured from ``MEMPOOL_WS_*`` variables (for containers)."""

from __future__ import annotations

import sys

from mempool_ws.cli import main

if __name__ == "__main__":
    sys.exit(main(["gateway", *sys.argv[1:]]))
