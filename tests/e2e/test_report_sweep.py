"""A real sweep over 3 model seeds on MNIST-1D, reported end to end (slow: trains 3 models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

METHODS = {"saliency", "input_x_gradient", "integrated_gradients", "gradcam", "random"}


@pytest.mark.slow
def test_report_of_a_three_seed_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    ran = subprocess.run(
        [sys.executable, "-m", "xaibench", "-m", "seed=0,1,2", "debug=fast", "sweep_report=false",
         f"hydra.sweep.dir={sweep}", f"cache_dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    done = subprocess.run(
        [sys.executable, "-m", "xaibench.report", str(sweep), "--resamples", "2000"],
        capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(sweep / "report" / "leaderboard.parquet")
    assert set(table["method"]) == METHODS  # `random`'s per-run seed does not split its label
    assert set(table["metric"]) == {"deletion", "insertion", "sensitivity_n"}
    assert (table["models"] == 3).all() and (table["n"] + table["n_nan"] == 3 * 16).all()
    finite = table.dropna(subset=["ci_low"])
    assert (finite["ci_low"] <= finite["mean"]).all() and (
        finite["mean"] <= finite["ci_high"]
    ).all()
    for _, part in table.groupby("metric"):
        assert part["rank"].min() == 1 and part["friedman_p"].notna().all()
    page = (sweep / "report" / "report.html").read_text()
    runs = json.loads((sweep / "report" / "settings.json").read_text())["runs"]
    assert len(runs) == 3 and all(run in page for run in runs)
