"""Name -> entry registries, and the parameter rules that methods, metrics and models share.

A registry is a dict with a decorator and an error message that lists the valid names, so an
unknown name from a config or a notebook fails in one readable line.

A registered function's parameters fall into three kinds, told apart by name:

- *data*: what the caller computes on (`model`, `inputs`, `target`, `attributions`; for
  models `input_shape`, `num_classes`), passed by every caller;
- *context*: what a run hands to the functions that ask for it by name (`CONTEXT_PARAMS`);
- *settings*: everything else, chosen by a user in a config or a call. Of these, the run's own
  `seed` and `batch_size` (`RUN_PARAMS`) reach every function that takes them unless its entry
  sets its own.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Collection, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from xaibench import docstrings
from xaibench.constraints import allows, describe
from xaibench.origins import is_builtin, origin
from xaibench.renames import renamed_message

T = TypeVar("T")


class XaibenchError(ValueError):
    """A user-facing error: its message is one line that names the problem and the fix."""


class UnknownNameError(XaibenchError):
    """A name that is not among the valid ones; the message lists them."""

    def __init__(
        self,
        kind: str,
        name: object,
        valid: Collection[str],
        plural: str | None = None,
        where: str = "",
    ):
        plural = plural or f"{kind}s"
        listed = ", ".join(valid) or "(none)"
        super().__init__(f"unknown {kind} {name!r}{where}; valid {plural}: {listed}")
        self.kind, self.name, self.valid = kind, name, list(valid)


def check_choice(kind: str, value: object, valid: Collection[str], plural: str | None = None):
    """Raise `UnknownNameError` unless `value` is one of `valid`."""
    if not isinstance(value, str) or value not in valid:
        raise UnknownNameError(kind, value, valid, plural)


class Registry(Generic[T]):
    """Entries by name; `registry[name]` raises `UnknownNameError` listing the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` as `name` and return it; a name registered twice is a ValueError,
        except a user's function registered again from the same import path (its module was
        reloaded after an edit, or a config declares it anew): the new entry replaces the old."""
        if name in self._entries and not _same_plugin(self._entries[name], entry):
            paths = [_import_path(e) for e in (self._entries[name], entry)]
            raise ValueError(
                f"{self.kind} {name!r} is registered twice: by {paths[0]} and {paths[1]}"
            )
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

    def remove(self, name: str) -> None:
        """Forget the entry `name` (a plug-in tried out in a notebook or a test)."""
        self[name]  # an unknown name lists the valid ones
        del self._entries[name]

    def names(self) -> list[str]:
        """Every registered name, sorted: xaibench's own and the plug-ins."""
        return sorted(self._entries)

    def builtin_names(self) -> list[str]:
        """The names of xaibench's own entries, sorted: plug-ins (methods and metrics whose
        function is a user's) left out."""
        fns = {name: getattr(entry, "fn", None) for name, entry in self._entries.items()}
        return [name for name, fn in sorted(fns.items()) if fn is None or is_builtin(fn)]


def _import_path(entry: object) -> str:
    fn = inspect.unwrap(getattr(entry, "fn", None) or (lambda: None))
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _same_plugin(old: object, new: object) -> bool:
    """Whether two entries are the same user's function (same import path), not xaibench's."""
    fns = [getattr(entry, "fn", None) for entry in (old, new)]
    if not all(callable(fn) for fn in fns):
        return False
    before, after = origin(fns[0]), origin(fns[1])  # type: ignore[arg-type]
    return before is not None and after is not None and before.target == after.target


# Data that a run hands to the methods and metrics whose functions ask for it by parameter
# name, as opposed to settings a user chooses in a config:
#   masks       ground-truth masks of the explained inputs, bool (N, *positions), where the
#               dataset has them (localisation metrics);
#   background  training inputs on the CPU (N_train, C, ...), for methods that need a
#               reference distribution (expected gradients).
CONTEXT_PARAMS = ("masks", "background")

# Settings of the whole run that reach every method and metric taking a setting of that name,
# unless its own entry sets it: the run's seed, and the memory knob (most model inputs per
# forward pass).
RUN_PARAMS = ("seed", "batch_size")


def check_data_params(
    fn: Callable, needed: Collection[str], kind: str, name: str, form: str
) -> None:
    """One line if `fn` does not take every parameter of `needed` by name (a user's function
    registered as a method or a metric), naming the missing ones and the form it must have."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        raise XaibenchError(f"{kind} {name!r}: {shown(fn)} has no signature to read") from None
    missing = [p for p in needed if p not in parameters]
    if missing and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        listed = ", ".join(repr(p) for p in missing)
        raise XaibenchError(
            f"{kind} {name!r}: its function takes no parameter {listed}; a {kind} is {form}"
        )


def context_for(fn: Callable, context: dict) -> dict:
    """The entries of `context` that `fn` takes as keyword arguments."""
    accepted = inspect.signature(fn).parameters
    return {name: value for name, value in context.items() if name in accepted}


def settings_of(fn: Callable, data: Collection[str]) -> dict[str, inspect.Parameter]:
    """The parameters of `fn` a user may set: all but the `data` and context parameters."""
    return {
        name: p
        for name, p in inspect.signature(fn).parameters.items()
        if name not in data and name not in CONTEXT_PARAMS and p.kind is not p.VAR_KEYWORD
    }


def default_params(fn: Callable, data: Collection[str]) -> dict:
    """The defaults of `fn`'s settings (see `settings_of`)."""
    return {
        name: p.default for name, p in settings_of(fn, data).items() if p.default is not p.empty
    }


def check_params(
    fn: Callable,
    params: dict,
    kind: str,
    name: str,
    data: Collection[str],
    renamed: dict[str, str] | None = None,
    also: Collection[str] = (),
) -> None:
    """Reject settings that `fn` does not take (nor `also`, settings handled around it),
    naming the valid ones, or the new name of a renamed one."""
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
        return
    accepted = [*settings_of(fn, data), *also]
    context = set(inspect.signature(fn).parameters) & set(CONTEXT_PARAMS)
    for key in sorted(set(params) - set(accepted) - context):
        if renamed and key in renamed:
            raise XaibenchError(renamed_message(kind, name, key, renamed[key]))
        raise UnknownNameError("parameter", key, accepted, where=f" for {kind} {name!r}")


@functools.cache
def type_hints(fn: Callable | type) -> dict[str, Any]:
    """The annotations of `fn` (a function, a `functools.partial` of one, or a dataclass) as
    objects, `Annotated` constraints kept: the types and ranges of its settings."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return typing.get_type_hints(inspect.unwrap(fn), include_extras=True)


def check_values(params: dict, types: dict[str, Any], owner: str = "") -> None:
    """One line for the first value of `params` that its annotation in `types` does not allow,
    naming the setting (after `owner`, e.g. "method 'rise': "), the value and what is valid."""
    for name, value in params.items():
        if name in types and not allows(types[name], value):
            raise XaibenchError(f"{owner}{name}={shown(value)} must be {describe(types[name])}")


def shown(value: object) -> str:
    """`value` as a message shows it: its repr if short and plain, else its type."""
    if isinstance(value, bool | int | float | str | list | tuple | dict | None):
        text = repr(value)
        return text if len(text) <= 80 else f"{text[:77]}..."
    return f"a {type(value).__name__}"


def variant(
    base: Callable,
    name: str,
    summary: str,
    fixed: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    references: str | None = None,
) -> Callable:
    """`base` with the settings `fixed` held constant: a function called `name` whose signature
    lacks them (so checks, defaults and docs read the variant's own settings), whose defaults
    are `base`'s except those in `defaults`, and whose docstring is `summary` followed by
    `base`'s description (its References section replaced by `references` if given).

    For metrics and methods that differ by one setting only (most- and least-relevant-first
    orders, deletion and insertion): the variant is declared, not copied.
    """
    signature = inspect.signature(base)
    unknown = set(fixed) | set(defaults or {})
    if unknown - set(signature.parameters):
        raise ValueError(f"{base.__name__} has no parameter {sorted(unknown)[0]!r}")
    parameters = [
        p.replace(default=(defaults or {}).get(p.name, p.default))
        for p in signature.parameters.values()
        if p.name not in fixed
    ]
    own = signature.replace(parameters=parameters)

    @functools.wraps(base)
    def call(*args: Any, **kwargs: Any) -> Any:
        bound = own.bind(*args, **kwargs)
        bound.apply_defaults()
        return base(**bound.arguments, **fixed)

    call.__name__ = call.__qualname__ = name
    call.__signature__ = own  # type: ignore[attr-defined]
    setting = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
    body = inspect.cleandoc(base.__doc__ or "").partition("\n\n")[2].strip()
    if references is not None:
        body = replace_section(body, "References", references)
    call.__doc__ = f"{summary}\n\n`{base.__name__}` with {setting}.\n\n{body}".strip()
    return call


def replace_section(text: str, title: str, content: str) -> str:
    """`text` (a dedented Google-style docstring) with section `title` holding `content`."""
    lines = text.split("\n")
    if f"{title}:" in lines:
        start = lines.index(f"{title}:")
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" ")):
            end += 1
        lines[start:end] = []
        text = "\n".join(lines).rstrip()
    indented = "\n".join(f"    {line}" for line in content.strip().split("\n"))
    return f"{text}\n\n{title}:\n{indented}"


class Registered:
    """What a registered method or metric offers about itself, read from its function.

    Subclasses (frozen dataclasses with `name`, `fn` and `renamed` fields) say what kind of
    entry they are (`KIND`), which parameters are data rather than settings (`DATA`), and which
    callable's signature holds the settings (`calling`: `fn` itself, or a metric's wrapper).
    """

    KIND: ClassVar[str]
    DATA: ClassVar[tuple[str, ...]]
    name: str
    fn: Callable
    renamed: dict[str, str]

    @property
    def calling(self) -> Callable:
        """The callable whose signature lists the entry's settings."""
        return self.fn

    @property
    def doc(self) -> docstrings.Doc:
        """The parsed docstring of `fn`: the entry's text."""
        return docstrings.parse(self.fn)

    @property
    def description(self) -> str:
        """The docstring's summary, on one line."""
        return self.doc.summary

    @property
    def citation(self) -> str:
        """The docstring's `References:` section, on one line ('' without one)."""
        return " ".join(self.doc.references.split())

    def settings(self) -> list[str]:
        """The names a user may set (context such as `background` or `masks` excluded)."""
        return list(settings_of(self.calling, self.DATA))

    def defaults(self) -> dict:
        """The default of every setting that has one, by name."""
        return default_params(self.calling, self.DATA)

    def annotations(self) -> dict[str, Any]:
        """The annotations of the function(s) whose parameters are the settings."""
        return type_hints(self.fn)

    def setting_types(self) -> dict[str, Any]:
        """The annotation of every setting, by name (`Any` where there is none): its type and
        valid range (see xaibench/constraints.py)."""
        hints = self.annotations()
        return {name: hints.get(name, Any) for name in self.settings()}

    def check(self, params: dict, label: str | None = None) -> None:
        """One clear line for a setting this entry does not take, or a value outside the
        setting's type and range."""
        name = label or self.name
        check_params(self.calling, params, self.KIND, name, self.DATA, self.renamed)
        check_values(params, self.setting_types(), f"{self.KIND} {name!r}: ")
