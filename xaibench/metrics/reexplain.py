"""Re-explaining, for robustness and randomisation metrics: run the method that made the maps
again, on perturbed inputs or on a randomised model.

A metric that re-explains takes a parameter `reexplain: Explainer`; the registry builds it from
one shared block of settings (`REEXPLAIN_SETTINGS`), which every such metric offers under the
same names, so none of them restates it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import Tensor, nn

from xaibench.constraints import Count
from xaibench.methods import METHODS, explain_in_batches
from xaibench.registry import XaibenchError, context_for

# reexplain(model, inputs, target) -> the method's maps of `inputs` for `target` on `model`.
Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]

REEXPLAIN_PARAM = "reexplain"

# The settings of every re-explaining metric, with their defaults and what they mean.
REEXPLAIN_SETTINGS: dict[str, tuple[object, str]] = {
    "method": (
        None,
        "The registered method that made the maps (a run passes each method's own name).",
    ),
    "method_params": (None, "That method's settings (a run passes each method's own)."),
    "batch_size": (4096, "The most inputs in one explain call while re-explaining."),
    "background": (
        None,
        "Training inputs, for methods that need them (expected gradients); a run passes them.",
    ),
}


def method_explainer(
    metric: str,
    method: str | None = None,
    method_params: dict | None = None,
    batch_size: Count = 4096,
    background: Tensor | None = None,
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
    return MethodExplainer(method, params, batch_size)


class MethodExplainer:
    """`explainer(model, inputs, target)`: the maps of `method` with `params`, `batch_size`
    inputs per call. `settings` is everything its maps depend on besides the model and the
    inputs, so that work shared between metrics (sharing.py) can tell two explainers apart."""

    def __init__(self, method: str, params: dict, batch_size: int):
        self.method = method
        self.params = params
        self.batch_size = batch_size

    @property
    def settings(self) -> dict:
        """The method, its settings and the batch size."""
        return {"method": self.method, "params": self.params, "batch_size": self.batch_size}

    def __call__(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """The method's maps of `inputs` for `target` on `model`."""
        return explain_in_batches(model, inputs, target, self.method, self.params, self.batch_size)
