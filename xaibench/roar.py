"""ROAR (Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods in Deep Neural
Networks. NeurIPS 2019): RemOve And Retrain.

For every method and every fraction, the most attributed `fraction` of the positions of each
train and test input (by the method's map of the trained model) are replaced by an
uninformative value, the same architecture is retrained from the same seed on the modified
train split, and its accuracy on the modified test split is read. A method whose removals make
the retrained accuracy fall faster than random removal found what the task needs; lower is
better. Retraining is what separates ROAR from deletion metrics: the model learns the removal's
distribution shift, so what remains is the information left in the inputs.

ROAR replaces pixels by each channel's mean over the training set (`fill: channel`); `position`
fills each position with its own training mean instead. No library implements ROAR's loop
(quantus and captum have no retraining benchmark), hence this module; it reuses the zoo's
training and cache (models/zoo.py) and the methods' `explain`. Settings live under `roar:` in
the experiment config: `fractions`, `fill`, `model_seeds`, and `train`, training settings that
override the model's for every retrained model (null: retrain exactly as the model was trained).

`random` draws its map from its seed for each chunk of `batch_size` inputs, so train input i
and test input i (in the same chunk position) get the same random removal; it stays seeded and
independent of the signals themselves.

    python -m xaibench.roar experiment=removal_ranking

writes roar_samples.csv (whether each test sample is classified correctly, per model seed,
method and fraction), roar_accuracy.csv (their mean), roar_accuracy.md (mean accuracy per method
and fraction, and the one-sided test against random removal) and roar_accuracy.png to the run
folder, and, once finished, scores.parquet, curves.parquet and meta.json as a run writes them
(metric `roar`), so that `python -m xaibench.report` reads the folder like any run.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from xaibench.data import Dataset, load_dataset
from xaibench.files import atomic_write_text, write_parquet
from xaibench.methods import explain_in_batches
from xaibench.models import get_model, predict_classes
from xaibench.perturb import region_ranks
from xaibench.provenance import device_info, git_state, versions
from xaibench.registry import XaibenchError, check_choice
from xaibench.report.plots import save
from xaibench.report.stats import versus_control
from xaibench.run_tables import as_json
from xaibench.runfolder import claimed, relative, write_hydra_files
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS
from xaibench.settings import CONF_DIR, Settings, read_settings
from xaibench.threads import cpu_threads

log = logging.getLogger(__name__)

FILLS = ("channel", "position")
CONTROL = "random"


def top_fraction_masks(attributions: Tensor, fraction: float) -> Tensor:
    """Bool (N, *positions): each sample's round(fraction * P) most attributed positions
    (attribution summed over channels; ties to the lower position, as every removal metric)."""
    if not 0.0 <= fraction <= 1.0:
        raise XaibenchError(f"ROAR fraction {fraction!r} must lie in [0, 1]")
    ranks, count = region_ranks(attributions, patch=1, most_relevant_first=True)
    return (ranks < round(fraction * count)).view(len(ranks), *attributions.shape[2:])


def check_fill(fill: str) -> None:
    check_choice("ROAR fill", fill, FILLS, plural="fills")


def fill_value(x_train: Tensor, fill: str) -> Tensor:
    """What a removed position becomes, shaped (C, *positions) to broadcast over inputs."""
    check_fill(fill)
    if fill == "channel":
        spatial = tuple(range(2, x_train.dim()))
        return x_train.mean(dim=(0, *spatial)).view(-1, *[1] * len(spatial)).expand_as(x_train[0])
    return x_train.mean(dim=0)


def remove(inputs: Tensor, masks: Tensor, value: Tensor) -> Tensor:
    """`inputs` with every channel of the masked positions set to `value` (C, *positions)."""
    return torch.where(masks[:, None], value.to(inputs.device), inputs)


def attributions_of(model, inputs: Tensor, targets: Tensor, settings: Settings, label: str):
    """The method's maps of `inputs`, `batch_size` inputs at a time (as a run explains)."""
    entry = settings.methods[label]
    return explain_in_batches(
        model, inputs, targets, entry.name, entry.params, settings.batch_size, settings.device
    )


def targets_of(model, inputs: Tensor, labels: Tensor, settings: Settings) -> Tensor:
    """The class each map explains: the model's prediction or the label (the run's `target`)."""
    if settings.target == "label":
        return labels
    return predict_classes(model, inputs, settings.batch_size)


