"""The method registry: name -> attribution function plus what a reader needs to know about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from xaibench.registry import Registry, check_params, context_for

FAMILIES = ("gradient", "cam", "perturbation", "control", "wrapper")


@dataclass(frozen=True)
class MethodInfo:
    """A registered explanation method.

    `fn(model, inputs, target, **params)` returns attributions shaped like `inputs`; `target` is
    a long tensor (N,) of class indices.
    """

    name: str
    fn: Callable
    family: str
    description: str
    citation: str


METHODS: Registry[MethodInfo] = Registry("method")


def register_method(name: str, *, family: str, description: str, citation: str):
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")

    def decorator(fn: Callable) -> Callable:
        METHODS.add(name, MethodInfo(name, fn, family, description, citation))
        return fn

    return decorator


def call_method(
    name: str, model: nn.Module, inputs: Tensor, target: Tensor, params: dict, context: dict
) -> Tensor:
    """Run the registered method `name` from inside another method (the wrappers).

    `params` are checked like a config's; `context` (e.g. `background`) reaches the method only
    if it asks for it. `inputs` become a fresh leaf that requires grad, as `explain` hands them.
    """
    fn = METHODS[name].fn
    check_params(fn, params, "method", name, skip=3)
    inputs = inputs.detach().requires_grad_(True)
    return fn(model, inputs, target, **params, **context_for(fn, context))
