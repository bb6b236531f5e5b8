"""A run folder on disk: write it (every file complete or absent, meta.json last), tell a
finished run from an interrupted one, and refuse to mix the results of two configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from xaibench.files import atomic_write, atomic_write_text
from xaibench.metrics import METRICS
from xaibench.registry import XaibenchError
from xaibench.report.plots import plot_curves, plot_gallery
from xaibench.report.run_summary import summary_text
from xaibench.result import RunResult

GALLERY_SAMPLES = 6

# Settings that change neither the numbers nor what a run computes. (`threads` orders the
# floating-point sums of training; the trained model's own cache key holds the thread count.)
NOT_RESULT_SETTINGS = ("progress", "cache_dir", "reuse", "sweep_report", "threads")


def write_run(folder: Path, result: RunResult) -> None:
    """Write tables, plots and metadata; every file appears complete or not at all, and
    meta.json, written last, marks the folder complete."""
    for stale in folder.glob(".*.tmp"):  # left by a run killed mid-write
        stale.unlink()
    atomic_write(folder / "scores.parquet", lambda tmp: result.scores.to_parquet(tmp, index=False))
    atomic_write(folder / "curves.parquet", lambda tmp: result.curves.to_parquet(tmp, index=False))
    atomic_write(folder / "summary.csv", lambda tmp: result.summary.to_csv(tmp, index=False))
    atomic_write_text(folder / "summary.md", summary_text(result.meta, result.summary) + "\n")
    write_plots(folder / "plots", result)
    atomic_write_text(folder / "meta.json", json.dumps(result.meta, indent=2, default=str) + "\n")


def write_plots(folder: Path, result: RunResult) -> None:
    """A curve plot per metric with curves, and a gallery of the first samples' maps."""
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
    if result_settings(written) != result_settings(current):
        raise XaibenchError(
            f"{folder} already holds the results of another config; choose another folder "
            "with hydra.run.dir=... (or hydra.sweep.dir=... for a sweep)"
        )
    return True


def discard_unstarted(folder: Path) -> None:
    """Remove `folder` if it holds nothing but what Hydra writes when a run starts (its copy
    of the config in .hydra/ and an empty log): a run refused before any result (a dataset or
    model it cannot use) leaves no folder behind. Anything else in it is kept."""
    log = folder / "xaibench.log"
    if not folder.is_dir() or (log.exists() and log.stat().st_size > 0):
        return
    if {path.name for path in folder.iterdir()} <= {".hydra", "xaibench.log"}:
        shutil.rmtree(folder, ignore_errors=True)


def result_settings(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in NOT_RESULT_SETTINGS}


def relative(folder: Path) -> str:
    """`folder` relative to the working directory where possible (shorter, machine-free)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)
