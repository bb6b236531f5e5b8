"""Leaderboard statistics against hand-computed cases, closed forms and simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.report import stats
from xaibench.report.leaderboard import metric_rows
from xaibench.report.settings import ReportSettings


def blocks(columns: dict[str, np.ndarray], models: int = 1) -> pd.DataFrame:
    """A block matrix: rows (model_key, sample), split evenly over `models` models."""
    n = len(next(iter(columns.values())))
    index = pd.MultiIndex.from_tuples(
        [(f"key{i * models // n}", i) for i in range(n)], names=stats.BLOCK
    )
    return pd.DataFrame(columns, index=index)


def shifted(means: dict[str, float], samples: int, seed: int) -> pd.DataFrame:
    """Each method's mean plus a per-sample difficulty shared by all methods, plus noise."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 0.3, samples)
    return blocks({m: mu + difficulty + rng.normal(0, 0.05, samples) for m, mu in means.items()})


def test_holm_matches_a_hand_worked_example():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
    # (adjusted p-values never decrease along the sorted order).
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1


def test_identical_methods_are_not_significant():
    values = np.random.default_rng(0).normal(size=50)
    matrix = blocks({"a": values, "b": values.copy(), "c": values.copy()})
    assert stats.wilcoxon_p(values, values) == 1.0
    assert (stats.pairwise_wilcoxon(matrix).to_numpy() == 1.0).all()
    assert stats.friedman(matrix) == (0.0, 1.0)
    rows, _ = metric_rows(matrix, True, ReportSettings(resamples=200))
    assert rows["rank"].tolist() == [1, 1, 1]  # exact ties share the best rank
    assert rows["best"].all()


def test_exchangeable_methods_keep_the_family_wise_error_near_alpha():
    """Methods with the same score distribution: Wilcoxon-Holm flags any pair rarely."""
    rng = np.random.default_rng(1)
    trials = 200
    false_alarms = 0
    for _ in range(trials):
        difficulty = rng.normal(0, 1, 40)[:, None]
        matrix = blocks(dict(zip("abc", (difficulty + rng.normal(0, 0.3, (40, 3))).T, strict=True)))
        false_alarms += (stats.pairwise_wilcoxon(matrix).to_numpy() < 0.05).any()
    assert false_alarms / trials <= 0.08


def test_a_clearly_better_method_is_significant_and_ranked_by_direction():
    matrix = shifted({"good": 0.1, "fair": 0.3, "random": 0.6}, samples=100, seed=2)
    # Deletion-like: lower is better.
    rows, tests = metric_rows(matrix, False, ReportSettings(resamples=500))
    rows = rows.set_index("method")
    assert rows["rank"].to_dict() == {"good": 1, "fair": 2, "random": 3}
    assert rows.loc["good", "best"] and not rows.loc["fair", "tied_with_best"]
    assert rows.loc["fair", "p_vs_best"] < 1e-6
    assert rows.loc[["good", "fair"], "beats_control"].all()
    assert tests.friedman_p < 1e-6
    assert tests.block_ranks["good"] < tests.block_ranks["fair"] < tests.block_ranks["random"]
    # The same scores read as higher-is-better reverse every rank and fail the control test.
    flipped, _ = metric_rows(matrix, True, ReportSettings(resamples=500))
    assert flipped.set_index("method")["rank"].to_dict() == {"good": 3, "fair": 2, "random": 1}
    assert not flipped.set_index("method").loc[["good", "fair"], "beats_control"].any()


def test_pairing_finds_a_small_consistent_difference_hidden_by_sample_variation():
    """b is a + 0.02 on every sample, while samples vary by 1: the intervals overlap, but the
    paired test sees the difference in every block."""
    a = np.random.default_rng(3).normal(0, 1, 60)
    matrix = blocks({"a": a, "b": a + 0.02 + np.random.default_rng(4).normal(0, 0.005, 60)})
    rows, _ = metric_rows(matrix, True, ReportSettings(resamples=500))
    rows = rows.set_index("method")
    assert rows.loc["a", "ci_high"] > rows.loc["b", "ci_low"]  # intervals overlap
    assert rows.loc["a", "p_vs_best"] < 1e-6


