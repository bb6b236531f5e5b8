"""The config files of methods and metrics (conf/method/NAME.yaml, conf/metric/NAME.yaml),
generated from the registry: every setting with its Python default and, above it, the text of
its docstring's Args entry and its valid values (from its annotation, see constraints.py). Edit
the docstring or the annotation, then run

    python -m xaibench.catalog --write-configs

(tests/test_configs.py fails while a file differs from what this module generates).
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import yaml

from xaibench.constraints import describe
from xaibench.methods import METHODS, MethodInfo
from xaibench.metrics import METRICS, MetricInfo
from xaibench.metrics.reexplain import REEXPLAIN_SETTINGS
from xaibench.registry import RUN_PARAMS, Registry

WIDTH = 100
GROUPS: dict[str, Registry[MethodInfo] | Registry[MetricInfo]] = {
    "method": METHODS,
    "metric": METRICS,
}

# Settings a run passes to re-explaining metrics itself (each method's name and settings).
SET_BY_RUN = ("method", "method_params")


def config_value(name: str, default: object, annotation: str) -> object:
    """The value a config holds for a setting: the run's own value for `seed` and
    `batch_size` (an interpolation), `{}` for an optional dict (so that `+method.X.params.k=v`
    works), lists for tuples, else the Python default."""
    if name in RUN_PARAMS:
        return f"${{{name}}}"
    if default is None and "dict" in annotation:
        return {}
    if isinstance(default, tuple):
        return list(default)
    return default


def comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        WIDTH,
        initial_indent=f"{indent}# ",
        subsequent_indent=f"{indent}# ",
        break_on_hyphens=False,
    )


def config_text(kind: str, info: MethodInfo | MetricInfo) -> str:
    """The YAML of one method or metric config."""
    doc = info.doc
    lines = [f"# @package {kind}.{info.name}"]
    lines += comment(f"{info.name}: {doc.summary}")
    if isinstance(info, MetricInfo):
        lines += comment("Higher is better." if info.higher_is_better else "Lower is better.")
    lines += comment(f"Reference: {info.citation}")
    source = f"{inspect.unwrap(info.fn).__module__}.{inspect.unwrap(info.fn).__qualname__}"
    lines += comment(
        f"Generated from the docstring of {source} by `python -m xaibench.catalog "
        "--write-configs`: edit the docstring, not this file."
    )
    defaults, types = info.defaults(), info.setting_types()
    parameters = inspect.signature(
        info.score_many if isinstance(info, MetricInfo) else info.fn
    ).parameters
    for name in info.settings():
        if name in SET_BY_RUN and isinstance(info, MetricInfo) and info.reexplains:
            continue
        text = doc.params.get(name) or REEXPLAIN_SETTINGS.get(name, (None, ""))[1]
        lines += ["", *comment(text), *comment(f"Valid: {describe(types[name])}.")]
        value = config_value(name, defaults.get(name), str(parameters[name].annotation))
        if name in RUN_PARAMS:  # an interpolation, written unquoted as Hydra configs do
            lines.append(f"{name}: {value}")
            continue
        dumped = yaml.safe_dump({name: value}, default_flow_style=True, width=10_000).strip()
        lines.append(dumped[1:-1] if dumped.startswith("{") else dumped)
    return "\n".join(lines) + "\n"


def expected_configs(conf_dir: str | Path) -> dict[Path, str]:
    """Every generated config file's path and text: xaibench's own methods and metrics
    (plug-ins are selected with `+method.NAME={}` or `_target_`, and ship no config here)."""
    return {
        Path(conf_dir) / kind / f"{name}.yaml": config_text(kind, registry[name])
        for kind, registry in GROUPS.items()
        for name in registry.builtin_names()
    }


def write_configs(conf_dir: str | Path) -> list[Path]:
    """Write every method and metric config; returns the files that changed."""
    changed = []
    for path, text in expected_configs(conf_dir).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
