"""One evaluation split over shards, in this process: each sample gets the map and the scores
it gets in one job, the random control's noise included (drawn for the whole evaluation), and
meta.json says which part a shard explained. The joblib sweep and the merged leaderboard are
in tests/e2e/test_shards.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers import compose_config
from xaibench.run import run
from xaibench.scoring import batch_invariant
from xaibench.settings import Entry

STUDY = ("experiment=ig_vs_gradcam", "debug=fast", "threads=1", "seed=0")
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
        {"shard": 0, "shards": 3, "rows": [0, 6], "of": 16},
        {"shard": 1, "shards": 3, "rows": [6, 11], "of": 16},
        {"shard": 2, "shards": 3, "rows": [11, 16], "of": 16},
    ]
    assert "shard" not in whole.meta["explained"]  # an unsharded run's meta.json as before
    assert len({s.meta["model"]["key"] for s in [whole, *shards]}) == 1
    assert all(s.meta["errors"] == [] for s in [whole, *shards])


def test_the_random_controls_maps_are_one_jobs_although_drawn_per_batch(runs):
    whole, shards = runs
    maps = torch.cat([s.attributions["random"] for s in shards])
    assert torch.equal(maps, whole.attributions["random"])
    # Drawn for the shard alone, the noise of shard 1 would be shard 0's.
    assert not torch.equal(shards[1].attributions["random"], whole.attributions["random"][:5])


def test_every_per_sample_score_is_one_jobs_for_every_method_and_metric(runs):
    """Equal up to float32 rounding: PyTorch's CPU kernels (here the BLAS behind the model's
    linear layer) may sum in another order for another batch size, which moves the last bit
    of a forward (integrated gradients' maps, and infidelity, sensitivity-n and faithfulness
    correlation, which subtract outputs). A draw that differed between shards would move a
    score by far more: every random setting is drawn from the seed alone."""
    whole, shards = runs
    one = whole.scores.set_index(KEY).sort_index()
    split = pd.concat([s.scores for s in shards]).set_index(KEY).sort_index()
    assert one.index.equals(split.index) and len(one) == 5 * 14 * 16
    np.testing.assert_allclose(split["value"], one["value"], rtol=1e-5, atol=1e-9)
    for column in ["label", "predicted", "target", "model_key", "method_params", "metric_params"]:
        assert split[column].equals(one[column]), column
    # Most scores are bit for bit one job's (deletion, insertion, AOPC, ROAD, monotonicity and
    # the localisation metrics were on this machine).
    assert (split["value"] == one["value"]).mean() > 0.5


def test_a_method_that_wraps_the_random_control_depends_on_its_batch_too():
    assert not batch_invariant(Entry("random", "random", {}))
    assert not batch_invariant(Entry("abs_random", "postprocess", {"method": "random"}))
    assert batch_invariant(Entry("abs_saliency", "postprocess", {"method": "saliency"}))
    assert batch_invariant(Entry("saliency", "saliency", {}))
