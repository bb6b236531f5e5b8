"""Sweeps through Hydra launchers, shared caches, kill-and-resume, determinism, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ROOT, xaibench_cli
from xaibench.cache import Cache
from xaibench.registry import XaibenchError

pytestmark = pytest.mark.e2e

OUTPUTS = ["scores.parquet", "curves.parquet", "summary.csv", "summary.md", "meta.json"]

# Runs xaibench with os.replace patched to SIGKILL the process just before its k-th call:
# the moment a finished temporary file would have been renamed into place.
KILLER = """
import os, signal, sys
limit, count, real_replace = int(sys.argv[1]), 0, os.replace
def replace(src, dst):
    global count
    count += 1
    if count == limit:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
os.replace = replace
sys.argv = ["xaibench", *sys.argv[2:]]
from xaibench.__main__ import cli
cli()
"""


def scores_of(folder: Path) -> pd.DataFrame:
    # run_id and overrides name the folders and cache dirs, which differ between the runs
    return pd.read_parquet(folder / "scores.parquet").drop(columns=["run_id", "overrides"])


def assert_complete_or_absent(folder: Path) -> None:
    """Every result file present is whole: parquet and JSON parse, no half-written file."""
    for name in ["scores.parquet", "curves.parquet"]:
        if (folder / name).exists():
            pd.read_parquet(folder / name)
    if (folder / "summary.csv").exists():
        pd.read_csv(folder / "summary.csv")
    if (folder / "meta.json").exists():
        json.loads((folder / "meta.json").read_text())
        assert all((folder / name).exists() for name in OUTPUTS), "meta.json is written last"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted debug run: its scores, the number of files it renames into place and
    its cache."""
    base = tmp_path_factory.mktemp("reference")
    done = subprocess.run(
        [sys.executable, "-c", KILLER, "100000", "debug=fast", f"hydra.run.dir={base / 'run'}",
         f"cache_dir={base / 'cache'}"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Each cache entry is a .pt and a .json; then .hydra's 3 files, the outputs and 4 plots.
    renames = len(list((base / "cache").rglob("*.pt"))) * 2 + 3 + len(OUTPUTS) + 4
    return scores_of(base / "run"), renames, base / "cache"


@pytest.mark.parametrize("when", ["training", "scoring", "writing outputs", "writing meta"])
def test_a_run_killed_at_any_write_resumes_to_the_same_numbers(when, reference, tmp_path):
    expected, renames, _ = reference
    kill_at = {
        "training": 3,  # the model's sidecar, then its weights (after the dataset's two files)
        "scoring": renames - len(OUTPUTS) - 10,
        "writing outputs": renames - 3,
        "writing meta": renames,
    }[when]
    args = ["debug=fast", f"hydra.run.dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(kill_at), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "meta.json").exists()
    assert_complete_or_absent(tmp_path / "run")
    if when in ("training", "scoring"):  # killed while writing a cache entry
        assert list((tmp_path / "cache").rglob(".*.tmp"))
    if when == "writing outputs":  # killed before renaming the second plot into place
        assert list((tmp_path / "run" / "plots").glob(".*.tmp"))
    resumed = xaibench_cli(*args[:-1], cache=tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr
    assert not list((tmp_path / "run").rglob("*.tmp")), "the resumed run removed them"
    assert not list((tmp_path / "cache").rglob(".*.tmp")), "the next use removes them"
    pd.testing.assert_frame_equal(scores_of(tmp_path / "run"), expected)


def test_a_run_killed_at_a_random_moment_leaves_whole_files(reference, tmp_path):
    expected, _, _ = reference
    args = ["debug=fast", f"hydra.run.dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "xaibench", *args], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(9)  # imports take ~6 s, the debug run a few more: somewhere in the middle
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert_complete_or_absent(tmp_path / "run")
    resumed = xaibench_cli(*args[:-1], cache=tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr
    pd.testing.assert_frame_equal(scores_of(tmp_path / "run"), expected)


def test_damaged_cache_entries_are_named_in_the_output_and_recomputed(reference, tmp_path):
    """The campaign's truncated model crashed every later run (OSError naming no file); its
    emptied score entry dropped a metric silently. Now: one line each, the same numbers."""
    expected, _, cache = reference
    shutil.copytree(cache, tmp_path / "cache", ignore=shutil.ignore_patterns("*.lock"))
    (model,) = (tmp_path / "cache" / "models").glob("*.pt")
    score = sorted((tmp_path / "cache" / "scores").glob("*.pt"))[0]
    os.truncate(model, model.stat().st_size // 2)
    os.truncate(score, 0)
    done = xaibench_cli("debug=fast", f"hydra.run.dir={tmp_path / 'run'}",
                        cache=tmp_path / "cache")  # fmt: skip
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).splitlines()
    lines = [line for line in output if "cache: " in line and " entry " in line]
    assert len(lines) == 2
    assert f"models entry {model} is truncated" in lines[0]
    assert f"scores entry {score} is empty" in lines[1]
    assert (tmp_path / "cache" / "models" / "quarantine").is_dir()
    assert (tmp_path / "cache" / "scores" / "quarantine").is_dir()
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["model"]["cached"] is False and meta["errors"] == []
    pd.testing.assert_frame_equal(scores_of(tmp_path / "run"), expected)


def test_same_config_and_seed_give_identical_scores_with_a_retrained_model(reference, tmp_path):
    expected, _, _ = reference
    done = xaibench_cli("debug=fast", f"hydra.run.dir={tmp_path / 'run'}", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["model"]["cached"] is False
    pd.testing.assert_frame_equal(scores_of(tmp_path / "run"), expected)


def test_joblib_sweep_shares_one_model_per_seed_and_a_rerun_skips_finished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m", "debug=fast", "seed=0,1", "method=saliency,gradcam", "hydra/launcher=joblib",
        "sweep_report=false",  # the test runs the report command itself
        "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    first = xaibench_cli(*args, cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    metas = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/meta.json"))]
    assert len(metas) == 4
    for seed in (0, 1):
        jobs = [m for m in metas if m["seed"] == seed]
        # Two jobs needed this model, one of them concurrently: it was trained exactly once.
        assert sorted(m["model"]["cached"] for m in jobs) == [False, True]
        assert len({m["model"]["key"] for m in jobs}) == 1
    assert len({m["model"]["key"] for m in metas}) == 2
    scores = pd.concat(pd.read_parquet(p) for p in sweep.glob("*/scores.parquet"))
    assert set(zip(scores["method"], scores["seed"], strict=True)) == {
        ("saliency", 0),
        ("saliency", 1),
        ("gradcam", 0),
        ("gradcam", 1),
    }
    assert all("seed=" in o and "method=" in o for o in scores["overrides"])

    before = {p: p.stat().st_mtime_ns for p in sweep.glob("*/scores.parquet")}
    again = xaibench_cli(*args, cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already holds this run's results; skipped") == 4
    assert {p: p.stat().st_mtime_ns for p in before} == before

    # The whole sweep becomes one leaderboard: 2 methods x 3 metrics, over both model seeds.
    report = subprocess.run(
        [sys.executable, "-m", "xaibench.report", str(sweep), "--resamples", "200"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    board = pd.read_csv(sweep / "report" / "leaderboard.csv")
    assert len(board) == 2 * 3
    assert set(board["method"]) == {"saliency", "gradcam"}
    assert (board["models"] == 2).all()


def test_submitit_local_launcher_runs_the_cluster_code_path(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    done = xaibench_cli(
        "-m", "debug=fast", "method=saliency", "metric=deletion", "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10", cache=tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (job,) = sweep.glob("*/scores.parquet")
    assert len(pd.read_parquet(job)) == 16
    assert list(sweep.glob(".submitit/*/*_log.out")), "submitit wrote its job logs"
    # The sweep ended with its report, written in the launching process (sweep_report.py).
    board = pd.read_csv(sweep / "report" / "leaderboard.csv")
    assert board[["method", "metric", "n"]].values.tolist() == [["saliency", "deletion", 16]]
    assert (sweep / "report" / "report.html").exists()


def test_a_failing_method_is_recorded_and_the_others_still_run(tmp_path):
    done = xaibench_cli(
        "debug=fast", "method.gradcam.layer=no.such.layer", f"hydra.run.dir={tmp_path / 'run'}",
        cache=tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    (error,) = meta["errors"]
    assert error["method"] == "gradcam"
    assert "'no.such.layer' does not exist" in error["error"]
    scores = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert set(scores["method"]) == {"saliency", "input_x_gradient", "integrated_gradients",
                                     "random"}  # fmt: skip
    assert "**FAILED** gradcam" in (tmp_path / "run" / "summary.md").read_text()


def test_an_unwritable_cache_folder_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(XaibenchError, match="is not writable") as excinfo:
        Cache(blocker / "cache").load_or_build("datasets", {"x": 1}, dict)
    assert "cache_dir=" in str(excinfo.value)
    done = xaibench_cli("debug=fast", f"hydra.run.dir={tmp_path / 'run'}", cache=blocker / "c")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is not writable" in done.stderr
    assert not os.path.exists(tmp_path / "run" / "scores.parquet")


def test_the_provided_slurm_launcher_config_composes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    from xaibench.settings import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )  # fmt: skip
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu"
    assert launcher.gpus_per_node == 1
