"""One benchmark run: data -> model -> methods -> metrics -> tables, plots and metadata.

The only module that knows Hydra. `run(cfg)` computes everything and returns DataFrames
(usable from a notebook with a composed config); `main(cfg)` is the Hydra entry point that
writes the run folder.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import hydra
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xaibench.cache import Cache
from xaibench.checks import TARGET_MODES
from xaibench.data import Dataset, check_dataset_params, load_dataset
from xaibench.files import atomic_write, atomic_write_text
from xaibench.methods import METHODS, explain
from xaibench.metrics import METRICS, MetricResult, evaluate_many
from xaibench.models import MODELS, get_model
from xaibench.provenance import device_info, git_state, resolve_device, versions
from xaibench.registry import XaibenchError, check_params, context_for, default_params
from xaibench.report.plots import plot_curves, plot_gallery
from xaibench.report.summary import summarize, summary_markdown
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
GALLERY_SAMPLES = 6
# The keys of `model` that are not architecture params: `checkpoint` loads local weights
# instead of training.
MODEL_KEYS = ("name", "train", "seed", "checkpoint")
# A method or metric entry may run a registered function under another label, so that one run
# can hold two variants, e.g. `method.gradcam_relu: {uses: gradcam, layer: features.9}`.
USES_KEY = "uses"

log = logging.getLogger("xaibench")


@dataclass
class RunResult:
    scores: pd.DataFrame  # SCORE_COLUMNS, one row per sample x method x metric
    curves: pd.DataFrame  # CURVE_COLUMNS, one row per sample x method x metric x curve point
    summary: pd.DataFrame  # SUMMARY_COLUMNS, one row per method x metric
    meta: dict
    inputs: torch.Tensor  # the explained inputs, their labels, targets and attributions,
    labels: torch.Tensor  # kept for plots
    targets: torch.Tensor
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: torch.Tensor | None = None  # ground truth of the explained inputs, where known


@dataclass(frozen=True)
class Settings:
    """The config as plain Python values, checked before any work starts."""

    name: str
    seed: int
    device: torch.device
    samples: int
    target: str
    batch_size: int
    progress: bool
    min_accuracy: float
    cache: Cache
    dataset: str
    dataset_params: dict
    model: str
    model_params: dict
    model_train: dict
    model_seed: int
    model_checkpoint: str | None
    methods: dict[str, dict]  # label -> settings
    metrics: dict[str, dict]
    method_names: dict[str, str]  # label -> registered name (the label itself, or `uses`)
    metric_names: dict[str, str]


def read_settings(cfg: DictConfig) -> Settings:
    plain = OmegaConf.to_container(cfg, resolve=True)
    dataset = dict(plain["dataset"])
    model = dict(plain["model"])
    method_names, methods = _split_uses(plain.get("method") or {})
    metric_names, metrics = _split_uses(plain.get("metric") or {})
    if plain["target"] not in TARGET_MODES:
        raise XaibenchError(
            f"unknown target {plain['target']!r}; valid targets: {', '.join(TARGET_MODES)}"
        )
    if not methods or not metrics:
        raise XaibenchError("select at least one method and one metric, e.g. method=[saliency]")
    if int(plain["samples"]) < 1:
        raise XaibenchError(f"samples={plain['samples']} must be at least 1")
    dataset_name = dataset.pop("name")
    check_dataset_params(dataset_name, dataset)
    model_params = {k: v for k, v in model.items() if k not in MODEL_KEYS}
    check_params(MODELS[model["name"]].build, model_params, "model", model["name"], skip=2)
    for label, params in methods.items():
        check_params(METHODS[method_names[label]].fn, params, "method", label, skip=3)
    for label, params in metrics.items():
        check_params(METRICS[metric_names[label]].fn, params, "metric", label, skip=4)
    return Settings(
        name=plain["name"],
        seed=int(plain["seed"]),
        device=resolve_device(plain["device"]),
        samples=int(plain["samples"]),
        target=plain["target"],
        batch_size=int(plain["batch_size"]),
        progress=bool(plain["progress"]),
        min_accuracy=float(plain["min_accuracy"]),
        cache=Cache(plain["cache_dir"]),
        dataset=dataset_name,
        dataset_params=dataset,
        model=model["name"],
        model_params=model_params,
        model_train=model.get("train") or {},
        model_seed=int(model.get("seed", plain["seed"])),
        model_checkpoint=model.get("checkpoint"),
        methods=methods,
        metrics=metrics,
        method_names=method_names,
        metric_names=metric_names,
    )


def _split_uses(entries: dict) -> tuple[dict[str, str], dict[str, dict]]:
    """(label -> registered name, label -> settings without the `uses` key)."""
    names, settings = {}, {}
    for label, params in entries.items():
        params = dict(params or {})
        names[label] = params.pop(USES_KEY, label)
        settings[label] = params
    return names, settings


class Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - started, 3)


@dataclass(frozen=True)
class Samples:
    """The explained test inputs on the run's device, with what is known about them."""

    index: torch.Tensor  # positions in the test split (CPU)
    inputs: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    targets: torch.Tensor  # the class explained and scored for each sample


