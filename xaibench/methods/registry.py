"""The method registry: name -> attribution function plus what a reader needs to know about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xaibench.registry import Registry

FAMILIES = ("gradient", "cam", "perturbation", "control")


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