def removed_dataset(
    data: Dataset, train_maps: Tensor, test_maps: Tensor, fraction: float, fill: str
) -> Dataset:
    """`data` with the top `fraction` of every train and test input removed (masks dropped:
    they describe the unmodified inputs)."""
    value = fill_value(data.x_train, fill)
    return replace(
        data,
        x_train=remove(data.x_train, top_fraction_masks(train_maps.cpu(), fraction), value),
        x_test=remove(data.x_test, top_fraction_masks(test_maps.cpu(), fraction), value),
        masks_test=None,
    )


def correct(model, x: Tensor, y: Tensor, settings: Settings) -> Tensor:
    """Whether the model classifies each input correctly (bool, on the inputs' device)."""
    return predict_classes(model, x, settings.batch_size) == y


def roar_samples(
    settings: Settings, seed: int, fractions: list[float], fill: str, retrain: dict
) -> Iterator[pd.DataFrame]:
    """One model seed's ROAR, one part per (fraction, method): rows per test sample, `correct`
    telling whether the model retrained at that fraction classifies that sample's modified
    input. Fractions are the outer loop, so an interrupted study still holds every method at
    the fractions it finished (retrained models are cached: a rerun resumes).

    The maps come from the model trained as the run trains it; the retrained models use the
    training settings overridden by `retrain` (e.g. fewer epochs), the 0% row included: it is
    the model retrained that way on the unmodified inputs."""
    data, data_spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)

    def trained_on(dataset: Dataset, spec: dict, train: dict):
        model = replace(settings.model, train=train, seed=seed, checkpoint=None)
        return get_model(model, dataset, spec, settings.cache, settings.device, settings.progress)

    def part(label: str, fraction: float, hits: Tensor) -> pd.DataFrame:
        return pd.DataFrame(
            {"seed": seed, "method": label, "fraction": fraction,
             "sample": np.arange(len(hits)), "correct": hits.numpy()}
        )  # fmt: skip

    original = trained_on(data, data_spec, settings.model.train)
    model = original.model
    retrain = {**settings.model.train, **retrain}
    unmodified = trained_on(data, data_spec, retrain)
    hits = correct(unmodified.model, data.x_test, data.y_test, settings)
    yield pd.concat([part(label, 0.0, hits) for label in settings.methods])
    train_targets = targets_of(model, data.x_train, data.y_train, settings)
    test_targets = targets_of(model, data.x_test, data.y_test, settings)
    maps = {}
    for label in settings.methods:
        log.info("ROAR seed %d: explaining train and test inputs with %s", seed, label)
        maps[label] = (
            attributions_of(model, data.x_train, train_targets, settings, label),
            attributions_of(model, data.x_test, test_targets, settings, label),
        )
    for fraction in fractions:
        for label, (train_maps, test_maps) in maps.items():
            # The removal is part of the data spec, so each retrained model has its own cache
            # key (everything that decides the modified inputs is in it).
            spec = {
                **data_spec,
                "roar": {
                    "explained_by": original.key,
                    "method": settings.methods[label].name,
                    "params": settings.methods[label].params,
                    "target": settings.target,
                    "fraction": fraction,
                    "fill": fill,
                },
            }
            removed = removed_dataset(data, train_maps, test_maps, fraction, fill)
            retrained = trained_on(removed, spec, retrain)
            log.info("ROAR seed %d %s %.0f%%: %.3f", seed, label, 100 * fraction,
                     retrained.test_accuracy)  # fmt: skip
            hits = correct(retrained.model, removed.x_test, removed.y_test, settings)
            yield part(label, fraction, hits)


