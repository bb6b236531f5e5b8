"""Gradient-based methods: saliency, gradient x input, integrated and expected gradients.

Gradients come from captum; SmoothGrad and its relatives are in `smoothgrad.py`, methods that
change the backward pass (DeepLIFT, guided backprop, deconvolution, LRP) in `propagation.py`.
"""

from __future__ import annotations

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import Tensor, nn

from xaibench.constraints import Count, Seed
from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.copies import flatten_copies, reduce_over_copies
from xaibench.methods.registry import register_method
from xaibench.perturb import Baseline, make_baseline
from xaibench.registry import XaibenchError


@register_method(
    "saliency",
    family="gradient",
)
def saliency(model: nn.Module, inputs: Tensor, target: Tensor, signed: bool = False) -> Tensor:
    r"""Saliency: the absolute gradient of the target logit with respect to every input value
    (`signed=True` keeps the sign).

    $\phi_i = |\partial y_c / \partial x_i|$, where $y_c$ is the model's logit for the target
    class (before any softmax) and $x_i$ one input value (one channel at one position). It is a
    local sensitivity: how fast the logit changes when $x_i$ changes a little, not how much $x_i$
    contributes to the logit, and it does not look at the value of $x_i$ at all. Large values
    mean the logit is sensitive there; the scale is logit units per input unit. One forward and
    one backward pass (captum's `Saliency`).

    Args:
        signed: False (default) returns $|\partial y_c / \partial x_i|$, as the paper and
            captum's `Saliency` do; True returns the raw gradient, positive where increasing the
            input would raise the target logit. Metrics that rank positions then put large
            negative gradients last rather than first.

    Returns:
        Attributions shaped like `inputs`, one value per channel and position; non-negative
        unless `signed`.

    Implementations differ:
        - Simonyan et al. reduce an image's colour channels to one map with the maximum of
          $|\partial y_c / \partial x|$ over channels; captum and xaibench keep one value per
          channel, and xaibench's metrics sum channels, so a position's score here is the sum,
          not the maximum, of its channels' absolute gradients.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "saliency")
        >>> maps.shape
        torch.Size([4, 1, 16])
        >>> bool((maps >= 0).all())
        True
        >>> signed = xaibench.explain(model, inputs, target, "saliency", signed=True)
        >>> torch.equal(signed.abs(), maps)
        True

    References:
        Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. ICLR Workshop 2014
    """
    return Saliency(model).attribute(inputs, target=target, abs=not signed)


