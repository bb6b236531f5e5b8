"""The run tables' memory: a settings string repeated on every row is one shared object, and
the parquet files, written a chunk of rows at a time, read back as a whole-table write would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import xaibench.files
from xaibench.files import write_parquet
from xaibench.metrics import MetricResult
from xaibench.run_tables import repeated, run_tables
from xaibench.samples import Samples
from xaibench.schema import RUN_COLUMNS
from xaibench.settings import Entry

LONG = '{"setting": "' + "x" * 300 + '"}'


def test_a_repeated_string_is_one_object_in_every_row():
    column = repeated(LONG, 1000)
    assert column.dtype == object
    assert len({id(value) for value in column}) == 1
    assert column.iloc[999] == LONG


def test_run_tables_hold_each_settings_string_once_not_once_per_row():
    n, steps = 50, 7
    samples = Samples(
        index=torch.arange(n), inputs=torch.zeros(n, 1, 4), labels=torch.zeros(n, dtype=torch.long),
        predicted=torch.zeros(n, dtype=torch.long), targets=torch.zeros(n, dtype=torch.long),
    )  # fmt: skip
    curves = torch.rand(n, steps)
    result = MetricResult(scores=curves.mean(dim=1), curves=curves,
                          curve_x=torch.linspace(0, 1, steps))  # fmt: skip
    entries = {
        name: Entry(label=name, name=name, params={"long": LONG})
        for name in ("saliency", "deletion")
    }
    run_values = {column: f"{column} of the run" for column in RUN_COLUMNS}
    run_values.update(overrides=LONG, model_accuracy=0.9, seed=3)
    scores, curve_table = run_tables(
        run_values, samples, {"saliency": entries["saliency"]}, {"deletion": entries["deletion"]},
        {"deletion": {"saliency": result}},
    )  # fmt: skip
    assert len(curve_table) == n * steps
    for table in (scores, curve_table):
        for column in ("overrides", "method_params", "metric_params", "method", "experiment"):
            assert len({id(value) for value in table[column]}) == 1, column
        assert table["seed"].dtype == np.int64 and table["model_accuracy"].dtype == np.float64
    np.testing.assert_array_equal(curve_table["step"], np.tile(np.arange(steps), n))
    np.testing.assert_array_equal(curve_table["value"], curves.reshape(-1).numpy())


def test_a_table_written_in_chunks_reads_back_as_one_written_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(xaibench.files, "PARQUET_CHUNK_ROWS", 7)
    table = pd.DataFrame({
        "method": repeated("saliency", 30), "params": repeated(LONG, 30),
        "value": np.linspace(0, 1, 30), "sample": np.arange(30), "flag": [True, False] * 15,
        "maybe": [None, *["a"] * 29], "late": [None] * 10 + ["b"] * 20,
    })  # fmt: skip
    write_parquet(table, tmp_path / "chunks.parquet")
    table.to_parquet(tmp_path / "whole.parquet", index=False)
    chunked = pd.read_parquet(tmp_path / "chunks.parquet")
    pd.testing.assert_frame_equal(chunked, pd.read_parquet(tmp_path / "whole.parquet"))
    assert chunked["params"].iloc[29] == LONG
