"""What the tests share: tiny hand-set models, the config and command-line runners, and
synthetic run folders for the report tests. Fixtures are in conftest.py; the slow
paper-following reference implementations in references.py.

Test modules import from here (and from tests.references), never from each other.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

import xaibench
from xaibench.methods import METHODS
from xaibench.metrics import METRICS
from xaibench.registry import context_for
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS
from xaibench.settings import CONF_DIR
from xaibench.testing import toy_problem

ROOT = Path(__file__).resolve().parent.parent  # the repository

# The hand-worked problem of the `linear_model` fixture (conftest.py): inputs of ones, on
# which class 0's gradient x input is its weight vector W0.
ONES = torch.ones(1, 1, 6)
W0 = torch.tensor([[[1.0, -2.0, 3.0, 0.5, 4.0, -1.0]]])


def input_x_gradient(model: nn.Module, x: torch.Tensor, target: int = 0) -> torch.Tensor:
    """Gradient x input maps of `x` for `target`."""
    return xaibench.explain(model, x, target, "input_x_gradient")


def random_map_problem(kind: str, cnn1d, signals, cnn2d, images):
    """(model, inputs, targets, a random map) on the tiny 1D ("signal") or 2D ("image") CNN."""
    model, x = (cnn1d, signals) if kind == "signal" else (cnn2d, images)
    target = torch.arange(len(x)) % 3
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    return model, x, target, attr


# --- tiny models ------------------------------------------------------------------------------


class LinearSignalModel(nn.Module):
    """Bias-free linear model on flattened signals: logits = W x, with W set by hand."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))