def test_single_model_interval_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(5)
    trials, hits = 200, 0
    for trial in range(trials):
        matrix = blocks({"a": rng.normal(1.0, 2.0, 60), "b": rng.exponential(1.0, 60)})
        ci = stats.mean_intervals(matrix, resamples=999, seed=trial)
        hits += ci.loc["a", "ci_low"] <= 1.0 <= ci.loc["a", "ci_high"]
        hits += ci.loc["b", "ci_low"] <= 1.0 <= ci.loc["b", "ci_high"]
    assert 0.90 <= hits / (2 * trials) <= 0.98


@pytest.mark.parametrize("between", [0.0, 0.2])
def test_interval_over_three_model_seeds_covers_the_true_mean_at_about_the_nominal_rate(
    between,
):
    """Model u scores N(offset_u, 0.2) on 50 samples, offset_u ~ N(0, between): the t interval
    over the 3 model means covers 0 about 95% of the time, whatever the between-model spread."""
    rng = np.random.default_rng(10)
    trials, hits = 400, 0
    for _ in range(trials):
        values = np.concatenate([rng.normal(rng.normal(0, between), 0.2, 50) for _ in range(3)])
        ci = stats.mean_intervals(blocks({"a": values}, models=3)).loc["a"]
        hits += ci["ci_low"] <= 0 <= ci["ci_high"]
    assert 0.92 <= hits / trials <= 0.98


def test_t_interval_over_model_means_matches_the_formula():
    means = np.array([0.1, 0.3, 0.2])
    values = np.repeat(means, 4) + np.tile([-0.01, 0.01, -0.02, 0.02], 3)
    ci = stats.mean_intervals(blocks({"a": values}, models=3), confidence=0.95).loc["a"]
    half = 4.302652729911275 * means.std(ddof=1) / np.sqrt(3)  # t(0.975, df=2)
    assert ci["mean"] == pytest.approx(0.2)
    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx((0.2 - half, 0.2 + half))


def test_two_stage_bootstrap_variance_matches_its_closed_form():
    """Drawing k models with replacement, then n_u samples within each, the mean of model means
    has variance (1/k) [mean_u (m_u - m)^2 + mean_u s_u^2 / n_u] (s_u^2 with ddof=0)."""
    rng = np.random.default_rng(6)
    per_unit = [rng.normal(mu, sd, (n, 1)) for mu, sd, n in [(0, 1, 30), (1, 2, 50), (3, 0.5, 20)]]
    draws = stats.two_stage_bootstrap(per_unit, resamples=20000, seed=0)[:, 0]
    means = np.array([v.mean() for v in per_unit])
    within = np.array([v.var() / len(v) for v in per_unit])
    expected = (np.mean((means - means.mean()) ** 2) + within.mean()) / len(per_unit)
    assert draws.var() == pytest.approx(expected, rel=0.05)
    assert draws.mean() == pytest.approx(means.mean(), abs=0.02)


def test_bootstrap_is_deterministic_and_handles_degenerate_columns():
    rng = np.random.default_rng(7)
    matrix = blocks(
        {"a": rng.normal(size=30), "flat": np.full(30, 0.25), "empty": np.full(30, np.nan)},
        models=1,
    )
    first = stats.mean_intervals(matrix, resamples=300, seed=1)
    pd.testing.assert_frame_equal(first, stats.mean_intervals(matrix, resamples=300, seed=1))
    assert tuple(first.loc["flat"]) == (0.25, 0.25, 0.25)
    assert first.loc["empty"].isna().all()
    three = blocks({"a": rng.normal(size=30)}, models=3)
    for across in ("t", "bootstrap"):
        pd.testing.assert_frame_equal(
            stats.mean_intervals(three, resamples=300, seed=1, across_models=across),
            stats.mean_intervals(three, resamples=300, seed=1, across_models=across),
        )


