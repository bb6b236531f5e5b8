"""The type and valid range of every setting, declared once, next to the setting.

A setting's annotation is its schema: the type (`int`, `float`, `bool`, `str`, a list or tuple
of them, `| None`) and, inside `typing.Annotated`, at most one constraint:

    steps: Count = 64                                  # Annotated[int, Range(low=1)]
    p: Annotated[float, Range(0, 1, low_open=True)] = 0.5
    baseline: Baseline = "zero"                        # Annotated[str, OneOf(BASELINES)]

The same annotations type the functions for mypy, are checked before any work starts
(`registry.check_values`, called for every method, metric, dataset, model, training and run
setting) and are shown as the valid values in the docs and the generated configs (`describe`).
A constraint bounds every number (`Range`) or string (`OneOf`, `Matches`) of a value: with
`window: Annotated[int | list[int], Range(low=1)]` each element of a list is at least 1.

Types are strict: an `int` setting refuses 3.7 and "3" (and True), a `bool` refuses "no" and 0,
a `float` accepts ints but refuses NaN and infinity. Imports nothing from xaibench, so any module
may declare its settings with it.
"""

from __future__ import annotations

import math
import numbers
import re
import types
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (None: unbounded on that side), ends included unless open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        assert isinstance(value, numbers.Real)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"


@dataclass(frozen=True, eq=False)
class OneOf:
    """Strings among `choices`: a tuple, a dict (its keys) or a registry, read when checked,
    so a registry filled after the declaration is seen whole."""

    choices: Collection[str]

    def __contains__(self, value: object) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return f"one of {', '.join(self.choices)}"


@dataclass(frozen=True)
class Matches:
    """Strings that match the regular expression `pattern` whole; `text` says which in words."""

    pattern: str
    text: str  # e.g. "one of auto, cpu, cuda, cuda:N"

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def __str__(self) -> str:
        return self.text


Constraint = Range | OneOf | Matches

# The settings most functions share.
Count = Annotated[int, Range(low=1)]  # how many: steps, draws, copies, epochs, batch_size
Seed = Annotated[int, Range(low=0)]  # NumPy's generators refuse negative seeds
NonNegative = Annotated[float, Range(low=0)]  # a noise level, a weight decay
Positive = Annotated[float, Range(low=0, low_open=True)]  # a radius, a learning rate


def allows(hint: Any, value: object, constraint: Constraint | None = None) -> bool:
    """Whether `value` has the type `hint` (an annotation) and lies in its constraint."""
    if get_origin(hint) is Annotated:
        base, constraint = get_args(hint)[:2]
        return allows(base, value, constraint)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(allows(arg, value, constraint) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        scalar = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif hint is float:
        scalar = (
            isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        )
    elif hint is str:
        scalar = isinstance(value, str)
    elif origin in (list, tuple, Sequence):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(
                allows(arg, item, constraint) for arg, item in zip(args, value, strict=True)
            )
        return not args or all(allows(args[0], item, constraint) for item in value)
    elif hint is dict or origin is dict:
        return isinstance(value, dict)
    else:  # a class (a Tensor, a module): not a setting a config can hold
        return not isinstance(hint, type) or isinstance(value, hint)
    return scalar and (constraint is None or value in constraint)


# What each type is called, alone and in a list.
NOUNS: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans"),
    dict: ("a mapping", "mappings"),
}


def describe(hint: Any, constraint: Constraint | None = None, plural: bool = False) -> str:
    """What `hint` allows, in words: "an integer >= 1", "one of blur, mean, uniform, zero",
    "a number in (0, 1) or a list of numbers in (0, 1)", "a string or null"."""
    if get_origin(hint) is Annotated:
        base, constraint = get_args(hint)[:2]
        return describe(base, constraint, plural)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        # An int is a number: "an integer or a number" says "a number".
        shown = [a for a in args if a is not type(None) and not (a is int and float in args)]
        text = " or ".join(describe(arg, constraint, plural) for arg in shown)
        return f"{text} or null" if type(None) in args else text
    if origin in (list, tuple, Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} {describe(args[0], constraint, plural=True)}"
        return f"a list of {describe(args[0] if args else Any, constraint, plural=True)}"
    singular, many = NOUNS.get(origin or hint, ("a value", "values"))
    noun = many if plural else singular
    if constraint is None:
        return noun
    if isinstance(constraint, Range):
        return f"{noun} {constraint}"
    return f"{noun} ({constraint})" if plural else str(constraint)


def _number(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)
