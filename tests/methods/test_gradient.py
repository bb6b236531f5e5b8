"""Gradient-family methods: closed forms, axioms and slow paper-following references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

import xaibench
from tests.helpers import target_logit, tiny_cnn1d
from tests.references import (
    DeconvReLU,
    GuidedReLU,
    epsilon_plus_reference,
    expected_gradients_reference,
    modified_backward_reference,
    smoothgrad_reference,
)
from xaibench.methods.activations import unshared_activations
from xaibench.methods.gradient import expected_gradients_draws
from xaibench.registry import XaibenchError

TARGET = torch.tensor([0, 1, 2, 0, 1, 2])


def bias_free_cnn1d(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv1d(4, 5, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(40, 3, bias=False),
    ).eval()


# --- Saliency, gradient x input, integrated gradients ----------------------------------------


def test_integrated_gradients_is_complete_on_a_relu_cnn(cnn1d, signals):
    """Sundararajan et al. 2017, completeness: attributions sum to f(x) - f(baseline)."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "integrated_gradients", steps=256)
    with torch.no_grad():
        gap = (cnn1d(signals) - cnn1d(torch.zeros_like(signals))).gather(1, target[:, None])
    torch.testing.assert_close(attr.sum(dim=(1, 2)), gap.squeeze(1), rtol=1e-2, atol=1e-3)


def test_integrated_gradients_equals_gradient_x_input_on_a_linear_model(linear_model):
    x = torch.randn(4, 1, 6, generator=torch.Generator().manual_seed(0))
    ig = xaibench.explain(linear_model, x, 0, "integrated_gradients", steps=16)
    ixg = xaibench.explain(linear_model, x, 0, "input_x_gradient")
    torch.testing.assert_close(ig, ixg)
    torch.testing.assert_close(ixg, x * linear_model.linear.weight[0].view(1, 1, 6))


def test_saliency_is_the_absolute_weight_on_a_linear_model(linear_model):
    x = torch.randn(3, 1, 6)
    weight = linear_model.linear.weight[0].view(1, 1, 6).expand(3, 1, 6)
    torch.testing.assert_close(xaibench.explain(linear_model, x, 0, "saliency"), weight.abs())
    signed = xaibench.explain(linear_model, x, 0, "saliency", signed=True)
    torch.testing.assert_close(signed, weight)


def test_integrated_gradients_chunks_give_identical_maps(cnn1d, signals):
    """The memory knob changes how many inputs go through the model at once, not the result."""
    whole = xaibench.explain(cnn1d, signals, 1, "integrated_gradients", steps=8, batch_size=4096)
    chunked = xaibench.explain(cnn1d, signals, 1, "integrated_gradients", steps=8, batch_size=16)
    torch.testing.assert_close(whole, chunked, rtol=1e-5, atol=1e-6)


# --- SmoothGrad family ------------------------------------------------------------------------


def test_smoothgrad_family_closed_forms_on_a_linear_model(linear_model):
    """The gradient of a linear model is its weight whatever the noise: SmoothGrad is |w|,
    SmoothGrad-SQ w^2, VarGrad 0 and SmoothGrad x input x * w."""
    x = torch.randn(3, 1, 6, generator=torch.Generator().manual_seed(0))
    w = linear_model.linear.weight[0].view(1, 1, 6).expand(3, 1, 6)
    settings = {"noisy_copies": 7, "noise": 0.3}
    explain = xaibench.explain
    torch.testing.assert_close(explain(linear_model, x, 0, "smoothgrad", **settings), w.abs())
    signed = explain(linear_model, x, 0, "smoothgrad", signed=True, **settings)
    torch.testing.assert_close(signed, w)
    torch.testing.assert_close(explain(linear_model, x, 0, "smoothgrad_sq", **settings), w**2)
    vargrad = explain(linear_model, x, 0, "vargrad", **settings)
    torch.testing.assert_close(vargrad, torch.zeros_like(x), atol=1e-6, rtol=0)
    sgxi = explain(linear_model, x, 0, "smoothgrad_x_input", **settings)
    torch.testing.assert_close(sgxi, x * w)


def test_smoothgrad_family_matches_a_per_copy_reference(cnn1d, signals):
    grads = smoothgrad_reference(cnn1d, signals, TARGET, samples=6, noise=0.2, seed=4)
    settings = {"noisy_copies": 6, "noise": 0.2, "seed": 4, "batch_size": 20}  # several chunks
    tol = {"rtol": 1e-4, "atol": 1e-6}

    def explain(method, **extra):
        return xaibench.explain(cnn1d, signals, TARGET, method, **settings, **extra)

    mean = grads.mean(dim=0)
    torch.testing.assert_close(explain("smoothgrad"), mean.abs(), **tol)
    torch.testing.assert_close(explain("smoothgrad", signed=True), mean, **tol)
    torch.testing.assert_close(explain("smoothgrad_sq"), (grads**2).mean(dim=0), **tol)
    torch.testing.assert_close(explain("vargrad"), grads.var(dim=0, unbiased=False), **tol)
    torch.testing.assert_close(explain("smoothgrad_x_input"), signals * mean, **tol)


