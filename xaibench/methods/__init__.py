"""Explanation methods: `explain(model, inputs, target, method, **params)`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.checks import check_call
from xaibench.methods import (  # noqa: F401  (registers the methods)
    cam,
    controls,
    gradient,
    perturbation,
    postprocess,
    propagation,
    smoothgrad,
)
from xaibench.methods.registry import (
    METHODS,
    MethodInfo,
    register_method,
    register_method_variant,
)
from xaibench.plugins import load_entry_points
from xaibench.registry import XaibenchError

__all__ = [
    "METHODS",
    "MethodInfo",
    "available_methods",
    "explain",
    "explain_in_batches",
    "register_method",
    "register_method_variant",
]

# Installed plug-in packages register their methods now, after xaibench's own.
load_entry_points("method", METHODS)


def available_methods() -> list[str]:
    """The names of the registered methods, sorted: each one is a valid `method` of `explain`.

    xaibench's own, those registered from Python (`register_method`) and those of installed
    plug-in packages (entry-point group `xaibench.methods`, loaded on import).
    """
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
    info.check(params, method)
    target = check_call(model, inputs, target)
    # A fresh leaf that requires grad: gradients never reach the caller's tensor, and captum
    # does not warn that it had to switch requires_grad on.
    inputs = inputs.detach().clone().requires_grad_(True)
    attributions = info.fn(model, inputs, target, **params)
    check_map(attributions, inputs, method)
    return attributions.detach()


def check_map(attributions: object, inputs: Tensor, method: str) -> None:
    """One line unless a method returned a tensor shaped like its inputs, of their dtype (a
    plug-in's mistake, named before any metric reads the map)."""
    if not isinstance(attributions, Tensor):
        raise XaibenchError(
            f"method {method!r} returned a {type(attributions).__name__}; a method returns a "
            f"tensor shaped like its inputs {tuple(inputs.shape)}"
        )
    if attributions.shape != inputs.shape or attributions.dtype != inputs.dtype:
        raise XaibenchError(
            f"method {method!r} returned a map shaped {tuple(attributions.shape)} of "
            f"{attributions.dtype}; it must be shaped like its inputs, {tuple(inputs.shape)} of "
            f"{inputs.dtype} (upsample or sum over what the map adds, cast with .to(inputs.dtype))"
        )


def explain_in_batches(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    method: str,
    params: dict,
    batch_size: int,
    device: torch.device | None = None,
) -> Tensor:
    """`explain` over `batch_size` inputs at a time (a sample's map does not depend on the
    others, so batching changes memory use only), each batch moved to `device` if given: how
    runs, ROAR and re-explaining metrics explain many inputs."""
    batches = zip(inputs.split(batch_size), target.split(batch_size), strict=True)
    return torch.cat(
        [explain(model, x if device is None else x.to(device), t, method, **params)
         for x, t in batches]
    )  # fmt: skip
