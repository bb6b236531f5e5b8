"""Perturbation methods: explain by changing the input and watching the target output."""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from torch import Tensor, nn

from xaibench.constraints import Count, OneOf, Range, Seed
from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.registry import register_method
from xaibench.perturb import (
    Baseline,
    Output,
    forward_in_passes,
    make_baseline,
    target_output,
)
from xaibench.registry import XaibenchError

# A window's or stride's size: one int for every dimension, or one per dimension.
Sizes = Annotated[int | list[int], Range(low=1)]


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


@register_method(
    "occlusion",
    family="perturbation",
)
def occlusion(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    window: Sizes = 4,
    stride: Sizes = 2,
    baseline: Baseline = "zero",
    output: Annotated[str, OneOf(("logit", "probability"))] = "logit",
    batch_size: Count = 4096,
) -> Tensor:
    r"""Occlusion: the drop of the target output when a sliding window (all channels) is set to a
    baseline, averaged over the windows that cover each position.

    For every placement W of a window of `window` positions, moved by `stride`, the drop is
    $d_W = y_c(x) - y_c(x \text{ with } W \text{ set to the baseline})$, with $y_c$ the target
    logit (or probability, `output`); a position's attribution is the mean of $d_W$ over the
    windows that contain it (captum's `Occlusion`). Positive where hiding the region lowers the
    target output, in the output's units. It measures the effect of removing a region as a
    whole, so it sees interactions inside a window that gradients miss, but it depends on what
    "removed" means (the baseline) and on the window's size. One forward pass per window
    placement plus one: for a length L, $\lceil (L - w) / s \rceil + 1$ placements, and the
    counts multiply over height and width. `window=1, stride=1` is occlusion-1 of Ancona et
    al. 2018; on a linear model it is then gradient x input from the baseline.

    Args:
        window: The window's size in positions: one int for every dimension, or one per
            dimension (length; height and width). It covers all channels and must fit in the
            input. 4 by default (a tenth of an MNIST-1D signal).
        stride: The step between window placements, an int or one per dimension; it must not
            exceed `window` (captum requires every position to be covered). 2 by default, so
            that most positions average two windows.
        baseline: What the occluded values become: `zero` (default), `mean`, `blur` or
            `uniform`, as defined for `integrated_gradients`.
        output: `logit` (default) or `probability`, the target's softmax probability, which
            Zeiler & Fergus plot. The logit does not saturate; the probability also drops when
            another class's logit rises.
        batch_size: The most occluded inputs per forward pass; it changes memory use only.

    Returns:
        Attributions shaped like `inputs`, signed, the same for every channel of a position.

    Implementations differ:
        - Zeiler & Fergus show one value per window placement (a map at the stride's
          resolution); captum, and so xaibench, gives each position the mean drop of the
          windows that cover it, a map at the input's resolution that blends neighbouring
          windows.
        - Zeiler & Fergus occlude with a grey square and plot the probability of the correct
          class; xaibench's defaults are the zero baseline (grey, for standardised images) and
          the logit.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "occlusion", window=1, stride=1)
        >>> hidden = inputs.clone()
        >>> hidden[:, :, 5] = 0.0
        >>> with torch.no_grad():
        ...     drop = (model(inputs) - model(hidden))[torch.arange(4), target]
        >>> torch.allclose(maps[:, 0, 5], drop)   # hiding position 5 costs this much logit
        True

    References:
        Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014
    """
    channels = inputs.shape[1]
    windows = (channels, *per_dimension(window, inputs, "window"))
    strides = (channels, *per_dimension(stride, inputs, "stride"))

    def forward(x: Tensor) -> Tensor:
        logits = forward_in_passes(model, x, batch_size)
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
    """RISE's masks (num_masks, *shape) in [0, 1], drawn from `seed`, on `like`'s device.

    As in the paper's code: a binary grid of ceil(size / cell) cells per dimension, each on
    with probability p, upsampled (bi)linearly to (grid + 1) * cell and cropped to `shape` at a
    random offset in [0, cell) per dimension. The paper's code resizes with scikit-image's
    reflect mode; torch's interpolation repeats the edge instead (differs within half a cell
    of the upsampled border, which the crop mostly removes).
    """
    # The grids and shifts are drawn on a CPU generator and moved once: every device gets the
    # masks a CPU run draws (a CUDA generator would draw other numbers from the same seed).
    generator = torch.Generator().manual_seed(seed)
    grid = [math.ceil(size / cell) for size in shape]
    on = (torch.rand((num_masks, 1, *grid), generator=generator) < p).to(like.device)
    mode = "linear" if len(shape) == 1 else "bilinear"
    up = [(g + 1) * cell for g in grid]
    masks = F.interpolate(on.to(like.dtype), size=up, mode=mode, align_corners=False)
    shifts = torch.randint(0, cell, (num_masks, len(shape)), generator=generator)
    shifts = shifts.to(like.device)
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
    num_masks: Count = 2000,
    cell: Count = 4,
    p: Annotated[float, Range(0, 1, low_open=True)] = 0.5,
    seed: Seed = 0,
    baseline: Baseline = "zero",
    output: Output = "probability",
    batch_size: Count = 4096,
) -> Tensor:
    r"""RISE: the average of random smooth masks, each weighted by the target probability of the
    input it masks.

    $S = \frac{1}{N p} \sum_{m=1}^{N} f_c(x \odot M_m + b \odot (1 - M_m))\, M_m$ for
    N = `num_masks` random masks $M_m$ with values in [0, 1], the baseline b and the target's
    softmax probability $f_c$ (`output`). For binary masks $S(i)$ is the expected score given
    that position i is kept; RISE's smooth masks approximate that, so the map is in the
    output's units (for probabilities, non-negative and about [0, 1]). Black-box: forward passes
    only, `num_masks` per sample. Each mask is a binary grid of $\lceil size / cell \rceil$
    cells per dimension, each kept with probability p, upsampled (bi)linearly to
    (grid + 1) x `cell` positions and cropped at a random offset in [0, `cell`), as in the
    paper's code. All masks are drawn at once from `seed` and shared by every sample, so maps
    do not depend on the batch or on how the masks are chunked. The Monte Carlo noise falls as
    masks are added. Written here after the paper's code, as captum has no RISE, and tested
    against a loop over the masks one by one.

    Args:
        num_masks: N, the number of masks; 2000, as in the authors' example notebook. (Not
            called `masks`: a run hands ground-truth `masks` to any method with a parameter of
            that name.)
        cell: A grid cell's size in positions; smaller cells give finer, noisier maps. 4 by
            default (10 cells over an MNIST-1D signal). The authors' code counts cells instead
            (s = 8 cells per side of a 224 x 224 image: cells of 28 pixels).
        p: The probability that a grid cell is kept, in (0, 1]; 0.5, as in the authors'
            example notebook.
        seed: Seeds the masks (grids and offsets).
        baseline: What masked positions become, in proportion 1 - M: `zero` (default, as the
            paper's code, which multiplies the normalised image by the mask), `mean`, `blur` or
            `uniform`, as defined for `integrated_gradients`.
        output: `probability` (default, the paper), `logit`, or `correct` (1 if the masked
            input is still classified as the target, else 0).
        batch_size: The most masked inputs per forward pass; it changes memory use only.

    Returns:
        Attributions shaped like `inputs`, the same for every channel of a position (all
        channels of a position are masked together).

    Implementations differ:
        - The paper's code upsamples the grids with scikit-image's `resize` in `reflect` mode;
          torch's interpolation repeats the edge value instead. The masks differ within half a
          cell of the upsampled grid's border, which the random crop mostly removes.
        - The paper's code draws its masks from numpy's global generator and saves them to a
          file; here they come from `seed`.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem(channels=2)
        >>> maps = xaibench.explain(model, inputs, target, "rise", num_masks=50)
        >>> bool((maps >= 0).all()), torch.equal(maps[:, 0], maps[:, 1])
        (True, True)
        >>> alone = xaibench.explain(model, inputs[:1], target[:1], "rise", num_masks=50)
        >>> torch.allclose(alone, maps[:1])   # the same masks, whatever the batch
        True

    References:
        Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box Models.
        BMVC 2018
    """
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
            logits = forward_in_passes(model, masked.flatten(0, 1), batch_size)
            scores = target_output(logits, t.repeat_interleave(len(m)), output).view(n, len(m))
            total += torch.tensordot(scores, m, dims=1)
        return (total / (num_masks * p))[:, None].expand_as(x).contiguous()

    return map_sample_chunks(saliency, inputs.detach(), target, batch_size)
