"""What perturbation metrics share: positions, rankings, baselines and batched forward passes.

A *position* is one time step of a signal (N, C, L) or one pixel of an image (N, C, H, W).
Metrics rank positions by the attribution summed over channels, and a perturbation replaces all
channels of a position together. A *region* is a square patch of positions (`patch` positions
per side; patch 1 = single positions): metrics that remove features step by step rank regions
by their summed attribution, as Samek et al. 2017 rank 9x9 image regions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from xaibench.constraints import OneOf
from xaibench.registry import Registry, XaibenchError, check_choice

# What a perturbation metric reads off the model for the target class: the softmax
# probability, the raw logit, or whether the class is still the arg max (1.0 or 0.0: averaged
# over samples this is ROAD's accuracy).
OUTPUTS = ("probability", "logit", "correct")
Output = Annotated[str, OneOf(OUTPUTS)]


def num_positions(inputs: Tensor) -> int:
    return inputs[0, 0].numel()


def position_scores(attributions: Tensor) -> Tensor:
    """Attribution per position, summed over channels: (N, P)."""
    return attributions.sum(dim=1).flatten(1)


def rank_positions(scores: Tensor) -> Tensor:
    """Rank of every position, 0 for the highest score: (N, P).

    Ties are broken by position index, lower first (a stable descending sort), so rankings are
    deterministic and identical on every device.
    """
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    positions = torch.arange(scores.shape[1], device=scores.device).expand_as(order)
    return ranks.scatter_(1, order, positions)


def region_ids(spatial: tuple[int, ...], patch: int, device: torch.device) -> tuple[Tensor, int]:
    """The region of every position (P,), for non-overlapping patches of `patch` positions per
    side (smaller at the far edges when a side is not a multiple of `patch`), and the number
    of regions."""
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise XaibenchError(f"patch={patch!r} must be a positive int (positions per side)")
    per_side = [-(-size // patch) for size in spatial]
    coordinates = torch.meshgrid(
        *[torch.arange(size, device=device) // patch for size in spatial], indexing="ij"
    )
    ids = torch.zeros(spatial, dtype=torch.long, device=device)
    for coordinate, count in zip(coordinates, per_side, strict=True):
        ids = ids * count + coordinate
    return ids.flatten(), math.prod(per_side)


def region_scores(attributions: Tensor, patch: int) -> Tensor:
    """Attribution per region, summed over its positions and channels: (N, R)."""
    ids, count = region_ids(tuple(attributions.shape[2:]), patch, attributions.device)
    scores = position_scores(attributions)
    totals = torch.zeros(len(scores), count, dtype=scores.dtype, device=scores.device)
    return totals.index_add_(1, ids, scores)


def region_ranks(attributions: Tensor, patch: int, most_relevant_first: bool) -> tuple[Tensor, int]:
    """Removal order of every position's region (N, P), 0 = removed first, and the number of
    regions.

    Most relevant first (MoRF) ranks regions by descending summed attribution, least relevant
    first (LeRF) by ascending; ties go to the lower region index first in both orders.
    """
    ids, count = region_ids(tuple(attributions.shape[2:]), patch, attributions.device)
    scores = region_scores(attributions, patch)
    ranks = rank_positions(scores if most_relevant_first else -scores)
    return ranks[:, ids], count


def where_grid(mask: Tensor, replacement: Tensor, inputs: Tensor) -> Tensor:
    """The block (S * I, C, ...) with `replacement` where `mask` is set and `inputs` elsewhere.

    mask (S or 1, I, P) selects positions (all channels) per sample and item; replacement
    and inputs (S, C, ...) hold each sample's values, broadcast over its items.
    """
    spatial = inputs.shape[2:]
    mask = mask.view(*mask.shape[:2], 1, *spatial)
    block = torch.where(mask, replacement[:, None], inputs[:, None])
    return block.flatten(0, 1)


# Baselines: what a removed position is replaced with. Each maps (inputs, seed) to a tensor
# of the same shape, sample by sample, so a sample's baseline never depends on its batch.
BASELINES: Registry[Callable[..., Tensor]] = Registry("baseline")
Baseline = Annotated[str, OneOf(BASELINES)]  # the setting that names one


def make_baseline(name: str, inputs: Tensor, seed: int = 0) -> Tensor:
    return BASELINES[name](inputs, seed=seed)


def _baseline(name: str):
    def decorator(fn: Callable[[Tensor], Tensor]):
        return BASELINES.add(name, fn)

    return decorator


@_baseline("zero")
def zero_baseline(inputs: Tensor, seed: int = 0) -> Tensor:
    """Zeros in the model's input space (the dataset mean when inputs are standardised)."""
    return torch.zeros_like(inputs)


