"""Re-explaining for robustness and randomisation metrics: run the method that made the maps
again, on perturbed inputs or on a randomised model, `batch_size` inputs per explain call."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn

from xaibench.methods import METHODS, explain
from xaibench.registry import XaibenchError, context_for

Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]


def method_explainer(
    metric: str,
    method: str | None,
    method_params: dict | None,
    background: Tensor | None,
    batch_size: int,
) -> Explainer:
    """`explainer(model, inputs, target)`: maps of `method` with `method_params`, run in chunks
    of `batch_size` inputs. Methods that take `background` or `batch_size` get the metric's."""
    if method is None:
        raise XaibenchError(
            f"{metric} re-explains inputs: pass method=<the registered method that made the "
            "maps> and its settings as method_params"
        )
    fn = METHODS[method].fn  # an unknown name lists the valid ones
    params = dict(method_params or {})
    if background is not None:
        params.update(context_for(fn, {"background": background}))
    if "batch_size" in inspect.signature(fn).parameters:
        params.setdefault("batch_size", batch_size)

    def explainer(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        return torch.cat(
            [
                explain(model, x, t, method, **params)
                for x, t in zip(inputs.split(batch_size), target.split(batch_size), strict=True)
            ]
        )

    return explainer
