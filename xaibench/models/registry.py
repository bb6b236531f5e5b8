"""The model registry: architectures by name, built for a dataset's input shape and classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from xaibench.registry import Registry, check_params, check_values, type_hints


@dataclass(frozen=True)
class ModelInfo:
    """`build(input_shape, num_classes, **params)` returns an untrained module whose forward
    maps inputs (N, *input_shape) to logits (N, num_classes)."""

    name: str
    build: Callable[..., nn.Module]
    description: str
    # `weights(checkpoint, **params)`: the pretrained weights the settings ask for (loaded
    # instead of training; see models/pretrained.py), or None when they ask for none.
    weights: Callable[..., Any] | None = None


# What every architecture is built from; everything after these is a setting.
MODEL_DATA = ("input_shape", "num_classes")

MODELS: Registry[ModelInfo] = Registry("model")


def check_model_params(name: str, params: dict) -> None:
    """One line for an architecture parameter that model `name` does not take, or a value
    outside the parameter's type and range."""
    build = MODELS[name].build
    check_params(build, params, "model", name, MODEL_DATA)
    check_values(params, type_hints(build), f"model {name!r}: ")


def register_model(name: str, *, description: str, weights: Callable[..., Any] | None = None):
    def decorator(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.add(name, ModelInfo(name, build, description, weights))
        return build

    return decorator
