"""`python -m xaibench` end to end, in a subprocess, with the tiny debug settings."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import xaibench_cli
from xaibench.metrics import METRICS
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS, SUMMARY_COLUMNS

pytestmark = pytest.mark.e2e

DEMO_METRICS = 14  # conf/experiment/ig_vs_gradcam.yaml: every faithfulness and localisation metric


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The main experiment in debug mode, run twice: the second run must reuse the model."""
    base = tmp_path_factory.mktemp("cli")
    cache = base / "cache"
    # One thread in both runs: the thread count is part of a trained model's cache key (it
    # orders the floating-point sums of training), so the second run reuses the first's model.
    args = ["experiment=ig_vs_gradcam", "debug=fast", "threads=1"]
    first = xaibench_cli(*args, f"hydra.run.dir={base / 'first'}", cache=cache)
    second = xaibench_cli(*args, f"hydra.run.dir={base / 'second'}", cache=cache)
    return base, first, second


def test_run_folder_holds_every_output(demo_run):
    base, first, _ = demo_run
    assert first.returncode == 0, first.stderr
    folder = base / "first"
    for name in ["scores.parquet", "curves.parquet", "summary.csv", "summary.md", "meta.json"]:
        assert (folder / name).stat().st_size > 0, name
    for plot in ["curves_deletion", "curves_insertion", "curves_sensitivity_n", "gallery"]:
        assert (folder / "plots" / f"{plot}.png").stat().st_size > 1000, plot
    assert not list(folder.rglob("*.tmp")), "temporary files left behind"


def test_score_table_is_long_format_with_the_documented_columns(demo_run):
    base, _, _ = demo_run
    scores = pd.read_parquet(base / "first" / "scores.parquet")
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == 16 * 5 * DEMO_METRICS  # samples x methods x metrics
    assert scores.groupby(["method", "metric"]).size().eq(16).all()
    assert set(scores["experiment"]) == {"ig_vs_gradcam"}
    assert scores["overrides"].str.startswith("experiment=ig_vs_gradcam debug=fast ").all()
    direction = scores.groupby("metric")["higher_is_better"].first().to_dict()
    assert direction == {m: METRICS[m].higher_is_better for m in direction}
    assert not direction["deletion"] and direction["insertion"]
    assert (scores["target"] == scores["predicted"]).all()  # target: predicted by default


def test_curves_have_steps_plus_one_points_starting_unperturbed(demo_run):
    base, _, _ = demo_run
    curves = pd.read_parquet(base / "first" / "curves.parquet")
    assert list(curves.columns) == CURVE_COLUMNS
    points = curves.groupby(["metric", "method", "sample"]).size()
    assert set(points.loc["deletion"]) == {41}
    assert set(points.loc["insertion"]) == {41}
    assert set(points.loc["sensitivity_n"]) == {7}
    first = curves[(curves["metric"] == "deletion") & (curves["step"] == 0)]
    assert (first["x"] == 0).all()


def test_summary_and_meta(demo_run):
    base, first, _ = demo_run
    summary = pd.read_csv(base / "first" / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == 5 * DEMO_METRICS
    assert (summary["ci_low"] <= summary["mean"]).all()
    assert (summary["mean"] <= summary["ci_high"]).all()
    meta = json.loads((base / "first" / "meta.json").read_text())
    assert 0 <= meta["model"]["test_accuracy"] <= 1
    assert meta["model"]["cached"] is False
    assert meta["versions"]["torch"] == "2.14.1"
    assert {"data", "model", "explain/gradcam", "evaluate/deletion"} <= set(meta["stages"])
    # 16 samples x 41 curve points x 5 methods, plus one forward checking the target range
    assert meta["stages"]["evaluate/deletion"]["forwards"] == 16 * 41 * 5 + 1
    # The terminal ends with the summary table and the run folder.
    assert "| integrated_gradients" in first.stdout
    assert first.stdout.strip().endswith(str(base / "first"))


def test_second_run_reuses_the_cached_model_and_gives_identical_scores(demo_run):
    base, _, second = demo_run
    assert second.returncode == 0, second.stderr
    meta = json.loads((base / "second" / "meta.json").read_text())
    assert meta["model"]["cached"] is True
    assert all(stage["cached"] for stage in meta["stages"].values())
    assert meta["cpu_threads"] == 1
    first = pd.read_parquet(base / "first" / "scores.parquet")
    again = pd.read_parquet(base / "second" / "scores.parquet")
    pd.testing.assert_series_equal(first["value"], again["value"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "method=[saliency,nosuch]",
            "unknown method 'nosuch'; valid methods: deconvolution, deeplift,",
        ),
        (
            "experiment=nosuch",
            "unknown experiment 'nosuch'; valid experiments: deletion_insertion, ig_vs_gradcam,",
        ),
        ("metric=delete", "unknown metric 'delete'; valid metrics: abpc, aopc_lerf, aopc_morf,"),
        ("dataset=mnist2d", "unknown dataset 'mnist2d'; valid datasets: cifar10, digits,"),
        ("model=vgg", "unknown model 'vgg'; valid models: cnn2d, custom, mnist1d_cnn,"),
        ("+method.saliency.sign=1", "unknown parameter 'sign' for method 'saliency'"),
        ("target=true_class", "target='true_class' must be one of predicted, label"),
        ("threads=0", "threads=0 must be an integer >= 1 or null"),
        (
            "method.smoothgrad.samples=4",
            "method 'smoothgrad': parameter 'samples' is now called 'noisy_copies'",
        ),
        ("dataset.normalize=none", "dataset setting 'normalize' is now called 'normalise'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(override, expected, tmp_path):
    done = xaibench_cli(override, f"hydra.run.dir={tmp_path / 'run'}", cache=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "run").exists()  # nothing written: the new folder is gone again


def test_a_finished_run_is_skipped_and_never_overwritten(demo_run):
    base, _, _ = demo_run
    folder = base / "first"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert {".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"} <= {
        str(p.relative_to(folder)) for p in before
    }
    args = ["experiment=ig_vs_gradcam", "debug=fast", f"hydra.run.dir={folder}"]
    # threads changes no result setting: skipped, and .hydra/ still records threads=1
    again = xaibench_cli(*args, "threads=2", cache=base / "cache")
    assert again.returncode == 0
    assert "already holds this run's results; skipped" in again.stdout
    other = xaibench_cli(*args, "samples=8", cache=base / "cache")
    assert other.returncode == 2
    assert "already holds the results of another config" in other.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
