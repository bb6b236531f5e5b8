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
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import hydra
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xaibench.cache import Cache, spec_digest, tensor_digest
from xaibench.checks import TARGET_MODES
from xaibench.counting import count_forwards
from xaibench.data import Dataset, check_dataset_params, load_dataset
from xaibench.files import atomic_write, atomic_write_text
from xaibench.methods import METHODS, explain
from xaibench.metrics import METRICS, MetricResult, evaluate_many
from xaibench.models import MODEL_DATA, MODELS, get_model
from xaibench.progress import progress
from xaibench.provenance import apply_threads, device_info, git_state, resolve_device, versions
from xaibench.registry import XaibenchError, check_params, context_for
from xaibench.report.plots import plot_curves, plot_gallery
from xaibench.report.summary import (
    control_failures,
    control_sentence,
    summarize,
    summary_markdown,
)
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
GALLERY_SAMPLES = 6
# The keys of `model` that are not architecture params: `checkpoint` loads local weights
# instead of training.
MODEL_KEYS = ("name", "train", "seed", "checkpoint")
# A method or metric entry may run a registered function under another label, so that one run
# can hold two variants, e.g. `method.gradcam_relu: {uses: gradcam, layer: features.9}`.
USES_KEY = "uses"

# Packages whose version can change attributions or scores: part of every cache key.
COMPUTING_PACKAGES = ("torch", "torchvision", "captum", "zennit", "numpy", "scipy")

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
    reuse: bool
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
    check_params(MODELS[model["name"]].build, model_params, "model", model["name"], MODEL_DATA)
    for label, params in methods.items():
        METHODS[method_names[label]].check(params, label)
    for label, params in metrics.items():
        METRICS[metric_names[label]].check(params, label)
    apply_threads(plain.get("threads"))
    return Settings(
        name=plain["name"],
        seed=int(plain["seed"]),
        device=resolve_device(plain["device"]),
        samples=int(plain["samples"]),
        target=plain["target"],
        batch_size=int(plain["batch_size"]),
        progress=bool(plain["progress"]),
        reuse=bool(plain["reuse"]),
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


class StageLog:
    """Seconds, model inputs run and explained samples of every stage, for meta.json and the
    summary; `cached` marks stages served from the cache."""

    def __init__(self) -> None:
        self.stages: dict[str, dict] = {}

    @contextmanager
    def __call__(
        self, stage: str, model: torch.nn.Module | None = None, samples: int | None = None
    ) -> Iterator[dict]:
        record = {"seconds": 0.0, "samples": samples, "forwards": 0, "cached": False}
        started = time.perf_counter()
        counting = count_forwards(model) if model is not None else nullcontext()
        try:
            with counting as counter:
                yield record
        finally:
            record["seconds"] = round(time.perf_counter() - started, 3)
            record["forwards"] = counter.inputs if counter is not None else 0
            self.stages[stage] = record


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
    model: torch.nn.Module, samples: Samples, settings: Settings, keys: CacheKeys,
    stages: StageLog, errors: list[dict],
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every method's attributions, explained `batch_size` samples at a time, or reused from
    the cache when the same model, inputs, targets, method and settings were explained before."""
    attributions: dict[str, torch.Tensor] = {}
    for label, params in progress(settings.methods.items(), "explaining", settings.progress):
        name = settings.method_names[label]
        extra = context_for(METHODS[name].fn, keys.context)
        spec = keys.attributions(label, name, params, extra)
        with stages(f"explain/{label}", model, len(samples.index)) as record:
            try:
                cached = settings.cache.load("attributions", spec) if settings.reuse else None
                if cached is not None:
                    attributions[label] = cached["attributions"].to(settings.device)
                    record["cached"] = True
                    continue
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
                settings.cache.save("attributions", spec, {"attributions": attributions[label]})
            except Exception as error:  # one failing method must not lose the others
                errors.append(_error_record("explain", label, None, error))
    return attributions


def evaluate_all(
    model: torch.nn.Module, samples: Samples, attributions: dict[str, torch.Tensor],
    settings: Settings, keys: CacheKeys, stages: StageLog, errors: list[dict],
) -> dict[str, dict[str, MetricResult]]:  # fmt: skip
    """Every metric's results for every method, as results[metric][method]; results already
    in the cache (same attributions, metric and settings) are reused, the rest computed."""
    results: dict[str, dict[str, MetricResult]] = {}
    for label, params in progress(settings.metrics.items(), "scoring", settings.progress):
        name = settings.metric_names[label]
        extra = context_for(METRICS[name].score_many, keys.context)
        specs = {method: keys.scores(name, params, extra, method) for method in attributions}
        with stages(f"evaluate/{label}", model, len(samples.index)) as record:
            try:
                found = {
                    method: MetricResult(**entry)
                    for method, spec in specs.items()
                    if settings.reuse and (entry := settings.cache.load("scores", spec))
                }
                todo = [method for method in attributions if method not in found]
                fresh = _evaluate(model, samples, attributions, todo, label, params, extra,
                                  settings, errors)  # fmt: skip
                for method, result in fresh.items():
                    settings.cache.save("scores", specs[method], vars(result))
                results[label] = {
                    method: found.get(method) or fresh[method]
                    for method in attributions
                    if method in found or method in fresh
                }
                record["cached"] = not todo
            except Exception as error:  # one failing metric must not lose the others
                errors.append(_error_record("evaluate", None, label, error))
    return results


def _evaluate(
    model, samples, attributions, methods, label, params, extra, settings, errors
) -> dict[str, MetricResult]:
    """Results of metric `label` for `methods`, scored together where the metric allows."""
    name = settings.metric_names[label]
    if not METRICS[name].reexplains:
        maps = [attributions[method] for method in methods]
        scored = evaluate_many(
            model, samples.inputs, samples.targets, maps, name, **params, **extra
        ) if methods else []  # fmt: skip
        return dict(zip(methods, scored, strict=True))
    # Robustness and randomisation metrics re-explain each method's maps with that method's
    # own registered name and settings; a method failing there loses only its own scores.
    results = {}
    for method in methods:
        try:
            results[method] = evaluate_many(
                model, samples.inputs, samples.targets, [attributions[method]], name, **params,
                **extra, method=settings.method_names[method],
                method_params=settings.methods[method],
            )[0]  # fmt: skip
        except Exception as error:
            errors.append(_error_record("evaluate", method, label, error))
    return results


class CacheKeys:
    """Cache specs of a run's attributions and scores: everything that determines them (the
    cache adds the digest of the code that computes them)."""

    def __init__(self, model_key: str, samples: Samples, context: dict):
        self.context = context
        self.base = {
            "model": model_key,
            "inputs": tensor_digest(samples.inputs, samples.targets),
            "versions": {k: v for k, v in versions().items() if k in COMPUTING_PACKAGES},
        }
        self._context_digests: dict[str, str] = {}
        self._attribution_specs: dict[str, dict] = {}

    def _digests(self, extra: dict) -> dict[str, str]:
        for key, value in extra.items():
            if key not in self._context_digests:
                self._context_digests[key] = tensor_digest(value)
        return {key: self._context_digests[key] for key in extra}

    def attributions(self, label: str, method: str, params: dict, extra: dict) -> dict:
        spec = {**self.base, "method": method, "params": params, "context": self._digests(extra)}
        self._attribution_specs[label] = spec
        return spec

    def scores(self, metric: str, params: dict, extra: dict, label: str) -> dict:
        """Spec of one metric's scores for the attributions of method `label`."""
        return {
            **self.base,
            "metric": metric,
            "params": params,
            "context": self._digests(extra),
            "attributions": spec_digest(self._attribution_specs[label], "attributions"),
        }