def test_smoothgrad_noise_is_relative_to_each_samples_range(cnn1d, signals):
    """Scaling a sample by 10 scales its noise by 10: the gradients at matching points agree
    on a positively homogeneous (bias-free ReLU) model, so the maps are equal."""
    model = bias_free_cnn1d()
    one = xaibench.explain(model, signals, TARGET, "smoothgrad", noisy_copies=5, signed=True)
    ten = xaibench.explain(model, 10 * signals, TARGET, "smoothgrad", noisy_copies=5, signed=True)
    torch.testing.assert_close(one, ten, rtol=1e-4, atol=1e-6)


# --- Expected gradients -----------------------------------------------------------------------


def test_expected_gradients_closed_form_on_a_linear_model(linear_model):
    """With a background of one repeated reference c: (x - c) * w exactly, whatever alpha."""
    x = torch.randn(4, 1, 6, generator=torch.Generator().manual_seed(0))
    c = torch.linspace(-1, 1, 6).view(1, 1, 6)
    attr = xaibench.explain(
        linear_model, x, 0, "expected_gradients", draws=5, background=c.repeat(10, 1, 1)
    )
    torch.testing.assert_close(attr, (x - c) * linear_model.linear.weight[0].view(1, 1, 6))


def test_expected_gradients_matches_a_per_draw_reference(cnn1d, signals):
    """Erion et al. 2021, one sample and one (reference, alpha) draw at a time."""
    background = torch.randn(50, 2, 16, generator=torch.Generator().manual_seed(3))
    expected = expected_gradients_reference(cnn1d, signals, TARGET, background, draws=12, seed=7)
    attr = xaibench.explain(
        cnn1d, signals, TARGET, "expected_gradients", draws=12, seed=7, batch_size=16,
        background=background,
    )  # fmt: skip
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-6)


def test_expected_gradients_draws_references_from_the_background():
    background = torch.arange(10.0).view(10, 1, 1).expand(10, 1, 4)
    references, alphas = expected_gradients_draws(background, 200, seed=0, like=background)
    assert set(references[:, 0, 0].tolist()) <= set(range(10))
    assert len(set(references[:, 0, 0].tolist())) == 10  # 200 draws reach every reference
    assert (alphas >= 0).all() and (alphas < 1).all()


def test_expected_gradients_without_background_says_what_to_pass(cnn1d, signals):
    with pytest.raises(XaibenchError, match="expected_gradients needs background="):
        xaibench.explain(cnn1d, signals, 0, "expected_gradients")
    with pytest.raises(
        XaibenchError, match=r"background must be training inputs shaped \(M, 2, 16\)"
    ):
        xaibench.explain(cnn1d, signals, 0, "expected_gradients", background=torch.zeros(3, 16))


# --- Integrated gradients and DeepLIFT ---------------------------------------------------------


@pytest.mark.parametrize("baseline", ["zero", "mean", "blur", "uniform"])
def test_integrated_gradients_is_complete_for_every_baseline(baseline, cnn1d, signals):
    """Sundararajan et al. 2017: attributions sum to f(x) - f(baseline)."""
    from xaibench.perturb import make_baseline

    attr = xaibench.explain(cnn1d, signals, TARGET, "integrated_gradients", steps=256,
                            baseline=baseline)  # fmt: skip
    with torch.no_grad():
        gap = target_logit(cnn1d, signals, TARGET) - target_logit(
            cnn1d, make_baseline(baseline, signals), TARGET
        )
    torch.testing.assert_close(attr.sum(dim=(1, 2)), gap, rtol=1e-2, atol=2e-3)


def test_deeplift_sums_to_the_output_difference_without_max_pooling(signals):
    """Shrikumar et al. 2017, summation-to-delta, on a ReLU net with biases. (captum's max-pool
    rule breaks it by about 1e-2 on this net with a max-pool; the README says so.)"""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv1d(4, 5, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(80, 3),
    ).eval()  # fmt: skip
    attr = xaibench.explain(model, signals, TARGET, "deeplift")
    with torch.no_grad():
        gap = target_logit(model, signals, TARGET) - target_logit(
            model, torch.zeros_like(signals), TARGET
        )
    torch.testing.assert_close(attr.sum(dim=(1, 2)), gap, rtol=1e-5, atol=1e-6)


