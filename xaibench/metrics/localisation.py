"""Localisation: does the map point at the ground truth? Pointing game, relevance mass and rank
accuracy, and ROC AUC compare the position map with the dataset's masks."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from xaibench.constraints import Range
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import average_ranks
from xaibench.perturb import position_scores, rank_positions
from xaibench.registry import XaibenchError


def flat_masks(masks: Tensor | None, inputs: Tensor, metric: str) -> Tensor:
    """The masks as bool (N, P) after checking they fit the inputs' positions."""
    expected = (len(inputs), *inputs.shape[2:])
    if masks is None:
        raise XaibenchError(
            f"{metric} needs ground-truth masks: pass masks=<bool tensor shaped {expected}> "
            "(in a run, use a dataset that provides masks)"
        )
    if not isinstance(masks, Tensor) or tuple(masks.shape) != expected:
        shape = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise XaibenchError(
            f"{metric}: masks must be shaped like the inputs' positions {expected} "
            f"(N, then the input's length or height and width), got {shape}"
        )
    return masks.to(device=inputs.device, dtype=torch.bool).flatten(1)


def nan_where(scores: Tensor, undefined: Tensor) -> Tensor:
    """`scores` as float64, NaN where `undefined` (bool (N,)) is True."""
    return scores.double().masked_fill(undefined, float("nan"))


@register_metric("pointing_game", category="localisation", higher_is_better=True)
def pointing_game(
    inputs: Tensor, attributions: Tensor, masks: Tensor | None = None
) -> MetricResult:
    """1 if the position with the largest attribution lies inside the ground-truth mask, else 0.

    Zhang et al.'s pointing game on the position map (attribution summed over channels): a hit
    when the position of the largest value, the signed maximum rather than the largest
    magnitude, lies in the mask. Ties for the maximum go to the lower position index, as
    everywhere in xaibench. Averaged over samples, the score is the paper's accuracy,
    hits / (hits + misses). An empty mask scores NaN. No forward passes.

    Higher is better: a map whose peak lies on the evidence points at what decides the class.

    Args:
        masks: Ground truth, bool (N, L) for signals or (N, H, W) for images: True where
            the evidence that decides the class lies. Not a setting: a run passes the masks of
            datasets that have them; in a call, pass `masks=`.

    Returns:
        MetricResult: `scores` (N,), 1.0 for a hit and 0.0 for a miss.

    Implementations differ:
        - Zhang et al. count a hit within 15 pixels of the object; xaibench requires the
          position itself to lie in the mask (on a 40-point signal a 15-position band would
          cover most of the input).
        - Quantus' PointingGame (0.6.0) counts a hit when any of several tied maxima lies in
          the mask, and marks empty masks with NaN in a boolean array, where NaN becomes True:
          an empty mask counts as a hit.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> masks = torch.zeros(4, 16, dtype=torch.bool)
        >>> masks[:, 4:8] = True  # the evidence lies at positions 4 to 7
        >>> peak = masks[:, None].float()  # 1 on the mask, 0 elsewhere
        >>> xaibench.evaluate(model, inputs, target, peak, "pointing_game", masks=masks).scores
        tensor([1., 1., 1., 1.], dtype=torch.float64)

        Negated, the map's maximum, 0, is shared by every position outside the mask; the tie
        goes to position 0:

        >>> xaibench.evaluate(model, inputs, target, -peak, "pointing_game", masks=masks).scores
        tensor([0., 0., 0., 0.], dtype=torch.float64)

    References:
        Zhang, Bargal, Lin, Brandt, Shen, Sclaroff. Top-down Neural Attention by Excitation
        Backprop. IJCV 2018
    """
    truth = flat_masks(masks, inputs, "pointing_game")
    top = rank_positions(position_scores(attributions)).argmin(dim=1)
    hit = truth.gather(1, top[:, None]).squeeze(1)
    return MetricResult(scores=nan_where(hit, ~truth.any(dim=1)))