def run(cfg: DictConfig, run_id: str = "", overrides: list[str] | None = None) -> RunResult:
    """Compute one run in memory; files are written only to the dataset/model cache."""
    started_at = datetime.now(UTC)
    settings = read_settings(cfg)
    stages = StageLog()
    errors: list[dict] = []

    with stages("data") as record:
        data, data_spec, data_cached = load_dataset(
            settings.dataset, settings.dataset_params, settings.cache
        )
        record["cached"] = data_cached
    with stages("model") as record:
        trained = get_model(
            settings.model, settings.model_params, settings.model_train, data, data_spec,
            settings.model_seed, settings.cache, settings.device, settings.progress,
            settings.model_checkpoint,
        )  # fmt: skip
        record["cached"] = trained.cached
    model = trained.model
    weak_model = trained.test_accuracy < settings.min_accuracy
    if weak_model:
        log.warning(weak_model_warning(trained.test_accuracy, settings.min_accuracy))

    samples = select_samples(model, data, settings)
    keys = CacheKeys(trained.key, samples, run_context(data, samples))
    attributions = explain_all(model, samples, settings, keys, stages, errors)
    results = evaluate_all(model, samples, attributions, settings, keys, stages, errors)

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
        log.error("%s failed: %s", _failed(error), error["error"])

    finished_at = datetime.now(UTC)
    meta = {
        "experiment": settings.name,
        "run_id": run_id,
        "started": started_at.isoformat(timespec="seconds"),
        "finished": finished_at.isoformat(timespec="seconds"),
        "wall_seconds": round((finished_at - started_at).total_seconds(), 3),
        "stages": stages.stages,
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
        attributions, keys.context.get("masks"),
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


def _failed(error: dict) -> str:
    """What failed: a method, a metric, or a metric on one method's maps."""
    parts = [error[key] for key in ("metric", "method") if error[key]]
    return " on ".join(parts)


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
        "",
        control_sentence(control_failures(result.scores)),
    ]
    if meta["nan_scores"]:
        counts = ", ".join(f"{k}: {v}" for k, v in meta["nan_scores"].items())
        lines += ["", f"Undefined (NaN) scores, left out of the means: {counts}."]
    for error in meta["errors"]:
        lines += ["", f"**FAILED** {_failed(error)}: {error['error']}"]
    lines += [
        "",
        "Cost per stage (forwards = model inputs run, cached = reused from the cache):",
        "",
    ]
    lines.append(stage_table(meta["stages"]))
    return "\n".join(lines)