def test_mean_over_models_weights_each_model_equally():
    matrix = pd.DataFrame(
        {"a": [0.0, 0.0, 0.0, 1.0]},
        index=pd.MultiIndex.from_tuples(
            [("k0", 0), ("k0", 1), ("k0", 2), ("k1", 0)], names=stats.BLOCK
        ),
    )
    assert stats.mean_intervals(matrix, resamples=200).loc["a", "mean"] == pytest.approx(0.5)


def test_kendall_agreement_of_rankings():
    signed = pd.DataFrame(
        {"m1": [3.0, 2.0, 1.0], "m2": [30.0, 20.0, 10.0], "m3": [1.0, 2.0, 3.0]},
        index=["a", "b", "c"],
    )
    tau = stats.kendall_agreement(signed)
    assert tau.loc["m1", "m2"] == pytest.approx(1.0)
    assert tau.loc["m1", "m3"] == pytest.approx(-1.0)
    assert (np.diag(tau) == 1).all()


def test_a_method_better_on_most_samples_but_worse_on_average_is_flagged():
    """`spiky` wins the mean through a few huge scores; `steady` is higher on 54 of 60 samples:
    the rank test is significant in steady's favour, so steady is not merely "worse"."""
    rng = np.random.default_rng(8)
    spiky = rng.normal(0, 0.01, 60)
    spiky[:6] += 5.0
    matrix = blocks({"spiky": spiky, "steady": 0.1 + rng.normal(0, 0.01, 60)})
    rows, _ = metric_rows(matrix, True, ReportSettings(resamples=300))
    rows = rows.set_index("method")
    assert rows.loc["spiky", "best"] and rows.loc["steady", "p_vs_best"] < 1e-3
    assert rows.loc["steady", "beats_best_on_ranks"] and not rows.loc["steady", "tied_with_best"]
    assert stats.signed_rank_sum(matrix["steady"].to_numpy(), spiky) > 0
    assert not rows["beats_best_on_ranks"].loc["spiky"]


def test_a_method_without_scores_keeps_its_row_but_stays_out_of_the_tests():
    matrix = shifted({"a": 0.1, "b": 0.2, "c": 0.3, "empty": np.nan}, samples=40, seed=9)
    rows, tests = metric_rows(matrix, True, ReportSettings(resamples=200))
    rows = rows.set_index("method")
    assert pd.isna(rows.loc["empty", "rank"]) and not rows.loc["empty", "tied_with_best"]
    assert tests.blocks == 40 and tests.friedman_p < 1e-6
    assert list(tests.pairwise.columns) == ["a", "b", "c"]


def test_bootstrap_memory_is_bounded_for_many_samples_and_the_interval_unchanged_in_law(
    monkeypatch,
):
    """Above BOOTSTRAP_VALUES / 1000 values, fewer resamples per batch: scipy's largest arrays
    stay near the bound (traced), and the interval is the same up to resampling noise."""
    import tracemalloc

    values = np.random.default_rng(0).normal(0, 1, (4000, 2))
    matrix = blocks({"a": values[:, 0], "b": values[:, 1]})
    default = stats.mean_intervals(matrix, resamples=999, seed=1)
    assert stats.bootstrap_batch(values.size) == 1000  # 8000 values: scipy's default batch
    monkeypatch.setattr(stats, "BOOTSTRAP_VALUES", 80_000)  # batches of 10 resamples
    assert stats.bootstrap_batch(values.size) == 10
    tracemalloc.start()
    bounded = stats.mean_intervals(matrix, resamples=999, seed=1)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert traced_peak < 12 * 80_000 * 8  # a few arrays of the bound, not 1000 x 8000 values
    np.testing.assert_allclose(bounded.to_numpy(), default.to_numpy(), atol=0.01)