def test_deeplift_lrp_and_gradient_x_input_coincide_on_a_bias_free_relu_net(signals):
    """Ancona et al. 2018, section 3: with a zero baseline, DeepLIFT (rescale), epsilon-LRP
    (epsilon -> 0) and gradient x input are equal on ReLU networks without biases."""
    model = bias_free_cnn1d()
    ixg = xaibench.explain(model, signals, TARGET, "input_x_gradient")
    deeplift = xaibench.explain(model, signals, TARGET, "deeplift")
    lrp = xaibench.explain(model, signals, TARGET, "lrp", rule="epsilon", epsilon=1e-9)
    torch.testing.assert_close(deeplift, ixg, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(lrp, ixg, rtol=1e-4, atol=1e-6)


# --- LRP ----------------------------------------------------------------------------------------


def test_epsilon_lrp_equals_gradient_x_input_on_a_relu_net_with_biases(cnn1d, signals):
    """Ancona et al. 2018, Proposition 1 (epsilon -> 0): biases absorb relevance exactly as
    they absorb the gradient x input sum."""
    lrp = xaibench.explain(cnn1d, signals, TARGET, "lrp", epsilon=1e-9)
    ixg = xaibench.explain(cnn1d, signals, TARGET, "input_x_gradient")
    torch.testing.assert_close(lrp, ixg, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rule", ["epsilon", "epsilon_plus", "epsilon_plus_flat"])
def test_lrp_conserves_the_target_logit_on_a_bias_free_net(rule, signals):
    """Bach et al. 2015: without biases, relevance is conserved layer by layer, so the input
    relevance sums to the relevance put in (the target logit). alpha2-beta1 conserves only
    where every neuron has negative contributions, so it is not checked here."""
    model = bias_free_cnn1d()
    attr = xaibench.explain(model, signals, TARGET, "lrp", rule=rule)
    with torch.no_grad():
        logits = target_logit(model, signals, TARGET)
    torch.testing.assert_close(attr.sum(dim=(1, 2)), logits, rtol=1e-4, atol=1e-5)


def test_epsilon_plus_matches_the_rules_written_out(signals):
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
        nn.Linear(48, 3, bias=False),
    ).eval()  # fmt: skip
    expected = epsilon_plus_reference(model[0], model[3], signals, TARGET)
    attr = xaibench.explain(model, signals, TARGET, "lrp", rule="epsilon_plus")
    torch.testing.assert_close(attr, expected.detach(), rtol=1e-4, atol=1e-6)


def test_lrp_rejects_an_unknown_rule(cnn1d, signals):
    with pytest.raises(XaibenchError, match="rule='z' must be one of epsilon, epsilon_plus,"):
        xaibench.explain(cnn1d, signals, 0, "lrp", rule="z")


# --- Guided backprop and deconvolution --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "relu", "captum_class"),
    [("guided_backprop", GuidedReLU, GuidedBackprop), ("deconvolution", DeconvReLU, Deconvolution)],
)
def test_modified_backprop_follows_the_paper_and_equals_captum(
    method, relu, captum_class, cnn1d, signals
):
    attr = xaibench.explain(cnn1d, signals, TARGET, method)
    reference = modified_backward_reference(cnn1d, relu, signals, TARGET)
    torch.testing.assert_close(attr, reference, rtol=1e-5, atol=1e-7)
    theirs = captum_class(cnn1d).attribute(signals.clone().requires_grad_(True), target=TARGET)
    torch.testing.assert_close(attr, theirs.detach(), rtol=0, atol=0)


class ReusedAndFunctionalReLUs(nn.Module):
    """A net whose activations hooks cannot see or tell apart: one in-place ReLU module called
    twice, and a functional ReLU."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv1d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv1d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv1d(4, 5, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(80, 3)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.head(x.flatten(1))

    def as_sequential(self) -> nn.Sequential:
        return nn.Sequential(
            self.conv1, nn.ReLU(), self.conv2, nn.ReLU(), self.conv3, nn.ReLU(), nn.Flatten(),
            self.head,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "relu"), [("guided_backprop", GuidedReLU), ("deconvolution", DeconvReLU)]
)
def test_modified_backprop_reaches_reused_and_functional_relus(method, relu, signals):
    model = ReusedAndFunctionalReLUs().eval()
    attr = xaibench.explain(model, signals, TARGET, method)
    reference = modified_backward_reference(model.as_sequential(), relu, signals, TARGET)
    torch.testing.assert_close(attr, reference, rtol=1e-5, atol=1e-7)


def test_deeplift_handles_reused_in_place_relus(signals):
    """captum's DeepLIFT raises on a ReLU module called twice; the unshared view fixes it and
    gives the same maps as the equivalent net with one module per call."""
    model = ReusedAndFunctionalReLUs().eval()
    attr = xaibench.explain(model, signals, TARGET, "deeplift")
    expected = xaibench.explain(model.as_sequential().eval(), signals, TARGET, "deeplift")
    torch.testing.assert_close(attr, expected, rtol=1e-5, atol=1e-7)


def test_unshared_activations_share_weights_and_outputs_and_leave_the_model_alone(signals):
    model = ReusedAndFunctionalReLUs().eval()
    modules_before = list(model.named_modules())
    view = unshared_activations(model)
    assert view is not model
    assert list(model.named_modules()) == modules_before
    assert all(p is q for p, q in zip(view.parameters(), model.parameters(), strict=True))
    relus = [m for m in view.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 3 and not any(m.inplace for m in relus)
    with torch.no_grad():
        torch.testing.assert_close(view(signals), model(signals), rtol=0, atol=0)
    plain = tiny_cnn1d()
    assert unshared_activations(plain) is plain  # one non-in-place module per call already
