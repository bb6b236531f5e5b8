"""One evaluation over 3 jobs on the joblib launcher: one model trained for all of them, and the
sweep's own report is the leaderboard of the same evaluation run as one job, cell for cell; the
report refuses an evaluation with a shard missing or given twice, in one line (its exit code
2 is that of every refused report: tests/e2e/test_report_cli.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import ROOT, xaibench_cli
from xaibench.registry import XaibenchError
from xaibench.report.load import load_runs

pytestmark = pytest.mark.e2e

# Small: the random control (its noise drawn per batch) and the methods and metrics that subtract
# outputs (tests/test_shards.py runs them all); 48 inputs, 16 per shard: a forward pass of fewer
# than 16 rows rounds differently on the CPU (see there).
STUDY = ("debug=fast", "threads=1", "samples=48", "method=[saliency,integrated_gradients,random]",
         "metric=[deletion,sensitivity_n,infidelity]")  # fmt: skip


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xaibench.report", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """(the sweep folder of 3 shards on joblib, the folder of the same evaluation as one job)."""
    base = tmp_path_factory.mktemp("shards")
    sweep, one = base / "sweep", base / "one"
    done = xaibench_cli("-m", *STUDY, "shard=0,1,2", "shards=3", "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
                        cache=base / "cache")  # fmt: skip
    assert done.returncode == 0, done.stderr
    single = xaibench_cli(*STUDY, f"hydra.run.dir={one}", cache=base / "cache")
    assert single.returncode == 0, single.stderr
    made = report(str(one))  # the report settings a sweep's own report uses
    assert made.returncode == 0, made.stderr
    return sweep, one


def test_the_shards_share_one_model_trained_once(sharded):
    sweep, one = sharded
    metas = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/meta.json"))]
    assert sorted(m["explained"]["shard"]["shard"] for m in metas) == [0, 1, 2]
    # Two jobs started together; the lock on the cache entry made one wait and load it.
    assert sorted(m["model"]["cached"] for m in metas) == [False, True, True]
    whole = json.loads((one / "meta.json").read_text())
    assert {m["model"]["key"] for m in metas} == {whole["model"]["key"]}
    indices = sorted(i for m in metas for i in m["explained"]["indices"])
    assert indices == whole["explained"]["indices"]


def test_the_sweep_report_of_three_shards_is_the_leaderboard_of_one_job(sharded):
    sweep, one = sharded
    merged = pd.read_parquet(sweep / "report" / "leaderboard.parquet")
    single = pd.read_parquet(one / "report" / "leaderboard.parquet")
    assert list(merged.columns) == list(single.columns) and len(merged) == len(single) == 3 * 3
    assert (merged["models"] == 1).all() and (merged["n"] + merged["n_nan"] == 48).all()
    for column in merged.columns:  # every cell: means, intervals and p-values too
        assert merged[column].astype(object).equals(single[column].astype(object)), column


def test_a_missing_or_repeated_shard_is_named_and_the_report_refused(sharded, tmp_path):
    sweep, _ = sharded
    with pytest.raises(XaibenchError) as missing:
        load_runs([sweep / "0", sweep / "2"])
    assert str(missing.value) == (
        f"shard 1 of 3 is missing (the evaluation of {sweep / '0'}, {sweep / '2'}; a failed "
        "shard has no scores): run it with shard=1 shards=3 and the same settings, and pass "
        "every shard"
    )
    copy = tmp_path / "copy"
    shutil.copytree(sweep / "1", copy)
    with pytest.raises(XaibenchError) as twice:
        load_runs([sweep, copy])
    assert str(twice.value) == (
        f"shard 1 of 3 is in both {sweep / '1'} and {copy}; pass only one of them"
    )
