"""Robustness: does the map stay put when the input barely moves? Max-sensitivity and the local
Lipschitz estimate re-explain perturbed copies of every input and take the worst case."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, Positive, Seed
from xaibench.metrics.reexplain import Explainer
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.sharing import shared


def drawn_perturbations(inputs: Tensor, radius: float, perturbations: int, seed: int) -> Tensor:
    """`perturbations` draws (S, C, ...) uniform in the L-infinity ball of `radius`, from `seed`
    alone, on the inputs' device and dtype."""
    # A CPU generator, its draws moved once: every device gets the numbers a CPU run draws.
    generator = torch.Generator().manual_seed(seed)
    shape = (perturbations, *inputs.shape[1:])
    deltas = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * radius
    return deltas.to(device=inputs.device, dtype=inputs.dtype)


def perturbed_distances(
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    model: nn.Module,
    radius: float,
    perturbations: int,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """(Frobenius norms ||phi(x + delta_s) - phi(x)|| of the perturbed copies' maps to the given
    map, per sample and perturbation (N, S), the perturbations delta_s (S, C, ...)): what
    max-sensitivity and the local Lipschitz estimate are made of.

    The N x S copies, sample-major, are built and re-explained a block at a time, a block being
    the explainer's `batch_size` copies (all of them for an explainer without one): the blocks
    are the explain calls that re-explaining all copies at once would make, so the maps are the
    same, and memory holds one block of copies and maps, not N x S of them.

    Both metrics with the same radius, perturbations and seed ask for the same thing: while a
    run shares work (sharing.py), the second one gets the first one's result instead of
    re-explaining. Kept per method and setting: the (N, S) distances and the perturbations,
    not the maps of the copies (N x S times the inputs' size)."""

    def compute() -> tuple[Tensor, Tensor]:
        deltas = drawn_perturbations(inputs, radius, perturbations, seed)
        copies = len(inputs) * perturbations
        block = getattr(reexplain, "batch_size", None) or copies
        gaps = torch.empty(copies, dtype=torch.float64, device=inputs.device)
        for start in range(0, copies, block):
            stop = min(start + block, copies)
            rows = torch.arange(start, stop, device=inputs.device)
            samples, draws = rows // perturbations, rows % perturbations
            maps = reexplain(model, inputs[samples] + deltas[draws], target[samples])
            change = maps.double() - attributions[samples].double()
            gaps[start:stop] = change.flatten(1).norm(dim=1)
        return gaps.view(len(inputs), perturbations), deltas

    settings = getattr(reexplain, "settings", None)  # an explainer without them is not shared
    parts = (settings, model, inputs, target, attributions, radius, perturbations, seed)
    return shared("perturbed_distances", parts, compute, model)


@register_metric(
    "max_sensitivity",
    category="robustness",
    higher_is_better=False,
)
def max_sensitivity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    radius: Positive = 0.1,
    perturbations: Count = 10,
    relative: bool = False,
    seed: Seed = 0,
) -> MetricResult:
    r"""Largest change (Frobenius norm) of the re-explained map over random inputs within an
    L-infinity ball around the input; relative=true divides it by the map's norm.

    Yeh et al.'s max-sensitivity
    $\mathrm{SENS}_{\max} = \max_{\|y - x\|_\infty \le r} \|\Phi(y) - \Phi(x)\|$, estimated as
    the maximum over `perturbations` points $y = x + \delta_s$ with $\delta_s$ uniform in the
    L-infinity ball of radius $r$ = `radius` (the sampling of captum and of the authors' code).
    $\Phi(x)$ is the given map, $\Phi(y)$ the same method's map of $y$ (re-explained); the norm
    is taken over every channel and position. The draws come from `seed` alone and are shared
    by all samples, so a sample's score does not depend on its batch; the N x `perturbations`
    copies are built and re-explained `batch_size` at a time. The estimate is a lower bound of
    the maximum and can only rise with more perturbations. With `relative`, the score is divided
    by $\|\Phi(x)\|$ and an all-zero map scores NaN; otherwise every score is defined. Closed
    form: on a linear model the gradient does not depend on the input and scores 0. Cost:
    `perturbations` re-explanations per sample, each costing what the method costs; in a run,
    `local_lipschitz` (and another `max_sensitivity`) with the same radius, perturbations and
    seed takes these re-explanations instead of running them again (kept until the run's
    scoring ends: the N x `perturbations` distances per method).

    Lower is better: a robust map barely changes when the input moves by amounts too small to
    matter; a large value means two nearly identical inputs get visibly different explanations.

    Args:
        reexplain: The method that made the maps, run again on the perturbed inputs; the
            registry builds it from the shared settings `method`, `method_params`,
            `batch_size` and `background`.
        radius: $r$, the L-infinity radius in model input units. Default 0.1, a tenth of a
            standard deviation on standardised inputs such as MNIST-1D's (captum's default is
            0.02, Quantus' 0.2).
        perturbations: Perturbed copies per sample. Default 10, as captum.
        relative: False (default) gives Yeh et al.'s definition, an absolute change; true
            divides by $\|\Phi(x)\|$, as captum and the authors' code do, so that maps of
            different scales compare.
        seed: Seed of the perturbations.

    Returns:
        MetricResult: `scores` (N,), the largest change of each sample's map.

    Implementations differ:
        - captum's `sensitivity_max` (0.9.0) is the relative form only, with radius 0.02 and 10
          uniform draws; it re-explains the unperturbed input itself instead of taking the given
          map, and where $\|\Phi(x)\| = 0$ it divides by 1, returning the absolute change,
          where xaibench returns NaN. With `relative=true` and the same perturbations xaibench
          returns captum's numbers (tested).
        - The authors' code (`infid_sen_utils.py`, `get_exp_sens`) divides the running maximum
          by $\|\Phi(x)\|$ inside its sampling loop, so a draw's distance is divided once more
          for every later draw; it equals the relative maximum only with one draw or a map of
          norm 1.
        - Quantus' MaxSensitivity (0.6.0) is relative by default, with uniform noise of radius
          0.2 and 200 draws.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> gradient = xaibench.explain(linear, inputs, target, "saliency", signed=True)
        >>> result = xaibench.evaluate(
        ...     linear, inputs, target, gradient, "max_sensitivity",
        ...     method="saliency", method_params={"signed": True}, perturbations=4,
        ... )
        >>> result.scores.tolist()  # a linear model's gradient is the same everywhere
        [0.0, 0.0, 0.0, 0.0]

        Gradient x input of the toy CNN moves with the input:

        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, maps, "max_sensitivity",
        ...     method="input_x_gradient", perturbations=4,
        ... )
        >>> bool((result.scores > 0).all())
        True

    References:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of
        Explanations. NeurIPS 2019
    """
    gaps, _ = perturbed_distances(
        inputs, target, attributions, reexplain, model, radius, perturbations, seed
    )
    worst = gaps.max(dim=1).values
    if relative:
        norm = attributions.double().flatten(1).norm(dim=1)
        worst = (worst / norm).masked_fill(norm == 0, float("nan"))
    return MetricResult(scores=worst)


