"""Name -> entry registries, shared by methods, metrics, datasets and models.

A registry is a dict with a decorator and an error message that lists the valid names, so an
unknown name from a config or a notebook fails in one readable line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class XaibenchError(ValueError):
    """A user-facing error: its message is one line that names the problem and the fix."""


class UnknownNameError(XaibenchError):
    def __init__(self, kind: str, name: object, valid: list[str]):
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")
        self.kind, self.name, self.valid = kind, name, valid


class Registry(Generic[T]):
    """Entries by name; `registry[name]` raises `UnknownNameError` listing the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self.names()) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)


# Data that a run hands to the methods and metrics whose functions ask for it by parameter
# name, as opposed to settings a user chooses in a config:
#   masks       ground-truth masks of the explained inputs, bool (N, *positions), where the
#               dataset has them (localisation metrics);
#   background  training inputs on the CPU (N_train, C, ...), for methods that need a
#               reference distribution (expected gradients).
CONTEXT_PARAMS = ("masks", "background")


def context_for(fn: Callable, context: dict) -> dict:
    """The entries of `context` that `fn` takes as keyword arguments."""
    accepted = inspect.signature(fn).parameters
    return {name: value for name, value in context.items() if name in accepted}


def check_params(fn: Callable, params: dict, kind: str, name: str, skip: int) -> None:
    """Reject keyword arguments that `fn` does not take, naming the valid ones.

    `skip` is the number of leading positional parameters (model, inputs, ...) that are not
    user settings.
    """
    signature = inspect.signature(fn)
    accepted = list(signature.parameters)[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise XaibenchError(
            f"unknown parameter {unknown[0]!r} for {kind} {name!r}; valid parameters: "
            f"{', '.join(accepted) or '(none)'}"
        )


def default_params(fn: Callable, skip: int) -> dict:
    """The keyword defaults of `fn` after its first `skip` parameters."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    return {p.name: p.default for p in params if p.default is not p.empty}
