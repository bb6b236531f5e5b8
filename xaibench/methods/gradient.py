"""Gradient-based methods: saliency, gradient x input, integrated and expected gradients.

Gradients come from captum; SmoothGrad and its relatives are in `smoothgrad.py`, methods that
change the backward pass (DeepLIFT, guided backprop, deconvolution, LRP) in `propagation.py`.
"""

from __future__ import annotations

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import Tensor, nn

from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.copies import flatten_copies, reduce_over_copies
from xaibench.methods.registry import register_method
from xaibench.perturb import make_baseline
from xaibench.registry import XaibenchError


@register_method(
    "saliency",
    family="gradient",
)
def saliency(model: nn.Module, inputs: Tensor, target: Tensor, signed: bool = False) -> Tensor:
    """Absolute gradient of the target logit with respect to the input (signed=true keeps the sign).

    References:
        Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. ICLR Workshop 2014
    """
    return Saliency(model).attribute(inputs, target=target, abs=not signed)


@register_method(
    "input_x_gradient",
    family="gradient",
)
def input_x_gradient(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    """Input times the gradient of the target logit (gradient x input).

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
    steps: int = 64,
    baseline: str = "zero",
    batch_size: int = 1024,
) -> Tensor:
    # The paper uses a Riemann sum; captum's default Gauss-Legendre rule converges faster and
    # satisfies completeness to within the same tolerance at fewer steps.
    """Path integral of gradients from a baseline to the input, times (input - baseline); captum's
    Gauss-Legendre quadrature with `steps` points.

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
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(background), (draws,), generator=generator)
    alphas = torch.rand(draws, generator=generator, dtype=torch.float64)
    return (
        background[index].to(device=like.device, dtype=like.dtype),
        alphas.to(device=like.device, dtype=like.dtype),
    )


@register_method("expected_gradients", family="gradient", renamed={"samples": "draws"})
def expected_gradients(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    draws: int = 64,
    seed: int = 0,
    batch_size: int = 4096,
    background: Tensor | None = None,
) -> Tensor:
    # captum's GradientShap computes the same estimator but draws references and alphas from
    # numpy's and torch's global generators for the whole batch (a sample's map then depends on
    # its batch); the draws are made here, shared by all samples, and the gradients by captum.
    """Expected gradients: mean over references x' from the training data and alpha ~ U(0, 1) of (x
    - x') times the gradient at x' + alpha (x - x') (GradientSHAP without noise).

    References:
        Erion, Janizek, Sturmfels, Lundberg, Lee. Improving performance of deep learning models with
        axiomatic attribution priors and expected gradients. Nature Machine Intelligence 2021
    """
    if background is None:
        raise XaibenchError(
            "expected_gradients needs background=<training inputs (M, C, ...)>; a run passes "
            "its training split automatically"
        )
    if draws < 1:
        raise XaibenchError(f"draws={draws} must be at least 1")
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
