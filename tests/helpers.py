"""What the tests share: tiny hand-set models, the config and command-line runners, and
synthetic run folders for the report tests. Fixtures are in conftest.py; the slow
paper-following reference implementations in references.py.

Test modules import from here (and from tests.references), never from each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS
from xaibench.settings import CONF_DIR

ROOT = Path(__file__).resolve().parent.parent  # the repository


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
