"""Read run folders (single runs, sweeps from any launcher) into one score table.

A run folder is any folder holding `scores.parquet`; folders are walked recursively, so a
Hydra multirun folder (numbered job folders beside `multirun.yaml`) is read like any other.

The shards of one evaluation (runs with `shards` > 1 whose configs differ in `shard` alone,
and in settings that change no number) are merged into it: read in shard order where its
first shard was found, so that the tables are those of one job, and refused in one line when a
shard is missing or found twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
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
# Settings that change no number (runfolder.NOT_RESULT_SETTINGS is this without `shard`): runs
# whose configs agree on every other setting are the shards of one evaluation.
NOT_EVALUATION = ("progress", "cache_dir", "reuse", "sweep_report", "threads", "shard")


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
    found = {folder: read_meta(folder) for folder in find_run_folders(paths)}
    scores, curves, metas = [], [], {}
    for folder in in_evaluation_order(found):
        name = display_name(folder)
        table = pd.read_parquet(folder / RUN_FILE)
        if not len(table):  # a failed run (every method or every metric failed) adds nothing
            continue
        scores.append(table.assign(run_folder=name))
        if (folder / "curves.parquet").exists():
            curves.append(pd.read_parquet(folder / "curves.parquet").assign(run_folder=name))
        metas[name] = found[folder]
    check_shards(metas)
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


def read_meta(folder: Path) -> dict:
    """A run folder's meta.json, {} where it has none."""
    meta_file = folder / "meta.json"
    return json.loads(meta_file.read_text()) if meta_file.exists() else {}


def shard_of(meta: dict) -> tuple[str, int, int] | None:
    """(the evaluation, as its settings' JSON; shard; shards) of a run that is a shard of one
    (meta.json's `explained.shard`), None for a whole run."""
    shard = (meta.get("explained") or {}).get("shard")
    if shard is None:
        return None
    settings = {k: v for k, v in meta["config"].items() if k not in NOT_EVALUATION}
    return json.dumps(settings, sort_keys=True, default=str), shard["shard"], shard["shards"]


def in_evaluation_order(metas: dict[Path, dict]) -> list[Path]:
    """The folders of `metas` in their order, except that the shards of one evaluation follow
    each other in shard order where its first shard is: their rows then come as one job's do
    (bootstrap intervals resample rows by position, so the order decides them too)."""
    first: dict[str, int] = {}
    order = []
    for position, (folder, meta) in enumerate(metas.items()):
        shard = shard_of(meta)
        if shard is None:
            order.append(((position, 0), folder))
        else:
            evaluation, index, _ = shard
            order.append(((first.setdefault(evaluation, position), index), folder))
    return [folder for _, folder in sorted(order, key=lambda item: item[0])]


def check_shards(metas: dict[str, dict]) -> None:
    """Every evaluation split over shards is here whole: each of its shards exactly once (a
    missing or repeated one is named in one line, and the report refused)."""
    evaluations: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = {}
    for name, meta in metas.items():
        if (shard := shard_of(meta)) is not None:
            evaluation, index, counts[evaluation] = shard
            evaluations[evaluation][index].append(name)
    for evaluation, found in evaluations.items():
        shards, runs = counts[evaluation], sorted(n for names in found.values() for n in names)
        for index in range(shards):
            if len(found[index]) > 1:
                raise XaibenchError(
                    f"shard {index} of {shards} is in both {' and '.join(found[index][:2])}; "
                    "pass only one of them"
                )
            if not found[index]:
                raise XaibenchError(
                    f"shard {index} of {shards} is missing (the evaluation of {', '.join(runs)}; "
                    f"a failed shard has no scores): run it with shard={index} shards={shards} "
                    "and the same settings, and pass every shard"
                )


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
