"""What the metrics share: regions, similarity measures and ROAD's imputation, each against
scipy or a loop that follows the paper (tests/references.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tests.references import road_reference_impute, ssim_reference
from xaibench.metrics.imputation import impute, noisy_linear_imputation
from xaibench.metrics.similarity import average_ranks, pearson, spearman, ssim
from xaibench.perturb import region_ids, region_ranks, target_output
from xaibench.registry import XaibenchError

GEN = torch.Generator().manual_seed(0)


# --- regions ------------------------------------------------------------------------------


def test_regions_tile_an_image_in_patches_smaller_at_the_far_edges():
    ids, count = region_ids((5, 4), 2, torch.device("cpu"))
    assert count == 6
    expected = [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3], [4, 4, 5, 5]]
    assert ids.view(5, 4).tolist() == expected


def test_region_ranks_order_patches_by_their_summed_attribution():
    attributions = torch.tensor([[[1.0, 1.0, 5.0, -4.0, 0.0, 3.0, 2.0]]])  # patches of 2
    morf, regions = region_ranks(attributions, 2, most_relevant_first=True)
    assert regions == 4  # sums 2, 1, 3, 2
    assert morf[0].tolist() == [1, 1, 3, 3, 0, 0, 2]  # tie 2 = 2: the lower region first
    lerf, _ = region_ranks(attributions, 2, most_relevant_first=False)
    assert lerf[0].tolist() == [1, 1, 0, 0, 3, 3, 2]


@pytest.mark.parametrize("patch", [0, 1.5, True])
def test_bad_patch_is_refused(patch):
    with pytest.raises(XaibenchError, match="patch"):
        region_ids((8,), patch, torch.device("cpu"))


def test_correct_output_is_whether_the_target_is_the_arg_max():
    logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 1.0, 0.0]])
    assert target_output(logits, torch.tensor([1, 1]), "correct").tolist() == [1.0, 0.0]


# --- similarity ----------------------------------------------------------------------------


def test_pearson_and_spearman_match_scipy_including_ties():
    a = torch.randn(5, 30, generator=GEN).round(decimals=1)  # rounding makes ties
    b = a + torch.randn(5, 30, generator=GEN)
    for i in range(5):
        assert pearson(a[i], b[i]).item() == pytest.approx(stats.pearsonr(a[i], b[i])[0])
        assert spearman(a, b)[i].item() == pytest.approx(stats.spearmanr(a[i], b[i])[0])
        np.testing.assert_allclose(average_ranks(a)[i].numpy(), stats.rankdata(a[i].numpy()))


def test_spearman_of_a_constant_row_is_nan():
    assert torch.isnan(spearman(torch.ones(1, 5), torch.arange(5.0)[None])).all()


@pytest.mark.parametrize("shape", [(3, 40), (2, 16, 13)])
def test_ssim_matches_wang_et_al_loop(shape):
    a = torch.rand(shape, generator=GEN, dtype=torch.float64)
    b = (a + 0.3 * torch.rand(shape, generator=GEN, dtype=torch.float64)).clamp(0, 1)
    fast = ssim(a, b)
    for i in range(shape[0]):
        assert fast[i].item() == pytest.approx(ssim_reference(a[i].numpy(), b[i].numpy()))
    torch.testing.assert_close(ssim(a, a), torch.ones(shape[0], dtype=torch.float64))


# --- ROAD's noisy linear imputation ---------------------------------------------------------


# Dense solve (up to 64 positions) and conjugate gradient (above), signals and images.
@pytest.mark.parametrize("shape", [(4, 2, 40), (3, 3, 9, 7), (3, 1, 150), (2, 3, 12, 11)])
@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_batched_imputation_matches_a_scipy_sparse_solve(shape, fraction):
    x = torch.randn(shape, generator=GEN)
    removed = torch.rand(shape[0], *shape[2:], generator=GEN) < fraction
    removed.view(shape[0], -1)[:, 0] = False  # keep at least one position
    fast = impute(x, removed)
    for i in range(shape[0]):
        expected = road_reference_impute(x[i].double().numpy(), removed[i].numpy())
        np.testing.assert_allclose(fast[i].numpy(), expected, rtol=1e-5, atol=1e-5)
    # kept positions are untouched
    keep = ~removed[:, None].expand_as(x)
    torch.testing.assert_close(fast[keep], x[keep], rtol=0, atol=0)


def test_imputation_of_a_linear_ramp_is_exact_and_noise_is_added_where_removed():
    """A straight line is the mean of its left and right neighbours: imputation restores it."""
    ramp = torch.arange(12.0).view(1, 1, 12)
    removed = torch.zeros(1, 12, dtype=torch.bool)
    removed[0, 3:9] = True
    torch.testing.assert_close(impute(ramp, removed), ramp)
    noise = torch.full_like(ramp, 0.01)
    noisy = noisy_linear_imputation(ramp, removed, noise)
    torch.testing.assert_close(noisy - ramp, torch.where(removed[:, None], noise, 0))


@pytest.mark.parametrize("length", [30, 100])  # dense solve, conjugate gradient
def test_imputation_does_not_depend_on_the_batch(length):
    x = torch.randn(6, 1, length, generator=GEN)
    removed = torch.rand(6, length, generator=GEN) < 0.7
    removed[:, 0] = False
    together = impute(x, removed)
    for i in range(6):
        torch.testing.assert_close(impute(x[i : i + 1], removed[i : i + 1])[0], together[i])


def test_imputation_needs_a_kept_position():
    with pytest.raises(XaibenchError, match="at least one kept position"):
        impute(torch.randn(1, 1, 5), torch.ones(1, 5, dtype=torch.bool))
