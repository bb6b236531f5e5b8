"""Complexity: how concentrated is a map? Computed from the map alone (no forward passes).

Both metrics read the absolute attribution per position (channels summed first, as every
xaibench metric does), so a map and its negative score the same. An all-zero map has no
distribution to measure and scores NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.perturb import position_scores


def absolute_position_scores(attributions: Tensor) -> Tensor:
    return position_scores(attributions).double().abs()


@register_metric("sparseness", category="complexity", higher_is_better=True)
def sparseness(attributions: Tensor) -> MetricResult:
    """Gini index of the absolute attribution per position: 1 when one position holds all of
    it, 0 when it is spread evenly.

    Gini index sum_i (2i - n - 1) a_(i) / (n * sum_i a_(i)) over the n positions, a sorted
    ascending, i = 1..n (Chalasani et al. 2020, after Hurley & Rickard 2009).

    References:
        Chalasani, Chen, Chowdhury, Wu, Jha. Concise Explanations of Neural Networks using
        Adversarial Training. ICML 2020
    """
    values = absolute_position_scores(attributions).sort(dim=1).values
    n = values.shape[1]
    i = torch.arange(1, n + 1, dtype=values.dtype, device=values.device)
    total = values.sum(dim=1)
    gini = ((2 * i - n - 1) * values).sum(dim=1) / (n * total)
    return MetricResult(scores=gini.masked_fill(total == 0, float("nan")))


@register_metric("complexity", category="complexity", higher_is_better=False)
def complexity(attributions: Tensor) -> MetricResult:
    """Entropy (natural log) of the absolute attribution per position normalised to sum to
    one: low when few positions carry the map.

    -sum_i p_i ln p_i with p_i = |a_i| / sum_j |a_j| (0 ln 0 = 0); between 0 (one position)
    and ln(n) (uniform).

    References:
        Bhatt, Weller, Moura. Evaluating and Aggregating Feature-based Model Explanations.
        IJCAI 2020
    """
    values = absolute_position_scores(attributions)
    total = values.sum(dim=1, keepdim=True)
    p = values / total
    entropy = -torch.where(p > 0, p * p.log(), 0).sum(dim=1)
    return MetricResult(scores=entropy.masked_fill(total[:, 0] == 0, float("nan")))
