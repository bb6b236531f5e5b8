"""The config of a run as plain Python values, checked before any work starts.

`read_settings(cfg)` turns a composed Hydra config into `Settings` and rejects what cannot run
(unknown names, settings a function does not take, impossible values) with one clear line. It
has no side effects: applying the CPU thread count is the run's business (`run.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from omegaconf import DictConfig, OmegaConf

from xaibench.cache import Cache
from xaibench.checks import TARGET_MODES
from xaibench.constraints import Count, Matches, OneOf, Range, Seed
from xaibench.data import check_dataset_params, resolve_dataset_params
from xaibench.methods import METHODS
from xaibench.metrics import METRICS, MetricInfo
from xaibench.metrics.reexplain import REEXPLAIN_SETTINGS
from xaibench.models import ModelSpec, check_model_params, model_weights, train_config
from xaibench.origins import origin
from xaibench.plugins import (
    TARGET_KEY,
    provenance,
    referenced_methods,
    reload_if_edited,
    resolve_target,
)
from xaibench.provenance import resolve_device
from xaibench.registry import RUN_PARAMS, XaibenchError, check_values
from xaibench.samples import ALL, SUBSETS
from xaibench.threads import AUTO

# The configs shipped with xaibench (Hydra's primary config is config.yaml).
CONF_DIR = str(Path(__file__).resolve().parent / "conf")

# The run's own settings (config.yaml), with their types and ranges (see constraints.py).
RUN_SETTINGS: dict[str, Any] = {
    "name": str,
    "seed": Seed,
    "device": Annotated[str, Matches(r"auto|cpu|cuda(:\d+)?", "one of auto, cpu, cuda, cuda:N")],
    # a count; "auto", the CPUs the job was given (threads.py); None keeps PyTorch's default
    "threads": Annotated[int | None, Range(low=1)] | Annotated[str, Matches(AUTO, AUTO)],
    # a count, or "all" for the whole test split
    "samples": Count | Annotated[str, Matches(ALL, ALL)],
    "subset": Annotated[str, OneOf(SUBSETS)],  # how the explained inputs are chosen (samples.py)
    "shard": Annotated[int, Range(low=0)],  # which part of the explained inputs this job runs
    "shards": Count,  # into how many parts (jobs) one evaluation is split (samples.py)
    "target": Annotated[str, OneOf(TARGET_MODES)],
    "batch_size": Count,
    "cache_dir": str,
    "progress": bool,
    "reuse": bool,
    "min_accuracy": Annotated[float, Range(0, 1)],
    "sweep_report": bool,
}

# The keys of `model` that are not architecture params (`checkpoint` loads local weights
# instead of training; `train` holds TrainConfig's fields), with their types.
MODEL_KEYS: dict[str, Any] = {
    "name": str,
    "train": dict | None,
    "seed": Seed,
    "checkpoint": str | None,
}

# A method or metric entry may run a registered function under another label, so that one run
# can hold two variants, e.g. `method.gradcam_relu: {uses: gradcam, layer: features.9}`.
USES_KEY = "uses"


@dataclass(frozen=True)
class Entry:
    """One method or metric of a run: its label (the name in tables), the registered function
    it runs, and its settings, the run's `seed` and `batch_size` filled in wherever the function
    takes them and the entry does not set them.

    For a user's function (a plug-in), `plugin` names it (`_target_`, `_version_`: see
    plugins.provenance) and `code` holds the version of every user's function the entry runs
    (itself, and a plug-in method a wrapper wraps), for the cache keys; both are empty for
    xaibench's own."""

    label: str
    name: str
    params: dict
    plugin: dict | None = None
    code: dict = field(default_factory=dict)

    @property
    def recorded_params(self) -> dict:
        """The settings as the run tables record them: a plug-in's import path and version, or
        `uses` where the label is an alias of a built-in."""
        if self.plugin:
            return {**self.plugin, **self.params}
        return self.params if self.name == self.label else {USES_KEY: self.name, **self.params}


@dataclass(frozen=True)
class Settings:
    """The config as plain Python values, checked."""

    name: str
    seed: int
    device: torch.device
    threads: int | str | None  # PyTorch's CPU threads; "auto" (threads.py); None: its default
    samples: int | str  # how many test inputs are explained, or "all"
    subset: str  # first | shuffled | stratified: which ones (samples.py)
    shard: int  # this job explains part `shard` (0 .. shards - 1) of them
    shards: int  # 1: the whole subset
    target: str  # predicted | label
    batch_size: int
    progress: bool
    reuse: bool
    min_accuracy: float
    cache: Cache
    dataset: str
    dataset_params: dict
    model: ModelSpec
    methods: dict[str, Entry]  # by label
    metrics: dict[str, Entry]


