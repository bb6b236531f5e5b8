"""A user's own methods and metrics: named in a config with `_target_`, or installed as a
package that declares them under the entry-point groups `xaibench.methods` and
`xaibench.metrics`. Both end as registry entries, so a plug-in is run, checked, cached and
reported exactly as a built-in is.

- `_target_`: `'+method.gxi_pos={_target_: mymethods.gxi_pos, clip: 0}'`. The function is
  imported with Hydra's `get_object`. If its module registers it (`@xaibench.register_method`)
  that registration holds; otherwise the entry declares what a registration declares (`family`
  for a method; `category` and `higher_is_better`, required, for a metric) and the function is
  registered under its import path.
- entry points: an installed distribution's `[project.entry-points."xaibench.methods"]` names
  modules or functions; loading one imports the module, whose decorators register the
  plug-ins. A broken one is left out with one warning line (`PluginWarning`) naming the entry
  point and the error, so it breaks nothing else; selecting its names then fails as unknown.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import warnings
from collections.abc import Callable
from typing import Any

from xaibench.origins import distribution, error_line, locate, module_of, origin, refresh
from xaibench.registry import Registry, XaibenchError, shown

TARGET_KEY = "_target_"
GROUPS = {"method": "xaibench.methods", "metric": "xaibench.metrics"}

# What a `_target_` entry may declare about a function its module does not register, as the
# keyword arguments of register_method / register_metric (the others are its settings).
DECLARED = {
    "method": ("family",),
    "metric": ("category", "higher_is_better", "curve_x_label", "curve_y_label"),
}


class PluginWarning(UserWarning):
    """An installed plug-in that could not be loaded (it is left out)."""


def load_entry_points(kind: str, registry: Registry) -> None:
    """Import every installed plug-in of `kind` (method or metric) named under its entry-point
    group; each registers itself. One failing is left out with a `PluginWarning`."""
    for point in importlib.metadata.entry_points(group=GROUPS[kind]):
        if _being_imported(point.module):
            # The plug-in's module imported xaibench (`import xaibench_plugin` came first): its
            # decorators register its functions once xaibench is loaded.
            continue
        try:
            loaded = point.load()
        except Exception as error:
            warnings.warn(
                f"xaibench: plug-in entry point {point.name} = {point.value} (group "
                f"{point.group}) failed to load and is left out: {error_line(error)}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        if callable(loaded) and not any(info.fn is loaded for info in registry_entries(registry)):
            warnings.warn(
                f"xaibench: plug-in entry point {point.name} = {point.value} names a function "
                f"that its module does not register; decorate it with "
                f"@xaibench.register_{kind}(...)",
                PluginWarning,
                stacklevel=2,
            )


def _being_imported(module: str) -> bool:
    """Whether `module` is part-way through its own import (it imported xaibench)."""
    spec = getattr(sys.modules.get(module), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def registry_entries(registry: Registry) -> list[Any]:
    return [registry[name] for name in registry.names()]


def distribution_of(fn: Callable) -> str | None:
    """`<name> <version>` of the installed distribution that holds `fn`'s module, or None."""
    return distribution(module_of(fn))


def resolve_target(kind: str, label: str, params: dict) -> tuple[str, dict]:
    """For a config entry with `_target_` (a function's import path): the registered name to
    run and the entry's settings. Declarations (see `DECLARED`) are taken out of the settings.
    """
    from xaibench.methods import METHODS, register_method
    from xaibench.metrics import METRICS, register_metric

    registry = METHODS if kind == "method" else METRICS
    params = dict(params)
    target = params.pop(TARGET_KEY)
    fn = import_target(kind, label, target)
    declared = {key: params.pop(key) for key in DECLARED[kind] if key in params}
    for info in registry_entries(registry):
        if info.fn is fn:
            if declared:
                raise XaibenchError(
                    f"{kind} {label!r}: {target} is registered by its module as {kind} "
                    f"{info.name!r}; remove {', '.join(sorted(declared))} from the entry (the "
                    "registration declares them)"
                )
            return info.name, params
    if kind == "method":
        register_method(target, family=declared.get("family", "other"))(fn)
    else:
        if "higher_is_better" not in declared:
            raise XaibenchError(
                f"metric {label!r}: {target} declares no direction; add higher_is_better: true "
                "or false to the entry (or register it with @xaibench.register_metric)"
            )
        declared.setdefault("category", "other")
        register_metric(target, **declared)(fn)
    return target, params


def import_target(kind: str, label: str, target: object) -> Callable:
    """The function at import path `target`, its module reloaded if edited since it was
    imported; one line with the whole import error if it cannot be imported."""
    if not isinstance(target, str) or "." not in target:
        raise XaibenchError(
            f"{kind} {label!r}: _target_={shown(target)} must be an import path, "
            "module.function (e.g. mymethods.gxi_pos)"
        )
    try:
        fn = locate(target)
    except Exception as error:
        raise XaibenchError(
            f"{kind} {label!r}: _target_={target!r} cannot be imported: {error_line(error)}"
        ) from None
    if not callable(fn):
        raise XaibenchError(
            f"{kind} {label!r}: _target_={target!r} is a {type(fn).__name__}, not a function"
        )
    return fn


def provenance(fn: Callable) -> dict[str, str] | None:
    """What names a user's function in meta.json and the run tables: its import path
    (`_target_`) and version (`_version_`: the digest of its module's source, or its
    distribution and version); None for xaibench's own functions."""
    found = origin(fn)
    if found is None:
        return None
    record = found.as_dict()
    if (dist := distribution_of(fn)) is not None:
        record["_distribution_"] = dist
    return record


def reload_if_edited(fn: Callable) -> None:
    """Reload the module of a user's function if its file changed since it was imported, so
    the registry holds the code on disk (a reloaded module registers its functions again)."""
    module = module_of(fn)
    if module is not None and origin(fn) is not None:
        refresh(module.__name__)


def referenced_methods(params: dict) -> list[str]:
    """The method names a wrapper's or re-explaining metric's settings name (`method`,
    nested through `params`): their code decides the result too."""
    found = []
    while isinstance(params, dict) and isinstance(params.get("method"), str):
        found.append(params["method"])
        params = params.get("params") or {}
    return found
