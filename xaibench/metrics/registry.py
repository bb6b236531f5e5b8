"""The metric registry and the result every metric returns.

A metric function asks by name for the data it reads: any of `model`, `inputs`, `target` and
`attributions` (one map, or with `shared_across_methods` the list of every method's maps), the
run's context (`masks`, `background`) and, if it re-explains, `reexplain` (see reexplain.py).
Its other parameters are its settings. The registry calls every metric the same way, so a
metric that reads only the map (sparseness) says so in its signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor

from xaibench.methods import METHODS
from xaibench.metrics.reexplain import REEXPLAIN_PARAM, REEXPLAIN_SETTINGS, method_explainer
from xaibench.registry import (
    Registered,
    Registry,
    XaibenchError,
    check_choice,
    check_data_params,
    shown,
    type_hints,
    variant,
)
from xaibench.renames import METRICS as RENAMED

# "other": a plug-in's category where it declares none (no built-in is "other").
CATEGORIES = (
    "faithfulness", "robustness", "randomisation", "localisation", "complexity", "other",
)  # fmt: skip

# What every metric is called with; everything after these is a setting (or context).
METRIC_DATA = ("model", "inputs", "target", "attributions")


@dataclass(frozen=True)
class MetricResult:
    """Per-sample scores (N,) and, for metrics with a curve, curves (N, S) over `curve_x` (S,)."""

    scores: Tensor
    curves: Tensor | None = None
    curve_x: Tensor | None = None


@dataclass(frozen=True)
class MetricInfo(Registered):
    """A registered metric.

    `fn` is the function as written and documented (its docstring is the metric's text);
    `score_many(model, inputs, target, attributions, **settings)` is how everyone calls it: a
    list of attribution tensors (one per method) in, one MetricResult per tensor out. Metrics
    whose perturbations do not depend on the maps (`shared_across_methods`: sensitivity-n)
    run their forward passes once for all methods; the others are called once per map.
    """

    name: str
    fn: Callable
    category: str
    higher_is_better: bool
    curve_x_label: str | None  # axis labels of the curves, None for metrics without curves;
    curve_y_label: str | None  # both may name settings (`{output}`, `{mode}`): see curve_labels
    shared_across_methods: bool
    score_many: Callable[..., list[MetricResult]]
    renamed: dict[str, str] = field(default_factory=dict)  # old setting name -> new name

    KIND: ClassVar[str] = "metric"
    DATA: ClassVar[tuple[str, ...]] = METRIC_DATA

    @property
    def calling(self) -> Callable:
        """`score_many`, whose signature holds the re-explaining block too."""
        return self.score_many

    @property
    def reexplains(self) -> bool:
        """Whether the metric re-explains (robustness, randomisation): it then needs
        `method=<registered name of the method that made the maps>` and `method_params`,
        so a run must score each method's maps with that method's own name and settings."""
        return REEXPLAIN_PARAM in inspect.signature(self.fn).parameters

    def annotations(self) -> dict[str, Any]:
        """The function's annotations, and the re-explaining block's where it re-explains."""
        block = type_hints(method_explainer) if self.reexplains else {}
        return {**block, **type_hints(self.fn)}

    def check(self, params: dict, label: str | None = None) -> None:
        """As for every entry; a re-explaining metric also checks the settings given for the
        method that made the maps (`method_params`)."""
        super().check(params, label)
        if self.reexplains and params.get("method") is not None:
            METHODS[params["method"]].check(dict(params.get("method_params") or {}))

    def curve_labels(self, params: dict) -> tuple[str, str]:
        """The (x, y) axis labels of the curves for a run with these settings, the metric's
        defaults filling the settings a run did not record. A label naming a setting the
        metric does not have is shown unformatted rather than failing."""
        settings = {**self.defaults(), **params}

        def fill(template: str) -> str:
            try:
                return template.format(**settings)
            except (KeyError, IndexError):
                return template

        return fill(self.curve_x_label or ""), fill(self.curve_y_label or "")


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(
    name: str,
    *,
    category: str,
    higher_is_better: bool,
    curve_x_label: str | None = None,
    curve_y_label: str | None = None,
    shared_across_methods: bool = False,
    renamed: dict[str, str] | None = None,
) -> Callable[[Callable], Callable]:
    """Register a metric; its docstring (Google style, with a `References:` section) is its
    description everywhere.

    Use it as a decorator, in xaibench or in your own module (a plug-in). The function asks by
    parameter name for the data it reads (`attributions` always; any of `model`, `inputs`,
    `target`, `masks`, `background`, `reexplain`) and returns a `MetricResult`.

    Args:
        name: The metric's name in configs, tables and the catalog.
        category: One of faithfulness, robustness, randomisation, localisation, complexity,
            other.
        higher_is_better: The direction of its scores (required: rankings depend on it).
        curve_x_label: The x axis of its curves, None without curves.
        curve_y_label: The y axis of its curves.
        shared_across_methods: With False the function scores one map (`attributions` is one
            tensor); with True it takes the list of all methods' maps and returns a list of
            results.
        renamed: Old setting names -> new ones, so old configs get a clear message.

    Returns:
        The decorator; it returns the function unchanged.
    """
    check_choice("category", category, CATEGORIES, plural="categories")
    if not isinstance(higher_is_better, bool):
        raise XaibenchError(
            f"metric {name!r}: higher_is_better={shown(higher_is_better)} must be true or false "
            "(the direction of its scores)"
        )

    def decorator(fn: Callable) -> Callable:
        check_data_params(fn, ("attributions",), "metric", name,
                          "fn(attributions, [model, inputs, target,] **settings)")  # fmt: skip
        info = MetricInfo(
            name, fn, category, higher_is_better, curve_x_label, curve_y_label,
            shared_across_methods, _score_many(name, fn, shared_across_methods),
            {**RENAMED.get(name, {}), **(renamed or {})},
        )  # fmt: skip
        METRICS.add(name, info)
        return fn

    return decorator


def register_metric_variant(
    name: str,
    base: Callable,
    *,
    summary: str,
    fixed: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    references: str | None = None,
    **metadata: Any,
) -> Callable:
    """Register `base` with the settings `fixed` as metric `name` (see `registry.variant`);
    `metadata` as for `register_metric`."""
    fn = variant(base, name, summary, fixed, defaults, references)
    return register_metric(name, **metadata)(fn)


def _score_many(name: str, fn: Callable, shared: bool) -> Callable[..., list[MetricResult]]:
    """`fn` behind the calling convention every metric shares (see MetricInfo.score_many)."""
    accepted = inspect.signature(fn).parameters
    reexplains = REEXPLAIN_PARAM in accepted
    clash = set(REEXPLAIN_SETTINGS) & set(accepted) if reexplains else set()
    if clash:
        raise ValueError(f"metric {name!r} re-explains, so it must not take {sorted(clash)}")

    def score_many(model, inputs, target, attributions: Sequence[Tensor], **params):
        if reexplains:
            block = {key: params.pop(key) for key in REEXPLAIN_SETTINGS if key in params}
            params[REEXPLAIN_PARAM] = method_explainer(name, **block)
        data = {"model": model, "inputs": inputs, "target": target}
        data = {key: value for key, value in data.items() if key in accepted}
        if shared:
            return fn(**data, attributions=attributions, **params)
        return [fn(**data, attributions=a, **params) for a in attributions]

    score_many.__signature__ = _public_signature(fn, reexplains)  # type: ignore[attr-defined]
    score_many.__name__ = score_many.__qualname__ = name
    return score_many


def _public_signature(fn: Callable, reexplains: bool) -> inspect.Signature:
    """The data parameters, then `fn`'s settings, then the re-explaining block if any."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    data = [inspect.Parameter(name, keyword) for name in METRIC_DATA]
    own = [
        p.replace(kind=keyword)
        for name, p in inspect.signature(fn).parameters.items()
        if name not in METRIC_DATA and name != REEXPLAIN_PARAM
    ]
    block = (
        [inspect.Parameter(k, keyword, default=d) for k, (d, _) in REEXPLAIN_SETTINGS.items()]
        if reexplains
        else []
    )
    return inspect.Signature([*data, *own, *block])
