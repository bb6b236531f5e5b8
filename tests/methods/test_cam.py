"""CAM methods: values worked out by hand, slow per-position references following each paper,
non-negativity, and clear errors where a CAM cannot apply."""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import GuidedGradCam
from torch import nn

import xaibench
from tests.helpers import tiny_cnn1d, tiny_cnn2d
from tests.references import cam_reference, gradcam_reference, scorecam_reference
from xaibench.methods import METHODS
from xaibench.models.nets import mnist1d_cnn
from xaibench.registry import XaibenchError

CAMS = ["gradcam", "gradcam_pp", "xgradcam", "layercam", "scorecam", "eigencam"]

# --- A model small enough to work out by hand --------------------------------------------------
#
# An identity 1x1 convolution (its output A is the input: A_0 = channel 0, A_1 = channel 1)
# and a bias-free linear head. Class 0's logit is sum_p G0_p A_0p + G1_p A_1p, so the gradients
# are G0 = [1, 0, -1, 2] and G1 = [2, 1, 0, -2] at every input; class 1's logit is 0.
# Input: A_0 = [1, 2, 3, 2] (sum 8), A_1 = [2, 0, 1, 0] (sum 3). The maps keep the length (4), so
# upsampling is the identity.
A0 = torch.tensor([1.0, 2.0, 3.0, 2.0])
A1 = torch.tensor([2.0, 0.0, 1.0, 0.0])
G0 = torch.tensor([1.0, 0.0, -1.0, 2.0])
G1 = torch.tensor([2.0, 1.0, 0.0, -2.0])


def hand_set_model() -> nn.Module:
    conv = nn.Conv1d(2, 2, 1, bias=False)
    head = nn.Linear(8, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2).view(2, 2, 1))
        head.weight.copy_(torch.stack([torch.cat([G0, G1]), torch.zeros(8)]))
    return nn.Sequential(conv, nn.Flatten(), head).eval()


def _scorecam_logits() -> tuple[float, float]:
    # Masks scale each channel to [0, 1]: H0 = [0, .5, 1, .5], H1 = [1, 0, .5, 0].
    # Masked by H0: A_0 = [0, 1, 3, 1], A_1 = [0, 0, 1, 0]: logit -3 + 2 = -1.
    # Masked by H1: A_0 = [1, 0, 1.5, 0], A_1 = [2, 0, .5, 0]: logit 1 - 1.5 + 4 = 3.5.
    return -1.0, 3.5


def _eigencam_by_hand() -> torch.Tensor:
    # Rows are positions: M = [[1, 2], [2, 0], [3, 1], [2, 0]]; M^T M = [[18, 5], [5, 5]] with
    # largest eigenvalue (23 + sqrt(269)) / 2 and eigenvector [5, lambda - 18].
    lam = (23 + math.sqrt(269)) / 2
    v = torch.tensor([5.0, lam - 18])
    v = v / v.norm()
    return v[0] * A0 + v[1] * A1


S0, S1 = _scorecam_logits()
SOFTMAX = [
    math.exp(S0) / (math.exp(S0) + math.exp(S1)),
    math.exp(S1) / (math.exp(S0) + math.exp(S1)),
]
SIGMOID = [1 / (1 + math.exp(-S0)), 1 / (1 + math.exp(-S1))]  # softmax over (logit, 0)

BY_HAND = {
    # alpha_k = mean gradient: 0.5 and 0.25.
    "gradcam": 0.5 * A0 + 0.25 * A1,  # [1, 1, 1.75, 1]
    # alpha = G^2 / (2 G^2 + S G^3) where G > 0: channel 0 (S = 8): 1/10 at p0, 4/72 at p3, so
    # w0 = 1/10 * 1 + 1/18 * 2 = 19/90; channel 1 (S = 3): 4/32 at p0, 1/5 at p1, so
    # w1 = 1/8 * 2 + 1/5 * 1 = 9/20.
    "gradcam_pp": 19 / 90 * A0 + 9 / 20 * A1,
    # w_k = sum(A_k G_k) / sum(A_k): (1 - 3 + 4) / 8 = 1/4 and 4 / 3.
    "xgradcam": 0.25 * A0 + 4 / 3 * A1,
    # sum_k ReLU(G_k) A_k = [1, 0, 0, 4] + [4, 0, 0, 0].
    "layercam": torch.tensor([5.0, 0.0, 0.0, 4.0]),
    "eigencam": _eigencam_by_hand(),
    "scorecam": SOFTMAX[0] * A0 + SOFTMAX[1] * A1,
}


@pytest.mark.parametrize("method", CAMS)
def test_cam_values_worked_out_by_hand(method):
    x = torch.stack([A0, A1])[None]
    attr = xaibench.explain(hand_set_model(), x, 0, method)
    torch.testing.assert_close(attr, BY_HAND[method].expand(1, 2, 4), rtol=1e-5, atol=1e-6)


def test_scorecam_probability_weighting_follows_the_authors_code():
    x = torch.stack([A0, A1])[None]
    attr = xaibench.explain(hand_set_model(), x, 0, "scorecam", weighting="probability")
    expected = SIGMOID[0] * A0 + SIGMOID[1] * A1
    torch.testing.assert_close(attr, expected.expand(1, 2, 4), rtol=1e-5, atol=1e-6)


def test_guided_gradcam_is_the_gradient_times_gradcam_on_a_relu_free_model():
    x = torch.stack([A0, A1])[None]
    attr = xaibench.explain(hand_set_model(), x, 0, "guided_gradcam")
    expected = torch.stack([G0, G1])[None] * BY_HAND["gradcam"]
    torch.testing.assert_close(attr, expected, rtol=1e-5, atol=1e-6)


# --- Grad-CAM against the paper ------------------------------------------------------------------


