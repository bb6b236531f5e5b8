"""Control methods: baselines that a real explanation method must beat."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaibench.constraints import Seed
from xaibench.methods.registry import register_method


@register_method("random", family="control", batch_invariant=False)
def random(model: nn.Module, inputs: Tensor, target: Tensor, seed: Seed = 0) -> Tensor:
    r"""Random control: uniform noise in [0, 1) that ignores the model, the input and the target;
    the floor every real method must beat.

    Every value is drawn independently from U[0, 1), for the whole batch at once, from one
    generator seeded with `seed`. A reference row for every table: a method that does no
    better than this is not explaining the model, and a metric that cannot tell real methods
    from it is not measuring explanations. Its maps are non-negative, like those of most
    methods after `abs`. The draw covers the whole batch, so a sample's map depends on its
    place in the batch (the real methods' maps do not); a sharded run draws it for the whole
    evaluation, so that a sample gets the map one job gives it. No model evaluation.

    Args:
        seed: Seeds the generator: the same seed and batch shape give the same maps.

    Returns:
        Attributions shaped like `inputs`, in [0, 1).

    Implementations differ:
        - OpenXAI's random baseline draws standard normal values (signed) from torch's global
          generator; xaibench's are non-negative and seeded. Signed noise puts about half its
          mass below zero, which changes metrics that treat positive and negative values
          differently (relevance mass, for one).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "random")
        >>> bool(((maps >= 0) & (maps < 1)).all())
        True
        >>> other = xaibench.explain(model, -inputs, (target + 1) % 3, "random")
        >>> torch.equal(maps, other)   # input and target play no part
        True

    References:
        Agarwal et al. OpenXAI: Towards a Transparent Evaluation of Model Explanations. NeurIPS
        Datasets and Benchmarks 2022
    """
    # Drawn on a CPU generator and moved once: every device gets the maps a CPU run draws.
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype).to(inputs.device)


@register_method(
    "edge",
    family="control",
)
def edge(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    r"""Edge-detector control: the size of the input's local slope (central difference for
    signals, Sobel magnitude for images), channel by channel; it ignores the model.

    Signals: $|x_{i+1} - x_{i-1}| / 2$ per channel. Images: $\sqrt{S_x^2 + S_y^2}$ per channel,
    with $S_x$ and $S_y$ the 3 x 3 Sobel filters' responses. Borders repeat the edge value
    (replicate padding), so a constant input gives an all-zero map. It is the control of
    Adebayo et al.'s sanity checks: an edge detector draws plausible-looking maps with no
    information about the model, so a visual judgement or a metric that rates it highly is not
    testing the model's reasoning, and in model-randomisation tests it is the control that
    always fails (its maps never change). Written here (a fixed convolution), as captum has no
    edge detector. No model evaluation.

    Returns:
        Attributions shaped like `inputs`, non-negative.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, _, _ = toy_problem()
        >>> step = torch.tensor([[[0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0]]])
        >>> xaibench.explain(model, step, 0, "edge")   # half the step on either side of it
        tensor([[[0., 0., 0., 1., 1., 0., 0., 0.]]])

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
