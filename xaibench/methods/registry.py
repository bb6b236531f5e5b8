"""The method registry: name -> attribution function, its family, and its docstring as its text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn

from xaibench.registry import (
    Registered,
    Registry,
    check_choice,
    check_data_params,
    context_for,
    variant,
)
from xaibench.renames import METHODS as RENAMED

# "other": a plug-in's family where it declares none (no built-in is "other").
FAMILIES = ("gradient", "cam", "perturbation", "control", "wrapper", "other")

# What every method is called with; everything after these is a setting (or context).
METHOD_DATA = ("model", "inputs", "target")


@dataclass(frozen=True)
class MethodInfo(Registered):
    """A registered explanation method.

    `fn(model, inputs, target, **settings)` returns attributions shaped like `inputs`; `target`
    is a long tensor (N,) of class indices. The docstring of `fn` is the method's description
    (`doc`): its summary, citation and settings are read from it.
    """

    name: str
    fn: Callable
    family: str
    renamed: dict[str, str] = field(default_factory=dict)  # old setting name -> new name
    # False: a sample's map depends on the other samples of its batch (the `random` control's
    # noise is drawn for the whole batch); a sharded run then explains it as one job would.
    batch_invariant: bool = True

    KIND: ClassVar[str] = "method"
    DATA: ClassVar[tuple[str, ...]] = METHOD_DATA

    def check(self, params: dict, label: str | None = None) -> None:
        """As for every entry; a wrapper (`smooth`, `postprocess`) also checks the settings
        given for the method it wraps (`params`), wrappers of wrappers included."""
        super().check(params, label)
        if {"method", "params"} <= set(self.settings()):
            wrapped = params.get("method", self.defaults()["method"])
            METHODS[wrapped].check(dict(params.get("params") or {}))


METHODS: Registry[MethodInfo] = Registry("method")


def register_method(
    name: str,
    *,
    family: str,
    renamed: dict[str, str] | None = None,
    batch_invariant: bool = True,
) -> Callable[[Callable], Callable]:
    """Register `fn(model, inputs, target, **settings) -> attributions` as method `name`.

    Use it as a decorator, in xaibench or in your own module (a plug-in): the method can then
    be selected by `name` in `xaibench.explain`, in a run's config (`method=[name]`, once the
    module is imported: see "Benchmark your own method" in the user guide) and in the catalog.

    Args:
        name: The method's name in configs, tables and the catalog.
        family: One of gradient, cam, perturbation, control, wrapper, other.
        renamed: Old setting names -> new ones, so old configs get a clear message.
        batch_invariant: False if a sample's map depends on the other samples of its batch
            (as the `random` control's does): a sharded run then explains the method over the
            whole evaluation's inputs, as one job would, and keeps its shard's maps.

    Returns:
        The decorator; it returns the function unchanged.

    Its docstring (Google style, with a `References:` section) is its description everywhere:
    the catalog, the generated configs and the documentation pages. A function registered again
    under the same name from the same import path (its module reloaded) replaces the first.
    """
    check_choice("family", family, FAMILIES, plural="families")

    def decorator(fn: Callable) -> Callable:
        check_data_params(fn, METHOD_DATA, "method", name, "fn(model, inputs, target, **settings)")
        renames = {**RENAMED.get(name, {}), **(renamed or {})}
        METHODS.add(name, MethodInfo(name, fn, family, renames, batch_invariant))
        return fn

    return decorator


def register_method_variant(
    name: str,
    base: Callable,
    *,
    summary: str,
    family: str,
    fixed: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    references: str | None = None,
    renamed: dict[str, str] | None = None,
) -> Callable:
    """Register `base` with the settings `fixed` as method `name` (see `registry.variant`)."""
    fn = variant(base, name, summary, fixed, defaults, references)
    return register_method(name, family=family, renamed=renamed)(fn)


def call_method(
    name: str, model: nn.Module, inputs: Tensor, target: Tensor, params: dict, context: dict
) -> Tensor:
    """Run the registered method `name` from inside another method (the wrappers).

    `params` are checked like a config's; `context` (e.g. `background`, or the wrapper's
    `batch_size`) reaches the method only if it takes that name and `params` does not set it.
    `inputs` become a fresh leaf that requires grad, as `explain` hands them.
    """
    info = METHODS[name]
    info.check(params)
    inputs = inputs.detach().requires_grad_(True)
    extra = {k: v for k, v in context_for(info.fn, context).items() if k not in params}
    return info.fn(model, inputs, target, **params, **extra)