def test_gradcam_follows_the_paper_on_the_last_convolution(cnn1d, signals):
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    expected = gradcam_reference(cnn1d, cnn1d[2], signals, target)
    attr = xaibench.explain(cnn1d, signals, target, "gradcam")
    torch.testing.assert_close(attr, expected.expand_as(signals), rtol=1e-5, atol=1e-6)
    assert (attr >= 0).all()


def test_gradcam_layer_option_selects_a_module_by_path(cnn1d, signals):
    after_relu = xaibench.explain(cnn1d, signals, 0, "gradcam", layer="3")
    expected = gradcam_reference(cnn1d, cnn1d[3], signals, torch.zeros(6, dtype=torch.long))
    torch.testing.assert_close(after_relu, expected.expand_as(signals), rtol=1e-5, atol=1e-6)


# --- Slow references on random CNNs, one sample, channel and position at a time -------------------


CASES = [
    # model, inputs, layer index: the last convolution (the default) and the ReLU after it
    pytest.param(tiny_cnn1d, (5, 2, 16), 2, id="signal-last-conv"),
    pytest.param(tiny_cnn1d, (5, 2, 16), 3, id="signal-relu"),
    pytest.param(tiny_cnn2d, (3, 3, 8, 8), 2, id="image-last-conv"),
]


@pytest.mark.parametrize("method", ["gradcam_pp", "xgradcam", "layercam", "scorecam", "eigencam"])
@pytest.mark.parametrize(("build", "shape", "k"), CASES)
def test_cams_match_slow_paper_references(method, build, shape, k):
    model = build()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(k))
    target = torch.arange(len(x)) % 3
    expected = cam_reference(method, model, k, x, target)
    attr = xaibench.explain(model, x, target, method, layer=str(k))
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-6)


def test_scorecam_probability_weighting_matches_the_reference(cnn2d, images):
    target = torch.tensor([0, 1, 2, 0])
    expected = scorecam_reference(cnn2d, 2, images, target, "probability")
    attr = xaibench.explain(cnn2d, images, target, "scorecam", weighting="probability")
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", CAMS)
def test_cams_are_non_negative(method, cnn1d, signals, cnn2d, images):
    for model, x in [(cnn1d, signals), (cnn2d, images)]:
        for layer in (None, "1"):  # the last convolution; the first ReLU
            attr = xaibench.explain(model, x, torch.arange(len(x)) % 3, method, layer=layer)
            assert (attr >= 0).all(), (method, layer)


@pytest.mark.parametrize(
    ("model_fixture", "x_fixture"), [("cnn1d", "signals"), ("cnn2d", "images")]
)
def test_guided_gradcam_equals_captums(model_fixture, x_fixture, request):
    model, x = request.getfixturevalue(model_fixture), request.getfixturevalue(x_fixture)
    target = torch.arange(len(x)) % 3
    mode = "linear" if x.dim() == 3 else "bilinear"
    theirs = GuidedGradCam(model, model[2]).attribute(
        x.clone().requires_grad_(True), target=target, interpolate_mode=mode
    )
    ours = xaibench.explain(model, x, target, "guided_gradcam")
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("method", [*CAMS, "guided_gradcam"])
def test_a_cam_that_cannot_apply_says_why(method, linear_model):
    x = torch.randn(2, 1, 6)
    with pytest.raises(XaibenchError, match="CAM methods need a convolution layer, but "
                                            "LinearSignalModel has none"):  # fmt: skip
        xaibench.explain(linear_model, x, 0, method)
    with pytest.raises(XaibenchError, match="layer 'nope' does not exist in LinearSignalModel; "
                                            "valid layers: flatten, linear"):  # fmt: skip
        xaibench.explain(linear_model, x, 0, method, layer="nope")


CAM_FAMILY = [name for name in METHODS if METHODS[name].family == "cam"]


def test_the_cam_family_is_every_cam():
    assert set(CAM_FAMILY) == {*CAMS, "guided_gradcam"}


@pytest.mark.parametrize("method", CAM_FAMILY)
def test_a_layer_without_positions_fails_in_the_same_line_for_every_cam(method, cnn1d, signals):
    # The tiny net's positions end at the max-pool (4); the flatten (5) and the linear head
    # (6) output (N, features).
    with pytest.raises(XaibenchError) as excinfo:
        xaibench.explain(cnn1d, signals, 0, method, layer="6")
    assert str(excinfo.value) == (
        "layer '6' outputs (6, 3), with no positions to map; layers with positions: 0, 1, 2, "
        "3, 4 (choose one with layer=<module path>)"
    )
    # The default MNIST-1D CNN: its linear head is classifier.1.
    model, x = mnist1d_cnn((1, 40), 10, width=4), torch.randn(3, 1, 40)
    with pytest.raises(XaibenchError) as excinfo:
        xaibench.explain(model, x, 0, method, layer="classifier.1")
    valid = ", ".join(["features", *[f"features.{i}" for i in range(10)]])
    assert str(excinfo.value) == (
        f"layer 'classifier.1' outputs (3, 10), with no positions to map; layers with "
        f"positions: {valid} (choose one with layer=<module path>)"
    )


def test_in_place_ops_after_the_layer_do_not_corrupt_the_kept_activations(signals):
    """A ReLU(inplace=True) right after the layer would overwrite its output; the maps must
    equal those of the same net with an ordinary ReLU."""
    plain = tiny_cnn1d()
    in_place = tiny_cnn1d()
    in_place[3] = nn.ReLU(inplace=True)
    for method in ["gradcam_pp", "xgradcam", "layercam", "eigencam"]:
        torch.testing.assert_close(
            xaibench.explain(in_place, signals, 1, method),
            xaibench.explain(plain, signals, 1, method),
        )
