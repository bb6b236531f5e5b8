"""`custom`: the user's own architecture, named by `_target_` like any Hydra-instantiated
object, trained by the zoo or loaded from the user's own `checkpoint` (see zoo.py)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from xaibench.models.registry import register_model
from xaibench.origins import error_line, locate, origin
from xaibench.registry import XaibenchError


@register_model(
    "custom",
    description="Your own nn.Module: `_target_` is its import path (package.module.Class or a "
    "function returning a module) and the other keys its arguments.",
)
def custom(
    input_shape: tuple[int, ...], num_classes: int, /, _target_: str | None = None, **arguments
) -> nn.Module:
    """`input_shape` and `num_classes` are passed to the target too when it takes arguments
    of those names that the config does not set."""
    from hydra.utils import instantiate  # the maintained implementation of `_target_`

    if not _target_:
        raise XaibenchError(
            "model custom needs model._target_=<import path of your nn.Module class>, e.g. "
            "model._target_=mypackage.nets.MyNet"
        )
    target = locate_model(_target_)
    try:
        accepted: Mapping[str, inspect.Parameter] = inspect.signature(target).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        accepted = {}
    dataset_given = {"input_shape": tuple(input_shape), "num_classes": num_classes}
    for name, value in dataset_given.items():
        if name in accepted and name not in arguments:
            arguments[name] = value
    model = instantiate({"_target_": _target_, **arguments})
    if not isinstance(model, nn.Module):
        raise XaibenchError(
            f"model._target_={_target_!r} gave a {type(model).__name__}, not a torch nn.Module"
        )
    return model


def code_version(params: dict) -> dict:
    """The version of a custom model's code (its module's source: see origins.py) for the
    cache key, so an edited architecture is trained anew; empty for built-in models."""
    target = params.get("_target_")
    if not target:
        return {}
    found = origin(locate_model(target))
    return {} if found is None else {"user_code": found.version}


def locate_model(target: str) -> Any:
    """The class or function at import path `target`, reloaded if edited (origins.locate);
    one line with the whole import error if it cannot be imported."""
    try:
        return locate(target)
    except Exception as error:
        raise XaibenchError(
            f"model._target_={target!r} cannot be imported: {error_line(error)}"
        ) from None