def select_samples(model: torch.nn.Module, data: Dataset, settings: Settings) -> Samples:
    """The first `samples` test inputs, their predictions and the classes to explain."""
    count = min(settings.samples, len(data.x_test))
    index = torch.arange(count)
    inputs = data.x_test[index].to(settings.device)
    labels = data.y_test[index].to(settings.device)
    with torch.no_grad():
        predicted = torch.cat([model(x).argmax(1) for x in inputs.split(settings.batch_size)])
    targets = predicted if settings.target == "predicted" else labels
    return Samples(index, inputs, labels, predicted, targets)


def run_context(data: Dataset, samples: Samples) -> dict:
    """What methods and metrics may ask for by parameter name (see registry.CONTEXT_PARAMS):
    the training inputs, and the explained samples' ground-truth masks where the dataset has
    them (on the samples' device)."""
    context = {"background": data.x_train}
    if data.masks_test is not None:
        context["masks"] = data.masks_test[samples.index].to(samples.inputs.device)
    return context


def explain_all(
    model: torch.nn.Module, samples: Samples, settings: Settings, context: dict,
    timer: Stopwatch, errors: list[dict],
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every method's attributions, explained `batch_size` samples at a time."""
    attributions: dict[str, torch.Tensor] = {}
    for label, params in settings.methods.items():
        name = settings.method_names[label]
        extra = context_for(METHODS[name].fn, context)
        with timer(f"explain/{label}"):
            try:
                attributions[label] = torch.cat(
                    [
                        explain(model, x, t, name, **params, **extra)
                        for x, t in zip(
                            samples.inputs.split(settings.batch_size),
                            samples.targets.split(settings.batch_size),
                            strict=True,
                        )
                    ]
                )
            except Exception as error:  # one failing method must not lose the others
                errors.append(_error_record("explain", label, None, error))
    return attributions


def evaluate_all(
    model: torch.nn.Module, samples: Samples, attributions: dict[str, torch.Tensor],
    settings: Settings, context: dict, timer: Stopwatch, errors: list[dict],
) -> dict[str, dict[str, MetricResult]]:  # fmt: skip
    """Every metric's results for every method, as results[metric][method]."""
    results: dict[str, dict[str, MetricResult]] = {}
    for label, params in settings.metrics.items():
        name = settings.metric_names[label]
        extra = context_for(METRICS[name].fn, context)
        with timer(f"evaluate/{label}"):
            try:
                scored = evaluate_many(
                    model, samples.inputs, samples.targets, list(attributions.values()), name,
                    **params, **extra,
                )  # fmt: skip
                results[label] = dict(zip(attributions, scored, strict=True))
            except Exception as error:  # one failing metric must not lose the others
                errors.append(_error_record("evaluate", None, label, error))
    return results


def run(cfg: DictConfig, run_id: str = "", overrides: list[str] | None = None) -> RunResult:
    """Compute one run in memory; files are written only to the dataset/model cache."""
    started_at = datetime.now(UTC)
    settings = read_settings(cfg)
    timer = Stopwatch()
    errors: list[dict] = []

    with timer("data"):
        data, data_spec, data_cached = load_dataset(
            settings.dataset, settings.dataset_params, settings.cache
        )
    with timer("model"):
        trained = get_model(
            settings.model, settings.model_params, settings.model_train, data, data_spec,
            settings.model_seed, settings.cache, settings.device, settings.progress,
            settings.model_checkpoint,
        )  # fmt: skip
    model = trained.model
    weak_model = trained.test_accuracy < settings.min_accuracy
    if weak_model:
        log.warning(weak_model_warning(trained.test_accuracy, settings.min_accuracy))

    samples = select_samples(model, data, settings)
    context = run_context(data, samples)
    attributions = explain_all(model, samples, settings, context, timer, errors)
    results = evaluate_all(model, samples, attributions, settings, context, timer, errors)

    run_values = {
        "experiment": settings.name,
        "run_id": run_id,
        "dataset": settings.dataset,
        "dataset_params": _json(settings.dataset_params),
        "model": settings.model,
        "model_key": trained.key,
        "model_accuracy": trained.test_accuracy,
        "seed": settings.seed,
        "target_mode": settings.target,
        "overrides": " ".join(overrides or []),
    }
    per_sample = pd.DataFrame(
        {
            "sample": samples.index.numpy(),
            "label": samples.labels.cpu().numpy(),
            "predicted": samples.predicted.cpu().numpy(),
            "target": samples.targets.cpu().numpy(),
        }
    )
    scores, curves = _tables(run_values, per_sample, settings, results)
    summary = summarize(scores, seed=settings.seed)
    for error in errors:
        log.error("%s failed: %s", error["method"] or error["metric"], error["error"])

    finished_at = datetime.now(UTC)
    meta = {
        "experiment": settings.name,
        "run_id": run_id,
        "started": started_at.isoformat(timespec="seconds"),
        "finished": finished_at.isoformat(timespec="seconds"),
        "wall_seconds": round((finished_at - started_at).total_seconds(), 3),
        "stage_seconds": timer.seconds,
        "command": sys.argv,
        "overrides": overrides or [],
        "versions": versions(),
        "git": git_state(),
        **device_info(settings.device),
        "seed": settings.seed,
        "samples": len(samples.index),
        "target": settings.target,
        "dataset": {"name": settings.dataset, "spec": data_spec, "cached": data_cached,
                    "train_size": len(data.x_train), "test_size": len(data.x_test),
                    "preparation": data.preparation, "masks": data.masks_test is not None},
        "explained": explained_subset(samples, data),
        "model": {"name": settings.model, "key": trained.key, "cached": trained.cached,
                  "seed": settings.model_seed, "checkpoint": trained.checkpoint,
                  "test_accuracy": trained.test_accuracy,
                  "val_accuracy": trained.val_accuracy, "epochs_trained": trained.epochs_trained,
                  "train_seconds": round(trained.train_seconds, 3),
                  "min_accuracy": settings.min_accuracy, "too_weak": weak_model},
        "methods": settings.methods,
        "metrics": settings.metrics,
        "method_names": settings.method_names,
        "metric_names": settings.metric_names,
        "errors": errors,
        "nan_scores": {f"{r.method}/{r.metric}": int(r.n_nan) for r in summary.itertuples()
                       if r.n_nan},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }  # fmt: skip
    return RunResult(
        scores, curves, summary, meta, samples.inputs, samples.labels, samples.targets,
        attributions, context.get("masks"),
    )  # fmt: skip


def weak_model_warning(accuracy: float, floor: float) -> str:
    return (
        f"MODEL TOO WEAK TO EXPLAIN: test accuracy {accuracy:.3f} is below min_accuracy={floor}; "
        "its explanations say little about a working classifier (train longer, or lower "
        "min_accuracy knowingly)"
    )


def explained_subset(samples: Samples, data: Dataset) -> dict:
    """Which test inputs were explained: the first `count` of the test split (its order is the
    dataset's, shuffled where the source is sorted by class), with their classes."""
    classes = samples.labels.cpu().bincount(minlength=data.num_classes)
    return {
        "selection": "first",
        "count": len(samples.index),
        "of": len(data.x_test),
        "per_class": classes.tolist(),
    }


def _tables(
    run_values: dict, per_sample: pd.DataFrame, settings: Settings, results: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    score_parts, curve_parts = [], []
    for metric, by_method in results.items():
        for method, result in by_method.items():
            labels = {
                "method": method,
                "method_params": _json(_with_uses(method, settings.method_names, settings.methods)),
                "metric": metric,
                "metric_params": _json(_with_uses(metric, settings.metric_names, settings.metrics)),
            }
            score_parts.append(
                per_sample.assign(
                    **labels,
                    value=result.scores.numpy(),
                    higher_is_better=METRICS[settings.metric_names[metric]].higher_is_better,
                )
            )
            if result.curves is not None:
                steps = result.curves.shape[1]
                curve_parts.append(
                    per_sample.loc[per_sample.index.repeat(steps)].assign(
                        **labels,
                        step=list(range(steps)) * len(per_sample),
                        x=result.curve_x.repeat(len(per_sample)).numpy(),
                        value=result.curves.reshape(-1).numpy(),
                    )
                )
    scores = _with_run_columns(score_parts, run_values, SCORE_COLUMNS)
    curves = _with_run_columns(curve_parts, run_values, CURVE_COLUMNS)
    return scores, curves


def _with_run_columns(parts: list[pd.DataFrame], run_values: dict, columns: list[str]):
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True).assign(**run_values)
    return table[columns]


def _with_uses(label: str, names: dict[str, str], settings: dict[str, dict]) -> dict:
    """Settings as recorded in the tables: `uses` is kept where the label is an alias."""
    params = settings[label]
    return params if names[label] == label else {USES_KEY: names[label], **params}


def _json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _error_record(stage: str, method: str | None, metric: str | None, error: Exception) -> dict:
    return {
        "stage": stage,
        "method": method,
        "metric": metric,
        "error": f"{type(error).__name__}: {error}",
    }


def write_run(folder: Path, result: RunResult) -> None:
    """Write tables, plots and metadata; every file appears complete or not at all."""
    atomic_write(folder / "scores.parquet", lambda tmp: result.scores.to_parquet(tmp, index=False))
    atomic_write(folder / "curves.parquet", lambda tmp: result.curves.to_parquet(tmp, index=False))
    atomic_write(folder / "summary.csv", lambda tmp: result.summary.to_csv(tmp, index=False))
    atomic_write_text(folder / "summary.md", summary_text(result) + "\n")
    write_plots(folder / "plots", result)
    atomic_write_text(folder / "meta.json", json.dumps(result.meta, indent=2, default=str) + "\n")


def summary_text(result: RunResult) -> str:
    meta = result.meta
    model = meta["model"]
    lines = [f"# {meta['experiment']}: {meta['dataset']['name']} / {model['name']}", ""]
    if model["too_weak"]:
        warning = weak_model_warning(model["test_accuracy"], model["min_accuracy"])
        lines += [f"**WARNING: {warning}.**", ""]
    lines += [
        f"{meta['samples']} test samples, target = {meta['target']}, seed {meta['seed']}; "
        f"model test accuracy {model['test_accuracy']:.3f}. "
        "Cells: mean [95% bootstrap CI]; best per metric in bold.",
        "",
        summary_markdown(result.summary) if len(result.summary) else "(no scores)",
    ]
    if meta["nan_scores"]:
        counts = ", ".join(f"{k}: {v}" for k, v in meta["nan_scores"].items())
        lines += ["", f"Undefined (NaN) scores, left out of the means: {counts}."]
    for error in meta["errors"]:
        lines += ["", f"**FAILED** {error['method'] or error['metric']}: {error['error']}"]
    return "\n".join(lines)


def write_plots(folder: Path, result: RunResult) -> None:
    for metric in result.curves["metric"].unique():
        name = result.meta["metric_names"][metric]
        info = METRICS[name]
        params = {**_metric_defaults(name), **result.meta["metrics"][metric]}
        plot_curves(
            result.curves,
            metric,
            x_label=info.curve_x_label,
            y_label=info.curve_y_label.format(**params),
            higher_is_better=info.higher_is_better,
            path=folder / f"curves_{metric}.png",
        )
    if result.attributions:
        shown = slice(0, GALLERY_SAMPLES)
        plot_gallery(
            result.inputs[shown],
            {name: a[shown] for name, a in result.attributions.items()},
            result.labels[shown],
            result.targets[shown],
            folder / "gallery.png",
            masks=None if result.masks is None else result.masks[shown],
        )


def _metric_defaults(metric: str) -> dict:
    return default_params(METRICS[metric].fn, skip=4)


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: refuse to overwrite results, run, write the folder, print the summary."""
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    try:
        if (folder / "scores.parquet").exists():
            raise XaibenchError(
                f"{folder} already holds results; choose another folder with hydra.run.dir=..."
            )
        result = run(cfg, run_id=_relative(folder), overrides=list(hydra_cfg.overrides.task))
    except XaibenchError as error:
        print(f"xaibench: error: {error}", file=sys.stderr)
        sys.exit(2)
    write_run(folder, result)
    print(summary_text(result))
    print(f"\nRun folder: {folder}")


def _relative(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)