def tiny_cnn1d(channels: int = 2, length: int = 16, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv1d(4, 5, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(5 * (length // 2), classes),
    ).eval()


def tiny_cnn2d(channels: int = 3, size: int = 8, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, classes),
    ).eval()


class TinyNet(nn.Module):
    """A user's own model, importable as tests.helpers.TinyNet (`model=custom`)."""

    def __init__(self, num_classes: int, input_shape: tuple[int, int], hidden: int = 8):
        super().__init__()
        channels, length = input_shape
        self.conv = nn.Conv1d(channels, hidden, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(hidden * length, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.conv(x)))


class WrongOutputNet(TinyNet):
    """TinyNet returning what methods and metrics cannot read, as `output` says: `tuple`
    (logits, features), `dict` ({"logits": ...}) or `softmax` (probabilities). Importable as
    tests.helpers.WrongOutputNet (`model=custom`)."""

    def __init__(self, num_classes: int, input_shape: tuple[int, int], output: str = "tuple"):
        super().__init__(num_classes, input_shape)
        self.output = output

    def forward(self, x: torch.Tensor):
        logits = super().forward(x)
        if self.output == "tuple":
            return logits, x
        if self.output == "dict":
            return {"logits": logits}
        return logits.softmax(dim=1)


def target_logit(model, x, target):
    """Each sample's logit of its own target class."""
    return model(x).gather(1, target[:, None]).squeeze(1)


# --- configs and the command line -------------------------------------------------------------


def compose_config(*overrides: str):
    """The run config with Hydra overrides, composed in this process."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def xaibench_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """`python -m xaibench ARGS cache_dir=CACHE` in a subprocess, from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "xaibench", *args, f"cache_dir={cache}"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip


# --- synthetic run folders for the report tests ------------------------------------------------
#
# Scores with known means, in the documented schema. Each model seed adds a random offset per
# method (between-model variation) and each sample a shared difficulty (what pairing removes)
# plus independent noise.

DIRECTIONS = {"deletion": False, "insertion": True}


def synthetic_scores(
    means: dict[str, dict[str, float]],
    seed: int = 0,
    samples: int = 40,
    noise: float = 0.05,
    difficulty: float = 0.2,
    model_spread: float = 0.0,
    directions: dict[str, bool] = DIRECTIONS,
    dataset: str = "mnist1d",
) -> pd.DataFrame:
    """Scores of one run: means[metric][method] is each method's expected score."""
    rng = np.random.default_rng(1000 + seed)
    rows = []
    for metric, by_method in means.items():
        hard = rng.normal(0, difficulty, samples)
        for method, mean in by_method.items():
            offset = rng.normal(0, model_spread)
            values = mean + offset + hard + rng.normal(0, noise, samples)
            rows += [
                {"metric": metric, "method": method, "sample": i, "value": v,
                 "higher_is_better": directions[metric]}
                for i, v in enumerate(values)
            ]  # fmt: skip
    table = pd.DataFrame(rows).assign(
        experiment="synthetic", run_id=f"run{seed}", dataset=dataset, dataset_params="{}",
        model="cnn", model_key=f"key{seed}", model_accuracy=0.95, seed=seed,
        target_mode="predicted", overrides=f"seed={seed}", method_params="{}",
        metric_params="{}", label=0, predicted=0, target=0,
    )  # fmt: skip
    return table[SCORE_COLUMNS]


def synthetic_curves(scores: pd.DataFrame, steps: int = 4) -> pd.DataFrame:
    """Straight-line curves ending at each sample's score, for the curve plots."""
    parts = []
    for step in range(steps + 1):
        x = step / steps
        parts.append(scores.assign(step=step, x=x, value=1 - x * (1 - scores["value"])))
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def write_synthetic_run(folder: Path, scores: pd.DataFrame, curves: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(folder / "scores.parquet", index=False)
    if curves:
        synthetic_curves(scores).to_parquet(folder / "curves.parquet", index=False)
    seed = int(scores["seed"].iloc[0])
    meta = {
        "experiment": "synthetic", "seed": seed, "samples": int(scores["sample"].nunique()),
        "overrides": [f"seed={seed}"], "versions": {"python": "3.11", "torch": "2.14.1"},
        "git": {"commit": "0123456789abcdef", "dirty": False}, "device": "cpu", "host": "test",
        "cpu_threads": 2, "wall_seconds": 1.5, "started": "2026-01-01T00:00:00+00:00",
        "model": {"test_accuracy": 0.95}, "errors": [],
        "metric_names": {m: m for m in scores["metric"].unique()},
    }  # fmt: skip
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def write_synthetic_sweep(
    folder: Path, means: dict[str, dict[str, float]], seeds=(0, 1, 2), **kwargs
) -> Path:
    """A Hydra-like multirun folder: multirun.yaml and one numbered job folder per seed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for job, seed in enumerate(seeds):
        write_synthetic_run(folder / str(job), synthetic_scores(means, seed=seed, **kwargs))
    return folder


MEANS = {
    "deletion": {"good": 0.10, "close": 0.102, "bad": 0.60, "random": 0.60},
    "insertion": {"good": 0.90, "close": 0.60, "bad": 0.30, "random": 0.30},
}


# --- every method and metric with small settings, on any device (tests/test_device*.py) ------

# Settings that keep every built-in quick on a toy problem; the rest are the defaults.
SMALL_METHOD_SETTINGS: dict[str, dict] = {
    "integrated_gradients": {"steps": 8},
    "expected_gradients": {"draws": 8},
    "rise": {"num_masks": 16},
    "smooth": {"noisy_copies": 4},
    "smoothgrad": {"noisy_copies": 4},
    "smoothgrad_sq": {"noisy_copies": 4},
    "vargrad": {"noisy_copies": 4},
    "smoothgrad_x_input": {"noisy_copies": 4},
    "postprocess": {"params": {"steps": 8}},
}
SMALL_METRIC_SETTINGS: dict[str, dict] = {
    "deletion": {"steps": 8},
    "insertion": {"steps": 8},
    "aopc_morf": {"steps": 6},
    "aopc_lerf": {"steps": 6},
    "abpc": {"steps": 6},
    "selectivity": {"steps": 8},
    "region_perturbation": {"steps": 6},
    "sensitivity_n": {"subsets": 6},
    "faithfulness_correlation": {"subsets": 6},
    "infidelity": {"perturbations": 6},
    "monotonicity": {"draws": 2},
    "max_sensitivity": {"perturbations": 3},
    "local_lipschitz": {"perturbations": 3},
}

# Settings that take other code paths than the defaults (baselines, perturbations, patches).
METHOD_VARIANTS: list[tuple[str, dict]] = [
    ("occlusion", {"output": "probability", "baseline": "blur"}),
    ("rise", {"baseline": "uniform", "output": "logit"}),
    ("integrated_gradients", {"baseline": "mean"}),
    ("lrp", {"rule": "epsilon_plus"}),
    ("scorecam", {"weighting": "probability"}),
    ("smooth", {"method": "expected_gradients", "params": {"draws": 4}}),
]
METRIC_VARIANTS: list[tuple[str, dict]] = [
    ("infidelity", {"perturbation": "square", "patch": 2}),
    ("infidelity", {"perturbation": "gaussian", "normalise": False}),
    ("deletion", {"baseline": "mean", "output": "correct"}),
    ("abpc", {"baseline": "uniform", "patch": 2}),
    ("average_drop", {"rescale": "positive_max", "output": "logit"}),
    ("sensitivity_n", {"baseline": "uniform"}),
    ("faithfulness_estimate", {"patch": 2, "baseline": "uniform"}),
    ("monotonicity", {"patch": 2, "baseline": "zero"}),
    ("road_morf", {"patch": 2, "output": "probability"}),
    ("model_randomisation", {"mode": "independent", "similarity": "ssim"}),
    ("random_logit", {"similarity": "spearman", "absolute": True}),
    # re-explaining with methods that batch and draw random numbers themselves
    ("local_lipschitz", {"method": "smoothgrad", "method_params": {"noisy_copies": 2}}),
    ("random_logit", {"method": "rise", "method_params": {"num_masks": 8}}),
]


def variant_id(name: str, settings: dict) -> str:
    """A test id: the name and the settings that differ from its small defaults."""
    return "-".join([name, *(f"{key}={value}" for key, value in settings.items())])


# The device tests' cases (test_device_hygiene.py, test_cuda.py): every built-in method and
# metric with its small defaults, and the variants that take other code paths, in 1D and 2D.
DEVICE_DIMS = [1, 2]
METHOD_CASES = [
    pytest.param(name, settings, id=variant_id(name, settings))
    for name, settings in [(m, {}) for m in METHODS.builtin_names()] + METHOD_VARIANTS
]
METRIC_CASES = [
    pytest.param(name, settings, id=variant_id(name, settings))
    for name, settings in [(m, {}) for m in METRICS.builtin_names()] + METRIC_VARIANTS
]


def device_problem(dims: int, samples: int, device: str | torch.device = "cpu") -> tuple:
    """(model, inputs, target, context) on `device`: xaibench's toy CNN with 2 channels of 16
    positions (dims 1) or 3 channels of 9 x 9 pixels (dims 2, more positions than ROAD solves
    densely), seeded inputs, and the context a run passes (training inputs as `background`,
    ground-truth `masks`), the same values on every device (drawn on the CPU)."""
    channels, size = (2, 16) if dims == 1 else (3, 9)
    model, inputs, target = toy_problem(dims, samples, size, channels)
    background = torch.randn(16, *inputs.shape[1:], generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(samples, *inputs.shape[2:], dtype=torch.bool)
    masks[:, 2:6] = True
    context = {"background": background, "masks": masks.to(device)}  # background stays on CPU
    return model.to(device), inputs.to(device), target.to(device), context


def method_settings(
    name: str, context: dict, batch_size: int | None = None, **variant: object
) -> dict:
    """Method `name`'s small settings with `variant` over them, the context it takes, and
    `batch_size` if it has one."""
    fn = METHODS[name].fn
    settings = {**SMALL_METHOD_SETTINGS.get(name, {}), **variant, **context_for(fn, context)}
    if batch_size is not None and "batch_size" in inspect.signature(fn).parameters:
        settings["batch_size"] = batch_size
    return settings


def metric_settings(
    metric: str,
    context: dict,
    method: str = "input_x_gradient",
    batch_size: int | None = None,
    **variant: object,
) -> dict:
    """`metric`'s small settings with `variant` over them, the context it takes, `method` for
    a re-explaining metric, and `batch_size` if it has one (a re-explaining metric's re-explain
    batches too)."""
    info = METRICS[metric]
    settings = {**SMALL_METRIC_SETTINGS.get(metric, {}), **variant, **context_for(info.fn, context)}
    if info.reexplains:
        settings.setdefault("method", method)
        settings["background"] = context["background"]
    if batch_size is not None and "batch_size" in inspect.signature(info.score_many).parameters:
        settings["batch_size"] = batch_size
    return settings
