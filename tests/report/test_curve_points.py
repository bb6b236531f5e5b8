"""Statistics at one curve point (xaibench.report.curve_points) on hand-made curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.registry import XaibenchError
from xaibench.report.curve_points import curve_point_statistics
from xaibench.report.settings import ReportSettings


def curves(layers: int, dataset: str, samples: int = 30) -> pd.DataFrame:
    """Method "a" falls to 0.1 * sample noise at the last layer, "b" stays at 0.9; "c" is "a"
    shifted by exactly 0.5 at every point."""
    rng = np.random.default_rng(layers)
    rows = []
    for sample in range(samples):
        noise = rng.normal(0, 0.05)
        for k in range(1, layers + 1):
            a = 1 - k / layers + 0.1 + noise
            for method, value in [("a", a), ("b", 0.9 + noise), ("c", a + 0.5)]:
                rows.append({"dataset": dataset, "model": "net", "model_key": f"{dataset}-0",
                             "metric": "cascading", "method": method, "sample": sample,
                             "x": float(k), "value": value})  # fmt: skip
    return pd.DataFrame(rows)


SETTINGS = ReportSettings(resamples=999)


def test_the_last_point_is_each_models_own_and_the_means_are_exact():
    table = pd.concat([curves(5, "signals"), curves(7, "images")], ignore_index=True)
    intervals, tests = curve_point_statistics(table, "cascading", "last", SETTINGS)
    assert dict(zip(intervals["dataset"], intervals["x"], strict=True)) == {
        "signals": 5.0, "images": 7.0
    }  # fmt: skip
    for dataset, group in table.groupby("dataset"):
        last = group[group["x"] == group["x"].max()]
        expected = last.groupby("method")["value"].mean()
        got = intervals[intervals["dataset"] == dataset].set_index("method")
        np.testing.assert_allclose(got["mean"], expected[got.index], rtol=1e-12)
        assert (got["ci_low"] <= got["mean"]).all() and (got["mean"] <= got["ci_high"]).all()
        assert (got["n"] == 30).all()
    signals = tests[tests["dataset"] == "signals"].set_index(["method_a", "method_b"])
    assert signals.loc[("a", "b"), "p_holm"] < 1e-5  # b above a on every sample
    assert len(tests) == 2 * 3  # three pairs per model


def test_a_chosen_point_and_an_unknown_one():
    table = curves(5, "signals")
    intervals, _ = curve_point_statistics(table, "cascading", 1, SETTINGS)
    first = table[table["x"] == 1].groupby("method")["value"].mean()
    np.testing.assert_allclose(intervals.set_index("method")["mean"], first, rtol=1e-12)
    every, tests = curve_point_statistics(table, "cascading", "all", SETTINGS)
    assert sorted(every["x"].unique()) == [1, 2, 3, 4, 5] and len(every) == 5 * 3
    assert len(tests) == 5 * 3
    with pytest.raises(
        XaibenchError, match="no curve point at x=9; valid x: 1, 2, 3, 4, 5, last, all"
    ):
        curve_point_statistics(table, "cascading", 9, SETTINGS)
    with pytest.raises(XaibenchError, match="metrics with curves: cascading"):
        curve_point_statistics(table, "deletion", "last", SETTINGS)
