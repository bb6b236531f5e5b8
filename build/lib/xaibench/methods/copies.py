"""Statistics of a method's maps over many perturbed copies of each input, in bounded chunks.

SmoothGrad, VarGrad, the `smooth` wrapper and expected gradients all explain K perturbed copies
of every sample and reduce the K maps to one. Here the copies of a chunk of samples are built
and explained together, so that one call sees at most `batch_size` inputs, and the maps are
reduced on the fly (running sums), so memory never holds all K maps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from xaibench.methods.chunking import map_sample_chunks
from xaibench.registry import XaibenchError, check_choice

# Statistic of the K maps per sample, from their mean m1 and mean of squares m2. Variance is
# the population variance (divided by K), as captum's VarGrad and Hooker et al. 2019 use.
STATISTICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean": lambda m1, m2: m1,
    "mean_square": lambda m1, m2: m2,
    "variance": lambda m1, m2: (m2 - m1**2).clamp(min=0),
}


def reduce_over_copies(
    explain_copies: Callable[[Tensor, Tensor, range], Tensor],
    inputs: Tensor,
    target: Tensor,
    num_copies: int,
    batch_size: int,
    statistic: str = "mean",
) -> Tensor:
    """`statistic` over copies of `explain_copies(x, t, copies) -> maps (len(copies), n, ...)`.

    `explain_copies` builds and explains the given copies of the samples `x` (n, ...) with
    targets `t` (n,). Copies are numbered 0..num_copies-1 and must be the same for a sample
    whatever its batch, so each sample's result is independent of the others.
    """
    check_choice("statistic", statistic, STATISTICS)
    if num_copies < 1:
        raise XaibenchError(f"copies={num_copies}: there must be at least one copy")
    reduce = STATISTICS[statistic]

    def over_copies(x: Tensor, t: Tensor) -> Tensor:
        per_call = max(1, batch_size // len(x))  # copies per call: at most batch_size inputs
        total = torch.zeros_like(x)
        total_sq = torch.zeros_like(x)
        for start in range(0, num_copies, per_call):
            maps = explain_copies(x, t, range(start, min(start + per_call, num_copies))).detach()
            total += maps.sum(dim=0)
            if statistic != "mean":
                total_sq += (maps**2).sum(dim=0)
        return reduce(total / num_copies, total_sq / num_copies)

    return map_sample_chunks(over_copies, inputs, target, batch_size)


def flatten_copies(copies: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(k, n, ...) copies -> (k * n, ...) inputs and their targets, for one model call."""
    k = copies.shape[0]
    return copies.reshape(-1, *copies.shape[2:]), target.repeat(k)
