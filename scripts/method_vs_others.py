"""One method against every other, per metric, from a sweep's report: who wins, how often, how
surely. The leaderboard's pairwise tests give two-sided p-values only; a study that asks
"does RISE beat X?" also needs the direction.

    python scripts/method_vs_others.py SWEEP_FOLDER METHOD [OUT.csv]

Reads the sweep's scores (every job's scores.parquet) and `report/pairwise_tests.csv`. Per
(dataset, metric, other method): mean of METHOD minus the other's (in the metric's own
direction), the share of blocks (trained model, sample) where METHOD is strictly better, the
signed-rank sum W+ - W- (positive: METHOD better) and the report's Holm-adjusted two-sided p.
Prints markdown; writes the CSV when OUT.csv is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from xaibench.report.load import BLOCK
from xaibench.report.stats import block_matrix, oriented, signed_rank_sum


def method_vs_others(scores: pd.DataFrame, pairwise: pd.DataFrame, method: str) -> pd.DataFrame:
    rows = []
    for (dataset, metric), group in scores.groupby(["dataset", "metric"], sort=False):
        higher_is_better = bool(group["higher_is_better"].iloc[0])
        matrix = oriented(block_matrix(group), higher_is_better)
        for other in [m for m in matrix.columns if m != method]:
            ours, theirs = matrix[method].to_numpy(float), matrix[other].to_numpy(float)
            tests = pairwise[
                (pairwise["dataset"] == dataset)
                & (pairwise["metric"] == metric)
                & pairwise[["method_a", "method_b"]].isin([method, other]).all(axis=1)
            ]
            rows.append(
                {"dataset": dataset, "metric": metric, "other": other,
                 "mean_advantage": float((ours - theirs).mean()),
                 "share_better": float((ours > theirs).mean()),
                 "signed_rank_sum": signed_rank_sum(ours, theirs),
                 "p_holm": float(tests["p_holm"].iloc[0])}
            )  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("method")
    parser.add_argument("out", type=Path, nargs="?")
    args = parser.parse_args()
    scores = pd.concat(pd.read_parquet(p) for p in sorted(args.sweep.glob("*/scores.parquet")))
    assert set(BLOCK) <= set(scores.columns), f"scores lack the block columns {BLOCK}"
    pairwise = pd.read_csv(args.sweep / "report" / "pairwise_tests.csv")
    table = method_vs_others(scores, pairwise, args.method)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
