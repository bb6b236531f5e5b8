"""One evaluation split over shards, in this process: each sample gets the map and the scores
it gets in one job, the random control's noise included (drawn for the whole evaluation), and
meta.json says which part a shard explained. The joblib sweep and the merged leaderboard are
in tests/e2e/test_shards.py."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tests.helpers import compose_config
from xaibench.run import run
from xaibench.scoring import batch_invariant
from xaibench.settings import Entry

# 48 inputs: 16 per shard. On the CPU a forward pass of fewer than 16 rows takes another kernel
# path and rounds the last bit of a logit differently (measured on the MNIST-1D CNN: batches of
# 1 to 15 rows differ from the rows of one batch of 1000, batches of 16 or more are bit for bit
# the same), so shards of 5 inputs agreed with one job only up to float32 rounding.
STUDY = ("experiment=ig_vs_gradcam", "debug=fast", "threads=1", "seed=0", "samples=48")
SHARDS = 3
KEY = ["method", "metric", "sample"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(the evaluation in one job, its 3 shards), sharing one cache (one trained model)."""
    cache = tmp_path_factory.mktemp("cache")
    whole = run(compose_config(*STUDY, f"cache_dir={cache}"))
    shards = [
        run(compose_config(*STUDY, f"cache_dir={cache}", f"shard={s}", f"shards={SHARDS}"))
        for s in range(SHARDS)
    ]
    return whole, shards


def test_the_shards_explain_the_whole_subset_once_and_meta_says_which_part(runs):
    whole, shards = runs
    indices = [i for s in shards for i in s.meta["explained"]["indices"]]
    assert indices == whole.meta["explained"]["indices"]  # in order, each once
    assert [s.meta["explained"]["shard"] for s in shards] == [
        {"shard": 0, "shards": 3, "rows": [0, 16], "of": 48},
        {"shard": 1, "shards": 3, "rows": [16, 32], "of": 48},
        {"shard": 2, "shards": 3, "rows": [32, 48], "of": 48},
    ]
    assert "shard" not in whole.meta["explained"]  # an unsharded run's meta.json as before
    assert len({s.meta["model"]["key"] for s in [whole, *shards]}) == 1
    assert all(s.meta["errors"] == [] for s in [whole, *shards])


def test_the_random_controls_maps_are_one_jobs_although_drawn_per_batch(runs):
    whole, shards = runs
    maps = torch.cat([s.attributions["random"] for s in shards])
    assert torch.equal(maps, whole.attributions["random"])
    # Drawn for the shard alone, the noise of shard 1 would be shard 0's.
    assert not torch.equal(shards[1].attributions["random"], whole.attributions["random"][:16])


def test_every_per_sample_score_is_one_jobs_for_every_method_and_metric(runs):
    """Bit for bit: every random setting is drawn from the seed alone, and no shard runs a
    forward batch small enough to round differently (see STUDY)."""
    whole, shards = runs
    one = whole.scores.set_index(KEY).sort_index()
    split = pd.concat([s.scores for s in shards]).set_index(KEY).sort_index()
    assert one.index.equals(split.index) and len(one) == 5 * 14 * 48
    for column in ["value", "label", "predicted", "target", "model_key", "method_params",
                   "metric_params"]:  # fmt: skip
        assert split[column].equals(one[column]), column


def test_a_method_that_wraps_the_random_control_depends_on_its_batch_too():
    assert not batch_invariant(Entry("random", "random", {}))
    assert not batch_invariant(Entry("abs_random", "postprocess", {"method": "random"}))
    assert batch_invariant(Entry("abs_saliency", "postprocess", {"method": "saliency"}))
    assert batch_invariant(Entry("saliency", "saliency", {}))
