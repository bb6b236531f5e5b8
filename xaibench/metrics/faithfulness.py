"""Removal curves: deletion and insertion (RISE), AOPC and ABPC, which switch regions between
the input and a baseline in the map's order and read the target output after every step."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, Seed
from xaibench.metrics.registry import MetricResult, register_metric, register_metric_variant
from xaibench.perturb import (
    Baseline,
    Output,
    forward_grid,
    make_baseline,
    region_ranks,
    where_grid,
)
from xaibench.registry import XaibenchError


def check_steps(steps: int, regions: int, patch: int) -> None:
    """Raise `XaibenchError` unless `steps` is an int from 1 to the number of `regions`."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= regions:
        unit = "positions" if patch == 1 else f"regions (patches of {patch} positions per side)"
        raise XaibenchError(
            f"steps={steps!r} must be between 1 and the number of {unit} ({regions})"
        )


def switch_curves(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    ranks: Tensor,
    counts: Tensor,
    start: Tensor,
    end: Tensor,
    output: str,
    batch_size: int,
) -> Tensor:
    """Target output (N, S) while regions switch from `start` to `end` in rank order.

    `ranks` (N, P) is the removal order of every position's region; point s of the curve has
    the first `counts[s]` regions taken from `end` and the rest from `start`.
    """

    def make_inputs(samples: slice, steps: slice) -> Tensor:
        switched = ranks[samples, None] < counts[steps, None]
        return where_grid(switched, end[samples], start[samples])

    return forward_grid(model, target, len(counts), make_inputs, output, batch_size)


def area_curves(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    start: Tensor,
    end: Tensor,
    steps: int,
    patch: int,
    output: str,
    batch_size: int,
    most_relevant_first: bool = True,
) -> MetricResult:
    """RISE's protocol: point k (k = 0..steps) has the first floor(k * R / steps) of R regions
    (most relevant first unless told otherwise) taken from `end`, so point 0 is `start`
    untouched and point `steps` is `end` entirely.

    The score is the area under the curve against the fraction of regions switched
    (trapezoid rule on [0, 1]), which equals RISE's `auc` when R is a multiple of `steps`.
    """
    ranks, regions = region_ranks(attributions, patch, most_relevant_first)
    check_steps(steps, regions, patch)
    counts = torch.arange(steps + 1, device=inputs.device) * regions // steps
    curves = switch_curves(model, inputs, target, ranks, counts, start, end, output, batch_size)
    fraction = (counts / regions).double()
    scores = torch.trapezoid(curves.double(), fraction, dim=1)
    return MetricResult(scores=scores, curves=curves, curve_x=fraction)


