"""Reading runs and sweeps, the leaderboard over model seeds and its tables. The command line's
errors are tested in tests/e2e/test_report_cli.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import (
    MEANS,
    synthetic_scores,
    write_synthetic_run,
    write_synthetic_sweep,
)
from xaibench.registry import XaibenchError
from xaibench.report.leaderboard import build_leaderboard, group_result
from xaibench.report.load import load_runs
from xaibench.report.settings import ReportSettings
from xaibench.report.summary import control_failures, control_sentence, summarize
from xaibench.report.tables import leaderboard_latex, leaderboard_markdown
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS

FAST = ReportSettings(resamples=300)


@pytest.fixture
def sweep(tmp_path) -> Path:
    return write_synthetic_sweep(tmp_path / "sweep", MEANS, samples=40)


def test_sweeps_and_runs_are_found_recursively_and_grouped(sweep, tmp_path):
    single = write_synthetic_run(
        tmp_path / "more" / "single", synthetic_scores(MEANS, seed=5, dataset="other")
    )
    runs = load_runs([sweep, sweep / "1", single.parent])  # job 1 twice: read once
    assert len(runs.metas) == 4
    assert len(runs.sweeps) == 1
    groups = build_leaderboard(runs, FAST)
    assert sorted((g.title, len(g.models), g.seeds) for g in groups) == [
        ("mnist1d / cnn", 3, [0, 1, 2]),
        ("other / cnn", 1, [5]),
    ]


def test_the_same_scores_from_two_folders_are_refused(sweep, tmp_path):
    shutil.copytree(sweep / "0", tmp_path / "copy")
    with pytest.raises(XaibenchError, match="pass only one of them"):
        load_runs([sweep, tmp_path / "copy"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(XaibenchError, match="no runs found"):
        load_runs([tmp_path / "empty"])


def test_a_failed_run_without_scores_is_left_out(sweep, tmp_path):
    failed = sweep / "3"  # every method failed: empty tables, as a run writes them
    failed.mkdir()
    pd.DataFrame(columns=SCORE_COLUMNS).to_parquet(failed / "scores.parquet")
    pd.DataFrame(columns=CURVE_COLUMNS).to_parquet(failed / "curves.parquet")
    runs = load_runs([sweep])
    assert len(runs.metas) == 3
    assert pd.api.types.is_float_dtype(runs.curves["x"])  # what the curve plots draw
    with pytest.raises(XaibenchError, match="every run failed"):
        load_runs([failed])


def test_variants_of_one_method_get_labels_naming_the_setting(tmp_path):
    """Two `steps` of one method on one model are variants; `seed`, which follows the run seed
    across models, and the memory knob `batch_size` are not."""
    for folder, seed, steps in [("a", 0, 16), ("b", 0, 64), ("c", 1, 16)]:
        scores = synthetic_scores({"deletion": {"ig": 0.1, "random": 0.5}}, seed=seed)
        scores["method_params"] = scores["method"].map(
            {"ig": f'{{"batch_size": {64 * steps}, "steps": {steps}}}',
             "random": f'{{"seed": {seed}}}'}
        )  # fmt: skip
        scores = scores[(scores["method"] == "ig") | (folder != "b")]
        write_synthetic_run(tmp_path / folder, scores, curves=False)
    scores = load_runs([tmp_path]).scores
    assert scores.groupby("method")["seed"].unique().map(list).to_dict() == {
        "ig[steps=16]": [0, 1],
        "ig[steps=64]": [0],
        "random": [0, 1],
    }


def test_leaderboard_over_model_seeds(sweep):
    [group] = build_leaderboard(load_runs([sweep]), FAST)
    table = group.table.set_index(["metric", "method"])
    assert (table["models"] == 3).all() and (table["n"] == 120).all()
    assert (table["ci_low"] < table["mean"]).all() and (table["mean"] < table["ci_high"]).all()
    deletion = table.loc["deletion"]
    assert set(deletion.loc[["good", "close"], "rank"]) == {1, 2}
    assert set(deletion.loc[["bad", "random"], "rank"]) == {3, 4}
    second = deletion.loc[["good", "close"], "rank"].idxmax()
    assert deletion.loc[second, "tied_with_best"]  # 0.002 apart: not significantly worse
    assert not deletion.loc["bad", "tied_with_best"]
    assert deletion["beats_control"].dropna().to_dict() == {
        "good": True,
        "close": True,
        "bad": False,
    }
    assert pd.isna(deletion.loc["random", "beats_control"])
    assert group.tests["deletion"].friedman_p < 1e-6
    assert table.loc[("insertion", "close"), "rank"] == 2
    assert table.loc[("insertion", "close"), "tied_with_best"] == False  # noqa: E712
    mean_rank = group.table.drop_duplicates("method").set_index("method")["mean_rank"]
    assert mean_rank["good"] < mean_rank["bad"] and mean_rank["close"] < mean_rank["bad"]
    # Deletion (lower is better) and insertion rank the methods alike up to near-ties: tau is
    # positive only if each metric's direction is taken into account.
    assert group.agreement.loc["deletion", "insertion"] > 0


def test_localisation_agreement_pairs_faithfulness_with_ground_truth_metrics():
    scores = synthetic_scores(MEANS, seed=0)
    both = group_result(
        ("d", "m"), scores, {"deletion": "faithfulness", "insertion": "localisation"}, FAST
    )
    agreement = both.localisation_agreement()
    assert list(agreement.index) == ["deletion"] and list(agreement.columns) == ["insertion"]
    only = group_result(
        ("d", "m"), scores, {"deletion": "faithfulness", "insertion": "faithfulness"}, FAST
    )
    assert only.localisation_agreement().empty


def test_markdown_and_latex_tables(sweep):
    groups = build_leaderboard(load_runs([sweep]), FAST)
    text = leaderboard_markdown(groups, FAST)
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in text.splitlines()
            if line.startswith("| ")}  # fmt: skip
    deletion_cells = rows["good"][0] + rows["close"][0]
    assert deletion_cells.count("**") == 2 and deletion_cells.count("†") == 1  # best, tied
    assert rows["good"][1].startswith(" **0.9") and "†" not in rows["close"][1]
    assert "| Friedman p" in text and "deletion ↓" in text and "insertion ↑" in text
    assert "fail to beat `random` significantly" in text and "deletion: bad" in text
    tex = leaderboard_latex(groups, FAST)
    assert all(rule in tex for rule in [r"\toprule", r"\midrule", r"\bottomrule"])
    assert r"\textbf{" in tex and r"\textsuperscript{\dag}" in tex
    assert r"deletion $\downarrow$" in tex and r"mnist1d / cnn" in tex
    assert "95\\%" in tex and "_" not in tex.replace(r"\_", "")


def test_one_model_intervals_are_the_run_summary_intervals(tmp_path):
    scores = synthetic_scores(MEANS, seed=3)
    write_synthetic_run(tmp_path / "run", scores, curves=False)
    [group] = build_leaderboard(load_runs([tmp_path]), ReportSettings(resamples=9999, seed=3))
    summary = summarize(scores, seed=3).set_index(["metric", "method"])
    board = group.table.set_index(["metric", "method"]).loc[summary.index]
    for column in ["mean", "ci_low", "ci_high", "n"]:
        np.testing.assert_allclose(board[column].astype(float), summary[column].astype(float))


def test_single_run_summary_line_names_methods_that_fail_to_beat_random():
    means = {
        "deletion": {"good": 0.1, "bad": 0.7, "random": 0.6},
        "insertion": {"good": 0.9, "bad": 0.2, "random": 0.3},
    }
    scores = synthetic_scores(means, seed=0)
    failing = control_failures(scores)
    assert failing == {"deletion": ["bad"], "insertion": ["bad"]}
    assert control_sentence(failing).endswith("deletion: bad; insertion: bad.")
    good_only = scores[scores["method"] != "bad"]
    assert control_sentence(control_failures(good_only)).startswith("Every method beats")
    assert control_failures(scores[scores["method"] != "random"]) == {}
