"""`python -m xaibench [overrides]`: check config names, then hand over to Hydra.

Hydra reports an unknown config option in several lines with a search path; users get one
line naming the bad value and the valid ones instead, before anything runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser

from xaibench.registry import UnknownNameError, XaibenchError
from xaibench.renames import renamed_override

# The same folder as settings.CONF_DIR, found without importing torch.
CONF = Path(__file__).resolve().parent / "conf"
GROUPS = ("experiment", "setup", "dataset", "model", "method", "metric", "debug")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def unknown_choice(args: list[str]) -> XaibenchError | None:
    """The first override that selects a config group option that does not exist, or sets a
    setting under its old name."""
    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            (override,) = parser.parse_overrides([arg])
        except Exception:  # malformed overrides are Hydra's to report
            continue
        renamed = renamed_override(override.key_or_group)
        if renamed is not None:
            return XaibenchError(renamed)
        group = override.key_or_group.lstrip("+~")
        if group not in GROUPS or override.package or override.is_delete():
            continue
        valid = options(group)
        values = (
            list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        )
        for value in _flatten(values):
            if value is not None and str(value) not in valid:
                return UnknownNameError(group, str(value), valid)
    return None


def _flatten(values: list) -> list:
    flat = []
    for value in values:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat


def cli() -> None:
    problem = unknown_choice(sys.argv[1:])
    if problem is not None:
        print(f"xaibench: error: {problem}", file=sys.stderr)
        sys.exit(2)
    from xaibench.run import LAUNCHER_PID, main

    os.environ[LAUNCHER_PID] = str(os.getpid())  # jobs in child processes stop when it dies
    main()


if __name__ == "__main__":
    cli()
