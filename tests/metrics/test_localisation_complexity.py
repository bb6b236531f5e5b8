"""Localisation and complexity metrics: exact values on hand-made maps and masks, the
definitions re-computed by loops, and clear errors for missing or misshapen masks."""

from __future__ import annotations

import math

import pytest
import torch

import xaibench
from tests.references import auc_by_pairs, entropy_reference, gini_reference

# One channel, 6 positions; the mask covers positions 1 and 2.
MAP = torch.tensor([[[0.5, 3.0, -1.0, 2.0, 0.0, 1.0]]])
MASK = torch.tensor([[False, True, True, False, False, False]])
X = torch.zeros(1, 1, 6)
LOCALISATION = ("pointing_game", "relevance_mass", "relevance_rank", "localisation_auc")


@pytest.fixture
def model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2)).eval()


def score(model, metric, attributions=MAP, masks=MASK, inputs=X):
    context = {"masks": masks} if metric in LOCALISATION else {}
    return xaibench.evaluate(model, inputs, 0, attributions, metric, **context).scores


def test_values_by_hand(model):
    # The maximum, 3.0, is at position 1: inside the mask.
    assert score(model, "pointing_game").item() == 1.0
    # Positive relevance: 0.5 + 3 + 2 + 1 = 6.5, of which 3 inside the mask.
    assert score(model, "relevance_mass").item() == pytest.approx(3 / 6.5)
    # K = 2: the top two positions are 1 (3.0) and 3 (2.0): one of two inside.
    assert score(model, "relevance_rank").item() == 0.5
    # Mask scores {3, -1} against {0.5, 2, 0, 1}: 3 beats all four, -1 beats none -> 4/8.
    assert score(model, "localisation_auc").item() == 0.5


def test_a_perfect_map_and_its_negative(model):
    perfect = MASK.float()[:, None]
    for metric in LOCALISATION:
        assert score(model, metric, perfect).item() == 1.0
    assert score(model, "localisation_auc", -perfect).item() == 0.0
    assert score(model, "relevance_rank", -perfect).item() == 0.0


def test_ties_count_half_in_the_auc_and_go_to_the_lower_index_elsewhere(model):
    flat = torch.zeros(1, 1, 6)
    assert score(model, "localisation_auc", flat).item() == 0.5
    # All tied: the lower index wins, so position 0 (outside) is the maximum and the top-2
    # positions are 0 and 1.
    assert score(model, "pointing_game", flat).item() == 0.0
    assert score(model, "relevance_rank", flat).item() == 0.5


def test_localisation_auc_matches_pairwise_counting_on_images(model):
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(5, 3, 6, 7, generator=generator).round()  # rounding makes ties
    masks = torch.rand(5, 6, 7, generator=generator) < 0.3
    image_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(126, 2)).eval()
    inputs = torch.zeros(5, 3, 6, 7)
    res = score(image_model, "localisation_auc", maps, masks, inputs)
    for i in range(5):
        expected = auc_by_pairs(maps[i].sum(0).flatten(), masks[i].flatten())
        assert res[i].item() == pytest.approx(expected)


def test_empty_masks_and_maps_without_positive_relevance_are_undefined(model):
    empty = torch.zeros(1, 6, dtype=torch.bool)
    for metric in LOCALISATION:
        assert torch.isnan(score(model, metric, masks=empty)).all()
    assert torch.isnan(score(model, "relevance_mass", -MAP.abs())).all()


@pytest.mark.parametrize("metric", ["pointing_game", "localisation_auc"])
def test_localisation_without_masks_says_what_to_pass(metric, model):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(model, X, 0, MAP, metric)
    message = str(excinfo.value)
    assert "\n" not in message and "needs ground-truth masks" in message and "(1, 6)" in message


@pytest.mark.parametrize("masks", [torch.zeros(1, 1, 6, dtype=torch.bool), torch.zeros(2, 6)])
def test_localisation_with_misshapen_masks_names_both_shapes(masks, model):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(model, X, 0, MAP, "relevance_rank", masks=masks)
    message = str(excinfo.value)
    assert "(1, 6)" in message and str(tuple(masks.shape)) in message


# --- complexity --------------------------------------------------------------------------


def test_sparseness_and_complexity_extremes(model):
    one_hot = torch.tensor([[[0.0, 0.0, -4.0, 0.0, 0.0, 0.0]]])
    uniform = torch.full((1, 1, 6), 2.0)
    assert score(model, "sparseness", one_hot).item() == pytest.approx(5 / 6)  # (n - 1) / n
    assert score(model, "sparseness", uniform).item() == pytest.approx(0.0)
    assert score(model, "complexity", one_hot).item() == pytest.approx(0.0)
    assert score(model, "complexity", uniform).item() == pytest.approx(math.log(6))
    for metric in ("sparseness", "complexity"):
        assert torch.isnan(score(model, metric, torch.zeros(1, 1, 6))).all()


def test_sparseness_and_complexity_match_their_definitions(cnn2d, images):
    maps = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    gini = xaibench.evaluate(cnn2d, images, 0, maps, "sparseness").scores
    entropy = xaibench.evaluate(cnn2d, images, 0, maps, "complexity").scores
    for i in range(len(images)):
        positions = maps[i].sum(0).flatten().double().tolist()
        assert gini[i].item() == pytest.approx(gini_reference(positions))
        assert entropy[i].item() == pytest.approx(entropy_reference(positions))
