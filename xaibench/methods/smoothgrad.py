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

import torch
from torch import Tensor, nn

from xaibench.methods.copies import flatten_copies, reduce_over_copies
from xaibench.methods.registry import (
    METHODS,
    call_method,
    register_method,
    register_method_variant,
)
from xaibench.registry import XaibenchError


def noise_patterns(inputs: Tensor, samples: int, seed: int) -> Tensor:
    """Standard normal patterns (samples, *sample shape) from `seed`, shared by all samples."""
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    return torch.randn(
        (samples, *inputs.shape[1:]), generator=generator, device=inputs.device, dtype=inputs.dtype
    )


def value_range(inputs: Tensor) -> Tensor:
    """max - min of each sample, shaped (N, 1, ...) to broadcast against it."""
    flat = inputs.detach().flatten(1)
    spread = flat.max(dim=1).values - flat.min(dim=1).values
    return spread.view(-1, *[1] * (inputs.dim() - 1))


@register_method("smooth", family="wrapper", renamed={"samples": "noisy_copies"})
def smooth(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    method: str = "saliency",
    params: dict | None = None,
    noisy_copies: int = 50,
    noise: float = 0.15,
    seed: int = 0,
    statistic: str = "mean",
    batch_size: int = 4096,
    background: Tensor | None = None,
) -> Tensor:
    """Any method averaged over noisy copies of the input (method, params; noise is Gaussian with
    std = noise x the sample's value range); statistic mean, mean_square or variance.

    References:
        Smilkov, Thorat, Kim, Viegas, Wattenberg. SmoothGrad: removing noise by adding noise.
        arXiv 1706.03825, 2017
    """
    if noisy_copies < 1:
        raise XaibenchError(f"noisy_copies={noisy_copies} must be at least 1")
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
    noisy_copies: int = 50,
    noise: float = 0.15,
    seed: int = 0,
    signed: bool = True,
    batch_size: int = 4096,
) -> Tensor:
    """A statistic of the signed gradient over noisy copies of the input.

    `smooth` over the signed gradient, so the statistic sees its sign (captum's NoiseTunnel
    over its default Saliency reduces absolute gradients instead); `times_input` multiplies
    the result by the input, `signed=False` takes its absolute value.

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


# The paper averages signed gradients and shows the absolute value in its figures; captum's
# NoiseTunnel over Saliency averages absolute gradients, which differs in general.
smoothgrad = register_method_variant(
    "smoothgrad",
    smoothed_gradient,
    summary="Gradient averaged over noisy copies of the input; absolute value of the mean "
    "(signed=true keeps the sign).",
    family="gradient",
    fixed={"statistic": "mean", "times_input": False},
    defaults={"signed": False},
    renamed={"samples": "noisy_copies"},
)
smoothgrad_sq = register_method_variant(
    "smoothgrad_sq",
    smoothed_gradient,
    summary="Mean of the squared gradient over noisy copies of the input (SmoothGrad-SQ).",
    references="Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods in "
    "Deep Neural Networks. NeurIPS 2019",
    family="gradient",
    fixed={"statistic": "mean_square", "times_input": False, "signed": True},
    renamed={"samples": "noisy_copies"},
)
# The variance of the signed gradient; captum's NoiseTunnel over its default Saliency takes the
# variance of absolute gradients.
vargrad = register_method_variant(
    "vargrad",
    smoothed_gradient,
    summary="Variance of the gradient over noisy copies of the input (VarGrad).",
    references="Adebayo, Gilmer, Goodfellow, Kim. Local Explanation Methods for Deep Neural "
    "Networks Lack Sensitivity to Parameter Values. ICLR Workshop 2018",
    family="gradient",
    fixed={"statistic": "variance", "times_input": False, "signed": True},
    renamed={"samples": "noisy_copies"},
)
smoothgrad_x_input = register_method_variant(
    "smoothgrad_x_input",
    smoothed_gradient,
    summary="Input times the SmoothGrad mean (signed) gradient.",
    family="gradient",
    fixed={"statistic": "mean", "times_input": True, "signed": True},
    renamed={"samples": "noisy_copies"},
)
