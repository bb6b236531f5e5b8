"""The long-format tables of one run: a row per sample x method x metric (scores) and per curve
point (curves), with the columns of schema.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from xaibench.metrics import METRICS, MetricResult
from xaibench.samples import Samples
from xaibench.schema import CURVE_COLUMNS, SCORE_COLUMNS
from xaibench.settings import Entry


def as_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def repeated(value: object, rows: int) -> pd.Series:
    """`value` in `rows` rows, every row the same Python object.

    Why not a plain assign: since pandas 3 a string column stores every row's bytes, and these
    columns repeat one setting (often a JSON of a few hundred bytes) on every score and curve
    row: 0.7 KB per row, 1.2 GiB for a run of 5000 inputs (docs/guide/scale.md, Memory). An
    object column of one shared string costs a pointer per row. The parquet files hold the same
    strings either way, and read back as strings."""
    column = np.empty(rows, dtype=object)
    column.fill(value)  # fill, unlike np.full, stores the object itself in every row
    return pd.Series(column, dtype=object)


def constant_columns(values: dict, rows: int) -> dict:
    """Columns of `rows` rows from constants: strings as `repeated`, other values as they are
    (numbers broadcast into numeric columns)."""
    return {
        name: repeated(value, rows) if isinstance(value, str) else value
        for name, value in values.items()
    }


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
                    **constant_columns(labels, len(per_sample)),
                    value=result.scores.numpy(),
                    higher_is_better=METRICS[metrics[metric].name].higher_is_better,
                )
            )
            if result.curves is not None:
                steps = result.curves.shape[1]
                points = per_sample.loc[per_sample.index.repeat(steps)].reset_index(drop=True)
                curve_parts.append(
                    points.assign(
                        **constant_columns(labels, len(points)),
                        step=np.tile(np.arange(steps), len(per_sample)),
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
    table = pd.concat(parts, ignore_index=True)
    table = table.assign(**constant_columns(run_values, len(table)))
    return table[columns]
