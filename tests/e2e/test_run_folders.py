"""A run folder belongs to one run: runs started together get a folder each, a held folder is
refused untouched, a killed sweep takes its workers with it, and a run in which every method
failed exits 1 with its folder marked failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import ROOT, xaibench_cli
from xaibench.runfolder import claimed

pytestmark = pytest.mark.e2e


def xaibench_process(*args: str, cwd: Path, output: int = subprocess.PIPE) -> subprocess.Popen:
    """`python -m xaibench ARGS` started from `cwd`, where its default run folder goes."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.Popen(
        [sys.executable, "-m", "xaibench", *args], cwd=cwd, text=True, stdout=output,
        stderr=output, env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
    )  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_runs_started_together_with_the_default_folder_get_a_folder_each(tmp_path):
    seeds = range(3)
    runs = [
        xaibench_process("debug=fast", "threads=1", "method=[saliency]", "metric=[deletion]",
                         "name=d5", f"seed={seed}", f"cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
        for seed in seeds
    ]  # fmt: skip
    for process in runs:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    folders = sorted((tmp_path / "results" / "d5").iterdir())
    assert len(folders) == len(seeds)
    for folder in folders:
        seed = json.loads((folder / "meta.json").read_text())["seed"]
        assert set(pd.read_parquet(folder / "scores.parquet")["seed"]) == {seed}
        assert yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["seed"] == seed
        assert f"seed={seed}" in yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
    assert sorted(json.loads((f / "meta.json").read_text())["seed"] for f in folders) == [*seeds]


def test_a_folder_held_by_a_run_refuses_a_second_run_without_touching_it(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "scores.parquet").write_bytes(b"an interrupted run's scores")
    before = snapshot(folder)
    with claimed(folder):  # as a run that is computing holds it
        held = snapshot(folder)
        done = xaibench_cli("debug=fast", f"hydra.run.dir={folder}", cache=tmp_path / "cache")
        assert snapshot(folder) == held
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "is in use by another run" in done.stderr
    assert snapshot(folder) == before


def process_children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; whether its new parent reaps it is not ours


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_killed_joblib_sweep_takes_its_workers_with_it(tmp_path):
    sweep = tmp_path / "sweep"
    launcher = xaibench_process(
        "-m", "debug=fast", "threads=1", "seed=0,1,2,3", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", "sweep_report=false", f"hydra.sweep.dir={sweep}",
        f"cache_dir={tmp_path / 'cache'}", cwd=ROOT, output=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not ((sweep / "0").exists() and (sweep / "1").exists()):  # both workers run a job
        assert time.monotonic() < deadline and launcher.poll() is None
        time.sleep(0.2)
    time.sleep(1)
    workers = process_children(launcher.pid)
    assert len(workers) >= 2
    launcher.kill()
    launcher.wait()
    killed = time.monotonic()
    while any(running(pid) for pid in workers) and time.monotonic() - killed < 10:
        time.sleep(0.2)
    assert [pid for pid in workers if running(pid)] == [], "workers outlived their launcher"


def test_a_run_in_which_every_method_failed_exits_1_and_its_folder_is_marked_failed(tmp_path):
    folder, cache = tmp_path / "run", tmp_path / "cache"
    failed = xaibench_cli("debug=fast", "method=[gradcam]", "method.gradcam.layer=no.such",
                          f"hydra.run.dir={folder}", cache=cache)  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.strip().count("\n") == 0, failed.stderr
    assert "every method failed" in failed.stderr and "marked failed" in failed.stderr
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "failed: every method failed"
    assert "Run failed: every method failed" in (folder / "summary.md").read_text()
    # Not complete: the next run into the folder, here of a fixed config, replaces it.
    fixed = xaibench_cli("debug=fast", "method=[saliency]", f"hydra.run.dir={folder}", cache=cache)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((folder / "meta.json").read_text())["status"] == "complete"
    assert set(pd.read_parquet(folder / "scores.parquet")["method"]) == {"saliency"}
