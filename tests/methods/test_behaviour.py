"""What every explanation method must do: finite maps shaped like signals and images, the
memory knob, and the contract a plug-in must meet too (xaibench.testing.check_method: seeds,
batch invariance, the target, leaving the model as it found it)."""

from __future__ import annotations

import inspect

import pytest
import torch

import xaibench
from tests.helpers import tiny_cnn1d
from xaibench.methods import METHODS
from xaibench.registry import context_for
from xaibench.testing import check_method


def explain_with_context(model, x, target, method, **params):
    """`xaibench.explain` with what a run would hand the method: training inputs as
    `background` (here: seeded noise shaped like `x`'s samples)."""
    background = torch.randn(32, *x.shape[1:], generator=torch.Generator().manual_seed(5))
    extra = context_for(METHODS[method].fn, {"background": background})
    return xaibench.explain(model, x, target, method, **params, **extra)


def test_every_method_returns_finite_maps_shaped_like_signals_and_images(
    cnn1d, signals, cnn2d, images
):
    for model, x in [(cnn1d, signals), (cnn2d, images)]:
        for method in METHODS.builtin_names():
            attr = explain_with_context(model, x, 1, method)
            assert attr.shape == x.shape, method
            assert torch.isfinite(attr).all(), method
            assert not attr.requires_grad, method


def _takes(method: str, param: str) -> bool:
    return param in inspect.signature(METHODS[method].fn).parameters


CHUNKED = [m for m in METHODS.builtin_names() if _takes(m, "batch_size")]
# Fewer inner iterations where the defaults would make one-input-per-chunk runs slow.
LIGHT = {"rise": {"num_masks": 100}, "integrated_gradients": {"steps": 16},
         "expected_gradients": {"draws": 16}}  # fmt: skip


@pytest.mark.parametrize("method", CHUNKED)
def test_the_memory_knob_bounds_every_forward_pass_and_keeps_the_maps(method, cnn1d, signals):
    """With batch_size=8, no forward pass sees more than 8 inputs, and the maps equal those
    computed in one large chunk."""
    sizes = []
    # On the first layer, not the model: DeepLIFT and guided backprop run a traced view of
    # the model that shares its layers.
    handle = cnn1d[0].register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    try:
        small = explain_with_context(
            cnn1d, signals, 1, method, batch_size=8, **LIGHT.get(method, {})
        )
    finally:
        handle.remove()
    assert max(sizes) <= 8
    large = explain_with_context(
        cnn1d, signals, 1, method, batch_size=4096, **LIGHT.get(method, {})
    )
    torch.testing.assert_close(small, large, rtol=1e-5, atol=1e-6)


# Methods whose maps do not depend on the target class: the controls (random, edge) and
# Eigen-CAM (the first principal component of a layer's activations, class-agnostic).
TARGET_FREE = [m for m in METHODS.builtin_names() if METHODS[m].family == "control"]
TARGET_FREE += ["eigencam"]


@pytest.mark.parametrize("method", METHODS.builtin_names())
@pytest.mark.parametrize("train_mode", [False, True])
def test_every_method_meets_the_contract_of_a_plugin(method, train_mode, signals):
    """xaibench.testing.check_method, the check a plug-in author runs: maps shaped like the
    inputs, of their dtype, finite; explaining the given target; a sample's map the same alone
    or in a batch (not for `random`, whose noise is drawn per batch); the model's mode,
    parameters, gradients and hooks left as found; seeds that repeat and matter."""
    model = tiny_cnn1d().train(train_mode)
    inputs = signals.clone()
    background = torch.randn(32, *signals.shape[1:], generator=torch.Generator().manual_seed(5))
    check_method(
        method, model, signals, torch.tensor([0, 1, 2, 0, 1, 2]),
        target_dependent=method not in TARGET_FREE, batch_invariant=method != "random",
        **context_for(METHODS[method].fn, {"background": background}),
    )  # fmt: skip
    assert torch.equal(signals, inputs) and not signals.requires_grad
