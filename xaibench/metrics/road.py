"""ROAD (Rong et al. 2022), remove and debias: removal curves whose removed positions are filled
by noisy linear imputation (imputation.py), most or least relevant first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, NonNegative, Range, Seed
from xaibench.metrics.imputation import noisy_linear_imputation
from xaibench.metrics.registry import MetricResult, register_metric_variant
from xaibench.perturb import Output, forward_grid, pass_slices, region_ranks
from xaibench.registry import XaibenchError

DEFAULT_REMOVED = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
Removed = Annotated[float, Range(0, 1, low_open=True, high_open=True)]  # a fraction of positions


def road(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    most_relevant_first: bool,
    removed: Removed | Sequence[Removed] = DEFAULT_REMOVED,
    noise: NonNegative = 0.01,
    patch: Count = 1,
    output: Output = "correct",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> MetricResult:
    r"""ROAD: the mean target output as growing fractions of the positions, in the map's order, are
    removed and filled by noisy linear imputation.

    Regions (single positions, or squares of `patch` positions per side, all channels together)
    are ranked by their summed attribution, most relevant first (MoRF) or least relevant first
    (LeRF). For each fraction $p$ in `removed`, the first $\mathrm{round}(pR)$ of the $R$
    regions are removed and imputed: each removed value becomes the weighted mean of its
    in-bounds neighbours (images: 1/6 for each of the four direct and 1/12 for each of the four
    diagonal neighbours; signals: 1/2 for the left and the right one), removed neighbours being
    unknowns of the same linear system, and Gaussian noise $N(0, \sigma^2)$, $\sigma$ = `noise`,
    is added to the imputed values. Imputing from the neighbours rather than writing a constant
    leaves little trace of *which* positions were removed, which a model could otherwise read
    (the class information leakage ROAD removes). The curve holds the target output at each
    fraction; the score is its mean over the fractions. With `output: correct` that is the share
    of fractions at which the class is still predicted; its mean over samples is the mean of
    ROAD's accuracy curve. Most relevant first, a faithful map loses the class early (a low
    mean); least relevant first, it keeps the class long (a high mean). Every score is defined;
    a fraction that rounds to all regions is refused, since imputation needs a kept neighbour.
    Cost: `len(removed)` forward passes per sample (no unperturbed one) and one linear solve per
    (sample, fraction), which on MNIST-1D takes about as long again as the forward passes.

    Args:
        most_relevant_first: True for MoRF, False for LeRF; each registered variant fixes it.
        removed: The fractions of positions *removed* (never kept, whatever the order), each
            in (0, 1); a list or one number. Fraction $p$ removes $\mathrm{round}(pR)$ of the
            $R$ regions. Default 0.1 to 0.9 in steps of 0.1.
        noise: $\sigma$, the standard deviation of the noise added to imputed values, in model
            input units. Default 0.01, as ROAD's reference code and Quantus. The noise is drawn
            once per fraction from `seed` and shared by all samples, so a sample's score does
            not depend on its batch.
        patch: Side of the square regions in positions (a segment for signals); 1 removes
            single positions.
        output: What is read off the model for the target class: `correct` (default: 1 while
            the target is the arg max, else 0, as ROAD's accuracy), `probability` (softmax) or
            `logit`; the last two give continuous curves.
        seed: Seed of the imputation noise.
        batch_size: The most perturbed inputs imputed and run at once; changes memory use, not
            scores.

    Returns:
        MetricResult: `scores` (N,), the mean of each curve; `curves` (N, len(removed)), the
        target output at each fraction; `curve_x` (len(removed),), the fraction of regions
        actually removed, round(pR) / R.

    Implementations differ:
        - What a percentage counts. ROAD's reference code (`road/imputed_dataset.py`) removes
          the top p most relevant first, but least relevant first it *keeps* the top p and
          removes the rest, so its LeRF p is the fraction kept. pytorch-grad-cam's ROAD
          (`metrics/perturbation_confidence.py`) keeps the pixels below the p-th percentile of
          the map, so its `percentile` is the fraction kept in both orders (default 80 most
          relevant first: 20% removed), and it reports the change of the target score, not
          accuracy. Quantus' ROAD (0.6.0) counts percent removed, most relevant first only,
          1% to 99% in steps of 2. On the symmetric default grid, xaibench's removal levels are
          the reference code's in both orders, so the means agree up to rounding; the curves'
          x axes are mirrored for LeRF.
        - The reference code breaks ties with a fixed random pattern of scale 1e-4 added to
          the map, rounds the count of top positions (removed for MoRF, kept for LeRF) down,
          and draws the noise per image; xaibench breaks ties by position (lower index first),
          rounds the count removed to the nearest integer and shares the noise across samples.
        - Quantus' ROAD (0.6.0) keeps only the first batch's results (`evaluation_scores[0]`,
          64 samples by default) and returns the accuracy per percentage over them, not
          per-sample scores; its imputation handles images only.
        - ROAD's code solves one sparse system per image with scipy on the CPU; xaibench solves
          a batch's systems at once on its device (a dense solve for inputs of at most 64
          positions, conjugate gradient above), matched to 1e-5 against a scipy.sparse solve
          of the reference system in the tests. ROAD defines images only; the 1/2-1/2 weights for
          signals are xaibench's.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> morf = xaibench.evaluate(model, inputs, target, maps, "road_morf", output="probability")
        >>> (morf.curve_x * 16).tolist()  # round(p * 16) of the 16 positions, p = 0.1, ..., 0.9
        [2.0, 3.0, 5.0, 6.0, 8.0, 10.0, 11.0, 13.0, 14.0]

        Least relevant first is most relevant first on the negated map (the noise is the same):

        >>> lerf = xaibench.evaluate(
        ...     model, inputs, target, -maps, "road_lerf", output="probability"
        ... )
        >>> torch.equal(morf.scores, lerf.scores)
        True

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
    removed_regions = [int(p * regions + 0.5) for p in fractions]
    if max(removed_regions) >= regions:
        # Checked here, once, so that the imputation need not check every block on the device.
        raise XaibenchError(
            f"road: removed={max(fractions)!r} rounds to all {regions} regions of an input; noisy "
            "linear imputation needs at least one kept position per input: give smaller fractions"
        )
    counts = torch.tensor(removed_regions, device=inputs.device)
    # A CPU generator, its draws moved once: every device gets the numbers a CPU run draws.
    generator = torch.Generator().manual_seed(seed)
    shared_noise = noise * torch.randn(points, *inputs.shape[1:], generator=generator)
    shared_noise = shared_noise.to(device=inputs.device, dtype=inputs.dtype)

    def make_inputs(samples: slice, steps: slice) -> Tensor:
        hidden = ranks[samples, None] < counts[steps, None]
        shape = (*hidden.shape[:2], *inputs.shape[1:])
        copies = inputs[samples, None].expand(shape).flatten(0, 1)
        noise = shared_noise[None, steps].expand(shape).flatten(0, 1)
        positions = hidden.view(-1, *inputs.shape[2:])
        # Imputed in the forward passes' slices: each input's system is solved on its own (the
        # same values in any batch), and on a CPU smaller batched solves are faster.
        return torch.cat([
            noisy_linear_imputation(copies[rows], positions[rows], noise[rows], check=False)
            for rows in pass_slices(len(copies), batch_size, inputs[0])
        ])  # fmt: skip

    curves = forward_grid(model, target, points, make_inputs, output, batch_size)
    curve_x = (counts / regions).double()
    return MetricResult(scores=curves.double().mean(dim=1), curves=curves, curve_x=curve_x)


register_metric_variant(
    "road_morf",
    road,
    summary="ROAD, most relevant first: the mean target output (by default, whether the class is\n"
    "still predicted) as 10..90% of the positions, most attributed first, are removed and\n"
    "filled by noisy linear imputation.\n\n"
    "Lower is better: a faithful map removes first what the prediction rests on, so the class\n"
    "is lost at small fractions already.",
    fixed={"most_relevant_first": True},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="fraction of positions removed (most relevant first)",
    curve_y_label="target {output}",
)
register_metric_variant(
    "road_lerf",
    road,
    summary="ROAD, least relevant first: the mean target output (by default, whether the class\n"
    "is still predicted) as 10..90% of the positions, least attributed first, are removed and\n"
    "filled by noisy linear imputation.\n\n"
    "Higher is better: a faithful map removes first what the prediction ignores, so the class\n"
    "survives until large fractions are gone.",
    fixed={"most_relevant_first": False},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="fraction of positions removed (least relevant first)",
    curve_y_label="target {output}",
)
