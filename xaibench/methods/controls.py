"""Control methods: baselines that a real explanation method must beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.methods.registry import register_method


@register_method(
    "random",
    family="control",
    description="Uniform noise in [0, 1) that ignores model and input: the floor every method "
    "should beat.",
    citation="Agarwal et al. OpenXAI: Towards a Transparent Evaluation of Model Explanations. "
    "NeurIPS Datasets and Benchmarks 2022",
)
def random(model: nn.Module, inputs: Tensor, target: Tensor, seed: int = 0) -> Tensor:
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    return torch.rand(inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype)
