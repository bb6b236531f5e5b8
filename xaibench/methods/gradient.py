"""Gradient-based methods, all computed by captum."""

from __future__ import annotations

from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import Tensor, nn

from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.registry import register_method
from xaibench.perturb import make_baseline


@register_method(
    "saliency",
    family="gradient",
    description="Absolute gradient of the target logit with respect to the input "
    "(signed=true keeps the sign).",
    citation="Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. ICLR Workshop 2014",
)
def saliency(model: nn.Module, inputs: Tensor, target: Tensor, signed: bool = False) -> Tensor:
    return Saliency(model).attribute(inputs, target=target, abs=not signed)


@register_method(
    "input_x_gradient",
    family="gradient",
    description="Input times the gradient of the target logit (gradient x input).",
    citation="Shrikumar, Greenside, Shcherbina, Kundaje. Not Just a Black Box. arXiv 1605.01713, "
    "2016",
)
def input_x_gradient(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    return InputXGradient(model).attribute(inputs, target=target)


@register_method(
    "integrated_gradients",
    family="gradient",
    description="Path integral of gradients from a baseline to the input, times (input - "
    "baseline); captum's Gauss-Legendre quadrature with `steps` points.",
    citation="Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. ICML 2017",
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
    ig = IntegratedGradients(model)

    def attribute(x: Tensor, t: Tensor) -> Tensor:
        return ig.attribute(x, baselines=make_baseline(baseline, x), target=t, n_steps=steps)

    # Each chunk runs all its steps in one forward of at most `batch_size` inputs.
    return map_sample_chunks(attribute, inputs, target, batch_size // steps)
