"""Control methods: baselines that a real explanation method must beat."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaibench.methods.registry import register_method


@register_method(
    "random",
    family="control",
)
def random(model: nn.Module, inputs: Tensor, target: Tensor, seed: int = 0) -> Tensor:
    """Uniform noise in [0, 1) that ignores model and input: the floor every method should beat.

    References:
        Agarwal et al. OpenXAI: Towards a Transparent Evaluation of Model Explanations. NeurIPS
        Datasets and Benchmarks 2022
    """
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    return torch.rand(inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype)


@register_method(
    "edge",
    family="control",
)
def edge(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    # Written here: captum has no edge detector (a fixed convolution). Borders repeat
    # the edge value (replicate padding), so a constant input gives a zero map everywhere.
    """Edge detector on the input alone (|central difference| for signals, Sobel gradient magnitude
    for images, per channel): ignores the model entirely.

    References:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. Sanity Checks for Saliency Maps. NeurIPS
        2018
    """
    x = inputs.detach()
    channels = x.shape[1]
    if x.dim() == 3:
        kernel = torch.tensor([-0.5, 0.0, 0.5], device=x.device, dtype=x.dtype)
        padded = F.pad(x, (1, 1), mode="replicate")
        return F.conv1d(padded, kernel.view(1, 1, 3).repeat(channels, 1, 1), groups=channels).abs()
    smooth = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    derivative = torch.tensor([-1.0, 0.0, 1.0], device=x.device, dtype=x.dtype)
    sobel_x = torch.outer(smooth, derivative)  # d/dx (along width), smoothed along height
    kernels = torch.stack([sobel_x, sobel_x.T])[:, None].repeat(channels, 1, 1, 1)
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels, groups=channels)  # (N, 2C, H, W): gx, gy per channel
    return grads.view(len(x), channels, 2, *x.shape[2:]).pow(2).sum(dim=2).sqrt()
