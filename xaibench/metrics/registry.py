"""The metric registry and the result every metric returns."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from xaibench.registry import Registry, default_params

CATEGORIES = ("faithfulness", "robustness", "randomisation", "localisation", "complexity")


@dataclass(frozen=True)
class MetricResult:
    """Per-sample scores (N,) and, for metrics with a curve, curves (N, S) over `curve_x` (S,)."""

    scores: Tensor
    curves: Tensor | None = None
    curve_x: Tensor | None = None


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric.

    `fn(model, inputs, target, attributions, **params)` takes a list of attribution tensors
    (one per method) and returns one MetricResult per tensor. Metrics whose perturbations do
    not depend on the attributions (sensitivity-n) run their forward passes once for all
    methods; the others simply loop.
    """

    name: str
    fn: Callable
    category: str
    higher_is_better: bool
    description: str
    citation: str
    curve_x_label: str | None  # axis labels of the curves, None for metrics without curves;
    curve_y_label: str | None  # both may name settings (`{output}`, `{mode}`): see curve_labels

    @property
    def reexplains(self) -> bool:
        """Whether the metric re-explains (robustness, randomisation): it then needs
        `method=<registered name of the method that made the maps>` and `method_params`,
        so a run must score each method's maps with that method's own name and settings."""
        return "method" in inspect.signature(self.fn).parameters

    def curve_labels(self, params: dict) -> tuple[str, str]:
        """The (x, y) axis labels of the curves for a run with these settings, the metric's
        defaults filling the settings a run did not record. A label naming a setting the
        metric does not have is shown unformatted rather than failing."""
        settings = {**default_params(self.fn, skip=4), **params}

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
    description: str,
    citation: str,
    curve_x_label: str | None = None,
    curve_y_label: str | None = None,
    shared_across_methods: bool = False,
):
    """Register a metric.

    With `shared_across_methods=False` the decorated function scores one attribution tensor;
    with True it takes the list of all methods' attributions and returns a list of results.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; valid: {', '.join(CATEGORIES)}")

    def decorator(fn: Callable) -> Callable:
        many = fn if shared_across_methods else _one_at_a_time(fn)
        info = MetricInfo(
            name, many, category, higher_is_better, description, citation,
            curve_x_label, curve_y_label,
        )  # fmt: skip
        METRICS.add(name, info)
        return fn

    return decorator


def _one_at_a_time(fn: Callable) -> Callable:
    @functools.wraps(fn)  # keeps fn's signature, which parameter checks read
    def many(model, inputs, target, attributions, **params):
        return [fn(model, inputs, target, a, **params) for a in attributions]

    return many
