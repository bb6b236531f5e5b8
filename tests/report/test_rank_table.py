"""scripts/rank_table.py: the compact rank table quoted by the study write-ups."""

from __future__ import annotations

import pandas as pd

from scripts.rank_table import rank_table


def test_rank_table_keeps_report_order_and_each_methods_ranks():
    board = pd.DataFrame(
        {"dataset": "d", "model": "m",
         "metric": ["insertion", "insertion", "deletion", "deletion"],
         "method": ["b", "a", "b", "a"], "rank": [2.0, 1.0, 1.0, 2.0],
         "mean_rank": [1.5, 1.5, 1.5, 1.5]}
    )  # fmt: skip
    table = rank_table(board)
    assert list(table.index) == ["b", "a"] and list(table.columns[:2]) == ["insertion", "deletion"]
    assert table.loc["a", "insertion"] == 1 and table.loc["a", "deletion"] == 2
    assert table["mean rank"].tolist() == [1.5, 1.5]
