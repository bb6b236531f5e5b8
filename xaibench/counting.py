"""Count the inputs a model is run on, forward and backward: the unit of cost for methods and
metrics.

A model is counted together with every copy made of it (`copy.deepcopy`): model
randomisation re-explains on randomised copies, and that work belongs to the stage that does it.
The hook a counted model carries is copied with it and shared, not duplicated, and it adds to
whichever counters of that model are active when the copy runs, so a copy made in one stage
and run in another counts for the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from torch import Tensor, nn


class ForwardCounter:
    """Number of forward calls, of inputs (rows) passed forward, and of rows a backward pass
    went through (the gradient reaching the model's output)."""

    def __init__(self) -> None:
        self.calls = 0
        self.inputs = 0
        self.backwards = 0


class _CountingHook:
    """The forward hook of a counted model and of its copies: it adds to the counters active
    for the model (by `_ACTIVE`) at the time of the call."""

    def __deepcopy__(self, memo: dict) -> _CountingHook:
        return self  # a copy of a counted model counts as the model

    def __call__(self, module: nn.Module, args: tuple, output: object) -> None:
        counters = list(_ACTIVE.get(self, ()))
        if not counters:
            return
        rows = len(args[0]) if args and hasattr(args[0], "__len__") else 1
        for counter in counters:
            counter.calls += 1
            counter.inputs += rows
        if isinstance(output, Tensor) and output.requires_grad:

            def backward(grad: Tensor) -> None:
                for counter in counters:
                    counter.backwards += len(grad) if grad.dim() else 1

            output.register_hook(backward)


# Each counted model's hook (the same while the model lives), and the counters active per hook.
_HOOKS: WeakKeyDictionary[nn.Module, _CountingHook] = WeakKeyDictionary()
_ACTIVE: dict[_CountingHook, list[ForwardCounter]] = {}


@contextmanager
def count_forwards(model: nn.Module) -> Iterator[ForwardCounter]:
    """Count forwards and backwards of `model`, and of its copies, inside the block; the hook
    is removed from `model` on exit (copies keep it, idle until the model is counted again)."""
    counter = ForwardCounter()
    hook = _HOOKS.setdefault(model, _CountingHook())
    active = _ACTIVE.setdefault(hook, [])
    handle = None
    if hook not in model._forward_hooks.values():  # counted once, also when counts nest
        handle = model.register_forward_hook(hook)
    active.append(counter)
    try:
        yield counter
    finally:
        active.remove(counter)
        if not active:
            del _ACTIVE[hook]
        if handle is not None:
            handle.remove()
