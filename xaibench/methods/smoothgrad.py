"""SmoothGrad and its relatives: a method averaged over noisy copies of the input.

`smooth` wraps any registered method (smoothed Grad-CAM, smoothed integrated gradients, ...);
`smoothgrad`, `smoothgrad_sq`, `vargrad` and `smoothgrad_x_input` are `smooth` over the signed
gradient with a fixed statistic.

Written here rather than with captum's NoiseTunnel, which draws its noise for the whole batch
from the global random generator (a sample's map then depends on its batch and on global state)
and takes one absolute standard deviation for all samples. The paper sets the noise level per
image, as a fraction of its value range; here one seeded set of noise patterns is shared by
all samples and scaled to each sample's range, so maps are reproducible and batch-invariant.
The gradients themselves come from captum's Saliency (via the `saliency` method).
"""

from __future__ import annotations

import inspect
from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, NonNegative, OneOf, Seed
from xaibench.methods.copies import STATISTICS, flatten_copies, reduce_over_copies
from xaibench.methods.registry import (
    METHODS,
    call_method,
    register_method,
    register_method_variant,
)


def noise_patterns(inputs: Tensor, samples: int, seed: int) -> Tensor:
    """Standard normal patterns (samples, *sample shape) from `seed`, shared by all samples."""
    # Drawn on a CPU generator and moved once per call: every device gets the noise a CPU run
    # draws (a CUDA generator would draw other numbers from the same seed).
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn((samples, *inputs.shape[1:]), generator=generator, dtype=inputs.dtype)
    return patterns.to(inputs.device)


def value_range(inputs: Tensor) -> Tensor:
    """max - min of each sample, shaped (N, 1, ...) to broadcast against it."""
    flat = inputs.detach().flatten(1)
    spread = flat.max(dim=1).values - flat.min(dim=1).values
    return spread.view(-1, *[1] * (inputs.dim() - 1))


@register_method("smooth", family="wrapper")
def smooth(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    method: str = "saliency",  # a registered name: checked with `params` (MethodInfo.check)
    params: dict | None = None,
    noisy_copies: Count = 50,
    noise: NonNegative = 0.15,
    seed: Seed = 0,
    statistic: Annotated[str, OneOf(STATISTICS)] = "mean",
    batch_size: Count = 4096,
    background: Tensor | None = None,
) -> Tensor:
    r"""Any registered method averaged over noisy copies of the input (or their mean square or
    variance): SmoothGrad's smoothing applied to `method`.

    Each sample $x$ gets `noisy_copies` copies $x + \epsilon_k$ with Gaussian noise
    $\epsilon_k \sim N(0, \sigma^2)$, $\sigma$ = `noise` x (max - min of the sample over all its
    channels and positions); `method` explains every copy with its `params`, and `statistic`
    reduces the copies' maps value by value. Smoothing removes fine-scale fluctuations that a
    map shows from one input to its near neighbours. The noise patterns are drawn once from
    `seed`, shared by all samples and scaled to each sample's range, so maps are reproducible
    and do not depend on the batch. Cost: `noisy_copies` times the wrapped method's.

    With the defaults this smooths `saliency`, whose default is the absolute gradient: the
    result is the mean of $|\nabla y_c|$ (what captum's NoiseTunnel over `Saliency` computes),
    not the paper's SmoothGrad, which averages signed gradients; for that use `smoothgrad`.

    Args:
        method: The registered method to smooth: any name from
            `python -m xaibench.catalog methods`, wrappers included.
        params: That method's settings as a dict (e.g. `{"layer": "features.9"}` for
            `gradcam`); checked with the other settings, before any work.
        noisy_copies: Noisy copies per sample (formerly `samples`), 50 by default: the paper
            sees diminishing returns beyond about 50.
        noise: The noise's standard deviation as a fraction of each sample's value range;
            0.15 by default, inside the paper's recommended 10-20%. 0 gives the method's own
            map.
        seed: Seeds the noise patterns.
        statistic: `mean` (SmoothGrad), `mean_square` (the mean of the squared maps,
            SmoothGrad-SQ) or `variance` (their population variance, divided by the number of
            copies: VarGrad).
        batch_size: The most inputs per call of the wrapped method (samples x copies); also
            handed to the wrapped method, if it takes `batch_size` and `params` does not set it.
            It changes memory use only.
        background: Training inputs, handed on to the wrapped method if it takes them
            (`expected_gradients`); a run passes them automatically.

    Returns:
        Attributions shaped like `inputs`: the statistic of the wrapped method's maps.

    Implementations differ:
        - captum's `NoiseTunnel` takes one absolute standard deviation (`stdevs`) for every
          sample and draws the noise with `torch.normal` from the global generator for each
          batch, so a sample's map depends on the global random state and on its batch. Here
          the standard deviation is relative to each sample's range, as in the paper and in
          PAIR's saliency library (`stdev_spread` x (x_max - x_min)), and the noise comes from
          `seed`.
        - captum's `NoiseTunnel` (`vargrad`) and xaibench's `variance` are both the population
          variance, as in Hooker et al. 2019.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> plain = xaibench.explain(model, inputs, target, "gradcam")
        >>> unperturbed = xaibench.explain(model, inputs, target, "smooth", method="gradcam",
        ...                                noise=0.0, noisy_copies=2)
        >>> torch.allclose(unperturbed, plain)   # without noise, the method itself
        True
        >>> smoothed = xaibench.explain(model, inputs, target, "smooth", method="gradcam",
        ...                             noisy_copies=4)
        >>> bool((smoothed >= 0).all())   # a mean of non-negative Grad-CAM maps
        True

    References:
        Smilkov, Thorat, Kim, Viegas, Wattenberg. SmoothGrad: removing noise by adding noise.
        arXiv 1706.03825, 2017
    """
    params = dict(params or {})
    inner = METHODS[method].fn
    if "batch_size" in inspect.signature(inner).parameters:
        params.setdefault("batch_size", batch_size)  # the inner loops obey the same knob
    context = {} if background is None else {"background": background}
    patterns = noise_patterns(inputs, noisy_copies, seed)

    def explain_copies(x: Tensor, t: Tensor, copies: range) -> Tensor:
        noisy = (
            x.detach()[None]
            + noise * value_range(x)[None] * patterns[copies.start : copies.stop, None]
        )
        flat, flat_target = flatten_copies(noisy, t)
        maps = call_method(method, model, flat, flat_target, params, context)
        return maps.view(noisy.shape)

    return reduce_over_copies(explain_copies, inputs, target, noisy_copies, batch_size, statistic)


