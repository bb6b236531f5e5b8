"""Per method x metric summaries of a score table: mean, spread, bootstrap CI, rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from xaibench.report.settings import ALPHA, CONTROL
from xaibench.report.stats import block_matrix, versus_control
from xaibench.schema import SUMMARY_COLUMNS


def mean_ci(
    values: np.ndarray, confidence: float = 0.95, resamples: int = 9999, seed: int = 0
) -> tuple[float, float]:
    """BCa bootstrap confidence interval of the mean (scipy.stats.bootstrap).

    Fewer than two values give NaN; values that are all equal give a zero-width interval
    (the bootstrap distribution is degenerate and BCa is undefined there).
    """
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(
    scores: pd.DataFrame, by: tuple[str, ...] = ("method", "metric"), seed: int = 0
) -> pd.DataFrame:
    """One row per `by` group: mean, std, 95% CI, counts, direction and rank within the metric.

    Rank 1 is the best mean for the metric (highest or lowest, by the metric's direction).
    """
    rows = []
    for key, group in scores.groupby(list(by), sort=False):
        values = group["value"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        low, high = mean_ci(values, seed=seed)
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "mean": finite.mean() if len(finite) else float("nan"),
                "std": finite.std(ddof=1) if len(finite) > 1 else float("nan"),
                "ci_low": low,
                "ci_high": high,
                "n": len(finite),
                "n_nan": len(values) - len(finite),
                "higher_is_better": bool(group["higher_is_better"].iloc[0]),
            }
        )
    summary = pd.DataFrame(rows)
    if summary.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    signed = summary["mean"].where(summary["higher_is_better"], -summary["mean"])
    group_keys = [c for c in by if c != "method"]
    ranks = signed.groupby([summary[c] for c in group_keys]).rank(ascending=False, method="min")
    summary["rank"] = ranks.astype("Int64")  # NaN-safe integers
    columns = [c for c in SUMMARY_COLUMNS if c not in by]
    return summary[[*by, *columns]]


def summary_cell(mean: float, low: float, high: float, rank, n_nan: int) -> str:
    """`mean [low, high]`, bold for rank 1; a method without one finite score has no mean and
    no rank (pd.NA), so its cell says how many samples were undefined instead."""
    if pd.isna(rank):
        return f"undefined (n_nan = {n_nan})"
    text = f"{mean:.3f}"
    return (f"**{text}**" if rank == 1 else text) + f" [{low:.3f}, {high:.3f}]"


def summary_markdown(summary: pd.DataFrame) -> str:
    """Methods as rows, metrics as columns: `mean [ci_low, ci_high]`, best in bold."""
    cells = summary.assign(
        cell=[
            summary_cell(row.mean, row.ci_low, row.ci_high, row.rank, row.n_nan)
            for row in summary.itertuples()
        ]
    )
    arrows = summary.groupby("metric", sort=False)["higher_is_better"].first()
    table = cells.pivot(index="method", columns="metric", values="cell")
    table = table[list(arrows.index)].reindex(summary["method"].drop_duplicates())
    table.columns = [f"{metric} {'↑' if up else '↓'}" for metric, up in arrows.items()]
    table.index.name = "method"
    return table.to_markdown()


def control_failures(
    scores: pd.DataFrame, control: str = CONTROL, alpha: float = ALPHA
) -> dict[str, list[str]]:
    """Metric -> the methods that do not beat `control` significantly, for metrics where the
    control was run: one-sided paired Wilcoxon signed-rank tests over samples, Holm-corrected
    over the methods (as in the leaderboard reports)."""
    failing = {}
    for metric, part in scores.groupby("metric", sort=False):
        matrix = block_matrix(part)
        if control in matrix.columns and len(matrix.columns) > 1:
            p = versus_control(matrix, control, bool(part["higher_is_better"].iloc[0]))
            failing[metric] = list(p.index[~(p < alpha)])
    return failing


def control_sentence(failing: dict[str, list[str]], control: str = CONTROL,
                     alpha: float = ALPHA) -> str:  # fmt: skip
    """One line for a summary or a leaderboard: which methods fail to beat the control."""
    if not failing:
        return f"No `{control}` control to compare with."
    bad = {metric: methods for metric, methods in failing.items() if methods}
    test = f"one-sided Wilcoxon, Holm, alpha = {alpha}"
    if not bad:
        return f"Every method beats `{control}` significantly on every metric ({test})."
    parts = [f"{metric}: {', '.join(methods)}" for metric, methods in bad.items()]
    return f"Methods that fail to beat `{control}` significantly ({test}): {'; '.join(parts)}."
