"""The long-format tables of one run: a row per sample x method x metric (scores) and per curve
point (curves), with the columns of schema.py."""

from __future__ import annotations

import json

import pandas as pd

from xaibench.metrics import METRICS, MetricResult
from xaibench.samples import Samples
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS
from xaibench.settings import Entry


def as_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def sample_rows(samples: Samples) -> pd.DataFrame:
    """One row per explained sample: its index in the test split, label, prediction, target."""
    return pd.DataFrame(
        {
            "sample": samples.index.numpy(),
            "label": samples.labels.cpu().numpy(),
            "predicted": samples.predicted.cpu().numpy(),
            "target": samples.targets.cpu().numpy(),
        }
    )


def run_tables(
    run_values: dict,
    samples: Samples,
    methods: dict[str, Entry],
    metrics: dict[str, Entry],
    results: dict[str, dict[str, MetricResult]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, curves) from results[metric][method]; `run_values` fills the columns that are
    constant within the run (schema.RUN_COLUMNS)."""
    per_sample = sample_rows(samples)
    score_parts, curve_parts = [], []
    for metric, by_method in results.items():
        for method, result in by_method.items():
            labels = {
                "method": method,
                "method_params": as_json(methods[method].recorded_params),
                "metric": metric,
                "metric_params": as_json(metrics[metric].recorded_params),
            }
            score_parts.append(
                per_sample.assign(
                    **labels,
                    value=result.scores.numpy(),
                    higher_is_better=METRICS[metrics[metric].name].higher_is_better,
                )
            )
            if result.curves is not None:
                steps = result.curves.shape[1]
                curve_parts.append(
                    per_sample.loc[per_sample.index.repeat(steps)].assign(
                        **labels,
                        step=list(range(steps)) * len(per_sample),
                        # never None with curves: evaluate_many checks (check_result)
                        x=result.curve_x.repeat(len(per_sample)).numpy(),  # type: ignore[union-attr]
                        value=result.curves.reshape(-1).numpy(),
                    )
                )
    scores = with_run_columns(score_parts, run_values, SCORE_COLUMNS)
    curves = with_run_columns(curve_parts, run_values, CURVE_COLUMNS)
    return scores, curves


def with_run_columns(
    parts: list[pd.DataFrame], run_values: dict, columns: list[str]
) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True).assign(**run_values)
    return table[columns]
