"""One point of every method's curve, with the leaderboard's statistics.

A leaderboard scores a curve by its mean (model randomisation) or its area; a study sometimes
cites a single point instead: the similarity once every layer is randomised (Adebayo et al.
2018), the correlation at n = 1 (Ancona et al. 2018's occlusion-1). This takes that point from
the runs' curves and computes on it what the leaderboard computes on scores: per dataset and
model, each method's mean with its interval (`stats.mean_intervals`, paired over samples) and
Holm-corrected two-sided Wilcoxon tests between every pair of methods.

    python -m xaibench.report.curve_points SWEEP --metric cascading [--x last|all|X] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from xaibench.registry import XaibenchError
from xaibench.report.load import load_runs
from xaibench.report.settings import ReportSettings
from xaibench.report.stats import block_matrix, mean_intervals, pairwise_wilcoxon

GROUP = ["dataset", "model"]


def points_of(curves: pd.DataFrame, x: str | float) -> list[float]:
    """The x values asked for: "last" is the curve's largest x (the full randomisation), which
    differs between models with different numbers of layers; "all" is every x."""
    if x == "last":
        return [float(curves["x"].max())]
    if x == "all":
        return sorted(float(v) for v in curves["x"].unique())
    value = float(x)
    if not (curves["x"] == value).any():
        valid = ", ".join(f"{v:g}" for v in sorted(curves["x"].unique()))
        raise XaibenchError(f"no curve point at x={value:g}; valid x: {valid}, last, all")
    return [value]


def curve_point_statistics(
    curves: pd.DataFrame,
    metric: str,
    x: str | float = "last",
    settings: ReportSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(intervals, pairwise tests) at the curve point(s) `x`, per dataset and model.

    intervals: dataset, model, x, method, mean, ci_low, ci_high, n (finite values);
    pairwise tests: dataset, model, x, method_a, method_b, p_holm.
    """
    settings = settings or ReportSettings()
    chosen = curves[curves["metric"] == metric]
    if chosen.empty:
        found = ", ".join(sorted(curves["metric"].unique()))
        raise XaibenchError(f"no curves of metric {metric!r}; metrics with curves: {found}")
    intervals, pair_tables = [], []
    for (dataset, model), group in chosen.groupby(GROUP, sort=False):
        for at in points_of(group, x):
            table, pairs = point_statistics(group[group["x"] == at], settings)
            where: dict[str, Any] = {"dataset": dataset, "model": model, "x": at}
            intervals.append(table.assign(**where))
            pair_tables.append(pairs.assign(**where))
    first = [*GROUP, "x", "method"]
    result = pd.concat(intervals, ignore_index=True)
    tests = pd.concat(pair_tables, ignore_index=True)
    ordered = result[first + [c for c in result.columns if c not in first]]
    return ordered, tests[[*GROUP, "x", "method_a", "method_b", "p_holm"]]


def point_statistics(
    point: pd.DataFrame, settings: ReportSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals (method, mean, ci_low, ci_high, n) and pairwise tests (method_a, method_b,
    p_holm) of one model group's curve values at one x."""
    matrix = block_matrix(point)
    table = mean_intervals(
        matrix, settings.confidence, settings.resamples, settings.seed, settings.across_models
    )
    table["n"] = matrix.notna().sum()
    p = pairwise_wilcoxon(matrix)
    methods = list(p.columns)
    pairs = [
        {"method_a": a, "method_b": b, "p_holm": p.loc[a, b]}
        for i, a in enumerate(methods)
        for b in methods[i + 1 :]
    ]
    return table.rename_axis("method").reset_index(), pd.DataFrame(pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--metric", required=True, help="metric label with curves")
    parser.add_argument("--x", default="last", help="curve point: an x value, 'last' or 'all'")
    parser.add_argument("--out", type=Path, help="also write <metric>_at_<x>[_tests].csv here")
    args = parser.parse_args(argv)
    try:
        intervals, tests = curve_point_statistics(load_runs(args.paths).curves, args.metric, args.x)
    except XaibenchError as error:
        parser.exit(2, f"xaibench: error: {error}\n")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"{args.metric}_at_{args.x}"
        intervals.to_csv(args.out / f"{stem}.csv", index=False)
        tests.to_csv(args.out / f"{stem}_tests.csv", index=False)
    print(intervals.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
