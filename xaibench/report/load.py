"""Read run folders (single runs, sweeps from any launcher) into one score table.

A run folder is any folder holding `scores.parquet`; folders are walked recursively, so a
Hydra multirun folder (numbered job folders beside `multirun.yaml`) is read like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pandas as pd

from xaibench.registry import XaibenchError

RUN_FILE = "scores.parquet"
SWEEP_FILE = "multirun.yaml"
GROUP = ["dataset", "model"]  # one leaderboard per dataset x model
UNIT = "model_key"  # one trained model (one model seed): the unit resampled across seeds
BLOCK = [UNIT, "sample"]  # the paired unit: one test sample explained on one model


@dataclass(frozen=True)
class Runs:
    """Scores and curves of every run found, with each run's metadata, keyed by its folder."""

    scores: pd.DataFrame  # SCORE_COLUMNS plus `run_folder`; labels disambiguated (see below)
    curves: pd.DataFrame  # CURVE_COLUMNS plus `run_folder`
    metas: dict[str, dict]  # run folder -> meta.json
    sweeps: dict[str, str]  # sweep folder -> its multirun.yaml


def find_run_folders(paths: list[str | Path]) -> list[Path]:
    """Every folder at or below `paths` that holds a run's scores, each once, sorted."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if not path.is_dir():
            raise XaibenchError(f"{path} is not a folder; pass run folders or sweep folders")
        found.update(p.parent.resolve() for p in path.rglob(RUN_FILE))
    if not found:
        raise XaibenchError(
            f"no runs found under {', '.join(map(str, paths))}: a run folder holds {RUN_FILE}"
        )
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> list:
    """Sort job folders 2 before 10."""
    return [int(part) if part.isdigit() else part for part in path.parts]


def load_runs(paths: list[str | Path]) -> Runs:
    """Read every run at or below `paths` (run folders or sweep folders) into one `Runs`.

    Labels that several settings share are told apart: a sweep over a method's setting gives
    `integrated_gradients[steps=16]` and `integrated_gradients[steps=64]`, naming only the
    settings that differ; so do datasets and metrics. Two runs that score the same method and
    metric on the same samples of the same model are an error: they would count twice.
    """
    folders = find_run_folders(paths)
    scores, curves, metas = [], [], {}
    for folder in folders:
        name = display_name(folder)
        table = pd.read_parquet(folder / RUN_FILE)
        if not len(table):  # a failed run (every method or every metric failed) adds nothing
            continue
        scores.append(table.assign(run_folder=name))
        if (folder / "curves.parquet").exists():
            curves.append(pd.read_parquet(folder / "curves.parquet").assign(run_folder=name))
        meta_file = folder / "meta.json"
        metas[name] = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if not scores:
        raise XaibenchError(f"no scores under {', '.join(map(str, paths))}: every run failed")
    sweeps = {
        display_name(f.parent): f.read_text()
        for path in map(Path, paths)
        for f in sorted(path.rglob(SWEEP_FILE))
    }
    score_table = pd.concat(scores, ignore_index=True)
    curve_table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    for label, params, within in [("dataset", "dataset_params", None),
                                  ("method", "method_params", UNIT),
                                  ("metric", "metric_params", UNIT)]:  # fmt: skip
        renames = variant_labels(score_table, label, params, within)
        score_table[label] = _relabel(score_table, label, params, renames)
        if len(curve_table):
            curve_table[label] = _relabel(curve_table, label, params, renames)
    check_no_duplicates(score_table)
    return Runs(score_table, curve_table, metas, sweeps)


def display_name(folder: Path) -> str:
    """The folder relative to the working directory where possible (shorter, machine-free)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


# Settings that never make a variant: the memory knob does not change results.
NOT_VARIANTS = {"batch_size"}


def variant_labels(
    table: pd.DataFrame, label: str, params: str, within: str | None = None
) -> dict[tuple[str, str], str]:
    """(label, params JSON) -> a label that tells variants of one name apart.

    A sweep over a setting (e.g. `method.integrated_gradients.steps=16,64`) gives rows with one
    label and several settings; they become `integrated_gradients[steps=16]` and
    `integrated_gradients[steps=64]`, naming only the settings that differ. With `within`, only
    settings that differ inside one value of that column count: a method's `seed`, which
    follows the run seed, differs between trained models but is not a variant.
    """
    renames: dict[tuple[str, str], str] = {}
    for key, rows in table.groupby(label, sort=False):
        name = cast(str, key)  # a label column: strings
        distinct = list(dict.fromkeys(rows[params]))
        scopes = [rows] if within is None else [part for _, part in rows.groupby(within)]
        differing = sorted(
            {key for part in scopes for key in _differing_keys(set(part[params]))} - NOT_VARIANTS
        )
        for raw in distinct:
            setting = json.loads(raw)
            shown = ",".join(f"{k}={json.dumps(setting.get(k))}" for k in differing)
            renames[(name, raw)] = f"{name}[{shown}]" if differing else name
    return renames


def _differing_keys(raw_settings: set[str]) -> set[str]:
    settings = [json.loads(raw) for raw in raw_settings]
    keys = {k for setting in settings for k in setting}
    return {k for k in keys if len({json.dumps(s.get(k)) for s in settings}) > 1}


def _relabel(table: pd.DataFrame, label: str, params: str, renames: dict) -> pd.Series:
    return pd.Series(
        [renames.get(key, key[0]) for key in zip(table[label], table[params], strict=True)],
        index=table.index,
    )


def check_no_duplicates(scores: pd.DataFrame) -> None:
    """Two runs scoring the same method, metric and sample on the same model would count twice."""
    key = [*GROUP, *BLOCK, "method", "metric"]
    repeated = scores[scores.duplicated(key, keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        runs = sorted(set(repeated.loc[(repeated[key] == first[key]).all(axis=1), "run_folder"]))
        raise XaibenchError(
            f"runs {' and '.join(runs)} both score {first['method']}/{first['metric']} on the "
            "same samples of the same model; pass only one of them"
        )
