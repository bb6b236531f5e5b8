"""Settings renamed since 0.1.0, in one table (CHANGELOG.md says why): an old name fails with one
line that names the new one, whether it comes from Python, a config or the command line.

Kept free of heavy imports: `python -m xaibench` checks its overrides against it before Hydra
composes the config.
"""

from __future__ import annotations

# `samples` now means only the explained test inputs of a run.
METHODS: dict[str, dict[str, str]] = {
    "smooth": {"samples": "noisy_copies"},
    "smoothgrad": {"samples": "noisy_copies"},
    "smoothgrad_sq": {"samples": "noisy_copies"},
    "vargrad": {"samples": "noisy_copies"},
    "smoothgrad_x_input": {"samples": "noisy_copies"},
    "expected_gradients": {"samples": "draws"},
}
METRICS: dict[str, dict[str, str]] = {
    "infidelity": {"samples": "perturbations"},
    "max_sensitivity": {"samples": "perturbations"},
    "local_lipschitz": {"samples": "perturbations"},
    "monotonicity": {"samples": "draws"},
}
# One spelling across configs: normalise, as postprocess's and infidelity's.
DATASETS: dict[str, str] = {"normalize": "normalise"}


def renamed_message(kind: str, name: str | None, old: str, new: str) -> str:
    """One line naming the new name of setting `old` of `kind` `name` (any one, if None)."""
    owner = f"{kind} {name!r}: parameter" if name else f"{kind} setting"
    return f"{owner} {old!r} is now called {new!r} (see CHANGELOG.md)"


def renamed_override(key: str) -> str | None:
    """The one-line message for a command-line override of a renamed setting
    (`method.smoothgrad.samples`, `dataset.normalize`), else None."""
    parts = key.lstrip("+~").split(".")
    if len(parts) == 2 and parts[0] == "dataset" and parts[1] in DATASETS:
        return renamed_message("dataset", None, parts[1], DATASETS[parts[1]])
    if len(parts) == 3 and parts[0] in ("method", "metric"):
        table = METHODS if parts[0] == "method" else METRICS
        new = table.get(parts[1], {}).get(parts[2])
        if new is not None:
            return renamed_message(parts[0], parts[1], parts[2], new)
    return None
