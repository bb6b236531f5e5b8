"""The report's view of shards (report/load.py): which runs are the shards of one evaluation,
the order it reads them in, and the line that refuses an evaluation with a shard missing or
found twice. The real sweep is in tests/e2e/test_shards.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from xaibench.registry import XaibenchError
from xaibench.report.load import check_shards, in_evaluation_order, shard_of


def meta(shard: int | None, shards: int = 3, **config) -> dict:
    """meta.json of a run with `config` (seed 0 unless given), a shard of `shards` or whole."""
    settings = {"seed": 0, "samples": 16, "threads": 1, "shard": shard or 0, "shards": shards,
                **config}  # fmt: skip
    explained = {} if shard is None else {"shard": {"shard": shard, "shards": shards}}
    return {"config": settings, "explained": explained}


def test_one_evaluation_is_the_configs_equal_apart_from_shard_and_settings_without_numbers():
    first, second = shard_of(meta(0)), shard_of(meta(2, threads=2, cache_dir="/elsewhere"))
    assert first is not None and second is not None
    assert first[0] == second[0] and (first[1:], second[1:]) == ((0, 3), (2, 3))
    assert shard_of(meta(0, seed=1))[0] != first[0]  # type: ignore[index]
    assert shard_of(meta(0, shards=4))[0] != first[0]  # type: ignore[index]
    assert shard_of(meta(None, shards=1)) is None and shard_of({}) is None


def test_shards_are_read_in_shard_order_where_their_evaluation_first_appears():
    metas = {Path("a"): meta(2), Path("b"): meta(None, shards=1), Path("c"): meta(0),
             Path("d"): meta(1, seed=1), Path("e"): meta(1),
             Path("f"): meta(0, seed=1)}  # fmt: skip
    order = in_evaluation_order(metas)
    assert [p.name for p in order] == ["c", "e", "a", "b", "f", "d"]


def test_a_whole_evaluation_passes_and_a_missing_or_repeated_shard_is_named():
    check_shards({"r/0": meta(0), "r/1": meta(1), "r/2": meta(2), "whole": meta(None, shards=1)})
    with pytest.raises(XaibenchError, match=r"^shard 2 of 3 is missing \(the evaluation of r/0, "):
        check_shards({"r/0": meta(0), "r/1": meta(1)})
    with pytest.raises(XaibenchError, match=r"^shard 0 of 3 is in both r/0 and s/0; pass only"):
        check_shards({"r/0": meta(0), "r/1": meta(1), "r/2": meta(2), "s/0": meta(0)})
    # Two seeds are two evaluations: each whole.
    check_shards(
        {f"{seed}/{shard}": meta(shard, seed=seed) for seed in (0, 1) for shard in (0, 1, 2)}
    )
