"""Ancona et al. 2018 (Propositions 1 and 2): on ReLU networks, epsilon-LRP (epsilon -> 0) and
gradient x input give the same map; DeepLIFT (rescale) with a zero baseline gives it too when
the reference activations are zero, i.e. when the network has no biases. Checked on small
seeded ReLU CNNs with and without biases and max-pooling, in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaibench
from xaibench.metrics.similarity import relative_difference


def relu_cnn(bias: bool, max_pool: bool, seed: int = 0) -> nn.Module:
    """Conv-ReLU-[max-pool]-conv-ReLU-linear on 2 x 16 signals; biases drawn from [-0.5, 0.5]
    (PyTorch's default bias init is too small to matter on these inputs)."""
    torch.manual_seed(seed)
    layers = [nn.Conv1d(2, 4, 3, padding=1, bias=bias), nn.ReLU()]
    layers += [nn.MaxPool1d(2)] if max_pool else []
    length = 8 if max_pool else 16
    layers += [nn.Conv1d(4, 5, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten()]
    layers += [nn.Linear(5 * length, 3, bias=bias)]
    model = nn.Sequential(*layers).double().eval()
    with torch.no_grad():
        for layer in model:
            if getattr(layer, "bias", None) is not None:
                layer.bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture
def inputs() -> torch.Tensor:
    return torch.randn(6, 2, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def maps(model, inputs, *methods, **lrp_params):
    target = model(inputs).argmax(dim=1)
    params = {"lrp": lrp_params}
    return [xaibench.explain(model, inputs, target, m, **params.get(m, {})) for m in methods]


ARCHITECTURES = [(bias, pool) for bias in (False, True) for pool in (False, True)]


@pytest.mark.parametrize(("bias", "max_pool"), ARCHITECTURES)
def test_epsilon_lrp_is_gradient_x_input_as_epsilon_vanishes(inputs, bias, max_pool):
    # Proposition 1 holds with biases and max-pooling too: a bias absorbs relevance in LRP
    # exactly as it drops out of x * df/dx. The gap is the stabiliser's, linear in epsilon.
    model = relu_cnn(bias, max_pool)
    (ixg,) = maps(model, inputs, "input_x_gradient")
    lrp_coarse = maps(model, inputs, "lrp", epsilon=1e-9)[0]
    lrp_fine = maps(model, inputs, "lrp", epsilon=1e-12)[0]
    gap_coarse = relative_difference(lrp_coarse, ixg).max().item()
    gap_fine = relative_difference(lrp_fine, ixg).max().item()
    assert gap_fine < 1e-8
    assert gap_coarse / gap_fine == pytest.approx(1e3, rel=0.1)


@pytest.mark.parametrize("max_pool", [False, True])
def test_deeplift_is_gradient_x_input_without_biases(inputs, max_pool):
    # Zero baseline and no biases: every reference activation is zero, so the rescale
    # multipliers are a / z = the ReLU's gradient. captum's max-pool rule keeps the equality
    # (the all-zero reference window passes nothing).
    deeplift, ixg = maps(relu_cnn(False, max_pool), inputs, "deeplift", "input_x_gradient")
    assert relative_difference(deeplift, ixg).max().item() < 1e-12


@pytest.mark.parametrize("max_pool", [False, True])
def test_deeplift_departs_from_gradient_x_input_with_biases(inputs, max_pool):
    # With biases the zero input's activations are not zero: DeepLIFT explains f(x) - f(0)
    # (summation to delta) while gradient x input sums to f(x) - (the biases' share).
    model = relu_cnn(True, max_pool)
    deeplift, ixg = maps(model, inputs, "deeplift", "input_x_gradient")
    assert relative_difference(deeplift, ixg).min().item() > 0.05
    target = model(inputs).argmax(dim=1)
    rows = torch.arange(len(inputs))
    delta = model(inputs)[rows, target] - model(torch.zeros_like(inputs))[rows, target]
    torch.testing.assert_close(deeplift.flatten(1).sum(1), delta.detach())


@pytest.mark.parametrize("max_pool", [False, True])
def test_without_biases_all_three_sum_to_the_logit(inputs, max_pool):
    # A bias-free ReLU network is positively homogeneous, so x . df/dx = f(x) (Euler) and
    # f(0) = 0: the shared map is complete.
    model = relu_cnn(False, max_pool)
    target = model(inputs).argmax(dim=1)
    logit = model(inputs)[torch.arange(len(inputs)), target].detach()
    for attribution in maps(model, inputs, "input_x_gradient", "deeplift", "lrp", epsilon=1e-12):
        torch.testing.assert_close(attribution.flatten(1).sum(1), logit)


def test_relative_difference_is_per_sample_and_scaled_by_the_reference():
    reference = torch.tensor([[2.0, -4.0], [0.0, 0.0], [1.0, 1.0]])
    other = torch.tensor([[2.0, -3.0], [1.0, 0.0], [1.0, 1.0]])
    result = relative_difference(other, reference)
    assert result[0].item() == 0.25 and result[1].isnan() and result[2].item() == 0.0