@register_metric(
    "local_lipschitz",
    category="robustness",
    higher_is_better=False,
)
def local_lipschitz(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    radius: Positive = 0.1,
    perturbations: Count = 10,
    seed: Seed = 0,
) -> MetricResult:
    r"""Largest ratio of map change to input change, ‖Φ(x′) − Φ(x)‖ / ‖x′ − x‖, over random inputs
    x′ within an L-infinity ball around the input.

    Alvarez-Melis & Jaakkola's local Lipschitz estimate
    $L(x) = \max_{x' \in B(x)} \|\Phi(x) - \Phi(x')\|_2 / \|x - x'\|_2$, with both norms over
    every channel and position, estimated as the maximum over `perturbations` points
    $x' = x + \delta_s$, $\delta_s$ uniform in the L-infinity ball $B(x)$ of radius `radius`.
    $\Phi(x)$ is the given map, $\Phi(x')$ the same method's map of $x'$ (re-explained). The
    draws and the estimate behave as for `max_sensitivity` (the same draws for the same seed,
    shared by all samples; a lower bound that can only rise with more perturbations). Unlike
    max-sensitivity, it divides by the size of each input change, so it measures change per
    unit of input change; for a map linear in the input (gradient x input of a linear model) it
    does not depend on the radius at all. Every score is defined. Cost: `perturbations`
    re-explanations per sample, as for max-sensitivity, and shared with it in a run when the
    radius, perturbations and seed are the same.

    Lower is better: a small constant means nearby inputs get nearby explanations.

    Args:
        reexplain: The method that made the maps, run again on the perturbed inputs; the
            registry builds it from the shared settings `method`, `method_params`,
            `batch_size` and `background`.
        radius: The L-infinity radius of the ball, in model input units. Default 0.1, as for
            max-sensitivity.
        perturbations: Perturbed copies per sample. Default 10.
        seed: Seed of the perturbations.

    Returns:
        MetricResult: `scores` (N,), the estimate for each sample.

    Implementations differ:
        - The paper maximises the ratio with Bayesian optimisation; xaibench, like Quantus,
          samples.
        - Quantus' LocalLipschitzEstimate (0.6.0) adds Gaussian noise N(0, 0.1²) to every
          value (unbounded, not a ball), takes 200 draws, and with its default
          `normalise=True` divides the given maps and every batch of re-explained maps each by
          their own batch's largest absolute value, so the distance compares maps on two
          different scales and a sample's score depends on its batch. xaibench normalises
          nothing.
        - captum has no local Lipschitz metric.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> _, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> maps = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> result = xaibench.evaluate(
        ...     linear, inputs, target, maps, "local_lipschitz",
        ...     method="input_x_gradient", perturbations=4,
        ... )

        Gradient x input of a linear model is $w \odot x$, whose Lipschitz constant is the
        largest $|w_i|$; the sampled estimate stays below it:

        >>> bound = linear[1].weight.detach()[target].abs().amax(dim=1)
        >>> bool((result.scores > 0).all()), bool((result.scores <= bound).all())
        (True, True)

    References:
        Alvarez-Melis, Jaakkola. On the Robustness of Interpretability Methods. ICML Workshop
        on Human Interpretability 2018
    """
    gaps, deltas = perturbed_distances(
        inputs, target, attributions, reexplain, model, radius, perturbations, seed
    )
    steps = deltas.double().flatten(1).norm(dim=1)
    return MetricResult(scores=(gaps / steps).max(dim=1).values)
