"""Statistics of a leaderboard: paired bootstrap intervals, rank tests, agreement of rankings.

Every function takes a *block matrix* of one metric: rows are blocks (one test sample explained
on one trained model, indexed by (model_key, sample)), columns are methods, values are scores.
Pairing methods on blocks is what makes differences between methods testable with few samples.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from xaibench.report.load import BLOCK, UNIT
from xaibench.report.settings import CONFIDENCE, RESAMPLES


def block_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """One metric's scores as blocks x methods (NaN where a method has no finite score)."""
    return scores.pivot_table(
        index=BLOCK, columns="method", values="value", aggfunc="first", dropna=False, sort=False
    )


def oriented(matrix: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Scores turned so that higher is better, for ranks and one-sided tests."""
    return matrix if higher_is_better else -matrix


# --- Confidence intervals of the mean -------------------------------------------------------


def mean_intervals(
    matrix: pd.DataFrame,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
    across_models: str = "t",
) -> pd.DataFrame:
    """Per method: the mean and its confidence interval.

    The mean is the mean over models of each model's mean over its samples (NaNs left out).
    One trained model: a paired bootstrap of the samples (the same resample for every method),
    scipy's BCa interval, as in each run's summary. Several trained models (model seeds):
    `across_models="t"` (default) is Student's t interval over the per-model means, k - 1
    degrees of freedom; `"bootstrap"` the two-stage bootstrap of `two_stage_bootstrap`. Each
    model mean already carries its samples' noise, so the t interval covers both sources; in
    simulation it holds its nominal rate with 3 models, where the bootstrap does not (too few
    models to resample; see scripts/interval_coverage.py and the README).
    """
    units = matrix.index.get_level_values(UNIT)
    per_unit = [matrix[units == u].to_numpy(float) for u in units.unique()]
    with warnings.catch_warnings():  # a method without any finite score has a NaN mean
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean([np.nanmean(v, axis=0) for v in per_unit], axis=0)
    if len(per_unit) == 1:
        low, high = _bca(per_unit[0], confidence, resamples, seed)
    elif across_models == "t":
        low, high = _t_interval(per_unit, confidence)
    else:
        draws = two_stage_bootstrap(per_unit, resamples, seed)
        tail = 100 * (1 - confidence) / 2
        low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return pd.DataFrame({"mean": means, "ci_low": low, "ci_high": high}, index=matrix.columns)


def _t_interval(per_unit: list[np.ndarray], confidence: float):
    """scipy's Student t interval of the mean of the per-model means, for each method."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # models without a score: NaN means
        model_means = np.array([np.nanmean(v, axis=0) for v in per_unit])  # (models, methods)
    low, high = np.full(model_means.shape[1], np.nan), np.full(model_means.shape[1], np.nan)
    for j, column in enumerate(model_means.T):
        column = column[np.isfinite(column)]
        if len(column) < 2:
            continue
        spread = column.std(ddof=1) / np.sqrt(len(column))
        if spread == 0:  # identical models: a zero-width interval (scipy would return NaN)
            low[j] = high[j] = column[0]
            continue
        low[j], high[j] = stats.t.interval(confidence, len(column) - 1, column.mean(), spread)
    return low, high


# The most values one batch of bootstrap (or jackknife) resamples holds: scipy makes arrays of
# batch x the data's size, so a fixed batch makes memory grow with the number of samples.
BOOTSTRAP_VALUES = 8_000_000  # 64 MB of float64 per array


def bootstrap_batch(size: int) -> int:
    """Resamples per batch for data of `size` values: 1000 (scipy's draws, and so the intervals,
    depend on the batch: kept at 1000 for every data set up to 8000 values, such as 500 samples
    x 16 methods), fewer for larger data, so that a batch holds at most BOOTSTRAP_VALUES."""
    return max(1, min(1000, BOOTSTRAP_VALUES // max(1, size)))


def _bca(values: np.ndarray, confidence: float, resamples: int, seed: int):
    """scipy's BCa interval of each column's mean, rows resampled together (paired).

    Columns with fewer than two finite values get NaN; constant columns a zero-width interval
    (their bootstrap distribution is degenerate, where BCa is undefined).
    """
    counts = np.isfinite(values).sum(axis=0)
    with warnings.catch_warnings():  # all-NaN columns: NaN extremes, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        top, bottom = np.nanmax(values, axis=0), np.nanmin(values, axis=0)
    low, high = np.full(len(counts), np.nan), np.full(len(counts), np.nan)
    constant = (counts >= 2) & (top == bottom)
    low[constant] = high[constant] = top[constant]
    varied = (counts >= 2) & (top > bottom)
    if varied.any():
        # All-NaN resamples of sparse columns give NaN, as they should.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.bootstrap(
                (values[:, varied],),
                lambda x, axis: np.nanmean(x, axis=axis),
                axis=0,
                vectorized=True,
                paired=False,  # one data array: its rows are resampled together
                confidence_level=confidence,
                n_resamples=resamples,
                batch=bootstrap_batch(values[:, varied].size),
                method="BCa",
                rng=np.random.default_rng(seed),
            )
        low[varied] = result.confidence_interval.low
        high[varied] = result.confidence_interval.high
    return low, high


def two_stage_bootstrap(per_unit: list[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution (resamples, methods) of the mean over models of per-model means.

    Each resample draws as many models as there are, with replacement (the variation between
    training seeds), then, independently for each drawn model, its samples with replacement
    (the variation between test samples); the same sample indices serve every method (paired).
    scipy's bootstrap has no hierarchical form, hence this one, written by hand.
    """
    rng = np.random.default_rng(seed)
    k = len(per_unit)
    picks = rng.integers(k, size=(resamples, k))
    total = np.zeros((resamples, per_unit[0].shape[1]))
    for slot in range(k):
        for unit, values in enumerate(per_unit):
            rows = np.flatnonzero(picks[:, slot] == unit)
            for chunk in np.array_split(rows, max(1, len(rows) // 500)):
                draw = rng.integers(len(values), size=(len(chunk), len(values)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws stay NaN
                    total[chunk] += np.nanmean(values[draw], axis=1)
    return total / k


# --- Tests ----------------------------------------------------------------------------------


def complete_blocks(matrix: pd.DataFrame) -> pd.DataFrame:
    """Blocks where every method has a finite score (rank tests need complete blocks)."""
    return matrix[np.isfinite(matrix.to_numpy(float)).all(axis=1)]


def friedman(matrix: pd.DataFrame) -> tuple[float, float]:
    """Friedman's chi-square and p-value across methods; NaN for fewer than 3 methods."""
    complete = complete_blocks(matrix)
    if complete.shape[1] < 3 or len(complete) < 2:
        return float("nan"), float("nan")
    values = complete.to_numpy(float)
    if (values == values[:, :1]).all():  # every block ties every method: no evidence at all
        return 0.0, 1.0
    result = stats.friedmanchisquare(*values.T)
    return float(result.statistic), float(result.pvalue)


def mean_block_ranks(matrix: pd.DataFrame, higher_is_better: bool) -> pd.Series:
    """Each method's rank within each complete block (1 = best, ties averaged), averaged."""
    return oriented(complete_blocks(matrix), higher_is_better).rank(axis=1, ascending=False).mean()


def wilcoxon_p(
    a: np.ndarray,
    b: np.ndarray,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> float:
    """Paired Wilcoxon signed-rank p-value of a - b (scipy); 1 when a and b never differ.

    Zero differences are dropped (Wilcoxon's original treatment, scipy's default).
    """
    keep = np.isfinite(a) & np.isfinite(b)
    differences = a[keep] - b[keep]
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences, alternative=alternative).pvalue)


def signed_rank_sum(a: np.ndarray, b: np.ndarray) -> float:
    """W+ - W- of the paired differences a - b: positive when a tends to lie above b (the
    direction a Wilcoxon signed-rank test reacts to, which can differ from the means')."""
    keep = np.isfinite(a) & np.isfinite(b)
    differences = a[keep] - b[keep]
    differences = differences[differences != 0]
    return float((np.sign(differences) * stats.rankdata(np.abs(differences))).sum())


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: reject where the adjusted p < alpha.

    Sorted ascending, the i-th smallest of m p-values is multiplied by m - i (i from 0), and
    the adjusted values are made non-decreasing in that order and capped at 1. scipy has no
    Holm correction (statsmodels does, but its `multipletests` runs a full garbage collection
    on every call, about a second each in a process that holds torch), hence these lines.
    """
    pvalues = np.asarray(pvalues, dtype=float)
    order = np.argsort(pvalues)
    scaled = (len(pvalues) - np.arange(len(pvalues))) * pvalues[order]
    adjusted = np.empty_like(pvalues)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def pairwise_wilcoxon(matrix: pd.DataFrame) -> pd.DataFrame:
    """Methods x methods Holm-adjusted p-values of two-sided paired Wilcoxon tests.

    The family is every pair of methods of the metric; the diagonal is 1.
    """
    methods = list(matrix.columns)
    pairs = [(i, j) for i in range(len(methods)) for j in range(i + 1, len(methods))]
    values = matrix.to_numpy(float)
    adjusted = holm([wilcoxon_p(values[:, i], values[:, j]) for i, j in pairs])
    table = np.ones((len(methods), len(methods)))
    for (i, j), p in zip(pairs, adjusted, strict=True):
        table[i, j] = table[j, i] = p
    return pd.DataFrame(table, index=methods, columns=methods)


def versus_control(matrix: pd.DataFrame, control: str, higher_is_better: bool) -> pd.Series:
    """Per method: Holm-adjusted p-value of the one-sided test "method beats the control".

    The family is every method against the control; the control itself is left out.
    """
    turned = oriented(matrix, higher_is_better).to_numpy(float)
    c = list(matrix.columns).index(control)
    others = [m for m in matrix.columns if m != control]
    raw = [
        wilcoxon_p(turned[:, list(matrix.columns).index(m)], turned[:, c], alternative="greater")
        for m in others
    ]
    return pd.Series(holm(raw), index=others, dtype=float)


# --- Agreement between metrics --------------------------------------------------------------


def kendall_agreement(signed_means: pd.DataFrame) -> pd.DataFrame:
    """Metrics x metrics Kendall's tau-b between the method rankings of each pair of metrics.

    `signed_means` is methods x metrics with every metric turned so that higher is better, so
    tau = 1 means two metrics rank the methods identically and -1 means in reverse order.
    Methods missing from either metric are left out of that pair.
    """
    metrics = list(signed_means.columns)
    tau = pd.DataFrame(np.eye(len(metrics)), index=metrics, columns=metrics)
    for i, a in enumerate(metrics):
        for b in metrics[i + 1 :]:
            both = signed_means[[a, b]].dropna()
            value = stats.kendalltau(both[a], both[b]).statistic if len(both) > 1 else np.nan
            tau.loc[a, b] = tau.loc[b, a] = value
    return tau
