"""`python -m xaibench [overrides]`: check the config, then hand over to Hydra.

Hydra reports an unknown config option in several lines with a search path; users get one
line naming the bad value and the valid ones instead, before anything runs. Then the config
the overrides compose is checked as a run reads it (`settings.read_settings`: every setting's
type and range), each value of a sweep included, so a bad setting fails with exit code 2
before Hydra creates a run folder.
"""

from __future__ import annotations

import os
import re
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


def invalid_settings(args: list[str]) -> XaibenchError | None:
    """The first setting that a run would refuse in the config these overrides compose (in a
    multirun, with every value of every sweep), else None. Hydra's own flags (`--cfg`,
    `--config-dir`, ...) and errors, and configs that compose only in a run, are left to
    Hydra and to the run, which checks the same again."""
    multirun = any(arg in ("-m", "--multirun") for arg in args)
    overrides = [arg for arg in args if arg not in ("-m", "--multirun")]
    if any(arg.startswith("-") for arg in overrides):
        return None
    from hydra import compose, initialize_config_dir

    from xaibench.settings import CONF_DIR, read_settings

    try:
        variants = sweep_variants(overrides) if multirun else [overrides]
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            configs = [compose("config", overrides=variant) for variant in variants]
        for cfg in configs:
            read_settings(cfg)
    except XaibenchError as error:
        return error
    except Exception as error:  # Hydra's errors and anything else: the run reports them
        return setup_mismatch(error)
    return None


def setup_mismatch(error: Exception) -> XaibenchError | None:
    """An experiment that runs only with some setups (its settings per setup are
    conf/experiment_setup/<experiment>_<setup>.yaml) composed with another: one line naming
    the setups it runs with, instead of Hydra's search path."""
    found = re.search(r"Could not find 'experiment_setup/(\w+)'", str(error))
    if found is None:
        return None
    name = found.group(1)
    experiment = max((e for e in options("experiment") if name.startswith(f"{e}_")), key=len)
    setup = name.removeprefix(f"{experiment}_")
    valid = [o.removeprefix(f"{experiment}_") for o in options("experiment_setup")
             if o.startswith(f"{experiment}_")]  # fmt: skip
    return XaibenchError(
        f"experiment={experiment} does not run with setup={setup}; it runs with "
        + ", ".join(f"setup={each}" for each in valid)
    )


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """The override lists of a multirun's values, one sweep varied at a time (the others at
    their first value): every value is checked once, not every combination."""
    parser = OverridesParser.create()
    options = []
    for arg in overrides:
        (override,) = parser.parse_overrides([arg])
        if override.is_sweep_override():
            key = override.get_key_element()
            options.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            options.append([arg])
    first = [values[0] for values in options]
    variants = [first]
    for i, values in enumerate(options):
        variants += [[*first[:i], value, *first[i + 1 :]] for value in values[1:]]
    return variants


def cli() -> None:
    args = sys.argv[1:]
    problem = unknown_choice(args) or invalid_settings(args)
    if problem is not None:
        print(f"xaibench: error: {problem}", file=sys.stderr)
        sys.exit(2)
    from xaibench.run import LAUNCHER_PID, main

    os.environ[LAUNCHER_PID] = str(os.getpid())  # jobs in child processes stop when it dies
    main()


if __name__ == "__main__":
    cli()