@_baseline("mean")
def mean_baseline(inputs: Tensor, seed: int = 0) -> Tensor:
    """Each sample's own per-channel mean over positions."""
    dims = tuple(range(2, inputs.dim()))
    return inputs.mean(dim=dims, keepdim=True).expand_as(inputs).clone()


@_baseline("blur")
def blur_baseline(
    inputs: Tensor, seed: int = 0, kernel_size: int = 11, sigma: float = 5.0
) -> Tensor:
    """Gaussian blur with RISE's insertion substrate (kernel 11, sigma 5), reflect padding.

    Signals are blurred along their length; images along height and width. On inputs shorter
    than the kernel it shrinks to 2 * size - 1, as reflect padding needs fewer padded values
    than the input has. Same kernel and padding as torchvision's `gaussian_blur` (checked in
    the tests); written here because importing torchvision costs seconds in every run.
    """
    blurred = inputs
    for dim in range(2, inputs.dim()):
        blurred = _blur_along(blurred, dim, kernel_size, sigma)
    return blurred


@_baseline("uniform")
def uniform_baseline(inputs: Tensor, seed: int = 0) -> Tensor:
    """Uniform noise over each sample's own value range [min, max].

    One noise pattern is drawn from `seed` and shared by all samples (then scaled to each
    sample's range), so a sample's baseline does not depend on the rest of its batch.
    """
    # Drawn on a CPU generator and moved once: every device gets the pattern a CPU run draws.
    generator = torch.Generator().manual_seed(seed)
    pattern = torch.rand(inputs.shape[1:], generator=generator, dtype=inputs.dtype)
    pattern = pattern.to(inputs.device)
    flat = inputs.flatten(1)
    low = flat.min(dim=1).values.view(-1, *[1] * (inputs.dim() - 1))
    high = flat.max(dim=1).values.view(-1, *[1] * (inputs.dim() - 1))
    return low + (high - low) * pattern