@register_method(
    "input_x_gradient",
    family="gradient",
)
def input_x_gradient(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    r"""Gradient x input: every input value times the gradient of the target logit with respect
    to it.

    $\phi_i = x_i \, \partial y_c / \partial x_i$ for the target logit $y_c$: the first-order
    Taylor term of the logit, so the map is in logit units and its sign says whether the value
    pushes the logit up or down. The implicit baseline is the zero input (in the model's input
    space: the dataset mean when inputs are standardised), so a value of zero gets zero
    attribution whatever the model does with it. One forward and one backward pass (captum's
    `InputXGradient`). On ReLU networks it equals epsilon-LRP as epsilon goes to 0 and, with a
    zero baseline on networks without biases, DeepLIFT's rescale rule (Ancona et al. 2018); on a
    linear model it equals integrated gradients from the zero baseline.

    Returns:
        Attributions shaped like `inputs`, signed, one value per channel and position.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> gradient = xaibench.explain(model, inputs, target, "saliency", signed=True)
        >>> torch.allclose(maps, inputs * gradient)
        True
        >>> zeroed = inputs.clone()
        >>> zeroed[:, :, :4] = 0.0
        >>> maps = xaibench.explain(model, zeroed, target, "input_x_gradient")
        >>> bool((maps[:, :, :4] == 0).all())   # zero input, zero attribution
        True

    References:
        Shrikumar, Greenside, Shcherbina, Kundaje. Not Just a Black Box. arXiv 1605.01713, 2016
    """
    return InputXGradient(model).attribute(inputs, target=target)


@register_method(
    "integrated_gradients",
    family="gradient",
)
def integrated_gradients(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    steps: Count = 64,
    baseline: Baseline = "zero",
    batch_size: Count = 1024,
) -> Tensor:
    r"""Integrated gradients: the gradient of the target logit averaged along the straight path
    from a baseline to the input, times (input - baseline).

    $\phi_i = (x_i - x'_i) \int_0^1 \partial y_c(x' + \alpha (x - x')) / \partial x_i \, d\alpha$
    for the target logit $y_c$ and the baseline $x'$. The maps are complete: they sum to
    $y_c(x) - y_c(x')$, up to the error of the quadrature, which shrinks as `steps` grows
    (tested for every baseline; sum a map and compare before trusting a setting on a new
    model). A value's sign says whether moving it from the baseline to the input raised or
    lowered the logit, in logit units. Values equal to the baseline get zero attribution, so
    the baseline is part of the question asked.
    The integral is computed with captum's Gauss-Legendre rule at `steps` nodes in (0, 1):
    `steps` forward and backward passes per sample.

    Args:
        steps: Quadrature nodes (gradient evaluations) per sample. The paper reports that 20 to
            300 steps bring the sum within 5% of the logit difference; 64 by default.
        baseline: The reference input $x'$: `zero` (default: zeros in the model's input
            space, the paper's black image, or the dataset mean when inputs are standardised),
            `mean` (each sample's own per-channel mean over positions), `blur` (a Gaussian blur
            of the sample, kernel 11, sigma 5, reflect padding) or `uniform` (uniform noise
            over each sample's value range: one fixed pattern, seed 0's, scaled to each
            sample). The other methods that take a `baseline` offer the same four.
        batch_size: The most model inputs per forward pass (samples x steps); it changes memory
            use only, never the maps.

    Returns:
        Attributions shaped like `inputs`, signed, summing per sample to about
        $y_c(x) - y_c(x')$.

    Implementations differ:
        - The paper approximates the integral with a Riemann sum, and its authors' code
          (ankurtaly/Integrated-Gradients) with the trapezoid rule over steps + 1 points;
          PAIR's saliency library averages gradients at `steps` evenly spaced points including
          both ends. xaibench uses captum's default Gauss-Legendre rule, whose completeness
          error on `toy_problem` was smaller than the trapezoid rule's at every step count
          tried (4 to 64; by a factor of 1.2 to 6).
        - The authors' code explains the target's softmax probability; captum and xaibench
          explain the logit, so completeness holds for the logit and a confident prediction is
          not flattened by a saturated softmax.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "integrated_gradients")
        >>> with torch.no_grad():
        ...     gap = (model(inputs) - model(torch.zeros_like(inputs)))[torch.arange(4), target]
        >>> torch.allclose(maps.sum(dim=(1, 2)), gap, atol=1e-3)   # completeness
        True

    References:
        Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. ICML 2017
    """
    ig = IntegratedGradients(model)

    def attribute(x: Tensor, t: Tensor) -> Tensor:
        # captum splits the steps x samples inputs into forwards of at most `batch_size`.
        return ig.attribute(x, baselines=make_baseline(baseline, x), target=t, n_steps=steps,
                            internal_batch_size=batch_size)  # fmt: skip

    return map_sample_chunks(attribute, inputs, target, batch_size)


def expected_gradients_draws(
    background: Tensor, draws: int, seed: int, like: Tensor
) -> tuple[Tensor, Tensor]:
    """The `draws` (reference, alpha) pairs of expected gradients, on `like`'s device.

    References are drawn with replacement from `background` and alphas uniformly from [0, 1),
    both from one CPU generator seeded with `seed` (the background lives on the CPU), and
    shared by every sample so a sample's map does not depend on its batch.
    """
    if not isinstance(background, Tensor) or background.shape[1:] != like.shape[1:]:
        shape = tuple(background.shape) if isinstance(background, Tensor) else background
        raise XaibenchError(
            f"background must be training inputs shaped (M, {', '.join(map(str, like.shape[1:]))})"
            f", got {shape}"
        )
    # A CPU generator, its draws moved once: every device gets the numbers a CPU run draws.
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(background), (draws,), generator=generator)
    alphas = torch.rand(draws, generator=generator, dtype=torch.float64)
    return (
        background[index].to(device=like.device, dtype=like.dtype),
        alphas.to(device=like.device, dtype=like.dtype),
    )


