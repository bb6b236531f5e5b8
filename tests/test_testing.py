"""xaibench.testing's contract checks fail a deliberately broken method or metric on exactly
the check it breaks, in one line; the shared tests (tests/methods/test_behaviour.py,
tests/metrics/test_behaviour.py) run them on every built-in."""

from __future__ import annotations

import pytest
import torch

import xaibench
from xaibench.metrics import METRICS
from xaibench.testing import check_method, check_metric


def gxi(model, inputs, target):
    """Gradient x input: meets the contract."""
    logits = model(inputs).gather(1, target[:, None]).sum()
    return (torch.autograd.grad(logits, inputs)[0] * inputs).detach()


def wrong_shape(model, inputs, target):
    return gxi(model, inputs, target).sum(dim=1)


def wrong_dtype(model, inputs, target):
    return gxi(model, inputs, target).double()


def nan_map(model, inputs, target):
    maps = gxi(model, inputs, target)
    maps[1, 0, 3] = float("nan")
    return maps


def ignores_target(model, inputs, target):
    return gxi(model, inputs, torch.zeros_like(target))


def normalised_per_batch(model, inputs, target):
    maps = gxi(model, inputs, target)
    return maps / maps.abs().max()


def leaves_train_mode(model, inputs, target):
    maps = gxi(model, inputs, target)
    model.train()
    return maps


def leaves_a_hook(model, inputs, target):
    model[0].register_forward_hook(lambda *args: None)
    return gxi(model, inputs, target)


def leaves_gradients(model, inputs, target):
    model(inputs).gather(1, target[:, None]).sum().backward()
    return inputs.grad.detach() * inputs.detach()


def changes_weights(model, inputs, target):
    with torch.no_grad():
        model[0].bias.add_(1.0)
    return gxi(model, inputs, target)


def ignores_its_seed(model, inputs, target, seed: int = 0):
    return gxi(model, inputs, target) + 0.1 * torch.randn(inputs.shape)


def unused_seed(model, inputs, target, seed: int = 0):
    return gxi(model, inputs, target)


BROKEN_METHODS = {
    "a map of the wrong shape": (wrong_shape, "map shaped like the inputs: got (6, 16)"),
    "a map of another dtype": (wrong_dtype, "map of the inputs' dtype: got torch.float64"),
    "a NaN map": (nan_map, "finite maps: 1 of 6 hold NaN or inf"),
    "a map that ignores the target": (ignores_target, "explains the given target"),
    "maps scaled by the batch": (normalised_per_batch, "batch invariance: sample 0"),
    "the model left in train mode": (leaves_train_mode, "its train/eval mode changed"),
    "a hook left on the model": (leaves_a_hook, "its hooks changed"),
    "gradients left on the model": (leaves_gradients, "its gradients changed"),
    "changed weights": (changes_weights, "its parameters changed"),
    "a seed not used for the noise": (ignores_its_seed, "two calls with seed=3 differ"),
    "a seed without effect": (unused_seed, "seed=3 and seed=4 give the same maps"),
}


@pytest.mark.parametrize(("fn", "fragment"), BROKEN_METHODS.values(), ids=BROKEN_METHODS)
def test_check_method_fails_a_broken_method_on_its_check_in_one_line(fn, fragment):
    with pytest.raises(AssertionError) as excinfo:
        check_method(fn)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"check_method({fn.__qualname__}): ")
    assert fragment in message


def test_check_method_passes_a_method_that_meets_the_contract():
    check_method(gxi)


def scores_per_batch(attributions):
    """Share of the batch's total absolute attribution: depends on the other samples."""
    mass = attributions.abs().flatten(1).sum(dim=1).double()
    return xaibench.MetricResult(scores=mass / mass.sum())


def one_score(attributions):
    return xaibench.MetricResult(scores=attributions.abs().sum().double().reshape(1))


def sets_train_mode(model, inputs, attributions):
    model.train()
    return xaibench.MetricResult(scores=attributions.abs().flatten(1).sum(dim=1).double())


def mass(attributions):
    """Total absolute attribution per sample: meets the contract."""
    return xaibench.MetricResult(scores=attributions.abs().flatten(1).sum(dim=1).double())


BROKEN_METRICS = {
    "scores that depend on the batch": (scores_per_batch, "batch invariance: sample 0"),
    "one score for the batch": (one_score, "one score per sample: got scores shaped (1,)"),
    "the model left in train mode": (sets_train_mode, "its train/eval mode changed"),
}


@pytest.fixture
def registered():
    """Register test metrics as `test_<function>`; they are removed afterwards."""
    names = []

    def register(fn):
        name = f"test_{fn.__name__}"
        xaibench.register_metric(name, category="other", higher_is_better=True)(fn)
        names.append(name)
        return name

    yield register
    for name in names:
        METRICS.remove(name)


@pytest.mark.parametrize(("fn", "fragment"), BROKEN_METRICS.values(), ids=BROKEN_METRICS)
def test_check_metric_fails_a_broken_metric_on_its_check_in_one_line(fn, fragment, registered):
    name = registered(fn)
    with pytest.raises(AssertionError) as excinfo:
        check_metric(fn)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"check_metric({name}): ")
    assert fragment in message


def test_check_metric_fails_a_metric_without_a_declared_direction():
    with pytest.raises(AssertionError) as excinfo:
        check_metric(mass)
    assert str(excinfo.value) == (
        "check_metric(mass): direction declared: it is not a registered metric; register it "
        "with @xaibench.register_metric(name, category=..., higher_is_better=...)"
    )


def test_check_metric_passes_a_metric_that_meets_the_contract(registered):
    check_metric(registered(mass))