def area_curve(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    insert: bool,
    steps: Count = 40,
    baseline: Baseline = "zero",
    output: Output = "probability",
    patch: Count = 1,
    batch_size: Count = 4096,
) -> MetricResult:
    r"""Area under the target output as the most attributed positions are switched, step by step,
    between the input and a baseline (RISE's deletion and insertion).

    Positions (time steps or pixels, all channels together) are ranked by the attribution summed
    over channels, highest first; with `patch` > 1, square regions are ranked by their summed
    attribution. Point $k$ of the curve ($k = 0, \dots, S$ with $S$ = `steps`) has the top
    $\lfloor kR/S \rfloor$ of the $R$ regions switched. Deletion (`insert=False`) starts from the
    input and replaces them by the baseline: point 0 is the unperturbed input, point $S$ the
    baseline alone. Insertion (`insert=True`) starts from the baseline and restores them from the
    input: point 0 is the baseline alone, point $S$ the input. The curve holds the target output
    at all $S + 1$ points, both ends included, and the score is its area by the trapezoid rule
    over the fraction of regions switched (from 0 to 1), so it lies in [0, 1] for probabilities.
    A faithful map ranks first what the prediction rests on: its deletion curve falls early and
    its insertion curve rises early. Every score is defined (ties in the map go to the lower
    position index). Cost: $S + 1$ forward passes per sample.

    Args:
        insert: False for deletion (from the input towards the baseline), True for insertion
            (from the baseline towards the input); each registered variant fixes it.
        steps: $S$, the number of steps; the curve has $S + 1$ points. From 1 to the number of
            regions. Default 40: one position per step on MNIST-1D's 40-point signals, and
            steps of 2.5% of the input on larger ones (RISE's code changes 224 pixels per step
            of a 224x224 image, 225 points).
        baseline: What deleted positions are replaced with (deletion) or what the curve starts
            from (insertion): `zero` (zeros in the model's input space, which is the data mean
            for standardised inputs), `mean` (each sample's own per-channel mean), `blur`
            (Gaussian blur, kernel 11, sigma 5, reflect padding) or `uniform` (noise over each
            sample's value range; always the pattern of seed 0, as this metric has no seed).
            Defaults follow RISE: `zero` for deletion, `blur` for insertion.
        output: What is read off the model for the target class: `probability` (softmax, as
            RISE; default), `logit`, or `correct` (1 while the target is the arg max, else 0).
        patch: Side of the square regions in positions (a segment for signals); 1 ranks single
            positions. Regions at the far edges are smaller when a side is not a multiple.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        MetricResult: `scores` (N,), the area under each curve; `curves` (N, S + 1), the target
        output at each point; `curve_x` (S + 1,), the fraction of regions switched, 0 to 1.

    Implementations differ:
        - RISE's reference code (`evaluation.py`, `CausalMetric`) scores the class the model
          predicts for the unperturbed input, not a given label: pass the predictions as
          `target` to match it. Its `auc` is the trapezoid rule over all n + 1 points on
          [0, 1]; xaibench's area equals it when R is a multiple of `steps` (tested against a
          re-implementation of `CausalMetric`).
        - RISE's notebook appends a softmax to the model (hence `output: probability`), deletes
          to zero in the normalised input space and blurs with zero padding
          (`conv2d(..., padding=klen // 2)`), which darkens the substrate's border towards
          zero; xaibench's blur pads by reflection.
        - Quantus has no deletion or insertion; its nearest metric, PixelFlipping (0.6.0), ranks
          every value of the map (channels separately), leaves the unperturbed point off the
          curve, replaces values by its "black" baseline, which is each sample's minimum rather
          than zero, and integrates with `np.trapz` over step indices (dx = 1) rather than over
          the fraction removed; `np.trapz` no longer exists in NumPy 2.4.
        - Dropping either end of the curve changes the area; xaibench keeps both, as RISE does.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> deletion = xaibench.evaluate(model, inputs, target, maps, "deletion", steps=8)
        >>> deletion.scores.shape, deletion.curves.shape, deletion.curve_x[:3].tolist()
        (torch.Size([4]), torch.Size([4, 9]), [0.0, 0.125, 0.25])

        Both ends are on the curves: deletion starts at the unperturbed input's probability,
        and insertion from the same baseline ends there.

        >>> probability = model(inputs).softmax(dim=1)[torch.arange(4), target].double()
        >>> insertion = xaibench.evaluate(
        ...     model, inputs, target, maps, "insertion", steps=8, baseline="zero"
        ... )
        >>> torch.allclose(deletion.curves[:, 0], probability)
        True
        >>> torch.allclose(insertion.curves[:, -1], probability)
        True

    References:
        Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box
        Models. BMVC 2018
    """
    substrate = make_baseline(baseline, inputs)
    start, end = (substrate, inputs) if insert else (inputs, substrate)
    return area_curves(
        model, inputs, target, attributions, start, end, steps, patch, output, batch_size
    )


register_metric_variant(
    "deletion",
    area_curve,
    summary="Area under the target's probability as the most attributed positions are deleted\n"
    "(replaced by the baseline, zero by default), from none to all.\n\n"
    "Lower is better: a faithful map deletes first what the prediction rests on, so the\n"
    "probability falls early and little area remains under the curve.",
    fixed={"insert": False},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="fraction of positions deleted",
    curve_y_label="target {output}",
)
register_metric_variant(
    "insertion",
    area_curve,
    summary="Area under the target's probability as the most attributed positions are inserted\n"
    "into the baseline (a blurred copy of the input by default), from none to all.\n\n"
    "Higher is better: a faithful map restores first what the prediction rests on, so the\n"
    "probability rises early and the area under the curve is large.",
    fixed={"insert": True},
    defaults={"baseline": "blur"},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="fraction of positions inserted",
    curve_y_label="target {output}",
)


