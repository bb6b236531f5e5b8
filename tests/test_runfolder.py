"""Run folders in this process: new folders never shared, a held folder refused, leftovers of
killed runs removed, plots of an earlier run pruned, complete and failed runs told apart, and
a sweep with a failed job exiting 1; each shard of an evaluation a run of its own."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.helpers import compose_config
from xaibench.registry import XaibenchError
from xaibench.run import run, run_failure
from xaibench.runfolder import LOCK, claimed, completed_run, locked, new_folder, write_run
from xaibench.settings import CONF_DIR
from xaibench.sweep_report import ReportAfterSweep


def test_runs_naming_a_folder_in_the_same_second_get_one_each(tmp_path):
    base = str(tmp_path / "results" / "d5" / "2026-01-01_00-00-00")
    barrier, named = threading.Barrier(8), []

    def name() -> None:
        barrier.wait()
        named.append(new_folder(base))

    threads = [threading.Thread(target=name) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(named) == sorted([base, *(f"{base}_{n}" for n in range(2, 9))])
    assert all(Path(folder).is_dir() for folder in named)


def test_the_default_folders_are_named_by_new_folder_and_hydra_writes_nothing_itself():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        hydra = compose("config", return_hydra_config=True).hydra
        other = compose("config", ["hydra/job_logging=disabled"], return_hydra_config=True).hydra
    plain = OmegaConf.to_container(hydra, resolve=False)  # resolving would make the folders
    assert plain["run"]["dir"].startswith("${xaibench.new_folder:results/${name}/")
    assert plain["sweep"]["dir"].startswith("${xaibench.new_folder:results/${name}/multirun/")
    assert hydra.output_subdir is None  # xaibench writes .hydra/ (write_hydra_files)
    assert hydra.job_logging.handlers.file.delay  # no log file until a line is logged
    assert "handlers" not in other.job_logging  # another logging config is taken as it is


def test_a_held_folder_is_refused_and_the_next_run_removes_what_a_killed_one_left(tmp_path):
    leftovers = [tmp_path / ".scores.parquet.x1.tmp", tmp_path / "plots" / ".gallery.png.x2.tmp",
                 tmp_path / ".hydra" / ".config.yaml.x3.tmp"]  # fmt: skip
    kept = [tmp_path / "scores.parquet", tmp_path / "plots" / "gallery.png", tmp_path / "notes"]
    for path in leftovers + kept:
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
    with claimed(tmp_path):
        assert not any(path.exists() for path in leftovers)
        assert all(path.exists() for path in kept)
        with pytest.raises(XaibenchError, match="is in use by another run"), claimed(tmp_path):
            pass
        assert (tmp_path / LOCK).exists()
    assert not (tmp_path / LOCK).exists()
    with claimed(tmp_path):  # free again
        pass


def test_a_lock_taken_on_a_file_its_last_holder_removed_holds_nothing(tmp_path):
    path = tmp_path / LOCK
    with open(path, "a") as lock:
        path.unlink()  # as a run ending removes it, just after this one opened it
        assert not locked(lock.fileno(), path)
        path.touch()  # a run starting now creates a new one
        assert not locked(lock.fileno(), path)


def meta_of(config: dict, status: str = "complete") -> str:
    return json.dumps({"status": status, "config": config})


def test_a_complete_run_is_kept_and_a_failed_one_is_replaced_by_any_config(tmp_path):
    cfg = compose_config("seed=3")
    config = OmegaConf.to_container(cfg, resolve=True)
    assert not completed_run(tmp_path, cfg)  # nothing there yet
    (tmp_path / "meta.json").write_text(meta_of(config))
    assert completed_run(tmp_path, cfg)
    assert completed_run(tmp_path, compose_config("seed=3", "threads=2"))  # not a result setting
    with pytest.raises(XaibenchError, match="already holds the results of another config"):
        completed_run(tmp_path, compose_config("seed=4"))
    (tmp_path / "meta.json").write_text(meta_of(config, "failed: every method failed"))
    assert not completed_run(tmp_path, cfg)
    assert not completed_run(tmp_path, compose_config("seed=4"))
    (tmp_path / "meta.json").write_text(json.dumps({"config": config}))  # before `status`
    assert completed_run(tmp_path, cfg)


def test_each_shard_is_a_run_of_its_own_and_an_unsharded_folder_of_before_shards_matches(
    tmp_path,
):
    sharded = compose_config("shard=0", "shards=3")
    (tmp_path / "meta.json").write_text(meta_of(OmegaConf.to_container(sharded, resolve=True)))
    assert completed_run(tmp_path, sharded)
    for other in (["shard=1", "shards=3"], ["shard=0", "shards=2"], []):
        with pytest.raises(XaibenchError, match="already holds the results of another config"):
            completed_run(tmp_path, compose_config(*other))
    # A folder written before `shard` and `shards` existed holds the unsharded run.
    config = OmegaConf.to_container(compose_config(), resolve=True)
    assert isinstance(config, dict) and config.pop("shard") == 0 and config.pop("shards") == 1
    (tmp_path / "meta.json").write_text(meta_of(config))
    assert completed_run(tmp_path, compose_config())
    with pytest.raises(XaibenchError, match="another config"):
        completed_run(tmp_path, sharded)


def test_a_run_fails_when_every_method_or_every_metric_failed():
    def error(stage: str, method: str | None = None, metric: str | None = None) -> dict:
        return {"stage": stage, "method": method, "metric": metric, "error": "E"}

    methods = ["saliency", "gradcam"]
    assert run_failure(methods, [], scored=True) is None
    assert run_failure(methods, [error("explain", "gradcam")], scored=True) is None
    both = [error("explain", "saliency"), error("explain", "gradcam")]
    assert run_failure(methods, both, scored=False) == "every method failed"
    metric = [error("evaluate", metric="deletion")]
    assert run_failure(methods, metric, scored=False) == "every metric failed"


def test_writing_a_run_removes_plots_an_earlier_run_left(tmp_path):
    cfg = compose_config("debug=fast", "threads=1", "method=[saliency]", "metric=[deletion]",
                         f"cache_dir={tmp_path / 'cache'}")  # fmt: skip
    folder = tmp_path / "run"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "curves_sensitivity_n.png").write_bytes(b"an interrupted run's plot")
    write_run(folder, run(cfg))
    assert sorted(p.name for p in (folder / "plots").iterdir()) == [
        "curves_deletion.png",
        "gallery.png",
    ]


def test_a_sweep_with_a_failed_job_exits_1_after_every_job(tmp_path, capsys):
    for job, status in enumerate(["complete", "failed: every metric failed", "complete"]):
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "meta.json").write_text(json.dumps({"status": status}))
    config = OmegaConf.create({"sweep_report": False, "hydra": {"sweep": {"dir": str(tmp_path)}}})
    with pytest.raises(SystemExit) as exit_:
        ReportAfterSweep().on_multirun_end(config)
    assert exit_.value.code == 1
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and str(tmp_path / "1") in stderr
    (tmp_path / "1" / "meta.json").write_text(json.dumps({"status": "complete"}))
    ReportAfterSweep().on_multirun_end(config)  # every job complete: no exit
