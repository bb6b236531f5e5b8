"""ROAD (Rong et al. 2022): remove and debias, without retraining.

For each fraction p of positions *removed* (not kept: tools differ on what their percentages
count, so the setting is named `removed`), the most (MoRF) or least (LeRF)
attributed p of the regions are filled by noisy linear imputation, and the model's target
output is read. Each (sample, fraction) input is imputed and run in chunks of `batch_size`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.metrics.imputation import noisy_linear_imputation
from xaibench.metrics.registry import MetricResult, register_metric_variant
from xaibench.perturb import forward_grid, region_ranks
from xaibench.registry import XaibenchError

DEFAULT_REMOVED = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def road(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    most_relevant_first: bool,
    removed: Sequence[float] = DEFAULT_REMOVED,
    noise: float = 0.01,
    patch: int = 1,
    output: str = "correct",
    seed: int = 0,
    batch_size: int = 4096,
) -> MetricResult:
    """ROAD: the mean target output as fractions of the positions, in the map's order, are
    removed and filled by noisy linear imputation.

    Curve of the target output over the fractions removed; the score is its mean (with
    `output: correct`, the accuracy ROAD plots). Fraction p removes round(p * R) of the R
    regions. The imputation noise is drawn once per fraction from `seed` and shared by all
    samples (batch-invariant).

    References:
        Rong, Leemann, Borisov, Kasneci, Kasneci. A Consistent and Efficient Evaluation
        Strategy for Attribution Methods. ICML 2022
    """
    fractions = list(removed) if isinstance(removed, Sequence) else [removed]
    if not fractions or not all(isinstance(p, float | int) and 0 < p < 1 for p in fractions):
        raise XaibenchError(
            f"road: removed={removed!r} must list fractions of positions removed, each in (0, 1)"
        )
    points = len(fractions)
    ranks, regions = region_ranks(attributions, patch, most_relevant_first)
    counts = torch.tensor([int(p * regions + 0.5) for p in fractions], device=inputs.device)
    generator = torch.Generator().manual_seed(seed)
    shared_noise = noise * torch.randn(points, *inputs.shape[1:], generator=generator)
    shared_noise = shared_noise.to(device=inputs.device, dtype=inputs.dtype)

    def make_inputs(samples: slice, steps: slice) -> Tensor:
        hidden = ranks[samples, None] < counts[steps, None]
        shape = (*hidden.shape[:2], *inputs.shape[1:])
        copies = inputs[samples, None].expand(shape).flatten(0, 1)
        noise = shared_noise[None, steps].expand(shape).flatten(0, 1)
        return noisy_linear_imputation(copies, hidden.view(-1, *inputs.shape[2:]), noise)

    curves = forward_grid(model, target, points, make_inputs, output, batch_size)
    curve_x = (counts / regions).double()
    return MetricResult(scores=curves.double().mean(dim=1), curves=curves, curve_x=curve_x)


register_metric_variant(
    "road_morf",
    road,
    summary="ROAD, most relevant first: mean target output (default: whether the class is "
    "still predicted) as 10..90% of the positions, most attributed first, are removed and "
    "filled by noisy linear imputation; a fast drop is faithful.",
    fixed={"most_relevant_first": True},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="fraction of positions removed (most relevant first)",
    curve_y_label="target {output}",
)
register_metric_variant(
    "road_lerf",
    road,
    summary="ROAD, least relevant first: mean target output as 10..90% of the positions, "
    "least attributed first, are removed and imputed; staying high is faithful.",
    fixed={"most_relevant_first": False},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="fraction of positions removed (least relevant first)",
    curve_y_label="target {output}",
)
