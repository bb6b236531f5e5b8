"""A run folder on disk: name a new one, hold it for one run at a time, write it (every file
complete or absent, meta.json last), tell a complete run from an interrupted or failed one, and
refuse to mix the results of two configs."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xaibench.files import atomic_write, atomic_write_text, write_parquet
from xaibench.metrics import METRICS
from xaibench.origins import locate, origin
from xaibench.registry import XaibenchError
from xaibench.report.load import NOT_EVALUATION
from xaibench.report.plots import plot_curves, plot_gallery
from xaibench.report.run_summary import summary_text
from xaibench.result import RunResult

log = logging.getLogger("xaibench")

GALLERY_SAMPLES = 6
LOCK = ".xaibench.lock"  # held while a run computes and writes; removed when it ends
COMPLETE = "complete"  # meta.json's status; a failed run's is "failed: <why>"

# Settings that change neither the numbers nor what a run computes. (`threads` orders the
# floating-point sums of training; the trained model's own cache key holds the thread count.)
# The report reads the same list, and `shard`, to tell the shards of one evaluation.
NOT_RESULT_SETTINGS = tuple(key for key in NOT_EVALUATION if key != "shard")
# An unsharded run (shards=1) explains the whole evaluation, as every run did before shards
# existed: these keys are left out when its config is compared, so that older folders match.
UNSHARDED = ("shard", "shards")


def new_folder(base: str) -> str:
    """`base`, or the first of `base_2`, `base_3`, ... that does not exist yet: created here,
    so that no other run can take it (mkdir is atomic, also on NFS).

    The default run and sweep folders (conf/config.yaml) are named by this resolver,
    `${xaibench.new_folder:results/NAME/TIMESTAMP}`: runs started in the same second (a shell
    loop, a SLURM array) each get a folder of their own, and the names still sort by time.
    Hydra resolves the folder once and hands the value to a sweep's jobs (resolver cache).
    """
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    folder, number = base, 1
    while True:
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            number += 1
            folder = f"{base}_{number}"


if not OmegaConf.has_resolver("xaibench.new_folder"):
    OmegaConf.register_new_resolver("xaibench.new_folder", new_folder, use_cache=True)


@contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """`folder` held by this process while the block runs: another run into it is refused in
    one line, before it writes anything. Temporary files that a killed run left (plots
    included) are removed on entry, as nobody else writes here.

    The hold is an advisory lock (flock) on `LOCK` in the folder: the system releases it when
    the process ends, however it ends (SIGKILL included). The file is removed when the block
    ends; a run that locked it just as it was removed sees that and refuses too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    with open(path, "a") as lock:
        if not locked(lock.fileno(), path):
            raise XaibenchError(
                f"{folder} is in use by another run; wait for it to end, or choose another "
                "folder with hydra.run.dir=... (or hydra.sweep.dir=... for a sweep)"
            )
        try:
            for pattern in (".*.tmp", "plots/.*.tmp", ".hydra/.*.tmp"):
                for stale in folder.glob(pattern):
                    stale.unlink()
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: whoever opened it refuses (below)


