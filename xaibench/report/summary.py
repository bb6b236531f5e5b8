"""A single run's summary: the one-run case of the leaderboard (same means, intervals, ranks and
control test), as a small table and as markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xaibench.report.leaderboard import GroupResult, failing_control, group_result
from xaibench.report.load import UNIT
from xaibench.report.settings import ALPHA, CONTROL, ReportSettings
from xaibench.schema import SUMMARY_COLUMNS


def one_run_group(scores: pd.DataFrame, seed: int = 0) -> GroupResult:
    """The leaderboard of one run's scores (every row one trained model and dataset)."""
    if UNIT not in scores:  # a table built by hand: one model
        scores = scores.assign(**{UNIT: "model"})
    if "seed" not in scores:
        scores = scores.assign(seed=0)
    return group_result(("", ""), scores, {}, ReportSettings(seed=seed))


def summarize(scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per method x metric (SUMMARY_COLUMNS): mean, std, the leaderboard's 95% interval
    (BCa bootstrap over samples, seeded by `seed`), counts, direction and rank within the
    metric (1 = best mean, direction-aware)."""
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    return summary_table(one_run_group(scores, seed), scores)


def summary_and_control(scores: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """(`summarize`'s table, `control_failures`) of a run's scores, from one leaderboard."""
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS), {}
    group = one_run_group(scores, seed)
    return summary_table(group, scores), failing_control(group)


def summary_table(group: GroupResult, scores: pd.DataFrame) -> pd.DataFrame:
    """`summarize`'s table from the one-run leaderboard `group` of `scores`."""
    table = group.table
    spread = scores.groupby(["metric", "method"], sort=False)["value"].agg(_finite_std)
    table = table.join(spread.rename("std"), on=["metric", "method"])
    table["rank"] = table["rank"].astype("Int64")  # NaN-safe integers
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def _finite_std(values: pd.Series) -> float:
    finite = values.to_numpy(float)
    finite = finite[np.isfinite(finite)]
    return finite.std(ddof=1) if len(finite) > 1 else float("nan")


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
            # pandas-stubs types itertuples fields as any scalar (these are floats and ints)
            summary_cell(row.mean, row.ci_low, row.ci_high, row.rank, row.n_nan)  # type: ignore[arg-type]
            for row in summary.itertuples()
        ]
    )
    arrows = summary.groupby("metric", sort=False)["higher_is_better"].first()
    table = cells.pivot(index="method", columns="metric", values="cell")
    table = table[list(arrows.index)].reindex(summary["method"].drop_duplicates())
    table.columns = [f"{metric} {'↑' if up else '↓'}" for metric, up in arrows.items()]
    table.index.name = "method"
    return table.to_markdown()


def control_failures(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Metric -> the methods that do not beat the control significantly, for metrics where the
    control was run (the leaderboard's one-sided Wilcoxon tests, Holm-corrected)."""
    return failing_control(one_run_group(scores)) if len(scores) else {}


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
