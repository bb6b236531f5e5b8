"""What xaibench offers, from the registries: `python -m xaibench.catalog [methods|metrics]`.

Prints every registered method (family, description, citation, default settings) and metric
(category, direction, description, citation); `--markdown` prints tables instead;
`--write-configs` regenerates the method and metric configs from the docstrings (configs.py).
Installed plug-ins (plugins.py) are listed with the built-ins, each marked `plug-in` with its
distribution (or import path) and version.
"""

from __future__ import annotations

import argparse
import textwrap

from tabulate import tabulate

from xaibench.methods import METHODS
from xaibench.metrics import METRICS
from xaibench.plugins import provenance

WIDTH = 100


def method_rows() -> list[dict]:
    return [
        {
            "name": info.name,
            "family": info.family,
            "description": info.description,
            "citation": info.citation,
            "defaults": _settings(info.defaults()),
            "plug-in": plugin_of(info.fn),
        }
        for info in (METHODS[name] for name in METHODS.names())
    ]


def metric_rows() -> list[dict]:
    return [
        {
            "name": info.name,
            "category": info.category,
            "direction": "higher is better" if info.higher_is_better else "lower is better",
            "description": info.description,
            "citation": info.citation,
            "defaults": _settings(info.defaults()),
            "plug-in": plugin_of(info.fn),
        }
        for info in (METRICS[name] for name in METRICS.names())
    ]


def plugin_of(fn) -> str:
    """'' for xaibench's own; for a plug-in its distribution and version (or its import path
    and version where no installed distribution holds it)."""
    found = provenance(fn)
    if found is None:
        return ""
    return found.get("_distribution_") or f"{found['_target_']} {found['_version_']}"


def _settings(defaults: dict) -> str:
    # Context parameters (background, masks) are handed over by a run, not set by users.
    return ", ".join(f"{k}={v}" for k, v in defaults.items() if k not in ("background", "masks"))


def as_text(title: str, rows: list[dict], kind_key: str) -> str:
    lines = [f"{title} ({len(rows)})", ""]
    for row in rows:
        tags = [row[kind_key]] + ([row["direction"]] if "direction" in row else [])
        tags += [f"plug-in: {row['plug-in']}"] if row["plug-in"] else []
        lines.append(f"{row['name']}  [{', '.join(tags)}]")
        for text in (row["description"], row["citation"], f"defaults: {row['defaults'] or '-'}"):
            lines += textwrap.wrap(text, WIDTH, initial_indent="    ", subsequent_indent="    ")
        lines.append("")
    return "\n".join(lines)


def as_markdown(rows: list[dict]) -> str:
    """A table; its `plug-in` column only where a plug-in is installed."""
    if not any(row["plug-in"] for row in rows):
        rows = [{k: v for k, v in row.items() if k != "plug-in"} for row in rows]
    return tabulate(rows, headers="keys", tablefmt="github")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m xaibench.catalog", description="List xaibench's methods and metrics."
    )
    parser.add_argument("what", nargs="?", choices=["methods", "metrics", "all"], default="all")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument(
        "--write-configs", action="store_true",
        help="regenerate conf/method/*.yaml and conf/metric/*.yaml from the docstrings",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.write_configs:
        from xaibench.configs import write_configs
        from xaibench.settings import CONF_DIR

        for path in write_configs(CONF_DIR):
            print(f"wrote {path}")
        return
    sections = []
    if args.what in ("methods", "all"):
        sections.append(("Methods", method_rows(), "family"))
    if args.what in ("metrics", "all"):
        sections.append(("Metrics", metric_rows(), "category"))
    for title, rows, kind_key in sections:
        print(as_markdown(rows) if args.markdown else as_text(title, rows, kind_key))


if __name__ == "__main__":
    main()