def accuracy_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per model seed, method and fraction."""
    keys = ["seed", "method", "fraction"]
    return samples.groupby(keys, sort=False)["correct"].mean().rename("accuracy").reset_index()


def versus_random(samples: pd.DataFrame) -> pd.Series:
    """Per method: Holm-adjusted p of the one-sided paired Wilcoxon test "removal by the method
    leaves fewer test samples correctly classified than random removal", blocks = (model seed,
    fraction > 0, test sample). On 0/1 outcomes this is the sign test on the discordant pairs
    (McNemar's, one-sided)."""
    removed = samples[samples["fraction"] > 0]
    matrix = removed.pivot_table(
        index=["seed", "fraction", "sample"], columns="method", values="correct", aggfunc="first"
    ).astype(float)
    return versus_control(matrix, CONTROL, higher_is_better=False)


def p_text(p: float) -> str:
    """A p-value for the table; thousands of blocks push scipy's normal approximation below
    the smallest double, where it returns exactly 0, which is not a probability to print."""
    return "< 1e-300" if p == 0 else f"{p:.3g}"


def summary_markdown(samples: pd.DataFrame) -> str:
    """Mean accuracy (min-max over seeds) per method x fraction, and the test against random."""
    table = accuracy_table(samples)
    grouped = table.groupby(["method", "fraction"], sort=False)["accuracy"]
    cells = grouped.agg(
        lambda a: f"{a.mean():.3f}" + (f" [{a.min():.3f}, {a.max():.3f}]" if len(a) > 1 else "")
    ).unstack("fraction")
    cells = cells[sorted(cells.columns)]  # fractions run in the config's order, shown ascending
    cells.columns = [f"{100 * f:.0f}%" for f in cells.columns]
    # A study in progress may not have retrained after random removal yet.
    tested = (table["method"].eq(CONTROL) & table["fraction"].gt(0)).any()
    tests = versus_random(samples) if tested else pd.Series(dtype=float)
    cells["p (below random)"] = [p_text(tests[m]) if m in tests else "" for m in cells.index]
    seeds = sorted(int(seed) for seed in table["seed"].unique())
    return (
        f"ROAR: test accuracy of the retrained model on the modified test split (lower is "
        f"better), mean over model seeds {seeds} [min, max]; 0%: retrained the same way on "
        f"the unmodified inputs. p: one-sided paired Wilcoxon against `{CONTROL}` over (seed, "
        f"fraction > 0, test sample) blocks, i.e. the sign test on the discordant samples; Holm "
        f"over methods.\n\n" + cells.to_markdown() + "\n"
    )


def plot_accuracy(table: pd.DataFrame, path: Path) -> Path:
    """Retrained accuracy against the fraction removed: mean over seeds, band = min to max."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for method, rows in table.groupby("method", sort=False):
        by_fraction = rows.groupby("fraction")["accuracy"]
        fractions = np.array(by_fraction.mean().index)
        style: dict[str, Any] = {"color": "black", "linestyle": "--"} if method == CONTROL else {}
        ax.plot(100 * fractions, by_fraction.mean().to_numpy(), marker="o", label=method, **style)
        ax.fill_between(
            100 * fractions, by_fraction.min().to_numpy(), by_fraction.max().to_numpy(), alpha=0.15,
            color=ax.lines[-1].get_color(),
        )  # fmt: skip
    ax.set_xlabel("% of positions removed (most attributed first), then retrained")
    ax.set_ylabel("test accuracy (retrained)")
    ax.set_title("ROAR")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def read_roar(cfg: DictConfig) -> tuple[Settings, dict]:
    """The run's settings and the `roar:` options of a config, checked."""
    if "roar" not in cfg:
        raise XaibenchError("no `roar:` settings; run it with experiment=removal_ranking")
    settings = read_settings(cfg)
    if settings.shards > 1:  # ROAR retrains on the whole training split: nothing to split
        raise XaibenchError(
            f"ROAR runs as one job; remove shards={settings.shards} (and shard) from its command"
        )
    options = OmegaConf.to_container(cfg.roar, resolve=True)
    assert isinstance(options, dict)
    check_fill(options["fill"])
    options["fractions"] = [float(f) for f in options["fractions"]]
    options["model_seeds"] = [int(seed) for seed in options["model_seeds"]]
    options["train"] = options.get("train") or {}
    return settings, options


def roar(cfg: DictConfig) -> Iterator[pd.DataFrame]:
    """The per-sample ROAR table of a config, part by part: rows per model seed, method,
    fraction and test sample."""
    settings, options = read_roar(cfg)
    with cpu_threads(settings.threads):
        for seed in options["model_seeds"]:
            yield from roar_samples(
                settings, seed, options["fractions"], options["fill"], options["train"]
            )


def write_outputs(samples: pd.DataFrame, folder: Path) -> str:
    """The per-sample and accuracy tables, the summary and the figure; returns the summary."""
    table = accuracy_table(samples)
    atomic_write_text(folder / "roar_samples.csv", samples.to_csv(index=False))
    atomic_write_text(folder / "roar_accuracy.csv", table.to_csv(index=False))
    markdown = summary_markdown(samples)
    atomic_write_text(folder / "roar_accuracy.md", markdown)
    plot_accuracy(table, folder / "roar_accuracy.png")
    return markdown


# ROAR as a metric of the run tables, so `python -m xaibench.report` reads a ROAR folder like a
# run: per sample, the share of the fractions (> 0) at which the retrained model still
# classifies it correctly (its mean over samples is the mean retrained accuracy); the curves
# hold each sample's correctness at every fraction, 0 included.
METRIC = "roar"
CATEGORY = "faithfulness"


def explained_test_split(settings: Settings, seed: int) -> dict:
    """What the run tables record of the model that made the maps (seed `seed`) on the test
    split: its key and accuracy, and per sample the label, prediction and explained class."""
    data, data_spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    spec = replace(settings.model, seed=seed, checkpoint=None)
    trained = get_model(spec, data, data_spec, settings.cache, settings.device, settings.progress)
    predicted = predict_classes(trained.model, data.x_test, settings.batch_size)
    return {
        "model_key": trained.key,
        "model_accuracy": trained.test_accuracy,
        "label": data.y_test.numpy(),
        "predicted": predicted.numpy(),
        "target": (predicted if settings.target == "predicted" else data.y_test).numpy(),
    }


def roar_tables(
    samples: pd.DataFrame, settings: Settings, options: dict, run_values: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, curves) in the run-table schema from the per-sample ROAR table."""
    # int(): the table's numpy integers would give the model another cache key (and torch's
    # generators refuse them).
    seeds = [int(seed) for seed in samples["seed"].unique()]
    per_seed = {seed: explained_test_split(settings, seed) for seed in seeds}
    rows = samples.assign(value=samples["correct"].astype(float))
    for column in ("model_key", "model_accuracy", "label", "predicted", "target"):
        rows[column] = [
            per_seed[seed][column] if column.startswith("model") else per_seed[seed][column][i]
            for seed, i in zip(rows["seed"], rows["sample"], strict=True)
        ]
    rows = rows.assign(
        **run_values,
        method_params=[as_json(settings.methods[m].recorded_params) for m in rows["method"]],
        metric=METRIC,
        metric_params=as_json({k: options[k] for k in ("fractions", "fill", "train")}),
        higher_is_better=False,
    )
    keys = ["seed", "method", "sample"]
    removed = rows[rows["fraction"] > 0]
    scores = removed.groupby(keys, sort=False).first().reset_index()
    scores["value"] = removed.groupby(keys, sort=False)["value"].mean().to_numpy()
    curves = rows.sort_values([*keys, "fraction"], kind="stable")
    curves = curves.assign(step=curves.groupby(keys, sort=False).cumcount(), x=curves["fraction"])
    return scores[SCORE_COLUMNS], curves[CURVE_COLUMNS].reset_index(drop=True)


def write_run_tables(
    samples: pd.DataFrame, settings: Settings, options: dict, folder: Path, cfg: DictConfig,
    overrides: list[str], started: datetime,
) -> None:  # fmt: skip
    """scores.parquet, curves.parquet and meta.json (last) as a run folder holds them."""
    run_values = {
        "experiment": settings.name,
        "run_id": relative(folder),
        "dataset": settings.dataset,
        "dataset_params": as_json(settings.dataset_params),
        "model": settings.model.name,
        "target_mode": settings.target,
        "overrides": " ".join(overrides),
    }  # fmt: skip  (`seed` is each row's model seed)
    scores, curves = roar_tables(samples, settings, options, run_values)
    write_parquet(scores, folder / "scores.parquet")
    write_parquet(curves, folder / "curves.parquet")
    finished = datetime.now(UTC)
    meta = {
        "experiment": settings.name,
        "run_id": relative(folder),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "wall_seconds": round((finished - started).total_seconds(), 3),
        "command": sys.argv,
        "overrides": overrides,
        "versions": versions(),
        "git": git_state(),
        **device_info(settings.device),
        "samples": int(scores["sample"].nunique()),
        "target": settings.target,
        "dataset": {"name": settings.dataset, "params": settings.dataset_params},
        "model": {"name": settings.model.name, "seeds": options["model_seeds"]},
        "roar": options,
        "methods": {label: entry.params for label, entry in settings.methods.items()},
        "method_names": {label: entry.name for label, entry in settings.methods.items()},
        "metrics": {METRIC: {k: options[k] for k in ("fractions", "fill", "train")}},
        "metric_names": {METRIC: METRIC},
        "metric_categories": {METRIC: CATEGORY},
        "errors": [],
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=2, default=str) + "\n")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    started = datetime.now(UTC)
    parts = []
    try:
        settings, options = read_roar(cfg)
        with claimed(folder):  # one run at a time in a folder
            write_hydra_files(folder, cfg)
            # Outputs are rewritten after every retrained model, so a long study can be read
            # (and stopped) while it runs; the run tables and meta.json come once it has ended.
            for part in roar(cfg):
                parts.append(part)
                markdown = write_outputs(pd.concat(parts, ignore_index=True), folder)
            with cpu_threads(settings.threads):
                write_run_tables(pd.concat(parts, ignore_index=True), settings, options, folder,
                                 cfg, list(hydra_cfg.overrides.task), started)  # fmt: skip
    except XaibenchError as error:
        print(f"xaibench.roar: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(markdown)
    print(f"ROAR folder: {folder}")


if __name__ == "__main__":
    main()
