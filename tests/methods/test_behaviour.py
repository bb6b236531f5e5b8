"""What every explanation method must do: finite maps shaped like signals and images, seeds,
the memory knob, batch invariance, and leaving the model as it found it."""

from __future__ import annotations

import inspect

import pytest
import torch

import xaibench
from tests.helpers import tiny_cnn1d
from xaibench.methods import METHODS
from xaibench.registry import context_for


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
        for method in xaibench.available_methods():
            attr = explain_with_context(model, x, 1, method)
            assert attr.shape == x.shape, method
            assert torch.isfinite(attr).all(), method
            assert not attr.requires_grad, method


def _takes(method: str, param: str) -> bool:
    return param in inspect.signature(METHODS[method].fn).parameters


SEEDED = [m for m in METHODS.names() if _takes(m, "seed")]
CHUNKED = [m for m in METHODS.names() if _takes(m, "batch_size")]
# Fewer inner iterations where the defaults would make one-input-per-chunk runs slow.
LIGHT = {"rise": {"num_masks": 100}, "integrated_gradients": {"steps": 16},
         "expected_gradients": {"draws": 16}}  # fmt: skip


@pytest.mark.parametrize("method", SEEDED)
def test_seeded_methods_repeat_with_a_seed_and_change_with_another(method, cnn1d, signals):
    first = explain_with_context(cnn1d, signals, 1, method, seed=3)
    assert torch.equal(first, explain_with_context(cnn1d, signals, 1, method, seed=3))
    assert not torch.equal(first, explain_with_context(cnn1d, signals, 1, method, seed=4))


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


DETERMINISTIC = [m for m in METHODS.names() if m != "random"]


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_a_sample_gets_the_same_map_alone_or_in_a_batch(method, cnn1d, signals):
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    batch = explain_with_context(cnn1d, signals, target, method)
    for i in range(len(signals)):
        alone = explain_with_context(cnn1d, signals[i : i + 1], target[i : i + 1], method)
        # oneDNN picks another kernel for a batch of one: last-bit differences only.
        torch.testing.assert_close(alone[0], batch[i], rtol=1e-5, atol=1e-6)


def _snapshot(model):
    hooks = sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": hooks,
    }


@pytest.mark.parametrize("method", METHODS.names())
@pytest.mark.parametrize("train_mode", [False, True])
def test_methods_leave_the_model_as_they_found_it(method, train_mode, signals):
    model = tiny_cnn1d().train(train_mode)
    before = _snapshot(model)
    inputs = signals.clone()
    explain_with_context(model, signals, 1, method)
    after = _snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["hooks"] == before["hooks"]
    assert all(g is None for g in after["grads"])
    for p, q in zip(before["params"], after["params"], strict=True):
        assert torch.equal(p, q)
    assert torch.equal(signals, inputs) and not signals.requires_grad