def smoothed_gradient(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    statistic: str,
    times_input: bool,
    noisy_copies: Count = 50,
    noise: NonNegative = 0.15,
    seed: Seed = 0,
    signed: bool = True,
    batch_size: Count = 4096,
) -> Tensor:
    r"""A statistic of the signed gradient of the target logit over noisy copies of the input.

    Each sample $x$ gets $K$ = `noisy_copies` copies $x + \epsilon_k$ with Gaussian noise
    $\epsilon_k \sim N(0, \sigma^2)$, $\sigma$ = `noise` x (max - min of the sample), and $g_k$
    is the signed gradient of the target logit $y_c$ at copy $k$. The family reduces the $g_k$
    value by value: `smoothgrad` is the mean $\bar g = \frac{1}{K} \sum_k g_k$ (its absolute
    value by default), `smoothgrad_sq` the mean square $\frac{1}{K} \sum_k g_k^2$, `vargrad` the
    population variance $\frac{1}{K} \sum_k (g_k - \bar g)^2$, and `smoothgrad_x_input` the input
    times the mean, $x \odot \bar g$. Hence `smoothgrad_sq` = `vargrad` + $\bar g^2$ exactly,
    with the signed mean $\bar g$. Averaging removes the gradient's fine-scale fluctuations
    (the paper's "noise") while keeping its direction; the squared and variance forms are
    non-negative and rank values by the size and the instability of the gradient, not its
    direction. `noisy_copies` forward and backward passes per sample. Computed as `smooth` over
    `saliency` (captum's `Saliency`) with `signed=True`, so the noise is drawn as for `smooth`:
    maps are reproducible and do not depend on the batch.

    Args:
        statistic: `mean`, `mean_square` or `variance` of the gradients over the copies
            (fixed by each method of the family).
        times_input: Multiply the result by the input (fixed by each method of the family;
            true for `smoothgrad_x_input` only).
        noisy_copies: Noisy copies per sample (formerly `samples`), 50 by default, as for
            `smooth`.
        noise: The noise's standard deviation as a fraction of each sample's value range
            (max - min), 0.15 by default, as for `smooth`.
        seed: Seeds the noise patterns.
        signed: False takes the absolute value of the result, `smoothgrad`'s default (the
            paper's figures show absolute values); True keeps the sign. The other methods of the
            family fix it to True: their maps are non-negative already, or, for
            `smoothgrad_x_input`, meant to carry the sign.
        batch_size: The most model inputs per forward pass (samples x copies); it changes
            memory use only.

    Returns:
        Attributions shaped like `inputs`: non-negative for `smoothgrad` (by default),
        `smoothgrad_sq` and `vargrad`, signed for `smoothgrad_x_input`.

    Implementations differ:
        - The paper averages signed gradients and shows absolute values. captum's
          `NoiseTunnel` over its default `Saliency` (`abs=True`) averages absolute gradients
          instead, which differs from the absolute mean wherever a gradient changes sign
          between copies; its `vargrad` is then the variance of absolute gradients (its
          `smoothgrad_sq` agrees, as $|g|^2 = g^2$). Here every statistic sees the signed
          gradient, as in Hooker et al. 2019.
        - PAIR's saliency library (from the SmoothGrad authors) defaults to `magnitude=True`,
          the mean of squared gradients (SmoothGrad-SQ), with 25 copies and a noise of 0.15 of
          (x_max - x_min).
        - captum's `NoiseTunnel` takes one absolute noise level for the whole batch and draws
          the noise from the global generator (see `smooth`).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> mean = xaibench.explain(model, inputs, target, "smoothgrad", noisy_copies=4,
        ...                         signed=True)
        >>> square = xaibench.explain(model, inputs, target, "smoothgrad_sq", noisy_copies=4)
        >>> variance = xaibench.explain(model, inputs, target, "vargrad", noisy_copies=4)
        >>> torch.allclose(square, variance + mean**2, atol=1e-7)
        True
        >>> times_input = xaibench.explain(model, inputs, target, "smoothgrad_x_input",
        ...                                noisy_copies=4)
        >>> torch.allclose(times_input, inputs * mean)
        True

    References:
        Smilkov, Thorat, Kim, Viegas, Wattenberg. SmoothGrad: removing noise by adding noise.
        arXiv 1706.03825, 2017
    """
    reduced = smooth(
        model, inputs, target, method="saliency", params={"signed": True},
        noisy_copies=noisy_copies, noise=noise, seed=seed, statistic=statistic,
        batch_size=batch_size,
    )  # fmt: skip
    if times_input:
        reduced = inputs.detach() * reduced
    return reduced if signed else reduced.abs()


