"""Post-processing of any method's maps: absolute value, positive part, normalisation.

Every operation acts on one sample at a time: a map is never scaled by statistics of the other
samples in its batch (that would make a sample's scores depend on its neighbours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, OneOf
from xaibench.methods.registry import call_method, register_method

TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda a: a,
    "abs": torch.abs,
    "positive": lambda a: a.clamp(min=0),
    "negative": lambda a: (-a).clamp(min=0),
}


def _per_sample(reduce: Callable[[Tensor], Tensor], a: Tensor) -> Tensor:
    return reduce(a.flatten(1)).view(-1, *[1] * (a.dim() - 1))


def _divide(a: Tensor, scale: Tensor) -> Tensor:
    """a / scale per sample; a sample whose scale is 0 (an all-zero map) is left as it is."""
    return torch.where(scale > 0, a / scale.where(scale > 0, 1.0), a)


NORMALISATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda a: a,
    # largest absolute value 1, signs kept
    "max": lambda a: _divide(a, _per_sample(lambda f: f.abs().amax(dim=1), a)),
    # absolute values sum to 1, signs kept
    "sum": lambda a: _divide(a, _per_sample(lambda f: f.abs().sum(dim=1), a)),
    # scaled to [0, 1]
    "minmax": lambda a: _divide(
        a - _per_sample(lambda f: f.amin(dim=1), a),
        _per_sample(lambda f: f.amax(dim=1) - f.amin(dim=1), a),
    ),
}


@register_method(
    "postprocess",
    family="wrapper",
)
def postprocess(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    method: str = "integrated_gradients",
    params: dict | None = None,
    transform: Annotated[str, OneOf(TRANSFORMS)] = "abs",
    normalise: Annotated[str, OneOf(NORMALISATIONS)] = "max",
    batch_size: Count = 4096,
    background: Tensor | None = None,
) -> Tensor:
    r"""Any registered method's maps, transformed (absolute value, positive or negative part)
    and then normalised sample by sample (by maximum, sum or range).

    The result is `normalise(transform(maps))` for the maps of `method` with its `params`. Use
    it to compare methods on a common footing where a metric reads signs or scales (relevance
    mass, infidelity, sensitivity), or to match another tool's convention. Every sample is
    normalised by its own statistics, never the batch's, so its scores never depend on its
    neighbours; an all-zero map stays zero. Cost: the wrapped method's.

    Args:
        method: The registered method whose maps are processed: any name from
            `python -m xaibench.catalog methods`, wrappers included; integrated gradients by
            default.
        params: That method's settings as a dict (e.g. `{"steps": 128}`); checked with the
            other settings, before any work.
        transform: `none`, `abs` (default: $|a|$, the size of an effect whatever its
            direction), `positive` ($\max(a, 0)$, evidence for the target) or `negative`
            ($\max(-a, 0)$, evidence against it, as a non-negative map).
        normalise: `none`, `max` (default: divide by the largest $|a|$, so values lie in
            [-1, 1] with their signs), `sum` (divide by $\sum |a|$, so absolute values sum to 1)
            or `minmax` (scale to [0, 1], pytorch-grad-cam's convention for CAMs).
        batch_size: Handed to the wrapped method if it takes `batch_size` and `params` does not
            set it (the run's memory knob reaches it this way); it changes memory use only.
        background: Training inputs, handed on to the wrapped method if it takes them
            (`expected_gradients`); a run passes them automatically.

    Returns:
        Attributions shaped like `inputs`: the wrapped method's maps, transformed and
        normalised per sample.

    Implementations differ:
        - Quantus normalises explanations by default (`normalise=True` with `normalise_by_max`)
          over every axis of the batch's array at once, so a sample is divided by the batch's
          largest value and its scores depend on the other samples; xaibench divides each
          sample by its own. Quantus also normalises before taking absolute values, xaibench
          after: the order does not matter when dividing by a positive scale (`max`, `sum`),
          but it does for `minmax`.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "postprocess", params={"steps": 8})
        >>> maps.flatten(1).amax(dim=1)   # |IG| scaled to a maximum of 1, sample by sample
        tensor([1., 1., 1., 1.])
        >>> bool((maps >= 0).all())
        True

    References:
        As keras-explainable's filters (absolute value, positive part, normalise), applied per
        sample
    """
    context: dict[str, Any] = {"batch_size": batch_size}
    if background is not None:
        context["background"] = background
    maps = call_method(method, model, inputs, target, dict(params or {}), context).detach()
    return NORMALISATIONS[normalise](TRANSFORMS[transform](maps))
