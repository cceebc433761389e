"""Turn every query of a Grafana dashboard into a Prometheus recording rule, so ``promtool`` parses them.

    python tools/dashboard_rules.py deploy/grafana/mempool-ws.json > build/dashboard.rules.yml
    promtool check rules build/dashboard.rules.yml

It also checks the dashboard's shape (a uid, unique panel ids, a query on every panel, queries through
the ``$datasource`` variable) and exits 1 with the problems listed when one is off.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Grafana variables and what they become for promtool: ranges get a plain duration, selectors match all.
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
}
DATASOURCE_UID = "${datasource}"
LEFTOVER_VARIABLE = re.compile(r"\$\{?\w+")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def expand(expr: str) -> str:
    """The query with Grafana's variables replaced by values promtool accepts."""
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    return expr


def problems(dashboard: dict[str, Any]) -> list[str]:
    """What is wrong with the dashboard's shape (empty when nothing is)."""
    found = [] if dashboard.get("uid") else ["dashboard has no uid"]
    seen: set[int] = set()
    for panel in panels(dashboard):
        ident, title = panel.get("id"), panel.get("title", "?")
        if not isinstance(ident, int) or ident in seen:
            found.append(f"panel {title!r}: missing or duplicate id {ident!r}")
        else:
            seen.add(ident)
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            found.append(f"panel {title!r}: no query")
        if panel.get("datasource", {}).get("uid") != DATASOURCE_UID:
            found.append(f"panel {title!r}: datasource is not {DATASOURCE_UID}")
        for target in targets:
            expr = expand(target.get("expr", ""))
            if not expr.strip():
                found.append(f"panel {title!r}: target {target.get('refId')} has no expr")
            elif LEFTOVER_VARIABLE.search(expr):
                found.append(f"panel {title!r}: unknown variable in {target['expr']!r}")
    return found


def recording_rules(dashboard: dict[str, Any]) -> dict[str, Any]:
    """A rule file with one recording rule per query: ``dashboard:panel_<id>_<refId>``."""
    rules = [
        {"record": f"dashboard:panel_{panel['id']}_{target.get('refId', 'A')}", "expr": expand(target["expr"])}
        for panel in panels(dashboard)
        for target in panel.get("targets") or []
        if target.get("expr")
    ]
    return {"groups": [{"name": f"dashboard-{dashboard.get('uid', 'unknown')}", "rules": rules}]}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``dashboard_rules.py DASHBOARD.json [-o RULES.yml]`` (JSON is valid YAML)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dashboard", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="rule file to write (default: stdout)")
    args = parser.parse_args(argv)
    dashboard = json.loads(args.dashboard.read_text())
    found = problems(dashboard)
    for problem in found:
        print(f"{args.dashboard}: {problem}", file=sys.stderr)
    text = json.dumps(recording_rules(dashboard), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
