"""xaibench: faithfulness benchmarks for explanation methods on convolutional networks.

    import xaibench
    attr = xaibench.explain(model, x, target, "integrated_gradients", steps=64)
    res = xaibench.evaluate(model, x, target, attr, "deletion", steps=40)  # res.scores, res.curves

The public names are imported on first use, so `python -m xaibench` can reject a mistyped
option before paying for torch and captum imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_PUBLIC = {
    "explain": "xaibench.methods",
    "explain_in_batches": "xaibench.methods",
    "available_methods": "xaibench.methods",
    "register_method": "xaibench.methods",
    "register_method_variant": "xaibench.methods",
    "register_metric": "xaibench.metrics",
    "register_metric_variant": "xaibench.metrics",
    "evaluate": "xaibench.metrics",
    "evaluate_many": "xaibench.metrics",
    "available_metrics": "xaibench.metrics",
    "MetricResult": "xaibench.metrics",
    "summarize": "xaibench.report.summary",
    "run": "xaibench.run",
    "XaibenchError": "xaibench.registry",
    "UnknownNameError": "xaibench.registry",
}

__all__ = [
    "MetricResult",
    "UnknownNameError",
    "XaibenchError",
    "available_methods",
    "available_metrics",
    "evaluate",
    "evaluate_many",
    "explain",
    "explain_in_batches",
    "register_method",
    "register_method_variant",
    "register_metric",
    "register_metric_variant",
    "run",
    "summarize",
]

if TYPE_CHECKING:
    from xaibench.methods import (
        available_methods,
        explain,
        explain_in_batches,
        register_method,
        register_method_variant,
    )
    from xaibench.metrics import (
        MetricResult,
        available_metrics,
        evaluate,
        evaluate_many,
        register_metric,
        register_metric_variant,
    )
    from xaibench.registry import UnknownNameError, XaibenchError
    from xaibench.report.summary import summarize
    from xaibench.run import run


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'xaibench' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