def aopc(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    most_relevant_first: bool,
    steps: Count = 20,
    patch: Count = 1,
    baseline: Baseline = "uniform",
    output: Output = "logit",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> MetricResult:
    r"""Area over the perturbation curve (AOPC): the mean drop of the target output as regions are
    replaced by noise one more per step, in the map's order.

    Regions (single positions, or squares of `patch` positions per side, all channels together)
    are ranked by their summed attribution, most relevant first (MoRF) or least relevant first
    (LeRF). $x^{(k)}$ is the input with the first $k$ regions of that order replaced by the
    baseline, cumulatively, one region per step, and per sample (Samek et al.'s definition)
    $\mathrm{AOPC} = \frac{1}{L+1} \sum_{k=0}^{L} [f(x^{(0)}) - f(x^{(k)})]$ with $L$ = `steps`;
    the $k = 0$ term is zero and counted, as in the paper. The curve holds $f(x^{(k)})$ for
    $k = 0, \dots, L$ against the number of regions perturbed. Only the first $L$ regions are
    ever perturbed (the default 20 steps reach half of a 40-point signal), so the score speaks
    for the top (or bottom) of the ranking only. Most relevant first, a faithful map removes
    the evidence first and the output falls far (a large mean drop); least relevant first, it
    removes what the model ignores and the output barely moves (a small mean drop). Every score
    is defined. Cost: $L + 1$ forward passes per sample.

    Args:
        most_relevant_first: True for MoRF, False for LeRF; each registered variant fixes it.
        steps: $L$, the regions perturbed, one per step; from 1 to the number of regions.
            Default 20: 21 forward passes per sample (the paper perturbs about 100 of the 9x9
            regions of a 224x224 image).
        patch: Side of the square regions in positions (a segment for signals); 1 perturbs
            single positions. Samek et al. use 9x9 regions on 224x224 images.
        baseline: What a perturbed region takes: `uniform` (default; the paper's uniform noise,
            here over each sample's own value range, one pattern per `seed` shared by all
            samples), `zero`, `mean` (each sample's per-channel mean) or `blur`.
        output: What is read off the model for the target class: `logit` (default: the class
            score the maps explain), `probability` (softmax) or `correct` (1 while the target
            is the arg max).
        seed: Seed of the uniform baseline's noise.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        MetricResult: `scores` (N,), the AOPC of each sample; `curves` (N, L + 1), the target
        output $f(x^{(k)})$; `curve_x` (L + 1,), the number of regions perturbed, 0 to L.

    Implementations differ:
        - Samek et al. report AOPC averaged over a data set; xaibench scores each sample, and
          the mean over samples that a run reports is the paper's number.
        - Quantus' RegionPerturbation (0.6.0) returns the drop curve for k = 1 to 100
          (`regions_evaluation`) without the k = 0 point, on 8x8 patches, replacing regions by
          its "black" baseline (each sample's minimum value) rather than uniform noise. Its
          summary (`get_auc_score`) is `np.trapz` with dx = 1 over that curve, an area in
          units of steps rather than AOPC's mean, and fails on NumPy 2.4, which no longer has
          `np.trapz`. It declares `score_direction = LOWER` whatever the order, although most
          relevant first a larger drop is the faithful result.
        - Noise over "the sample's value range" is xaibench's reading of the paper's uniform
          noise: it keeps replaced values within the range the model saw for that sample.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> morf = xaibench.evaluate(model, inputs, target, maps, "aopc_morf", steps=8)
        >>> morf.curves.shape, morf.curve_x.tolist()
        (torch.Size([4, 9]), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])

        The score is the mean drop from the first point of the curve, the unperturbed input:

        >>> torch.allclose(morf.scores, (morf.curves[:, :1] - morf.curves).mean(dim=1))
        True

        Least relevant first is most relevant first on the negated map:

        >>> lerf = xaibench.evaluate(model, inputs, target, -maps, "aopc_lerf", steps=8)
        >>> torch.equal(morf.scores, lerf.scores)
        True

    References:
        Samek, Binder, Montavon, Lapuschkin, Müller. Evaluating the Visualization of What a
        Deep Neural Network Has Learned. IEEE TNNLS 2017
    """
    ranks, regions = region_ranks(attributions, patch, most_relevant_first)
    check_steps(steps, regions, patch)
    counts = torch.arange(steps + 1, device=inputs.device)
    replacement = make_baseline(baseline, inputs, seed=seed)
    curves = switch_curves(
        model, inputs, target, ranks, counts, inputs, replacement, output, batch_size
    )
    scores = (curves[:, :1] - curves).double().mean(dim=1)
    return MetricResult(scores=scores, curves=curves, curve_x=counts.double())


register_metric_variant(
    "aopc_morf",
    aopc,
    summary="Area over the perturbation curve, most relevant first (MoRF): the mean drop of the\n"
    "target logit over L+1 steps, each replacing one more region, most attributed first, by\n"
    "noise.\n\n"
    "Higher is better: a faithful map puts the evidence first, so removing it makes the output\n"
    "fall far and fast.",
    fixed={"most_relevant_first": True},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="regions perturbed (most relevant first)",
    curve_y_label="target {output}",
)
register_metric_variant(
    "aopc_lerf",
    aopc,
    summary="Area over the perturbation curve, least relevant first (LeRF): the mean drop of the\n"
    "target logit over L+1 steps, each replacing one more region, least attributed first, by\n"
    "noise.\n\n"
    "Lower is better: a faithful map puts last what the model ignores, so removing the least\n"
    "attributed regions first barely moves the output.",
    fixed={"most_relevant_first": False},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="regions perturbed (least relevant first)",
    curve_y_label="target {output}",
)


def abpc(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    steps: Count = 40,
    baseline: Baseline = "zero",
    output: Output = "probability",
    patch: Count = 1,
    batch_size: Count = 4096,
) -> MetricResult:
    r"""Area between the perturbation curves (ABPC), or symmetric relevance gain (SRG): the area
    under the least-relevant-first deletion curve minus that under the most-relevant-first one.

    Both curves are deletion's (see `deletion`): regions (single positions, or squares of
    `patch` positions per side, all channels together) are ranked by their summed attribution
    and replaced by the baseline, from none to all, and the target output is read at $S + 1$
    points ($S$ = `steps`), both ends included. Point $k$ has the first $\lfloor kR/S \rfloor$
    of the $R$ regions replaced, in the most relevant first order (MoRF, curve $M_k$) or the
    least relevant first order (LeRF, curve $L_k$), and per sample
    $\mathrm{ABPC} = \mathrm{AUC}(L) - \mathrm{AUC}(M) = \int_0^1 (L - M)$, by the trapezoid
    rule over the fraction of regions replaced. Higher is better: a faithful map removes the
    evidence first in one order (the output falls early) and last in the other (it stays up),
    so the curves lie far apart. Blücher et al. write it as the sum of two relevance gains
    over a random order, $\mathrm{AUC}(L) - \mathrm{AUC}(\mathrm{random})$ and
    $\mathrm{AUC}(\mathrm{random}) - \mathrm{AUC}(M)$, in which the random order cancels; a
    random map scores 0 in expectation, and negating a map negates its score (the two orders
    swap; ties too, as both orders break them lower index first). The two curves share both
    ends (the input, and the baseline alone), so the difference curve starts and ends at 0.
    How far a curve falls depends on what the baseline does to the model; the paper shows that
    the difference ranks maps consistently across removal baselines where either curve alone
    does not. With probabilities the score lies in [-1, 1]. Every score is defined (ties in
    the map go to the lower position index in both orders). Cost: $2(S + 1)$ forward passes
    per sample.

    Args:
        steps: $S$, the number of steps of each curve; each has $S + 1$ points. From 1 to the
            number of regions. Default 40, as deletion.
        baseline: What removed regions are replaced with: `zero` (default, as deletion), `mean`
            (each sample's per-channel mean), `blur` or `uniform` (noise over each sample's
            value range, the pattern of seed 0). The same baseline serves both orders.
        output: What is read off the model for the target class: `probability` (softmax,
            default, as the paper and Quantus), `logit` or `correct` (1 while the target is
            the arg max).
        patch: Side of the square regions in positions (a segment for signals); 1 removes
            single positions.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        MetricResult: `scores` (N,), AUC(LeRF) - AUC(MoRF) of each sample; `curves` (N, S + 1),
        the difference $L_k - M_k$ at each point (0 at both ends); `curve_x` (S + 1,), the
        fraction of regions removed, 0 to 1.

    Implementations differ:
        - Names: Blücher et al. 2024 call this area the symmetric relevance gain (SRG; their
          MIF and LIF curves, most and least influential first); other tools call the area
          between the two perturbation curves ABPC. Some write it the other way round, as
          the MoRF drop minus the LeRF drop, which is the same number.
        - Quantus' SymmetricRelevanceGain (its current code) ranks every value of the map
          (channels separately, the map broadcast over channels), takes the least influential
          first order as the exact reverse of the most influential first one (ties in
          reverse), replaces values by a per-sample `mean` baseline by default, reads the
          softmax probability, and scores the mean of the difference over the $S$ points
          after the unperturbed one.
          As the difference is 0 at both ends, that mean equals xaibench's trapezoid area
          when the ranked values divide evenly into the steps; xaibench ranks whole positions
          (channels summed), breaks ties lower index first in both orders and defaults to the
          zero baseline, as deletion does.
        - Blücher et al. compare many occlusion strategies (what replaces a removed region);
          the strategy changes the number, less than either curve's, which is why xaibench
          records `baseline` with the score. xaibench reads the raw target output, as
          deletion does, not a curve normalised by the unperturbed output.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> abpc = xaibench.evaluate(model, inputs, target, maps, "abpc", steps=8)
        >>> abpc.scores.shape, abpc.curves.shape, abpc.curve_x[:3].tolist()
        (torch.Size([4]), torch.Size([4, 9]), [0.0, 0.125, 0.25])

        The difference curve is 0 at both ends, and the score is AUC(LeRF) - AUC(MoRF): the
        area under deletion's curve of the negated map (which removes the least relevant
        first) minus that of the map.

        >>> abpc.curves[:, [0, -1]].abs().max().item()
        0.0
        >>> morf = xaibench.evaluate(model, inputs, target, maps, "deletion", steps=8)
        >>> lerf = xaibench.evaluate(model, inputs, target, -maps, "deletion", steps=8)
        >>> torch.allclose(abpc.scores, lerf.scores - morf.scores)
        True

    References:
        Blücher, Vielhaben, Strodthoff. Decoupling Pixel Flipping and Occlusion Strategy for
        Consistent XAI Benchmarks. TMLR 2024
    """
    substrate = make_baseline(baseline, inputs)
    # Deletion's curves, both orders from the same input towards the same baseline.
    common = (model, inputs, target, attributions, inputs, substrate, steps, patch, output)
    morf = area_curves(*common, batch_size, most_relevant_first=True)
    lerf = area_curves(*common, batch_size, most_relevant_first=False)
    assert morf.curves is not None
    assert lerf.curves is not None
    curves = lerf.curves.double() - morf.curves.double()
    return MetricResult(scores=lerf.scores - morf.scores, curves=curves, curve_x=morf.curve_x)


register_metric(
    "abpc",
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="fraction of positions removed",
    curve_y_label="target {output}: least minus most relevant first",
)(abpc)


# Metrics of other papers that are settings of the ones above: declared, not copied.
register_metric_variant(
    "selectivity",
    area_curve,
    summary="Selectivity (Montavon, Samek, Müller 2018): the area under the target's logit as the\n"
    "most relevant regions are removed (replaced by the baseline), from none to all.\n\n"
    "Lower is better: a selective map removes first what the function value rests on, so it\n"
    "falls early. Montavon et al. remove image patches one at a time, most relevant first,\n"
    "and track the function value $f(x)$ that the explanation decomposes; xaibench reads it as\n"
    "deletion's curve with `output` fixed to the target's `logit` (the class score the maps\n"
    "explain, not a softmax probability). `patch` sets the regions (1 by default: single\n"
    "positions, which fits MNIST-1D's 40-point signals as well as images; Quantus' Selectivity\n"
    "docstring describes 4 x 4 patches and its code defaults to 8); with `steps` equal to the\n"
    "number of regions, one region is removed per step, as in the paper. Quantus' Selectivity\n"
    "(the version read, commit 13543b3) reads the softmax probability by default, replaces\n"
    "patches by its `black` baseline, chooses non-overlapping patches greedily from windows at\n"
    "every offset, and leaves the unperturbed point off its curve.",
    fixed={"insert": False, "output": "logit"},
    references="Montavon, Samek, Müller. Methods for Interpreting and Understanding Deep\n"
    "Neural Networks. Digital Signal Processing 73, 2018\n"
    "Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box\n"
    "Models. BMVC 2018",
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="fraction of regions removed (most relevant first)",
    curve_y_label="target logit",
)
register_metric_variant(
    "region_perturbation",
    aopc,
    summary="Region perturbation (Samek et al. 2017): AOPC with the most relevant regions first,\n"
    "each replaced by uniform noise, one more per step.\n\n"
    "Higher is better: a faithful map puts the evidence first, so perturbing it makes the\n"
    "target output fall far and fast. Samek et al. perturb non-overlapping 9 x 9 regions of\n"
    "224 x 224 images with uniform noise, most relevant first (MoRF), and report the AOPC;\n"
    "this is `aopc` with `most_relevant_first` fixed to True and `baseline` fixed to\n"
    "`uniform`, and so `aopc_morf` with its noise fixed. A 9-position side does not fit\n"
    "MNIST-1D's 40-point signals (4 full segments), so `patch` defaults to 2 (20 segments of\n"
    "a 40-point signal, 2 x 2 squares of an image) with `steps` 20: the whole of MNIST-1D's\n"
    "signal, and about 10% of a 28 x 28 image, as the paper's 100 of 625 9 x 9 regions cover\n"
    "16% of theirs; set `patch: 9` for the paper's regions on large images.",
    fixed={"most_relevant_first": True, "baseline": "uniform"},
    defaults={"patch": 2},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="regions perturbed (most relevant first)",
    curve_y_label="target {output}",
)