smoothgrad = register_method_variant(
    "smoothgrad",
    smoothed_gradient,
    summary="SmoothGrad: the gradient of the target logit averaged over noisy copies of the "
    "input; the absolute value of that mean by default (`signed=True` keeps the sign).",
    family="gradient",
    fixed={"statistic": "mean", "times_input": False},
    defaults={"signed": False},
)
smoothgrad_sq = register_method_variant(
    "smoothgrad_sq",
    smoothed_gradient,
    summary="SmoothGrad-SQ: the mean of the squared gradient of the target logit over noisy "
    "copies of the input (non-negative).",
    references="Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods in "
    "Deep Neural Networks. NeurIPS 2019",
    family="gradient",
    fixed={"statistic": "mean_square", "times_input": False, "signed": True},
)
vargrad = register_method_variant(
    "vargrad",
    smoothed_gradient,
    summary="VarGrad: the variance of the gradient of the target logit over noisy copies of the "
    "input (non-negative; large where the gradient is unstable).",
    references="Adebayo, Gilmer, Goodfellow, Kim. Local Explanation Methods for Deep Neural "
    "Networks Lack Sensitivity to Parameter Values. ICLR Workshop 2018",
    family="gradient",
    fixed={"statistic": "variance", "times_input": False, "signed": True},
)
smoothgrad_x_input = register_method_variant(
    "smoothgrad_x_input",
    smoothed_gradient,
    summary="SmoothGrad x input: the input times the signed gradient of the target logit "
    "averaged over noisy copies of the input.",
    family="gradient",
    fixed={"statistic": "mean", "times_input": True, "signed": True},
)