@register_method("expected_gradients", family="gradient")
def expected_gradients(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    draws: Count = 64,
    seed: Seed = 0,
    batch_size: Count = 4096,
    background: Tensor | None = None,
) -> Tensor:
    r"""Expected gradients: integrated gradients averaged over baselines drawn from the training
    data, estimated with one random point on each path.

    $\phi_i = E_{x' \sim D,\ \alpha \sim U(0, 1)}\,[(x_i - x'_i)\,
    \partial y_c(x' + \alpha (x - x')) / \partial x_i]$ for the target logit $y_c$ and references
    $x'$ drawn with replacement from the training inputs $D$ (`background`), estimated by Monte
    Carlo with `draws` (reference, alpha) pairs: `draws` forward and backward passes per
    sample. In expectation a map sums to $y_c(x) - E[y_c(x')]$, the logit minus its mean over
    the background; a single estimate only approximately, with noise shrinking as
    $1/\sqrt{draws}$. It replaces integrated gradients' single baseline by the data
    distribution, at the price of that noise. It is GradientSHAP without input noise.

    Args:
        draws: (reference, alpha) pairs per sample, 64 by default (formerly `samples`).
        seed: Seeds the draws: references (with replacement) and alphas come from one CPU
            generator, and every sample of the batch uses the same draws, so a map is
            reproducible and does not depend on its batch.
        batch_size: The most model inputs per forward pass (samples x draws); it changes memory
            use only.
        background: Training inputs (M, C, ...) on the CPU to draw references from; a run passes
            its training split automatically. Required: without it the method raises.

    Returns:
        Attributions shaped like `inputs`, signed.

    Implementations differ:
        - captum's `GradientShap` computes the same estimator (with `stdevs=0`) but draws the
          references with numpy's global generator (`np.random.choice`) and the alphas with
          `np.random.uniform` (and its input noise, zero here, with `torch.normal` from torch's
          global generator), anew for every call and every sample, so a sample's map depends
          on the global random state and on its batch. Here the draws are made once from `seed`
          and shared by all samples; the gradients come from captum's `Saliency`.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> background = toy_problem(samples=32, seed=1)[1]
        >>> maps = xaibench.explain(model, inputs, target, "expected_gradients", draws=16,
        ...                         background=background)
        >>> alone = xaibench.explain(model, inputs[:1], target[:1], "expected_gradients",
        ...                          draws=16, background=background)
        >>> torch.allclose(alone, maps[:1])   # the same draws, whatever the batch
        True

    References:
        Erion, Janizek, Sturmfels, Lundberg, Lee. Improving performance of deep learning models with
        axiomatic attribution priors and expected gradients. Nature Machine Intelligence 2021
    """
    if background is None:
        raise XaibenchError(
            "expected_gradients needs background=<training inputs (M, C, ...)>; a run passes "
            "its training split automatically"
        )
    references, alphas = expected_gradients_draws(background, draws, seed, inputs)
    saliency = Saliency(model)

    def explain_copies(x: Tensor, t: Tensor, copies: range) -> Tensor:
        x = x.detach()
        reference = references[copies.start : copies.stop, None]  # (k, 1, ...)
        alpha = alphas[copies.start : copies.stop].view(-1, *[1] * x.dim())
        points, point_target = flatten_copies(reference + alpha * (x[None] - reference), t)
        grads = saliency.attribute(points.requires_grad_(True), target=point_target, abs=False)
        return (x[None] - reference) * grads.view(-1, *x.shape)

    return reduce_over_copies(explain_copies, inputs, target, draws, batch_size)
