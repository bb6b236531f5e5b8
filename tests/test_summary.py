"""Summaries: means, bootstrap intervals, direction-aware ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.report.summary import mean_ci, summarize, summary_markdown


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


def test_bootstrap_interval_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    trials = 200
    hits = 0
    for trial in range(trials):
        low, high = mean_ci(rng.normal(1.0, 2.0, size=60), resamples=2000, seed=trial)
        hits += low <= 1.0 <= high
    assert 0.88 <= hits / trials <= 0.99


def test_interval_is_deterministic_and_degenerate_cases_are_handled():
    values = np.random.default_rng(1).normal(size=50)
    assert mean_ci(values, seed=3) == mean_ci(values, seed=3)
    assert mean_ci(np.full(5, 0.25)) == (0.25, 0.25)
    assert all(np.isnan(mean_ci(np.array([1.0]))))


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
