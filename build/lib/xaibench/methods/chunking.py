"""Split a batch of samples into chunks, run a method on each, and concatenate the maps."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def map_sample_chunks(
    fn: Callable[[Tensor, Tensor], Tensor], inputs: Tensor, target: Tensor, chunk_size: int
) -> Tensor:
    """`fn(inputs_chunk, target_chunk)` over chunks of at most `chunk_size` samples.

    Each sample's map depends only on that sample, so chunking changes memory use, not results.
    """
    chunk_size = max(1, int(chunk_size))
    if len(inputs) <= chunk_size:
        return fn(inputs, target)
    return torch.cat(
        [
            fn(inputs[start : start + chunk_size], target[start : start + chunk_size])
            for start in range(0, len(inputs), chunk_size)
        ]
    )
