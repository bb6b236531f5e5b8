"""Print each leaderboard group's method ranks per metric as one compact markdown table
(the full leaderboard.md is too wide to read with many metrics):

    python scripts/rank_table.py REPORT_DIR     # REPORT_DIR holds leaderboard.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def rank_table(leaderboard: pd.DataFrame) -> pd.DataFrame:
    """Methods x metrics rank (1 = best, direction-aware), plus the mean rank, in report order."""
    metrics = list(dict.fromkeys(leaderboard["metric"]))
    methods = list(dict.fromkeys(leaderboard["method"]))
    ranks = leaderboard.pivot(index="method", columns="metric", values="rank")
    table = ranks.loc[methods, metrics].astype("Int64")
    table["mean rank"] = leaderboard.drop_duplicates("method").set_index("method")["mean_rank"]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    board = pd.read_csv(parser.parse_args().report / "leaderboard.csv")
    for (dataset, model), group in board.groupby(["dataset", "model"], sort=False):
        print(f"## {dataset} / {model}\n")
        print(rank_table(group).to_markdown(floatfmt=".2f"), end="\n\n")


if __name__ == "__main__":
    main()
