"""`custom`: the user's own architecture, named by `_target_` like any Hydra-instantiated
object, trained by the zoo or loaded from the user's own `checkpoint` (see zoo.py)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from torch import nn

from xaibench.models.registry import register_model
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
    from hydra.utils import get_object, instantiate  # the maintained implementation of `_target_`

    if not _target_:
        raise XaibenchError(
            "model custom needs model._target_=<import path of your nn.Module class>, e.g. "
            "model._target_=mypackage.nets.MyNet"
        )
    try:
        target = get_object(_target_)
    except Exception as error:
        reason = str(error).strip().splitlines()[0]
        raise XaibenchError(f"model._target_={_target_!r} cannot be imported: {reason}") from None
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
