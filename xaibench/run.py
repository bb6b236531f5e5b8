"""One benchmark run: settings -> data -> model -> samples -> explanations -> scores -> tables.

`run(cfg)` is the flow, a sequence of plain calls that return values (usable from a notebook
with a composed config); `main(cfg)` is the Hydra entry point that writes the run folder.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from xaibench.data import load_dataset
from xaibench.models import TrainedModel, get_model
from xaibench.provenance import device_info, git_state, versions
from xaibench.registry import XaibenchError
from xaibench.report.run_summary import (
    failed_what,
    lopsided_warning,
    summary_text,
    weak_model_warning,
)
from xaibench.report.summary import summary_and_control
from xaibench.result import RunResult
from xaibench.run_tables import as_json, run_tables
from xaibench.runfolder import (
    COMPLETE,
    claimed,
    completed_run,
    discard_unstarted,
    relative,
    write_hydra_files,
    write_run,
)
from xaibench.samples import (
    Shard,
    explained_subset,
    run_context,
    sample_count,
    select_samples,
    shard_range,
    small_shard_warning,
    subset_indices,
)
from xaibench.scoring import CacheKeys, explain_all, score_all
from xaibench.settings import CONF_DIR, Settings, read_settings
from xaibench.stages import Stages
from xaibench.threads import busy_cpu_warning, cpu_threads

__all__ = ["CONF_DIR", "RunResult", "main", "run"]

log = logging.getLogger("xaibench")

# The process that started Hydra (set by `python -m xaibench`): a job running in a child of it
# (joblib's workers) stops when it dies.
LAUNCHER_PID = "XAIBENCH_LAUNCHER_PID"


def run(cfg: DictConfig, run_id: str = "", overrides: list[str] | None = None) -> RunResult:
    """Compute one run in memory; files are written only to the cache."""
    started = datetime.now(UTC)
    settings = read_settings(cfg)
    stages = Stages(settings.cache, settings.reuse)
    with cpu_threads(settings.threads):
        data, data_spec, data_cached = stages.run(
            "data", lambda record: load_data(settings, record)
        )
        count = sample_count(settings.samples, data)
        rows = shard_range(count, settings.shard, settings.shards)  # refused before training
        if warning := small_shard_warning(rows[1] - rows[0], settings.shards, settings.device):
            log.warning(warning)
        trained = stages.run("model", lambda record: load_model(settings, data, data_spec, record))
        index = subset_indices(data.y_test, count, settings.subset, settings.seed)
        shard = evaluation_shard(settings, trained, data, index, rows)
        samples = select_samples(trained.model, data, index[shard.start : shard.stop],
                                 settings.target, settings.device, settings.batch_size)  # fmt: skip
        sharded = settings.shards > 1
        explained = explained_subset(samples, data, settings.subset, settings.seed,
                                     index if sharded else None)  # fmt: skip
        if sharded:
            explained["shard"] = shard.record()
        for warning in (lopsided_warning(explained), busy_cpu_warning(settings.threads)):
            if warning:
                log.warning(warning)
        keys = CacheKeys(trained.key, samples, run_context(data, samples))
        maps = explain_all(trained.model, samples, settings.methods, keys, stages,
                           settings.batch_size, settings.progress, shard)  # fmt: skip
        results = score_all(trained.model, samples, maps, settings.metrics, settings.methods,
                            keys, stages, settings.progress)  # fmt: skip
        cpu = device_info(settings.device)
    values = run_values(settings, trained, run_id, overrides)
    scores, curves = run_tables(values, samples, settings.methods, settings.metrics, results)
    summary, failing = summary_and_control(scores, settings.seed)
    for error in stages.errors:
        log.error("%s failed: %s", failed_what(error), error["error"])
    failure = run_failure(list(settings.methods), stages.errors, scored=len(scores) > 0)
    meta = run_meta(cfg, settings, stages, started, run_id, overrides, cpu, data, data_spec,
                    data_cached, trained, explained, summary, failing, failure)  # fmt: skip
    return RunResult(scores, curves, summary, meta, samples.inputs, samples.labels,
                     samples.targets, maps, keys.context.get("masks"))  # fmt: skip


def evaluation_shard(
    settings: Settings, trained: TrainedModel, data, index, rows: tuple[int, int]
) -> Shard:
    """This job's part, `rows`, of the evaluation's explained positions `index` (all of them
    unless `shards` > 1); the whole evaluation's samples are built only if a method asks."""
    start, stop = rows
    whole = functools.cache(
        lambda: select_samples(
            trained.model, data, index, settings.target, settings.device, settings.batch_size
        )
    )
    return Shard(settings.shard, settings.shards, start, stop, len(index), whole)


def run_failure(methods: list[str], errors: list[dict], scored: bool) -> str | None:
    """Why a run has no score at all (every method failed, or every metric did), or None."""
    if scored or not errors:
        return None
    failed = {error["method"] for error in errors if error["stage"] == "explain"}
    return "every method failed" if failed >= set(methods) else "every metric failed"


def load_data(settings: Settings, record: dict):
    data, spec, cached = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    record["cached"] = cached
    return data, spec, cached


def load_model(settings: Settings, data, data_spec: dict, record: dict) -> TrainedModel:
    """The run's model, trained once and cached (or loaded from a checkpoint); a model below
    `min_accuracy` is flagged loudly."""
    trained = get_model(settings.model, data, data_spec, settings.cache, settings.device,
                        settings.progress, settings.batch_size)  # fmt: skip
    record["cached"] = trained.cached
    if trained.test_accuracy < settings.min_accuracy:
        normalise = data.preparation.get("normalise")
        log.warning(weak_model_warning(trained.test_accuracy, settings.min_accuracy,
                                       trained.checkpoint, normalise))  # fmt: skip
    return trained