def read_settings(cfg: DictConfig) -> Settings:
    """Check a composed config and return it as `Settings` (see the module docstring)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    check_values(plain, RUN_SETTINGS)
    check_shard(plain["shard"], plain["shards"], plain["samples"])
    run_values = {"seed": plain["seed"], "batch_size": plain["batch_size"]}
    methods = read_entries(plain.get("method") or {}, "method", run_values)
    metrics = read_entries(plain.get("metric") or {}, "metric", run_values)
    if not methods or not metrics:
        raise XaibenchError("select at least one method and one metric, e.g. method=[saliency]")
    model = read_model(dict(plain["model"]), run_values["seed"])
    dataset_name, dataset = read_dataset(dict(plain["dataset"]), model)
    return Settings(
        name=plain["name"],
        seed=run_values["seed"],
        device=resolve_device(plain["device"]),
        threads=plain.get("threads"),
        samples=plain["samples"],
        subset=plain["subset"],
        shard=plain["shard"],
        shards=plain["shards"],
        target=plain["target"],
        batch_size=run_values["batch_size"],
        progress=plain["progress"],
        reuse=plain["reuse"],
        min_accuracy=plain["min_accuracy"],
        cache=Cache(plain["cache_dir"]),
        dataset=dataset_name,
        dataset_params=dataset,
        model=model,
        methods=methods,
        metrics=metrics,
    )


def check_shard(shard: int, shards: int, samples: int | str) -> None:
    """One line for a shard that does not exist, or more shards than explained inputs (with
    samples=all, the run checks that once it has the data: samples.shard_range)."""
    if shard >= shards:
        raise XaibenchError(
            f"shard={shard} does not exist with shards={shards}; choose shard from 0 to "
            f"{shards - 1} (or raise shards)"
        )
    if isinstance(samples, int) and shards > samples:
        raise XaibenchError(
            f"shards={shards} is more than the {samples} explained inputs (samples); choose "
            f"shards <= {samples}"
        )


def read_model(model: dict, run_seed: int) -> ModelSpec:
    """The model section of a config, its architecture and training settings checked."""
    name = model["name"]
    check_values(model, MODEL_KEYS, "model.")
    params = {k: v for k, v in model.items() if k not in MODEL_KEYS}
    check_model_params(name, params)
    train = model.get("train") or {}
    train_config(train)
    return ModelSpec(
        name=name,
        params=params,
        train=train,
        seed=model.get("seed", run_seed),
        checkpoint=model.get("checkpoint"),
    )


def read_dataset(dataset: dict, model: ModelSpec) -> tuple[str, dict]:
    """(name, settings) of the dataset section, the settings it leaves unset (null) taken from
    the preprocessing of the model's pretrained weights, whose file is checked to exist before
    any work starts."""
    name = dataset.pop("name")
    weights = model_weights(model)
    if weights is not None:
        weights.check_file()
    params = resolve_dataset_params(name, dataset, weights.preprocessing if weights else None)
    check_dataset_params(name, params)
    return name, params


def read_entries(section: dict, kind: str, run_values: dict) -> dict[str, Entry]:
    """The method or metric entries of a config, by label, each checked against its function."""
    registry = METHODS if kind == "method" else METRICS
    entries = {}
    for label, given in section.items():
        params = dict(given or {})
        if TARGET_KEY in params and USES_KEY in params:
            raise XaibenchError(
                f"{kind} {label!r} sets both {USES_KEY} and {TARGET_KEY}; keep one ({USES_KEY} "
                f"names a registered {kind}, {TARGET_KEY} the import path of your function)"
            )
        if TARGET_KEY in params:
            name, params = resolve_target(kind, label, params)
        else:
            name = params.pop(USES_KEY, label)
        reload_if_edited(registry[name].fn)  # an unknown name lists the valid ones
        info = registry[name]
        info.check(params, label)
        set_by_run = set(REEXPLAIN_SETTINGS) - {"batch_size"} if kind == "metric" else set()
        if set_by_run & set(params) and isinstance(info, MetricInfo) and info.reexplains:
            raise XaibenchError(
                f"metric {label!r}: {sorted(set_by_run & set(params))[0]!r} is set by the run "
                "(each method's maps are re-explained with that method and its settings)"
            )
        taken = set(info.settings())
        run = {key: run_values[key] for key in RUN_PARAMS if key in taken and key not in params}
        entries[label] = Entry(
            label, name, {**params, **run}, provenance(info.fn), code_of(name, info.fn, params)
        )
    return entries


def code_of(name: str, fn, params: dict) -> dict[str, str]:
    """The version of every user's function an entry runs, by registered name: its own, and
    that of a plug-in method that a wrapper (`smooth`, `postprocess`) wraps."""
    runs = [(name, fn)] + [(m, METHODS[m].fn) for m in referenced_methods(params) if m in METHODS]
    return {each: found.version for each, f in runs if (found := origin(f)) is not None}