@register_metric("relevance_mass", category="localisation", higher_is_better=True)
def relevance_mass(
    inputs: Tensor, attributions: Tensor, masks: Tensor | None = None
) -> MetricResult:
    r"""Share of the map's positive attribution that falls inside the ground-truth mask.

    Arras et al.'s relevance mass accuracy $\sum_{i \in M} a_i^+ / \sum_i a_i^+$ on the
    position map (attribution summed over channels), with $a^+ = \max(a, 0)$: negative
    relevance counts as 0, as in the paper, so the map is judged on where its positive evidence
    lies. Between 0 and 1; a map that is positive and constant everywhere scores the mask's
    share of the positions. NaN for a map with no positive value or an empty mask. No forward
    passes.

    Higher is better: the more of the map's positive attribution lies on the evidence, the
    better it localises it.

    Args:
        masks: Ground truth, bool (N, L) or (N, H, W), as for `pointing_game`.

    Returns:
        MetricResult: `scores` (N,), the share in [0, 1].

    Implementations differ:
        - Quantus' RelevanceMassAccuracy (0.6.0) divides the map's sum inside the mask by its
          total sum as given: negative values subtract from both, so the ratio can leave
          [0, 1] or blow up when the total is near 0 (with `abs=True` it counts magnitudes
          instead).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> masks = torch.zeros(4, 16, dtype=torch.bool)
        >>> masks[:, 4:8] = True  # the evidence lies at positions 4 to 7
        >>> everywhere = torch.ones(4, 1, 16)  # the mask's share of the positions, 4 / 16
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, everywhere, "relevance_mass", masks=masks
        ... )
        >>> result.scores.tolist()
        [0.25, 0.25, 0.25, 0.25]
        >>> signed = torch.where(masks, 1.0, -1.0)[:, None]  # negative outside: counts as 0
        >>> result = xaibench.evaluate(model, inputs, target, signed, "relevance_mass", masks=masks)
        >>> result.scores.tolist()
        [1.0, 1.0, 1.0, 1.0]

    References:
        Arras, Osman, Samek. CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
        neural network explanations. Information Fusion 2022
    """
    truth = flat_masks(masks, inputs, "relevance_mass")
    positive = position_scores(attributions).double().clamp(min=0)
    total = positive.sum(dim=1)
    within = (positive * truth).sum(dim=1)
    return MetricResult(scores=nan_where(within / total, (total == 0) | ~truth.any(dim=1)))


@register_metric("relevance_rank", category="localisation", higher_is_better=True)
def relevance_rank(
    inputs: Tensor, attributions: Tensor, masks: Tensor | None = None
) -> MetricResult:
    """Share of the K most attributed positions that lie inside the ground-truth mask, K being the
    mask's size.

    Arras et al.'s relevance rank accuracy |top-K positions ∩ mask| / K with K = |mask|, on the
    position map (attribution summed over channels; the largest signed values rank first).
    Ties in the map go to the lower position index. 1 exactly when the K largest values cover
    the mask. An empty mask scores NaN. No forward passes.

    Higher is better: the more of the map's top positions lie on the evidence, the better it
    localises it.

    Args:
        masks: Ground truth, bool (N, L) or (N, H, W), as for `pointing_game`.

    Returns:
        MetricResult: `scores` (N,), the share in [0, 1].

    Implementations differ:
        - Quantus' RelevanceRankAccuracy (0.6.0) computes the same share, but leaves ties in
          the order of NumPy's default, unstable `argsort`, so a map with tied values may
          score differently from xaibench.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> masks = torch.zeros(4, 16, dtype=torch.bool)
        >>> masks[:, 4:8] = True  # the evidence lies at positions 4 to 7
        >>> maps = torch.zeros(4, 1, 16)
        >>> maps[..., 2:6] = 1.0  # top 4 positions: 2, 3, 4, 5; two of them in the mask
        >>> xaibench.evaluate(model, inputs, target, maps, "relevance_rank", masks=masks).scores
        tensor([0.5000, 0.5000, 0.5000, 0.5000], dtype=torch.float64)

    References:
        Arras, Osman, Samek. CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
        neural network explanations. Information Fusion 2022
    """
    truth = flat_masks(masks, inputs, "relevance_rank")
    size = truth.sum(dim=1)
    ranks = rank_positions(position_scores(attributions))
    inside = ((ranks < size[:, None]) & truth).sum(dim=1)
    return MetricResult(scores=nan_where(inside / size, size == 0))


@register_metric("localisation_auc", category="localisation", higher_is_better=True)
def localisation_auc(
    inputs: Tensor, attributions: Tensor, masks: Tensor | None = None
) -> MetricResult:
    """ROC AUC of the position map as a score that separates mask positions from background
    positions (0.5 = chance).

    The area under the ROC curve of the position map (attribution summed over channels, signed)
    against the mask, computed exactly as the Mann-Whitney statistic: the chance that a random
    mask position outscores a random background position, ties counting one half (equal to
    scikit-learn's `roc_auc_score`). It uses the order of every value of the map, where the
    pointing game reads one position and relevance rank the top K. NaN when the mask is empty
    or covers every position. No forward passes.

    Higher is better: 1 when every mask position outscores every background position, 0.5 for
    a map that does not tell them apart, below 0.5 for a map that points away from the evidence.

    Args:
        masks: Ground truth, bool (N, L) or (N, H, W), as for `pointing_game`.

    Returns:
        MetricResult: `scores` (N,), the AUC in [0, 1].

    Implementations differ:
        - Quantus' AUC (0.6.0) computes scikit-learn's `roc_curve` and `auc` per sample, the
          same number, ties included; empty masks score NaN there too.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> masks = torch.zeros(4, 16, dtype=torch.bool)
        >>> masks[:, 4:8] = True  # the evidence lies at positions 4 to 7
        >>> peak = masks[:, None].float()
        >>> for maps in (peak, -peak, torch.ones(4, 1, 16)):
        ...     result = xaibench.evaluate(
        ...         model, inputs, target, maps, "localisation_auc", masks=masks
        ...     )
        ...     print(result.scores.tolist())
        [1.0, 1.0, 1.0, 1.0]
        [0.0, 0.0, 0.0, 0.0]
        [0.5, 0.5, 0.5, 0.5]

    References:
        Fawcett. An introduction to ROC analysis. Pattern Recognition Letters 2006 (as used for
        explanations by Arras et al. 2022 and Quantus' AUC)
    """
    truth = flat_masks(masks, inputs, "localisation_auc")
    ranks = average_ranks(position_scores(attributions).double())
    positives = truth.sum(dim=1).double()
    negatives = truth.shape[1] - positives
    rank_sum = (ranks * truth).sum(dim=1)
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return MetricResult(scores=nan_where(auc, (positives == 0) | (negatives == 0)))


