"""Perturbation methods: explain by changing the input and watching the target output."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from torch import Tensor, nn

from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.registry import register_method
from xaibench.perturb import OUTPUTS, make_baseline, target_output
from xaibench.registry import XaibenchError, check_choice


def per_dimension(value: int | list[int], inputs: Tensor, name: str) -> tuple[int, ...]:
    """An int for every position dimension (length, or height and width) of `inputs`."""
    dims = inputs.dim() - 2
    values = [value] * dims if isinstance(value, int) else list(value)
    if len(values) != dims or any(int(v) < 1 for v in values):
        raise XaibenchError(
            f"{name}={value} must be a positive int or a list of {dims} positive ints for inputs "
            f"shaped {tuple(inputs.shape)}"
        )
    return tuple(int(v) for v in values)


def check_output(output: str) -> None:
    check_choice("output", output, OUTPUTS)


@register_method(
    "occlusion",
    family="perturbation",
)
def occlusion(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    window: int | list[int] = 4,
    stride: int | list[int] = 2,
    baseline: str = "zero",
    output: str = "logit",
    batch_size: int = 4096,
) -> Tensor:
    # captum averages the drops of all windows that cover a position; Zeiler & Fergus show one
    # value per window position. window=1, stride=1 is occlusion-1 of Ancona et al. 2018.
    """Drop of the target output when a sliding window (all channels) is replaced by a baseline,
    averaged over the windows covering each position (captum).

    References:
        Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014
    """
    check_output(output)
    channels = inputs.shape[1]
    windows = (channels, *per_dimension(window, inputs, "window"))
    strides = (channels, *per_dimension(stride, inputs, "stride"))

    def forward(x: Tensor) -> Tensor:
        logits = model(x)
        return logits.softmax(dim=1) if output == "probability" else logits

    explainer = Occlusion(forward)

    def attribute(x: Tensor, t: Tensor) -> Tensor:
        return explainer.attribute(
            x,
            sliding_window_shapes=windows,
            strides=strides,
            baselines=make_baseline(baseline, x.detach()),
            target=t,
            # captum evaluates this many occluded copies of every sample per forward pass.
            perturbations_per_eval=max(1, batch_size // len(x)),
        )

    return map_sample_chunks(attribute, inputs, target, batch_size)


def rise_masks(
    shape: tuple[int, ...], num_masks: int, cell: int, p: float, seed: int, like: Tensor
) -> Tensor:
    """RISE's masks (num_masks, *shape) in [0, 1], drawn from `seed` on `like`'s device.

    As in the paper's code: a binary grid of ceil(size / cell) cells per dimension, each on
    with probability p, upsampled (bi)linearly to (grid + 1) * cell and cropped to `shape` at a
    random offset in [0, cell) per dimension. The paper's code resizes with scikit-image's
    reflect mode; torch's interpolation repeats the edge instead (differs within half a cell
    of the upsampled border, which the crop mostly removes).
    """
    generator = torch.Generator(device=like.device).manual_seed(seed)
    grid = [math.ceil(size / cell) for size in shape]
    on = torch.rand((num_masks, 1, *grid), generator=generator, device=like.device) < p
    mode = "linear" if len(shape) == 1 else "bilinear"
    up = [(g + 1) * cell for g in grid]
    masks = F.interpolate(on.to(like.dtype), size=up, mode=mode, align_corners=False)
    shifts = torch.randint(0, cell, (num_masks, len(shape)), generator=generator,
                           device=like.device)  # fmt: skip
    for d, size in enumerate(shape):
        dim = 2 + d
        view = [1] * masks.dim()
        view[dim] = size
        index = shifts[:, d].view(-1, *[1] * (masks.dim() - 1)) + torch.arange(
            size, device=like.device
        ).view(view)
        out_shape = list(masks.shape)
        out_shape[dim] = size
        masks = masks.gather(dim, index.expand(out_shape))
    return masks.squeeze(1)


@register_method(
    "rise",
    family="perturbation",
)
def rise(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    num_masks: int = 2000,
    cell: int = 4,
    p: float = 0.5,
    seed: int = 0,
    baseline: str = "zero",
    output: str = "probability",
    batch_size: int = 4096,
) -> Tensor:
    # S = 1 / (num_masks * p) * sum_m f_c(x masked by M_m) M_m, with masked positions set to the
    # baseline (zero in the model's input space, as the paper's code multiplies the normalised
    # image by the mask). The setting is named num_masks, not masks: a run hands ground-truth
    # `masks` to any method with a parameter of that name.
    # All masks are drawn at once and shared by every sample, so maps do not depend on the
    # batch or on how the masks are chunked.
    """RISE: mean of random smooth masks weighted by the target probability of the masked input
    (`num_masks`, `cell`, `p`, `seed`).

    References:
        Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box Models.
        BMVC 2018
    """
    check_output(output)
    if not 0 < p <= 1 or cell < 1 or num_masks < 1:
        raise XaibenchError(
            f"rise needs 0 < p <= 1, cell >= 1 and num_masks >= 1; got p={p}, cell={cell}, "
            f"num_masks={num_masks}"
        )
    masks = rise_masks(tuple(inputs.shape[2:]), num_masks, cell, p, seed, inputs)

    @torch.no_grad()
    def saliency(x: Tensor, t: Tensor) -> Tensor:
        n = len(x)
        fill = make_baseline(baseline, x)
        total = torch.zeros(n, *x.shape[2:], device=x.device, dtype=x.dtype)
        per_call = max(1, batch_size // n)
        for start in range(0, num_masks, per_call):
            m = masks[start : start + per_call]  # (k, *positions)
            keep = m[None, :, None]  # (1, k, 1, *positions): all channels of a position
            masked = x[:, None] * keep + fill[:, None] * (1 - keep)
            logits = model(masked.flatten(0, 1))
            scores = target_output(logits, t.repeat_interleave(len(m)), output).view(n, len(m))
            total += torch.tensordot(scores, m, dims=1)
        return (total / (num_masks * p))[:, None].expand_as(x).contiguous()

    return map_sample_chunks(saliency, inputs.detach(), target, batch_size)