def run_values(
    settings: Settings, trained: TrainedModel, run_id: str, overrides: list[str] | None
) -> dict:
    """The columns of the run tables that are constant within a run (schema.RUN_COLUMNS)."""
    return {
        "experiment": settings.name,
        "run_id": run_id,
        "dataset": settings.dataset,
        "dataset_params": as_json(settings.dataset_params),
        "model": settings.model.name,
        "model_key": trained.key,
        "model_accuracy": trained.test_accuracy,
        "seed": settings.seed,
        "target_mode": settings.target,
        "overrides": " ".join(overrides or []),
    }


def run_meta(
    cfg: DictConfig, settings: Settings, stages: Stages, started: datetime, run_id: str,
    overrides: list[str] | None, cpu: dict, data, data_spec: dict, data_cached: bool,
    trained: TrainedModel, explained: dict, summary: pd.DataFrame, control_failures: dict,
    failure: str | None,
) -> dict:  # fmt: skip
    """meta.json: where the results came from, what was run and what it cost, and whether it
    is complete (`status`: complete, or failed and why)."""
    finished = datetime.now(UTC)
    return {
        "experiment": settings.name,
        "status": f"failed: {failure}" if failure else COMPLETE,
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "wall_seconds": round((finished - started).total_seconds(), 3),
        "stages": stages.records,
        "command": sys.argv,
        "overrides": overrides or [],
        "versions": versions(),
        "git": git_state(),
        **cpu,
        "seed": settings.seed,
        "samples": explained["count"],
        "target": settings.target,
        "dataset": {"name": settings.dataset, "spec": data_spec, "cached": data_cached,
                    "train_size": len(data.x_train), "test_size": len(data.x_test),
                    "preparation": data.preparation, "masks": data.masks_test is not None},
        "explained": explained,
        "model": {"name": settings.model.name, "key": trained.key, "cached": trained.cached,
                  "seed": settings.model.seed, "checkpoint": trained.checkpoint,
                  "weights": trained.weights, "preprocessing": trained.preprocessing,
                  "test_accuracy": trained.test_accuracy,
                  "val_accuracy": trained.val_accuracy, "epochs_trained": trained.epochs_trained,
                  "train_seconds": round(trained.train_seconds, 3),
                  "min_accuracy": settings.min_accuracy,
                  "too_weak": trained.test_accuracy < settings.min_accuracy},
        "methods": {label: entry.params for label, entry in settings.methods.items()},
        "metrics": {label: entry.params for label, entry in settings.metrics.items()},
        "method_names": {label: entry.name for label, entry in settings.methods.items()},
        "metric_names": {label: entry.name for label, entry in settings.metrics.items()},
        # The user's functions among them: import path and version (plugins.provenance).
        "plugins": {kind: {label: entry.plugin for label, entry in entries.items()
                           if entry.plugin}
                    for kind, entries in [("methods", settings.methods),
                                          ("metrics", settings.metrics)]},
        "errors": stages.errors,
        # pandas-stubs types itertuples fields as any scalar (n_nan is an int)
        "nan_scores": {f"{r.method}/{r.metric}": int(r.n_nan)  # type: ignore[arg-type]
                       for r in summary.itertuples() if r.n_nan},
        "control_failures": control_failures,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }  # fmt: skip


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: skip a finished run, else hold the folder, run, write it and print
    the summary. Exits 2 on a refused run or a bad setting, 1 when every method or every
    metric failed (in a sweep, the sweep exits 1 once all its jobs have ended)."""
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    stop_with_launcher()
    result = None
    try:
        # A finished folder is never written to, not even its lock: checked before taking the
        # folder, and again once it is held, in case another run finished it meanwhile.
        if not completed_run(folder, cfg):
            with claimed(folder):
                if not completed_run(folder, cfg):
                    overrides = list(hydra_cfg.overrides.task)
                    result = run(cfg, run_id=relative(folder), overrides=overrides)
                    write_hydra_files(folder, cfg)
                    write_run(folder, result)
    except XaibenchError as error:
        print(f"xaibench: error: {error}", file=sys.stderr)
        discard_unstarted(folder)
        sys.exit(2)
    if result is None:
        print(f"xaibench: {folder} already holds this run's results; skipped")
        return
    print(summary_text(result.meta, result.summary))
    print(f"\nRun folder: {folder}")
    if result.meta["status"] != COMPLETE:
        why = result.meta["status"].removeprefix("failed: ")
        print(f"xaibench: error: {why}; {folder} keeps what was computed, marked failed "
              "(meta.json: status)", file=sys.stderr)  # fmt: skip
        if hydra_cfg.mode != RunMode.MULTIRUN:  # a sweep's jobs all run; the sweep exits 1
            sys.exit(1)


def stop_with_launcher() -> None:
    """In a job that runs in a child process of the launching `python -m xaibench` (joblib's
    workers), stop within a second of the launcher's death: a killed sweep leaves no workers
    computing on. A job in the launcher itself, or under SLURM, is left alone.

    A killed job leaves what a SIGKILL leaves (whole files, at most temporary ones, removed by
    the next run into its folder); the rerun of the sweep resumes it.
    """
    launcher = int(os.environ.get(LAUNCHER_PID, "0"))
    if os.getppid() != launcher or any(t.name == LAUNCHER_PID for t in threading.enumerate()):
        return

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(0.5)
        log.error("the sweep's launcher (pid %d) has ended: stopping this job", launcher)
        os._exit(1)

    threading.Thread(target=watch, name=LAUNCHER_PID, daemon=True).start()
