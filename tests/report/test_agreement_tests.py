"""Kendall's tau between metrics' method rankings, with its test and bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.helpers import synthetic_scores
from xaibench.report.agreement_tests import (
    AGREEMENT_TEST_COLUMNS,
    agreement_tests,
    bootstrap_means,
    cross_category_markdown,
    tau_b,
)
from xaibench.report.settings import ReportSettings

FAST = ReportSettings(resamples=400)
CATEGORIES = {"deletion": "faithfulness", "insertion": "localisation", "noise": "faithfulness"}


def test_tau_b_matches_scipy_with_and_without_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 4, size=(2, 9)).astype(float)  # many ties
        assert tau_b(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
    a, b = rng.normal(size=(2, 50, 7))
    expected = [stats.kendalltau(x, y).statistic for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(tau_b(a, b), expected, atol=1e-12)  # broadcast over rows
    assert np.isnan(tau_b(np.ones(5), np.arange(5.0)))  # one ranking all ties: undefined


def test_bootstrap_means_average_models_not_rows():
    """Model A has 3 samples all scoring 1, model B 7 samples all scoring 3: every resample's
    mean is the mean of the two model means, 2 (not the row mean 2.4); NaNs are left out."""
    values = np.array([[1.0, 5.0]] * 3 + [[3.0, np.nan]] * 7)
    units = np.array(["a"] * 3 + ["b"] * 7)
    draws = bootstrap_means(values, units, 50, np.random.default_rng(0))
    assert draws.shape == (50, 2)
    np.testing.assert_allclose(draws[:, 0], 2.0)
    np.testing.assert_allclose(draws[:, 1], 5.0)


def scores_with(metric_values: dict[str, pd.Series]) -> pd.DataFrame:
    base = synthetic_scores({"deletion": {"m": 0.0}}, samples=1)
    rows = [
        base.assign(metric=metric, method=method, sample=sample, value=value,
                    higher_is_better=metric != "deletion")
        for metric, series in metric_values.items()
        for (method, sample), value in series.items()
    ]  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_a_mirrored_metric_agrees_perfectly_and_noise_does_not():
    """Deletion (lower is better) holding exactly minus insertion's scores ranks methods the same
    way: tau 1 with a zero-width interval. A metric of pure noise (methods share one mean) gets
    an interval that covers 0 and contains its own tau."""
    rng = np.random.default_rng(1)
    methods, samples = [f"m{i}" for i in range(6)], 60
    index = pd.MultiIndex.from_product([methods, range(samples)])
    quality = np.repeat(np.arange(6.0), samples) + rng.normal(0, 0.5, 6 * samples)
    insertion = pd.Series(quality, index=index)
    noise = pd.Series(rng.normal(0, 1, 6 * samples), index=index)
    scores = scores_with({"deletion": -insertion, "insertion": insertion, "noise": noise})
    table = agreement_tests(scores, CATEGORIES, FAST).set_index(["metric_a", "metric_b"])
    mirrored = table.loc[("deletion", "insertion")]
    assert mirrored["kendall_tau"] == pytest.approx(1)
    assert mirrored["ci_low"] == pytest.approx(1) and mirrored["ci_high"] == pytest.approx(1)
    assert mirrored["p_value"] == pytest.approx(stats.kendalltau(range(6), range(6)).pvalue)
    assert (mirrored["category_a"], mirrored["category_b"]) == ("faithfulness", "localisation")
    noisy = table.loc[("insertion", "noise")]
    assert noisy["ci_low"] < 0 < noisy["ci_high"]
    assert noisy["ci_low"] <= noisy["kendall_tau"] <= noisy["ci_high"]
    assert noisy["methods"] == 6


def test_separated_methods_give_a_narrow_interval_and_close_ones_a_wide_one():
    rng = np.random.default_rng(2)
    index = pd.MultiIndex.from_product([["a", "b", "c", "d"], range(80)])

    def metric(means, spread):
        return pd.Series(np.repeat(means, 80) + rng.normal(0, spread, 320), index=index)

    scores = scores_with({
        "insertion": metric([0.0, 1.0, 2.0, 3.0], 0.3),
        "noise": metric([0.0, 1.0, 2.0, 3.0], 0.3),
        "deletion": metric([0.0, 0.01, 0.02, 0.03], 1.0),  # close means: ranking is noise
    })  # fmt: skip
    table = agreement_tests(scores, CATEGORIES, FAST).set_index(["metric_a", "metric_b"])
    sure = table.loc[("insertion", "noise")]
    assert sure["kendall_tau"] == pytest.approx(1) and sure["ci_low"] == pytest.approx(1)
    unsure = table.loc[("insertion", "deletion")]
    assert unsure["ci_high"] - unsure["ci_low"] > 1


def test_cross_category_table_orients_pairs_and_marks_intervals_excluding_zero():
    tested = pd.DataFrame(
        [["d", "m", "pointing_game", "deletion", "localisation", "faithfulness", 5, 0.6, 0.01,
          0.2, 0.9],
         ["d", "m", "deletion", "insertion", "faithfulness", "faithfulness", 5, 0.1, 0.5,
          -0.3, 0.5],
         ["d", "m", "insertion", "pointing_game", "faithfulness", "localisation", 5, -0.2, 0.7,
          -0.6, 0.3],
         ["e", "m", "deletion", "insertion", "faithfulness", "faithfulness", 5, 0.1, 0.5,
          -0.3, 0.5]],
        columns=AGREEMENT_TEST_COLUMNS,
    )  # fmt: skip
    text = cross_category_markdown(tested)
    lines = [line.split("|") for line in text.splitlines() if line.startswith("| ")]
    rows = {cells[1].strip(): cells[2].strip() for cells in lines[1:]}  # after the header
    assert rows == {"deletion": "**0.60 [0.20, 0.90]**", "insertion": "-0.20 [-0.60, 0.30]"}
    assert "## e / m\n\nNo pair of a faithfulness and a localisation metric." in text


def test_renaming_the_models_keys_does_not_change_the_intervals():
    """Cache keys are hashes that change with the code: the bootstrap follows the order in
    which the runs hold their models, not the keys' alphabetical order."""
    close = {f"m{i}": 0.02 * i for i in range(12)}  # fine steps of tau: the draws show
    means = {"deletion": close, "insertion": {m: 0.3 - v for m, v in close.items()}}
    scores = pd.concat(
        [synthetic_scores(means, seed=s, samples=8, noise=0.2, model_spread=0.2)
         .assign(model_key=key) for s, key in enumerate(["k1", "k2", "k3"])],
        ignore_index=True,
    )  # fmt: skip
    renamed = scores.assign(model_key=scores["model_key"].map({"k1": "z", "k2": "m", "k3": "a"}))
    pd.testing.assert_frame_equal(
        agreement_tests(scores, CATEGORIES, FAST), agreement_tests(renamed, CATEGORIES, FAST)
    )
