"""scripts/method_vs_others.py: one method against the others, in each metric's direction."""

from __future__ import annotations

import pandas as pd
import pytest

from scripts.method_vs_others import method_vs_others


def test_advantage_and_share_follow_each_metrics_direction():
    # Three samples on one model. Deletion (lower is better): A beats B on samples 0 and 1 by
    # 0.1 and 0.2 and loses sample 2 by 0.05. Insertion (higher is better): the same values.
    values = {"A": [0.1, 0.1, 0.45], "B": [0.2, 0.3, 0.4]}
    rows = [
        {"dataset": "d", "model_key": "m", "sample": sample, "method": method, "metric": metric,
         "value": value, "higher_is_better": metric == "insertion"}
        for metric in ["deletion", "insertion"]
        for method, per_sample in values.items()
        for sample, value in enumerate(per_sample)
    ]  # fmt: skip
    pairwise = pd.DataFrame(
        {"dataset": "d", "metric": ["deletion", "insertion"], "method_a": "B", "method_b": "A",
         "p_holm": [0.25, 0.5]}
    )  # fmt: skip
    table = method_vs_others(pd.DataFrame(rows), pairwise, "A").set_index("metric")
    assert table.loc["deletion", "mean_advantage"] == pytest.approx((0.1 + 0.2 - 0.05) / 3)
    assert table.loc["deletion", "share_better"] == pytest.approx(2 / 3)
    assert table.loc["insertion", "mean_advantage"] == pytest.approx(-(0.1 + 0.2 - 0.05) / 3)
    assert table.loc["insertion", "share_better"] == pytest.approx(1 / 3)
    # Ranks of |differences| 0.1, 0.2, 0.05 are 2, 3, 1: W+ - W- = (2 + 3) - 1 for deletion.
    assert table.loc["deletion", "signed_rank_sum"] == pytest.approx(4.0)
    assert table.loc["insertion", "signed_rank_sum"] == pytest.approx(-4.0)
    assert list(table["p_holm"]) == [0.25, 0.5]
