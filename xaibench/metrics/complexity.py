"""Complexity: how concentrated is a map? Sparseness (Gini index) and complexity (entropy),
computed from the map alone."""

from __future__ import annotations

import torch
from torch import Tensor

from xaibench.constraints import NonNegative
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.perturb import position_scores


def absolute_position_scores(attributions: Tensor) -> Tensor:
    """|attribution| per position (channels summed first), float64 (N, P)."""
    return position_scores(attributions).double().abs()


@register_metric("sparseness", category="complexity", higher_is_better=True)
def sparseness(attributions: Tensor) -> MetricResult:
    r"""Gini index of the absolute attribution per position: 0 when it is spread evenly, (n - 1) / n
    (nearly 1) when one of the n positions holds all of it.

    Chalasani et al.'s sparseness, the Gini index (after Hurley & Rickard 2009)
    $G = \sum_{i=1}^{n} (2i - n - 1)\, a_{(i)} / (n \sum_{i} a_{(i)})$ over the $n$
    positions, where $a_{(1)} \le \dots \le a_{(n)}$ are the absolute attributions per position
    (channels summed first, then the absolute value), sorted ascending. It depends on the
    map's shape only: scaling or negating a map does not change it. An all-zero map has no
    distribution to measure and scores NaN. No forward passes.

    Higher is better: a sparse map concentrates its attribution on few positions, which a
    reader can take in. Sparseness says nothing about whether those positions matter to the
    model: read it next to a faithfulness metric.

    Args:
        attributions: The maps (N, C, ...); only |attribution summed over channels| per
            position is read.

    Returns:
        MetricResult: `scores` (N,), the Gini index in [0, (n - 1) / n].

    Implementations differ:
        - Quantus' Sparseness (0.6.0) adds 1e-7 to every value before the index, so an all-zero
          map scores 0 instead of NaN and a map of tiny magnitude is pulled towards 0 (the
          index then depends on the map's scale); it takes the absolute value of each channel's
          attribution rather than of their sum.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> one_hot = torch.zeros(4, 1, 16)
        >>> one_hot[..., 3] = -2.0  # all attribution on one of 16 positions: (16 - 1) / 16
        >>> xaibench.evaluate(model, inputs, target, one_hot, "sparseness").scores.tolist()
        [0.9375, 0.9375, 0.9375, 0.9375]
        >>> even = torch.ones(4, 1, 16)
        >>> xaibench.evaluate(model, inputs, target, even, "sparseness").scores.tolist()
        [0.0, 0.0, 0.0, 0.0]

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
    r"""Entropy (natural log) of the absolute attribution per position normalised to sum to one: 0
    when one position holds all of it, ln n when it is spread evenly over n positions.

    Bhatt et al.'s complexity $-\sum_i p_i \ln p_i$ with $p_i = |a_i| / \sum_j |a_j|$ (and
    $0 \ln 0 = 0$), where $a_i$ is the attribution of position $i$ summed over channels: the
    entropy of the map's fractional contributions. Like `sparseness`, it depends on the map's
    shape only (scaling or negating a map does not change it), and an all-zero map scores NaN.
    No forward passes.

    Lower is better: a map carried by few positions is simpler to read. Like sparseness, it
    says nothing about whether those positions matter to the model.

    Args:
        attributions: The maps (N, C, ...), read as by `sparseness`.

    Returns:
        MetricResult: `scores` (N,), the entropy in [0, ln n] nats.

    Implementations differ:
        - Quantus' Complexity (0.6.0) takes the absolute value of each channel's attribution
          rather than of their sum, and adds 1e-12 inside the logarithm; an all-zero map gives
          NaN there too.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> even = torch.ones(4, 1, 16)  # spread over all 16 positions: ln 16
        >>> result = xaibench.evaluate(model, inputs, target, even, "complexity")
        >>> torch.allclose(result.scores, torch.tensor(16.0, dtype=torch.float64).log())
        True
        >>> one_hot = torch.zeros(4, 1, 16)
        >>> one_hot[..., 3] = 1.0
        >>> result = xaibench.evaluate(model, inputs, target, one_hot, "complexity")
        >>> bool((result.scores == 0).all())
        True

    References:
        Bhatt, Weller, Moura. Evaluating and Aggregating Feature-based Model Explanations.
        IJCAI 2020
    """
    values = absolute_position_scores(attributions)
    total = values.sum(dim=1, keepdim=True)
    p = values / total
    entropy = -torch.where(p > 0, p * p.log(), 0).sum(dim=1)
    return MetricResult(scores=entropy.masked_fill(total[:, 0] == 0, float("nan")))


@register_metric("effective_complexity", category="complexity", higher_is_better=False)
def effective_complexity(
    attributions: Tensor, eps: NonNegative = 1e-5, relative: bool = True
) -> MetricResult:
    r"""Effective complexity: the number of positions whose absolute attribution exceeds a
    threshold $\varepsilon$.

    Nguyen & Martínez count the attributions whose magnitude exceeds $\varepsilon$: the
    features the explanation effectively uses. xaibench counts positions, with $a_i$ the
    attribution of position $i$ summed over channels (as `sparseness` and `complexity` read a
    map): the score is $\#\{i : |a_i| > \varepsilon\, m\}$ with $m = \max_j |a_j|$ over
    the sample's own positions when `relative` (default), or $m = 1$ (an absolute threshold).
    Relative to the map's maximum, the count does not depend on the map's scale, which
    differs between methods by orders of magnitude; an absolute $\varepsilon$ compares maps
    in the units they come in. The score lies in $[0, n]$ for $n$ positions, 1 at least for
    a relative threshold below 1 and a map that is not all zero; an all-zero map counts 0
    (no position exceeds any threshold; the score is defined). No forward passes.

    Lower is better: a map that uses few positions is simpler to read. Like `sparseness`, it
    says nothing about whether those positions matter to the model.

    Args:
        eps: The threshold $\varepsilon$, at least 0: a fraction of each map's largest
            absolute attribution when `relative`, else in the map's own units. Default
            1e-5, Quantus' default, which counts every position but those that are zero or
            negligible next to the largest.
        relative: True (default) to compare $|a_i|$ with $\varepsilon$ times the sample's
            largest $|a_j|$, False to compare it with $\varepsilon$ itself.

    Returns:
        MetricResult: `scores` (N,), the number of positions above the threshold (float64).

    Implementations differ:
        - Quantus' EffectiveComplexity (the version read, commit 00997c9) takes absolute values
          (`abs=True`), divides the map by its largest absolute value (`normalise=True`,
          `normalise_by_max`, which leaves an all-zero map as it is) and counts the values
          above `eps` = 1e-5 over the whole map, each channel on its own; xaibench's default
          (`relative`, 1e-5) is that threshold, counted over positions with channels summed.
          With `normalise=False` Quantus' threshold is absolute, as `relative: false` here.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = torch.zeros(4, 1, 16)
        >>> maps[..., :3] = torch.tensor([2.0, -1.0, 1e-7])  # 1e-7 is below 1e-5 of 2
        >>> xaibench.evaluate(model, inputs, target, maps, "effective_complexity").scores.tolist()
        [2.0, 2.0, 2.0, 2.0]
        >>> xaibench.evaluate(
        ...     model, inputs, target, maps, "effective_complexity", eps=1.5, relative=False
        ... ).scores.tolist()
        [1.0, 1.0, 1.0, 1.0]

    References:
        Nguyen, Martínez. On Quantitative Aspects of Model Interpretability. arXiv:2007.07584,
        2020
    """
    values = absolute_position_scores(attributions)
    scale = values.amax(dim=1, keepdim=True) if relative else torch.ones_like(values[:, :1])
    return MetricResult(scores=(values > eps * scale).sum(dim=1).double())
