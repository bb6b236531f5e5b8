"""Slow (`pytest -m slow`): the main experiment, as shipped, run in this process."""

from __future__ import annotations

import pytest

from tests.helpers import compose_config

pytestmark = pytest.mark.slow


def test_the_main_experiment_ranks_every_method_above_the_random_control(tmp_path):
    from xaibench.run import run

    result = run(
        compose_config("experiment=ig_vs_gradcam", "progress=false", f"cache_dir={tmp_path}")
    )
    assert result.meta["model"]["test_accuracy"] >= 0.93
    assert result.meta["errors"] == []
    summary = result.summary.set_index(["method", "metric"])
    for metric in ["deletion", "insertion", "sensitivity_n"]:
        control = summary.loc[("random", metric)]
        for method in ["saliency", "input_x_gradient", "integrated_gradients", "gradcam"]:
            row = summary.loc[(method, metric)]
            # The whole 95% interval is on the better side of the control's interval.
            if row["higher_is_better"]:
                assert row["ci_low"] > control["ci_high"], (method, metric)
            else:
                assert row["ci_high"] < control["ci_low"], (method, metric)
