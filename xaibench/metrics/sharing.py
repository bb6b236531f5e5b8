"""Work that several metric calls of one run would repeat, done once.

A run scores every metric for every method, and some of that work is the same in several calls:
max-sensitivity and the local Lipschitz estimate with the same radius, perturbations and seed
re-explain the same perturbed inputs with the same method, and model randomisation draws the
same randomised weights for every method. While a `SharedWork` is active (`with sharing():`,
as a run scores), the helpers of those metrics (`shared`) keep such results by everything that
determines them and hand them to the next call that asks; without it (`xaibench.evaluate`)
every call computes its own. The results are the same either way, bit for bit: a kept result is
the very object the first call computed.

Memory: what is kept lives until the block ends (for a run, the end of its scoring); each
helper says what it keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from typing import Any, TypeVar

from torch import Tensor, nn

from xaibench.cache import tensor_digest
from xaibench.counting import count_forwards

T = TypeVar("T")


class SharedWork:
    """Results kept by key, with the forwards and backwards their computation ran, and the
    forwards and backwards that later calls took from them instead of running them again."""

    def __init__(self) -> None:
        self._results: dict[tuple, tuple[Any, int, int]] = {}
        # Models whose identity is part of a key, kept alive so that no other object takes
        # their id while the work is shared.
        self._pinned: dict[int, nn.Module] = {}
        self.reused_forwards = 0
        self.reused_backwards = 0

    def key(self, value: object) -> object:
        """A hashable stand-in for `value`: tensors by content, a model by identity and the
        version of every parameter and buffer (an in-place change makes another key)."""
        if isinstance(value, Tensor):
            return ("tensor", tensor_digest(value))
        if isinstance(value, nn.Module):
            self._pinned[id(value)] = value
            versions = tuple(t._version for t in chain(value.parameters(), value.buffers()))
            return ("model", id(value), versions)
        if isinstance(value, dict):
            return ("dict", tuple(sorted((str(k), self.key(v)) for k, v in value.items())))
        if isinstance(value, list | tuple):
            return ("sequence", tuple(self.key(v) for v in value))
        return (type(value).__name__, repr(value))

    def result(self, key: tuple, compute: Callable[[], T], model: nn.Module) -> T:
        """The result kept under `key`, else `compute()`, kept with the forwards and backwards
        it ran on `model` and its copies."""
        if key in self._results:
            value, forwards, backwards = self._results[key]
            self.reused_forwards += forwards
            self.reused_backwards += backwards
            return value
        with count_forwards(model) as counter:
            value = compute()
        self._results[key] = (value, counter.inputs, counter.backwards)
        return value


_ACTIVE: ContextVar[SharedWork | None] = ContextVar("xaibench_shared_work", default=None)


@contextmanager
def sharing() -> Iterator[SharedWork]:
    """Share work between the metric calls inside the block (see the module docstring)."""
    work = SharedWork()
    token = _ACTIVE.set(work)
    try:
        yield work
    finally:
        _ACTIVE.reset(token)


def shared(what: str, parts: tuple, compute: Callable[[], T], model: nn.Module) -> T:
    """`compute()`, or the result of an earlier call with the same `what` and `parts` while
    sharing is active. `parts` must hold everything the result depends on (tensors are keyed
    by content); a part that is None stands for a dependency without a key, and then nothing is
    shared."""
    work = _ACTIVE.get()
    if work is None or any(part is None for part in parts):
        return compute()
    return work.result((what, *(work.key(part) for part in parts)), compute, model)
