"""Post-processing of any method's maps: absolute value, positive part, normalisation.

Every operation acts on one sample at a time: a map is never scaled by statistics of the other
samples in its batch (that would make a sample's scores depend on its neighbours).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from xaibench.methods.registry import call_method, register_method
from xaibench.registry import check_choice

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
    transform: str = "abs",
    normalise: str = "max",
    background: Tensor | None = None,
) -> Tensor:
    """Any method's maps (method, params) transformed (none, abs, positive, negative), then
    normalised per sample (none, max, sum, minmax).

    References:
        As keras-explainable's filters (absolute value, positive part, normalise), applied per
        sample
    """
    check_choice("transform", transform, TRANSFORMS)
    check_choice("normalisation", normalise, NORMALISATIONS)
    context = {} if background is None else {"background": background}
    maps = call_method(method, model, inputs, target, dict(params or {}), context).detach()
    return NORMALISATIONS[normalise](TRANSFORMS[transform](maps))
