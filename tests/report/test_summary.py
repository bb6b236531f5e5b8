"""Summaries: means, bootstrap intervals, direction-aware ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.report.run_summary import stage_table
from xaibench.report.stats import block_matrix, mean_intervals
from xaibench.report.summary import summarize, summary_markdown


def _scores(values: dict[tuple[str, str], list[float]], higher: dict[str, bool]) -> pd.DataFrame:
    rows = [
        {"method": m, "metric": k, "sample": i, "value": v, "higher_is_better": higher[k]}
        for (m, k), vs in values.items()
        for i, v in enumerate(vs)
    ]
    return pd.DataFrame(rows)


def test_summary_counts_nans_and_ranks_by_direction():
    scores = _scores(
        {
            ("a", "deletion"): [0.1, 0.2, np.nan],
            ("b", "deletion"): [0.3, 0.5, 0.4],
            ("a", "insertion"): [0.1, 0.2, 0.3],
            ("b", "insertion"): [0.7, 0.8, 0.9],
        },
        {"deletion": False, "insertion": True},
    )
    summary = summarize(scores).set_index(["method", "metric"])
    assert summary.loc[("a", "deletion"), "mean"] == pytest.approx(0.15)
    assert summary.loc[("a", "deletion"), "n"] == 2
    assert summary.loc[("a", "deletion"), "n_nan"] == 1
    assert summary.loc[("a", "deletion"), "rank"] == 1  # lower is better
    assert summary.loc[("b", "insertion"), "rank"] == 1  # higher is better
    assert summary.loc[("b", "deletion"), "std"] == pytest.approx(0.1)


def test_the_summary_is_the_one_run_leaderboard():
    """One interval implementation: the summary's intervals are the leaderboard's (whose
    coverage and degenerate cases tests/report/test_stats.py checks)."""
    rng = np.random.default_rng(0)
    scores = _scores(
        {("a", "deletion"): list(rng.normal(0.2, 0.1, 30)),
         ("b", "deletion"): [*rng.normal(0.4, 0.1, 29), np.nan]},
        {"deletion": False},
    )  # fmt: skip
    scores["model_key"] = "m"
    matrix = block_matrix(scores)
    expected = mean_intervals(matrix, seed=5)
    summary = summarize(scores, seed=5).set_index("method")
    for column in ("mean", "ci_low", "ci_high"):
        assert summary[column].to_dict() == expected[column].to_dict()


def test_markdown_table_has_methods_as_rows_and_directions_in_headers():
    scores = _scores(
        {("a", "deletion"): [0.1, 0.2], ("b", "deletion"): [0.3, 0.4]}, {"deletion": False}
    )
    text = summary_markdown(summarize(scores))
    assert "deletion ↓" in text
    lines = text.splitlines()
    assert lines[2].startswith("| a") and "**0.150**" in lines[2]
    assert lines[3].startswith("| b") and "**" not in lines[3]


def test_markdown_names_methods_without_a_finite_score():
    # Grad-CAM's map can be constant for every sample after randomisation: Spearman is then
    # undefined for all of them, the mean is NaN and the rank missing (pd.NA).
    scores = _scores(
        {("a", "similarity"): [0.1, 0.3], ("b", "similarity"): [np.nan, np.nan]},
        {"similarity": False},
    )
    summary = summarize(scores)
    assert summary.set_index("method").loc["b", "rank"] is pd.NA
    lines = summary_markdown(summary).splitlines()
    assert lines[2].startswith("| a") and "**0.200**" in lines[2]
    assert lines[3].startswith("| b") and "undefined (n_nan = 2)" in lines[3]


def test_the_stage_table_shows_backwards_and_reused_and_na_for_older_runs():
    """Every stage's counts in one table; a run folder from before `backwards` and `reused`
    were recorded shows <NA> there rather than a made-up zero."""
    stages = {
        "explain/saliency": {"seconds": 0.1, "samples": 4, "forwards": 5, "backwards": 4,
                             "reused": 0, "cached": False},
        "evaluate/local_lipschitz": {"seconds": 0.0, "samples": 4, "forwards": 1,
                                     "backwards": 0, "reused": 40, "cached": False},
    }  # fmt: skip
    lines = stage_table(stages).splitlines()
    header = [cell.strip() for cell in lines[0].split("|")[1:-1]]
    assert header == ["stage", "samples", "forwards", "backwards", "reused", "seconds", "cached"]
    row = [cell.strip() for cell in lines[3].split("|")[1:-1]]
    assert row == ["evaluate/local_lipschitz", "4", "1", "0", "40", "0", "False"]
    old = {"explain/saliency": {"seconds": 0.1, "samples": 4, "forwards": 5, "cached": True}}
    row = [cell.strip() for cell in stage_table(old).splitlines()[2].split("|")[1:-1]]
    assert row == ["explain/saliency", "4", "5", "<NA>", "<NA>", "0.1", "True"]
