"""Explanation methods: `explain(model, inputs, target, method, **params)`."""

from __future__ import annotations

from torch import Tensor, nn

from xaibench.checks import as_target, check_inputs, check_target_range, num_outputs
from xaibench.methods import (  # noqa: F401  (registers the methods)
    cam,
    controls,
    gradient,
    perturbation,
    postprocess,
    propagation,
    smoothgrad,
)
from xaibench.methods.registry import METHODS, MethodInfo, register_method
from xaibench.registry import check_params

__all__ = ["METHODS", "MethodInfo", "available_methods", "explain", "register_method"]


def available_methods() -> list[str]:
    return METHODS.names()


def explain(
    model: nn.Module, inputs: Tensor, target: int | list[int] | Tensor, method: str, /, **params
) -> Tensor:
    """Attributions of `method` for `target`, shaped like `inputs` (N, C, L) or (N, C, H, W).

    The model is left as found: mode, parameters and hooks are unchanged. The first four
    arguments are positional-only, so that `params` may hold a setting called `method` (the
    method that the wrappers `smooth` and `postprocess` wrap).
    """
    info = METHODS[method]
    check_params(info.fn, params, "method", method, skip=3)
    check_inputs(inputs)
    target = as_target(target, inputs)
    check_target_range(target, num_outputs(model, inputs))
    # A fresh leaf that requires grad: gradients never reach the caller's tensor, and captum
    # does not warn that it had to switch requires_grad on.
    inputs = inputs.detach().clone().requires_grad_(True)
    attributions = info.fn(model, inputs, target, **params)
    assert attributions.shape == inputs.shape, f"{method} returned {tuple(attributions.shape)}"
    return attributions.detach()
