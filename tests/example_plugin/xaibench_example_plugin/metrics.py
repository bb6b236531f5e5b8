"""The example plug-in's metric, registered with xaibench's public decorator."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import xaibench


@xaibench.register_metric("top_drop", category="faithfulness", higher_is_better=True)
def top_drop(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    fraction: float = 0.1,
) -> xaibench.MetricResult:
    r"""The drop of the target logit when the most relevant positions are set to zero.

    The positions (summed over channels) are ranked by attribution; the top `fraction` of them
    (at least one) are set to zero in every channel, and the score is $y_c(x) - y_c(x')$, the
    target logit before minus after. Higher is better: a map that points at what the model
    uses loses more logit when that is removed. One forward pass of the originals and one of
    the perturbed inputs.

    Args:
        fraction: The share of positions set to zero, in (0, 1].

    Returns:
        MetricResult: `scores` (N,), the logit drop.

    Example:
        >>> import xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "gxi_pos")
        >>> xaibench.evaluate(model, inputs, target, maps, "top_drop").scores.shape
        torch.Size([4])

    References:
        Samek et al. 2017, "Evaluating the visualization of what a deep neural network has
        learned", IEEE TNNLS (the most-relevant-first perturbation this metric takes one step
        of).
    """
    relevance = attributions.sum(dim=1).flatten(1)  # (N, positions)
    positions = relevance.shape[1]
    top = relevance.topk(max(1, round(fraction * positions)), dim=1).indices
    keep = torch.ones_like(relevance).scatter(1, top, 0.0).view(len(inputs), 1, *inputs.shape[2:])
    with torch.no_grad():
        before = model(inputs).gather(1, target[:, None])[:, 0]
        after = model(inputs * keep).gather(1, target[:, None])[:, 0]
    return xaibench.MetricResult(scores=before - after)
