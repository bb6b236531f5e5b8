"""Average drop and increase in confidence (Chattopadhay et al. 2018, the Grad-CAM++ paper): the
target output of each input against that of the input multiplied by its own map, rescaled to
[0, 1]."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, OneOf
from xaibench.metrics.registry import MetricResult, register_metric_variant
from xaibench.perturb import Output, forward_grid

# How a map becomes weights in [0, 1], per sample: min-max (pytorch-grad-cam's scaling of its
# CAMs) or the positive part over its maximum (a ReLU'd CAM over its peak).
RESCALINGS = ("min_max", "positive_max")
Rescale = Annotated[str, OneOf(RESCALINGS)]


def map_weights(attributions: Tensor, rescale: str) -> tuple[Tensor, Tensor]:
    """Each position's weight (N, 1, ...) in [0, 1], the map summed over channels and rescaled
    per sample (never over the batch), and whether the rescaling is defined (N,): min-max needs
    two different values, positive_max a positive one. Undefined samples get weight 0."""
    scores = attributions.sum(dim=1, keepdim=True)
    if rescale == "positive_max":
        scores = scores.clamp(min=0)
    high = scores.flatten(1).max(dim=1).values
    low = scores.flatten(1).min(dim=1).values if rescale == "min_max" else torch.zeros_like(high)
    span = high - low
    defined = span > 0
    shape = (-1, *[1] * (scores.dim() - 1))
    # Divide by 1 where the span is 0, so that no NaN reaches the model: the score is set apart.
    safe = torch.where(defined, span, torch.ones_like(span))
    weights = (scores - low.view(shape)) / safe.view(shape)
    return weights * defined.view(shape), defined


def confidence_change(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    increase: bool,
    rescale: Rescale = "min_max",
    output: Output = "probability",
    batch_size: Count = 4096,
) -> MetricResult:
    r"""How the target output changes when the input is multiplied by its map: the relative
    drop (average drop) or whether it rises (increase in confidence).

    The map is summed over channels and rescaled per sample to weights $w \in [0, 1]$ (with
    `rescale: min_max`, $w = (a - \min a) / (\max a - \min a)$ over the sample's positions);
    the explanation input $x \odot w$ multiplies every channel of a position by its weight, so
    what the map ignores fades to zero. With $Y_c$ the target output of $x$ and $O_c$ that of
    $x \odot w$, per sample the average drop is $\max(0, Y_c - O_c) / Y_c$, in [0, 1] for
    probabilities, and the increase in confidence is $1$ if $Y_c < O_c$ else $0$. The paper
    reports $100 \times$ the mean over samples of each (in %), which is what a run's mean of
    these per-sample scores times 100 gives. A faithful map keeps what the prediction rests on
    at full weight, so the output barely drops (and may rise once distractors fade). Undefined
    (NaN): a map whose rescaling is undefined (constant under `min_max`, nothing positive under
    `positive_max`), and for the average drop a non-positive $Y_c$ (possible with `logit`, or
    `correct` when the target is not predicted), which a relative drop cannot divide by. Cost:
    2 forward passes per sample.

    Args:
        increase: False for the average drop, True for the increase in confidence; each
            registered variant fixes it.
        rescale: How the map (summed over channels) becomes weights in [0, 1], per sample:
            `min_max` (default: $(a - \min a)/(\max a - \min a)$, as pytorch-grad-cam scales
            its CAMs) or `positive_max` ($\max(a, 0) / \max a$: negative evidence weighs 0 and
            the map's zero stays zero).
        output: What is read off the model for the target class: `probability` (softmax,
            default, as the paper), `logit` or `correct` (1 while the target is the arg max).
        batch_size: The most inputs per forward pass; changes memory use, not scores.

    Returns:
        MetricResult: `scores` (N,), each sample's relative drop or its increase (1.0 or 0.0);
        no curves.

    Implementations differ:
        - Rescaling. The paper multiplies the image by the (upsampled) saliency map without
          saying how the map is brought to [0, 1]; pytorch-grad-cam's CAMs arrive min-max
          scaled per image (`scale_cam_image`: $(a - \min a) / (10^{-7} + \max a)$ after
          subtracting the minimum, on ReLU'd CAMs), so a constant map becomes all zeros there
          and blacks the input out; xaibench scores such a map NaN. On a non-negative map
          whose minimum is 0 (a ReLU'd CAM with a zero somewhere), `min_max` and
          `positive_max` agree.
        - Channels. xaibench sums a map over channels and weights all channels of a position
          alike, as its other perturbation metrics rank positions; a CAM is the same on every
          channel, so this only matters for maps that differ across channels.
        - Input space. The product is taken in the model's input space (after normalisation),
          as pytorch-grad-cam's `multiply_tensor_with_cam`, so a faded position tends to 0,
          the data mean for standardised inputs, not to black.
        - pytorch-grad-cam's `DropInConfidence` returns the absolute drop $\max(0, Y_c - O_c)$
          without dividing by $Y_c$, and both its metrics read whatever output its target
          callable returns (the raw logit with `ClassifierOutputTarget`, the probability with
          `ClassifierOutputSoftmaxTarget`); the paper's average drop is relative.
        - The paper explains the predicted class; pass the predictions as `target` to match.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "gradcam")
        >>> drop = xaibench.evaluate(model, inputs, target, maps, "average_drop")
        >>> drop.scores.shape, bool(((drop.scores >= 0) & (drop.scores <= 1)).all())
        (torch.Size([4]), True)

        A map that weighs every position fully leaves the input as it is: no drop, no
        increase.

        >>> ones = torch.ones_like(inputs)
        >>> kept = xaibench.evaluate(
        ...     model, inputs, target, ones, "average_drop", rescale="positive_max"
        ... )
        >>> kept.scores.tolist()
        [0.0, 0.0, 0.0, 0.0]
        >>> xaibench.evaluate(
        ...     model, inputs, target, ones, "increase_in_confidence", rescale="positive_max"
        ... ).scores.tolist()
        [0.0, 0.0, 0.0, 0.0]

    References:
        Chattopadhay, Sarkar, Howlader, Balasubramanian. Grad-CAM++: Generalized
        Gradient-Based Visual Explanations for Deep Convolutional Networks. WACV 2018
    """
    weights, defined = map_weights(attributions, rescale)

    def make_inputs(samples: slice, items: slice) -> Tensor:
        # Item 0 is the input, item 1 the input times its map: both in one forward pass.
        x = inputs[samples]
        both = torch.stack([x, x * weights[samples]], dim=1)
        return both[:, items].flatten(0, 1)

    outputs = forward_grid(model, target, 2, make_inputs, output, batch_size).double()
    full, explained = outputs[:, 0], outputs[:, 1]
    nan = torch.full_like(full, float("nan"))
    if increase:
        scores = (full < explained).double()
    else:
        drop = (full - explained).clamp(min=0) / torch.where(full > 0, full, 1.0)
        scores = torch.where(full > 0, drop, nan)
    return MetricResult(scores=torch.where(defined, scores, nan))


register_metric_variant(
    "average_drop",
    confidence_change,
    summary="Average drop: the relative fall of the target's probability, max(0, Y - O) / Y,\n"
    "when the input is multiplied by its map rescaled to [0, 1] (Y: of the input, O: of the\n"
    "product).\n\n"
    "Lower is better: a faithful map keeps what the prediction rests on, so the probability\n"
    "barely falls; the paper's Average Drop % is 100 times the mean.",
    fixed={"increase": False},
    category="faithfulness",
    higher_is_better=False,
)
register_metric_variant(
    "increase_in_confidence",
    confidence_change,
    summary="Increase in confidence: 1 where the target's probability rises when the input is\n"
    "multiplied by its map rescaled to [0, 1], else 0.\n\n"
    "Higher is better: a faithful map keeps the evidence and fades the distractors, which can\n"
    "raise the probability; the paper's % is 100 times the mean.",
    fixed={"increase": True},
    category="faithfulness",
    higher_is_better=True,
)
