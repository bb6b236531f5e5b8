"""Localisation: does the map point at the ground truth? Needs the dataset's masks.

Each metric takes the run's `masks` context (bool, (N, L) for signals or (N, H, W) for
images: True where the object that decides the class lies) and compares it with the position
map (attribution summed over channels). No forward passes.
"""

from __future__ import annotations

import torch
from torch import Tensor

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
    return scores.double().masked_fill(undefined, float("nan"))


@register_metric("pointing_game", category="localisation", higher_is_better=True)
def pointing_game(
    inputs: Tensor, attributions: Tensor, masks: Tensor | None = None
) -> MetricResult:
    """1 if the position with the largest attribution lies inside the mask, else 0.

    A hit when the arg max position is in the mask; ties for the maximum go to the lower
    position index (xaibench's tie rule). Zhang et al.'s 15-pixel tolerance is not applied:
    the position must lie in the mask itself. Empty masks score NaN.

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
    """Share of the positive attribution that falls inside the mask.

    Relevance mass accuracy = R_within / R_total over positive relevance only (Arras et al.
    keep the positive part; negative relevance counts as 0). NaN for a map with no positive
    relevance or an empty mask.

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
    """Of the K most attributed positions, K = the mask's size, the share inside the mask.

    Relevance rank accuracy: |top-K positions ∩ mask| / K with K = |mask|; ties in the map
    go to the lower position index. Empty masks score NaN.

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
    """ROC AUC of the position map as a classifier of mask against background positions (0.5 =
    chance).

    Area under the ROC curve, computed exactly as the Mann-Whitney statistic: the chance
    that a random mask position outscores a random background position, ties counting one
    half (scikit-learn's `roc_auc_score`). NaN when the mask is empty or covers everything.

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
