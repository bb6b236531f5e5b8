"""Small, seeded problems to try methods and metrics on, in docstring examples and tests.

    >>> from xaibench.testing import toy_problem
    >>> model, inputs, target = toy_problem()
    >>> tuple(inputs.shape), tuple(target.shape)
    ((4, 1, 16), (4,))

Nothing here is trained: the weights are seeded noise, enough to check shapes, directions and
properties, never to judge a method.

`check_method` and `check_metric` check the contract a method or a metric (a plug-in of your
own, or a built-in) must meet; call them in your own tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def toy_model(dims: int = 1, channels: int = 1, classes: int = 3, seed: int = 0) -> nn.Module:
    """A two-convolution CNN with seeded weights, in eval mode: `dims` 1 for signals (N, C, L),
    2 for images (N, C, H, W)."""
    conv, pool = (
        (nn.Conv1d, nn.AdaptiveAvgPool1d) if dims == 1 else (nn.Conv2d, nn.AdaptiveAvgPool2d)
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            conv(channels, 4, 3, padding=1),
            nn.ReLU(),
            conv(4, 4, 3, padding=1),
            nn.ReLU(),
            pool(2),
            nn.Flatten(),
            nn.Linear(4 * 2**dims, classes),
        )
    return model.eval()


def toy_problem(
    dims: int = 1, samples: int = 4, size: int = 16, channels: int = 1, seed: int = 0
) -> tuple[nn.Module, Tensor, Tensor]:
    """(model, inputs, target): `toy_model` with 3 classes, `samples` seeded random inputs of
    length `size` (or `size` x `size` images) and targets 0, 1, 2, 0, ... in turn."""
    model = toy_model(dims, channels, seed=seed)
    shape = (samples, channels, *[size] * dims)
    inputs = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return model, inputs, torch.arange(samples) % 3


# --- the contract of a method or a metric, checked -------------------------------------------
#
# `check_method` and `check_metric` check what a plug-in must do to be benchmarked like a
# built-in (xaibench's shared tests run them on every built-in). Each failed check raises one
# AssertionError whose message is one line: the function, the check and what was found.


def check_method(
    method: str | Callable,
    model: nn.Module | None = None,
    inputs: Tensor | None = None,
    target: Tensor | None = None,
    *,
    target_dependent: bool = True,
    batch_invariant: bool = True,
    **settings: Any,
) -> None:
    """Check that an attribution method meets the contract of an xaibench method.

    Checks, each failing in one AssertionError line: the map is a tensor shaped like `inputs`,
    of their dtype, and finite; it explains the given `target` (the maps of two targets differ
    somewhere, unless `target_dependent=False`, e.g. for a control that ignores the target);
    each sample gets the same map alone as in the batch (unless `batch_invariant=False`); the
    model's parameters, gradients, train/eval mode and hooks are left as found; and a method
    taking `seed` repeats with the same seed and changes with another.

    Args:
        method: A registered method's name, or a function `fn(model, inputs, target, **settings)`
            (registered or not).
        model: The model to explain; `toy_model()` (1D, 3 classes) when None.
        inputs: Inputs (N, C, ...); `toy_problem`'s 6 signals when None.
        target: Class indices (N,); 0, 1, 2, ... in turn when None.
        target_dependent: Whether the maps must depend on the target.
        batch_invariant: Whether a sample's map must not depend on the other samples.
        **settings: Settings (and context such as `background`) passed to every call.

    Example:
        >>> from xaibench.testing import check_method
        >>> check_method("saliency")  # returns None when every check passes
    """
    name, fn = _method(method)
    model, inputs, target = _problem(model, inputs, target)

    def call(x: Tensor, t: Tensor, **extra: Any) -> Tensor:
        before = _state(model)
        maps = fn(model, x.detach().clone().requires_grad_(True), t, **settings, **extra)
        problem = _changed(before, _state(model))
        assert problem is None, f"check_method({name}): leaves the model as found: {problem}"
        assert isinstance(maps, Tensor), (
            f"check_method({name}): returns a tensor: got a {type(maps).__name__}"
        )
        return maps.detach()

    maps = call(inputs, target)
    assert maps.shape == inputs.shape, (
        f"check_method({name}): map shaped like the inputs: got {tuple(maps.shape)}, expected "
        f"{tuple(inputs.shape)}"
    )
    assert maps.dtype == inputs.dtype, (
        f"check_method({name}): map of the inputs' dtype: got {maps.dtype}, expected {inputs.dtype}"
    )
    bad = int((~torch.isfinite(maps).flatten(1).all(dim=1)).sum())
    assert bad == 0, f"check_method({name}): finite maps: {bad} of {len(maps)} hold NaN or inf"
    if target_dependent:
        other = call(inputs, (target + 1) % _classes(model, inputs))
        assert not torch.equal(maps, other), (
            f"check_method({name}): explains the given target: the maps for target+1 equal those "
            "for target (pass target_dependent=False for a method that ignores the target)"
        )
    if "seed" in inspect.signature(fn).parameters and "seed" not in settings:
        first, again = call(inputs, target, seed=3), call(inputs, target, seed=3)
        assert torch.equal(first, again), (
            f"check_method({name}): seeds reproducible: two calls with seed=3 differ"
        )
        assert not torch.equal(first, call(inputs, target, seed=4)), (
            f"check_method({name}): seeds used: seed=3 and seed=4 give the same maps"
        )
    if batch_invariant:
        for i in range(len(inputs)):
            alone = call(inputs[i : i + 1], target[i : i + 1])
            # oneDNN picks another kernel for a batch of one: last-bit differences only.
            assert torch.allclose(alone[0], maps[i], rtol=1e-5, atol=1e-6), (
                f"check_method({name}): batch invariance: sample {i} gets another map alone "
                f"than in a batch of {len(inputs)} (max difference "
                f"{(alone[0] - maps[i]).abs().max().item():.3g})"
            )


def check_metric(
    metric: str | Callable,
    model: nn.Module | None = None,
    inputs: Tensor | None = None,
    target: Tensor | None = None,
    attributions: Tensor | None = None,
    **settings: Any,
) -> None:
    """Check that a metric meets the contract of an xaibench metric.

    Checks, each failing in one AssertionError line: the metric is registered with its
    direction (`higher_is_better`); it returns a `MetricResult` with one score per sample (and,
    with curves, one curve per sample over shared x values); each sample scores the same alone
    as in the batch; the model's parameters, gradients, mode and hooks are left as found.

    Args:
        metric: A registered metric's name, or its (registered) function.
        model: The model; `toy_model()` (1D, 3 classes) when None.
        inputs: Inputs (N, C, ...); `toy_problem`'s 6 signals when None.
        target: Class indices (N,); 0, 1, 2, ... in turn when None.
        attributions: The maps to score; gradient x input of `model` when None.
        **settings: Settings passed to every call; per-sample context (`masks`, first
            dimension N) is cut to the samples of each call.

    Example:
        >>> from xaibench.testing import check_metric
        >>> check_metric("deletion", steps=8)  # returns None when every check passes
    """
    from xaibench.metrics import METRICS, MetricResult

    found = [METRICS[n] for n in METRICS.names() if n == metric or METRICS[n].fn is metric]
    label = metric if isinstance(metric, str) else getattr(metric, "__qualname__", repr(metric))
    assert found, (
        f"check_metric({label}): direction declared: it is not a registered metric; register it "
        "with @xaibench.register_metric(name, category=..., higher_is_better=...)"
    )
    info = found[0]
    assert isinstance(info.higher_is_better, bool), (
        f"check_metric({info.name}): direction declared: higher_is_better="
        f"{info.higher_is_better!r}, expected True or False"
    )
    model, inputs, target = _problem(model, inputs, target)
    if attributions is None:
        x = inputs.detach().clone().requires_grad_(True)
        logits = model(x).gather(1, target[:, None]).sum()
        attributions = (torch.autograd.grad(logits, x)[0] * x).detach()
    samples = len(inputs)

    def call(index: slice) -> Any:
        per_sample = {
            k: v[index] if k == "masks" and isinstance(v, Tensor) and len(v) == samples else v
            for k, v in settings.items()
        }
        before = _state(model)
        result = info.score_many(
            model, inputs[index], target[index], [attributions[index]], **per_sample
        )[0]
        problem = _changed(before, _state(model))
        assert problem is None, f"check_metric({info.name}): leaves the model as found: {problem}"
        n = len(inputs[index])
        assert isinstance(result, MetricResult), (
            f"check_metric({info.name}): returns a MetricResult: got a {type(result).__name__}"
        )
        scores = result.scores
        shaped = isinstance(scores, Tensor) and tuple(scores.shape) == (n,)
        assert shaped, (
            f"check_metric({info.name}): one score per sample: got scores shaped "
            f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}, "
            f"expected ({n},)"
        )
        if result.curves is not None:
            points = result.curves.shape[-1]
            curved = tuple(result.curves.shape) == (n, points) and result.curve_x is not None
            assert curved, (
                f"check_metric({info.name}): one curve per sample: got curves shaped "
                f"{tuple(result.curves.shape)} and curve_x {result.curve_x!r:.40}"
            )
        return result

    whole = call(slice(None))
    for i in range(samples):
        alone = call(slice(i, i + 1))
        assert torch.allclose(
            alone.scores.double(), whole.scores[i : i + 1].double(), rtol=1e-5, atol=1e-5,
            equal_nan=True,
        ), (
            f"check_metric({info.name}): batch invariance: sample {i} scores "
            f"{alone.scores[0].item():.6g} alone and {whole.scores[i].item():.6g} in a batch of "
            f"{samples}"
        )  # fmt: skip


def _method(method: str | Callable) -> tuple[str, Callable]:
    """(name for messages, function) of a registered name or a function."""
    from xaibench.methods import METHODS

    if isinstance(method, str):
        return method, METHODS[method].fn
    return getattr(method, "__qualname__", repr(method)), method


def _problem(
    model: nn.Module | None, inputs: Tensor | None, target: Tensor | None
) -> tuple[nn.Module, Tensor, Tensor]:
    if model is None:
        model = toy_model()
    if inputs is None:
        inputs = toy_problem(samples=6)[1]
    if target is None:
        target = torch.arange(len(inputs)) % _classes(model, inputs)
    return model, inputs, target


def _classes(model: nn.Module, inputs: Tensor) -> int:
    with torch.no_grad():
        return int(model(inputs[:1]).shape[1])


def _state(model: nn.Module) -> dict[str, Any]:
    """What a method or a metric must leave as found."""
    return {
        "train/eval mode": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "parameters": [p.detach().clone() for p in model.parameters()],
        "gradients": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
            for m in model.modules()
        ),
    }


def _changed(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """The first thing that differs between two `_state`s, named, or None."""
    for key, old in before.items():
        new = after[key]
        if key in ("parameters", "gradients"):
            same = all(
                (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
                for a, b in zip(old, new, strict=True)
            )
        else:
            same = old == new
        if not same:
            return f"its {key} changed"
    return None
