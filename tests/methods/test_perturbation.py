"""Occlusion and RISE against slow references that follow their papers; RISE's masks."""

from __future__ import annotations

import pytest
import torch

import xaibench
from tests.references import occlusion_reference, rise_saliency_reference
from xaibench.methods.perturbation import rise_masks
from xaibench.registry import XaibenchError


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize(
    ("model_fixture", "x_fixture", "window", "stride"),
    [("cnn1d", "signals", [4], [2]), ("cnn2d", "images", [2, 4], [2, 2])],
    ids=["signal", "image"],
)
def test_occlusion_matches_the_sliding_window_reference(
    model_fixture, x_fixture, window, stride, output, request
):
    model, x = request.getfixturevalue(model_fixture), request.getfixturevalue(x_fixture)
    target = torch.arange(len(x)) % 3
    expected = occlusion_reference(model, x, target, window, stride, output)
    attr = xaibench.explain(
        model, x, target, "occlusion", window=window, stride=stride, output=output, batch_size=5
    )
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-6)


def test_occlusion_1_is_gradient_x_input_on_a_linear_model(linear_model):
    """Ancona et al. 2018: occlusion-1 is exact for a bias-free linear model, w_i x_i."""
    x = torch.randn(3, 1, 6, generator=torch.Generator().manual_seed(0))
    attr = xaibench.explain(linear_model, x, 0, "occlusion", window=1, stride=1)
    torch.testing.assert_close(attr, x * linear_model.linear.weight[0].view(1, 1, 6))


def test_occlusion_window_must_fit_the_input_dimensions(cnn2d, images):
    with pytest.raises(XaibenchError, match=r"window=\[2\] must be a positive int or a list of 2"):
        xaibench.explain(cnn2d, images, 0, "occlusion", window=[2])


@pytest.mark.parametrize("output", ["probability", "logit"])
@pytest.mark.parametrize(
    ("model_fixture", "x_fixture"), [("cnn1d", "signals"), ("cnn2d", "images")]
)
def test_rise_matches_the_per_mask_reference(model_fixture, x_fixture, output, request):
    model, x = request.getfixturevalue(model_fixture), request.getfixturevalue(x_fixture)
    target = torch.arange(len(x)) % 3
    settings = {"num_masks": 40, "cell": 3, "p": 0.4, "seed": 2}
    masks = rise_masks(tuple(x.shape[2:]), settings["num_masks"], settings["cell"],
                       settings["p"], settings["seed"], x)  # fmt: skip
    expected = rise_saliency_reference(model, x, target, masks, settings["p"], output)
    attr = xaibench.explain(model, x, target, "rise", **settings, output=output, batch_size=50)
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(40,), (12, 16)])
def test_rise_masks_are_smooth_random_grids_kept_with_probability_p(shape):
    masks = rise_masks(shape, 4000, cell=4, p=0.3, seed=0, like=torch.zeros(1))
    assert masks.shape == (4000, *shape)
    assert masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean().item() - 0.3) < 0.01  # E[M] = p
    # Linear interpolation between grid points at least `cell` apart (s cells are resized to
    # (s + 1) * cell positions): neighbours differ by at most 1 / cell.
    for dim in range(1, masks.dim()):
        assert masks.diff(dim=dim).abs().max() <= 1 / 4 + 1e-6
    again = rise_masks(shape, 4000, cell=4, p=0.3, seed=0, like=torch.zeros(1))
    assert torch.equal(masks, again)


def test_rise_rejects_impossible_settings(cnn1d, signals):
    with pytest.raises(XaibenchError, match=r"p=0 must be a number in \(0, 1\]"):
        xaibench.explain(cnn1d, signals, 0, "rise", p=0)
