"""Container health check for either daemon of the image: exit 0 when its ``/healthz`` answers 200.

The gateway serves it on ``MEMPOOL_WS_PORT`` (8000), the ingestor on ``MEMPOOL_WS_METRICS_PORT`` (9108),
and ``HEALTHCHECK_URL`` names any other URL (the simulator's, say). Only one daemon runs per container,
so the first port that answers is the one that counts.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def candidates() -> list[str]:
    """URLs to try, most specific first (``HEALTHCHECK_URL`` overrides them all)."""
    override = os.environ.get("HEALTHCHECK_URL")
    if override:
        return [override]
    gateway = os.environ.get("MEMPOOL_WS_PORT", "8000")
    ingestor = os.environ.get("MEMPOOL_WS_METRICS_PORT", "9108")
    return [f"http://127.0.0.1:{gateway}/healthz", f"http://127.0.0.1:{ingestor}/healthz"]


def healthy(url: str) -> bool:
    """Whether GET ``url`` answers 200 within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    """0 when one candidate answers, 1 otherwise (with the URLs tried on stderr)."""
    urls = candidates()
    if any(healthy(url) for url in urls):
        return 0
    print(f"unhealthy: no answer from {', '.join(urls)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