def stage_table(stages: dict[str, dict]) -> str:
    table = pd.DataFrame.from_dict(stages, orient="index")
    table.index.name = "stage"
    table["samples"] = table["samples"].astype("Int64")
    return table[["samples", "forwards", "seconds", "cached"]].to_markdown()


def write_plots(folder: Path, result: RunResult) -> None:
    for metric in result.curves["metric"].unique():
        info = METRICS[result.meta["metric_names"][metric]]
        x_label, y_label = info.curve_labels(result.meta["metrics"][metric])
        plot_curves(
            result.curves,
            metric,
            x_label=x_label,
            y_label=y_label,
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


# Settings that change neither the numbers nor what a run computes. (`threads` orders the
# floating-point sums of training; the trained model's own cache key holds the thread count.)
NOT_RESULT_SETTINGS = ("progress", "cache_dir", "reuse", "sweep_report", "threads")


def completed_run(folder: Path, cfg: DictConfig) -> bool:
    """Whether `folder` already holds the complete results of this config.

    meta.json is written last, so it marks a complete run. Results of another config raise:
    a folder's results are never overwritten. A folder without meta.json holds at most the
    complete files of an interrupted run, which the rerun replaces.
    """
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        return False
    written = json.loads(meta_path.read_text())["config"]
    current = json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True), default=str))
    if _result_settings(written) != _result_settings(current):
        raise XaibenchError(
            f"{folder} already holds the results of another config; choose another folder "
            "with hydra.run.dir=... (or hydra.sweep.dir=... for a sweep)"
        )
    return True


def _result_settings(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in NOT_RESULT_SETTINGS}


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: skip a finished run, else run, write the folder, print the summary."""
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    try:
        if completed_run(folder, cfg):
            print(f"xaibench: {folder} already holds this run's results; skipped")
            return
        result = run(cfg, run_id=_relative(folder), overrides=list(hydra_cfg.overrides.task))
    except XaibenchError as error:
        print(f"xaibench: error: {error}", file=sys.stderr)
        sys.exit(2)
    for stale in folder.glob(".*.tmp"):  # left by a run killed mid-write
        stale.unlink()
    write_run(folder, result)
    print(summary_text(result))
    print(f"\nRun folder: {folder}")


def _relative(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)
