"""Metrics: `evaluate(model, inputs, target, attributions, metric, **params)`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.checks import check_attributions, check_call

# Importing the metric modules registers their metrics.
from xaibench.metrics import (  # noqa: F401
    complexity,
    confidence,
    correlation,
    faithfulness,
    infidelity,
    localisation,
    monotonicity,
    randomisation,
    road,
    robustness,
)
from xaibench.metrics.registry import (
    METRICS,
    MetricInfo,
    MetricResult,
    register_metric,
    register_metric_variant,
)
from xaibench.plugins import load_entry_points
from xaibench.registry import XaibenchError

__all__ = [
    "METRICS",
    "MetricInfo",
    "MetricResult",
    "available_metrics",
    "evaluate",
    "evaluate_many",
    "register_metric",
    "register_metric_variant",
]

# Installed plug-in packages register their metrics now, after xaibench's own.
load_entry_points("metric", METRICS)


def available_metrics() -> list[str]:
    """The names of the registered metrics, sorted: each one is a valid `metric` of `evaluate`.

    xaibench's own, those registered from Python (`register_metric`) and those of installed
    plug-in packages (entry-point group `xaibench.metrics`, loaded on import).
    """
    return METRICS.names()


def evaluate(
    model: nn.Module,
    inputs: Tensor,
    target: int | list[int] | Tensor,
    attributions: Tensor,
    metric: str,
    **params,
) -> MetricResult:
    """Score one attribution tensor: `.scores` (N,) and `.curves` (N, S) or None, on the CPU.

    Samples whose attributions hold NaN or infinite values get NaN scores and curves; the
    other samples are scored as if those were absent.
    """
    return evaluate_many(model, inputs, target, [attributions], metric, **params)[0]


def evaluate_many(
    model: nn.Module,
    inputs: Tensor,
    target: int | list[int] | Tensor,
    attributions: Sequence[Tensor],
    metric: str,
    **params,
) -> list[MetricResult]:
    """`evaluate` for several methods' attributions of the same inputs at once.

    Metrics whose perturbations do not depend on the attributions make their forward passes
    once for all of them.
    """
    info = METRICS[metric]
    info.check(params, metric)
    target = check_call(model, inputs, target)
    finite, cleaned = [], []
    for attribution in attributions:
        check_attributions(attribution, inputs)
        ok = torch.isfinite(attribution).flatten(1).all(dim=1)
        finite.append(ok.cpu())
        cleaned.append(torch.where(ok.view(-1, *[1] * (inputs.dim() - 1)), attribution, 0.0))
    results = info.score_many(
        model, inputs.detach(), target, [a.detach() for a in cleaned], **params
    )
    for result in results:
        check_result(result, len(inputs), metric)
    return [_nan_where_invalid(r, ok) for r, ok in zip(results, finite, strict=True)]


def check_result(result: MetricResult, samples: int, metric: str) -> None:
    """A metric's result must hold one score per sample and, with curves, their x values."""
    shapes: list[tuple[str, Tensor | None, tuple[int, ...]]] = [
        ("scores", result.scores, (samples,))
    ]
    if result.curves is not None:
        points = result.curves.shape[-1]
        shapes += [("curves", result.curves, (samples, points))]
        shapes += [("curve_x", result.curve_x, (points,))]
    for name, value, shape in shapes:
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            found = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise XaibenchError(
                f"metric {metric!r} returned {name} shaped {found}; a MetricResult holds scores "
                f"(N,), and with curves (N, S) also curve_x (S,): expected {shape}"
            )


def _nan_where_invalid(result: MetricResult, finite: Tensor) -> MetricResult:
    scores = result.scores.detach().double().cpu().masked_fill(~finite, float("nan"))
    curves = result.curves
    if curves is not None:
        curves = curves.detach().double().cpu().masked_fill(~finite[:, None], float("nan"))
    curve_x = None if result.curve_x is None else result.curve_x.detach().double().cpu()
    return MetricResult(scores=scores, curves=curves, curve_x=curve_x)