# k of top_k_intersection: a count of positions (int) or a fraction of them (float in (0, 1)).
TopK = Annotated[int | float, Range(low=0, low_open=True)]


def top_k_count(k: int | float, positions: int) -> int:
    """k as a number of positions: an int in 1..positions, or a float in (0, 1), a fraction
    of the positions (rounded, at least 1)."""
    if isinstance(k, float) and 0 < k < 1:
        k = max(1, round(k * positions))
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= positions:
        raise XaibenchError(
            f"top_k_intersection: k={k!r} is invalid; give an int in 1..{positions} "
            "(positions) or a float in (0, 1) (a fraction of the positions)"
        )
    return k


@register_metric("top_k_intersection", category="localisation", higher_is_better=True)
def top_k_intersection(
    inputs: Tensor,
    attributions: Tensor,
    masks: Tensor | None = None,
    k: TopK = 0.1,
    concept_influence: bool = False,
) -> MetricResult:
    r"""Share of the k most attributed positions that lie inside the ground-truth mask.

    Theiner et al.'s top-k intersection $|\mathrm{top}_k(a) \cap M| / k$ on the position map
    (attribution summed over channels; the largest signed values rank first, ties to the
    lower position index): the map binarised to its k highest positions, compared with the
    mask $M$. It differs from `relevance_rank` only in k: fixed here (a count or a fraction
    of the positions), the mask's size there, so here a mask smaller than k caps the score
    at $|M| / k$. With `concept_influence`, the share is multiplied by $P / |M|$ ($P$
    positions), which rewards hitting a small mask: a map whose top k lie at random scores 1
    in expectation. Between 0 and 1 (0 and $P / |M|$ with `concept_influence`). An empty
    mask scores NaN. No forward passes.

    Higher is better: the more of the map's top positions lie on the evidence, the better it
    localises it.

    Args:
        masks: Ground truth, bool (N, L) or (N, H, W), as for `pointing_game`.
        k: The positions kept: an int in 1..P, or a float in (0, 1), a fraction of the
            positions (rounded, at least 1). Default 0.1: one setting for 40-point signals
            (4 positions) and images alike.
        concept_influence: Multiply by $P / |M|$, the inverse of the mask's share of the
            positions (default False).

    Returns:
        MetricResult: `scores` (N,), the share in [0, 1] (times $P / |M|$ with
        `concept_influence`).

    Implementations differ:
        - Quantus' TopKIntersection (the version read, commit 113d084) defaults to k = 1000
          values and asserts that k is smaller than the input, so its default refuses a
          40-point signal; it ranks
          with NumPy's default `argsort`, which leaves ties in no stated order, after
          normalising the map (`normalise_by_negative`); its `concept_influence=True`
          multiplies by the input's size over the mask's, as here.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> masks = torch.zeros(4, 16, dtype=torch.bool)
        >>> masks[:, 4:8] = True  # the evidence lies at positions 4 to 7
        >>> maps = torch.zeros(4, 1, 16)
        >>> maps[..., 2:6] = 1.0  # top 4 positions: 2, 3, 4, 5; two of them in the mask
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, maps, "top_k_intersection", masks=masks, k=4
        ... )
        >>> result.scores.tolist()
        [0.5, 0.5, 0.5, 0.5]
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, maps, "top_k_intersection", masks=masks, k=4,
        ...     concept_influence=True,
        ... )
        >>> result.scores.tolist()  # 0.5 * 16 / 4
        [2.0, 2.0, 2.0, 2.0]

    References:
        Theiner, Müller-Budack, Ewerth. Interpretable Semantic Photo Geolocation.
        arXiv:2104.14995, 2021
    """
    truth = flat_masks(masks, inputs, "top_k_intersection")
    count = top_k_count(k, truth.shape[1])
    ranks = rank_positions(position_scores(attributions))
    share = ((ranks < count) & truth).sum(dim=1).double() / count
    size = truth.sum(dim=1)
    if concept_influence:
        share = share * truth.shape[1] / size.clamp(min=1)
    return MetricResult(scores=nan_where(share, size == 0))