def _blur_along(inputs: Tensor, dim: int, kernel_size: int, sigma: float) -> Tensor:
    size = inputs.shape[dim]
    kernel_size = min(kernel_size, 2 * size - 1)
    if kernel_size < 2:
        return inputs
    half = (kernel_size - 1) / 2
    x = torch.linspace(-half, half, kernel_size, device=inputs.device, dtype=inputs.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    moved = inputs.movedim(dim, -1)
    rows = moved.reshape(-1, 1, size)
    padded = F.pad(rows, (kernel_size // 2, kernel_size // 2), mode="reflect")
    return F.conv1d(padded, kernel).reshape(moved.shape).movedim(-1, dim)


def target_output(logits: Tensor, target: Tensor, output: str) -> Tensor:
    """The target class's softmax probability, raw logit or correctness, per row."""
    if output == "correct":
        return (logits.argmax(dim=1) == target).to(logits.dtype)
    if output == "probability":
        logits = F.softmax(logits, dim=1)
    else:
        check_choice("output", output, OUTPUTS)
    return logits.gather(1, target[:, None]).squeeze(1)


# make_inputs(samples, items) -> the perturbed inputs of samples x items, sample-major.
GridInputs = Callable[[slice, slice], Tensor]


# On a CPU a forward pass costs up to twice as much per input in batches of thousands of small
# inputs as in batches of a few hundred: the activations of 4096 MNIST-1D signals (about 21 MB
# per layer) no longer fit in the caches (docs/guide/scale.md, "Against the best batch size").
# So on a CPU the perturbation metrics and methods run at most this many input values per forward
# pass (forward_in_passes), whatever larger `batch_size` they were given; a GPU takes
# `batch_size` as it is.
CPU_FORWARD_VALUES = 256 * 40


def rows_per_forward(batch_size: int, example: Tensor) -> int:
    """The most inputs like `example` (one input) to run in one forward pass: `batch_size`,
    and on a CPU no more than fill CPU_FORWARD_VALUES, but at least 16 (fewer rows take
    another, differently rounding kernel path, docs/guide/guarantees.md)."""
    rows = max(1, int(batch_size))
    if example.device.type == "cpu":
        rows = min(rows, max(16, CPU_FORWARD_VALUES // max(1, example.numel())))
    return rows


def pass_slices(rows: int, batch_size: int, example: Tensor) -> list[slice]:
    """The forward passes for a batch of `rows` inputs like `example`: one when it fits in
    rows_per_forward, else even slices of at most that many, none under 16 rows (so no small
    remainder: a slice's size does not depend on where the batch happens to end)."""
    most = rows_per_forward(batch_size, example)
    if rows <= most:
        return [slice(0, rows)]
    parts = max(1, min(-(-rows // most), rows // 16))
    bounds = [i * rows // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def forward_in_passes(model: Callable[[Tensor], Tensor], batch: Tensor, batch_size: int) -> Tensor:
    """`model(batch)`, run in the passes of pass_slices: the same outputs (on a CPU a row's
    output does not depend on the other rows of a pass of 16 or more, tested), in less time
    on a CPU when the batch is large."""
    if len(batch) <= 16:  # never split (and an empty batch has no first input)
        return model(batch)
    passes = pass_slices(len(batch), batch_size, batch[0])
    if len(passes) == 1:
        return model(batch)
    return torch.cat([model(batch[rows]) for rows in passes])


@torch.inference_mode()
def forward_grid(
    model: torch.nn.Module,
    target: Tensor,
    per_sample: int,
    make_inputs: GridInputs,
    output: str,
    batch_size: int,
) -> Tensor:
    """Target outputs (N, per_sample) of `per_sample` perturbed inputs of each of N samples.

    `make_inputs(samples, items)` builds the perturbed inputs for a block of consecutive
    samples and items as one tensor (len(samples) * len(items), C, ...), sample-major, so
    callers build a block with a few broadcast operations rather than per-row gathers. Blocks
    hold whole samples when a sample's items fit in `batch_size`, else parts of one sample:
    never more than `batch_size` inputs are built and run at once (and at least one). A block
    runs forward in passes (forward_in_passes): on a CPU, smaller ones.
    """
    n = len(target)
    batch_size = max(1, int(batch_size))
    outputs = torch.empty(n, per_sample, device=target.device)  # dtype set by the first block
    if per_sample <= batch_size:
        step = batch_size // per_sample
        blocks = [(slice(s, min(s + step, n)), slice(0, per_sample)) for s in range(0, n, step)]
    else:
        blocks = [
            (slice(s, s + 1), slice(i, min(i + batch_size, per_sample)))
            for s in range(n)
            for i in range(0, per_sample, batch_size)
        ]
    for samples, items in blocks:
        logits = forward_in_passes(model, make_inputs(samples, items), batch_size)
        rows = samples.stop - samples.start
        block_target = target[samples, None].expand(rows, items.stop - items.start)
        values = target_output(logits, block_target.reshape(-1), output).view(rows, -1)
        if outputs.dtype != values.dtype:
            outputs = outputs.to(values.dtype)
        outputs[samples, items] = values
    return outputs


def forward_unperturbed(
    model: torch.nn.Module, inputs: Tensor, target: Tensor, output: str, batch_size: int
) -> Tensor:
    """The target output of every unperturbed input (N,)."""

    def unperturbed(samples: slice, items: slice) -> Tensor:
        return inputs[samples]

    return forward_grid(model, target, 1, unperturbed, output, batch_size)[:, 0]
