"""Count the inputs a model is run on: the unit of cost for methods and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


class ForwardCounter:
    """Number of forward calls and of inputs (rows) passed through a model."""

    def __init__(self) -> None:
        self.calls = 0
        self.inputs = 0

    def __call__(self, module: nn.Module, args: tuple) -> None:
        self.calls += 1
        self.inputs += len(args[0]) if args and hasattr(args[0], "__len__") else 1


@contextmanager
def count_forwards(model: nn.Module) -> Iterator[ForwardCounter]:
    """Count forwards of `model` inside the block; the hook is removed on exit."""
    counter = ForwardCounter()
    handle = model.register_forward_pre_hook(counter)
    try:
        yield counter
    finally:
        handle.remove()