def locked(fd: int, path: Path) -> bool:
    """Whether this process now holds the lock on `fd`, the file at `path`, and not on a file
    that its last holder removed meanwhile. A file system without locks holds nothing back."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        log.warning("%s: no file locks here (%s); nothing stops a second run into this folder",
                    path.parent, error.strerror)  # fmt: skip
        return True
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def write_hydra_files(folder: Path, cfg: DictConfig) -> None:
    """.hydra/config.yaml, hydra.yaml and overrides.yaml of the running Hydra job, as Hydra
    writes them. conf/config.yaml turns Hydra's own writing off (`hydra.output_subdir: null`):
    it writes them before the task starts, also into a folder whose run is then refused or
    skipped, so xaibench writes them when a run writes its results."""
    job = HydraConfig.get()
    files = {"config.yaml": cfg, "hydra.yaml": {"hydra": job}, "overrides.yaml": job.overrides.task}
    for name, content in files.items():
        atomic_write_text(folder / ".hydra" / name, OmegaConf.to_yaml(content))


def write_run(folder: Path, result: RunResult) -> None:
    """Write tables, plots and metadata; every file appears complete or not at all, and
    meta.json, written last, marks the folder complete (or failed: its `status`). Plots that
    an earlier, interrupted run left and this one did not make are removed."""
    write_parquet(result.scores, folder / "scores.parquet")
    write_parquet(result.curves, folder / "curves.parquet")
    atomic_write(folder / "summary.csv", lambda tmp: result.summary.to_csv(tmp, index=False))
    atomic_write_text(folder / "summary.md", summary_text(result.meta, result.summary) + "\n")
    plots = write_plots(folder / "plots", result)
    for stale in set((folder / "plots").glob("*.png")) - set(plots):
        stale.unlink()
    atomic_write_text(folder / "meta.json", json.dumps(result.meta, indent=2, default=str) + "\n")


def write_plots(folder: Path, result: RunResult) -> list[Path]:
    """A curve plot per metric with curves, and a gallery of the first samples' maps; returns
    the files written."""
    written = []
    for metric in result.curves["metric"].unique():
        info = METRICS[result.meta["metric_names"][metric]]
        x_label, y_label = info.curve_labels(result.meta["metrics"][metric])
        written.append(
            plot_curves(
                result.curves,
                metric,
                x_label=x_label,
                y_label=y_label,
                higher_is_better=info.higher_is_better,
                path=folder / f"curves_{metric}.png",
            )
        )
    if result.attributions:
        shown = slice(0, GALLERY_SAMPLES)
        written.append(
            plot_gallery(
                result.inputs[shown],
                {name: a[shown] for name, a in result.attributions.items()},
                result.labels[shown],
                result.targets[shown],
                folder / "gallery.png",
                masks=None if result.masks is None else result.masks[shown],
            )
        )
    return written


def completed_run(folder: Path, cfg: DictConfig) -> bool:
    """Whether `folder` already holds the complete results of this config. Reads only.

    meta.json is written last; its `status` tells a complete run from a failed one (every
    method or every metric failed). A complete run of another config raises: its folder is
    never written to again. A folder without a complete run (interrupted, or failed) is
    replaced by the next run into it, of this config or another.
    """
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        return False
    meta = json.loads(meta_path.read_text())
    if meta.get("status", COMPLETE) != COMPLETE:
        return False
    current = json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True), default=str))
    if result_settings(meta["config"]) != result_settings(current):
        raise XaibenchError(
            f"{folder} already holds the results of another config; choose another folder "
            "with hydra.run.dir=... (or hydra.sweep.dir=... for a sweep)"
        )
    if (changed := changed_plugin(meta)) is not None:
        raise XaibenchError(
            f"{folder} already holds the results of {changed}, whose code has changed since; "
            "choose another folder with hydra.run.dir=... (or hydra.sweep.dir=...)"
        )
    return True


def changed_plugin(meta: dict) -> str | None:
    """The first plug-in recorded in `meta` (a user's method or metric) whose code is no longer
    the code that computed the results, named for a message; None if none changed."""
    for kind, by_label in (meta.get("plugins") or {}).items():
        for label, recorded in by_label.items():
            if current_version(recorded["_target_"]) != recorded["_version_"]:
                return f"{kind.removesuffix('s')} {label!r} ({recorded['_target_']})"
    return None


def current_version(target: str) -> str | None:
    """The version (origins.Origin) of the code at import path `target` now, None if it
    cannot be imported."""
    try:
        found = origin(locate(target))  # type: ignore[arg-type]
    except Exception:
        return None
    return None if found is None else found.version


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
    """The settings of `config` that decide its results (different shards of one evaluation
    are different runs; an unsharded run compares as one from before shards existed)."""
    sharded = config.get("shards", 1) != 1
    return {
        key: value
        for key, value in config.items()
        if key not in NOT_RESULT_SETTINGS and (sharded or key not in UNSHARDED)
    }


def relative(folder: Path) -> str:
    """`folder` relative to the working directory where possible (shorter, machine-free)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)
