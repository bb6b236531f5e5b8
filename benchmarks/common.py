"""What the benchmarks share: the cached model they measure, a batch of a given size built from
a few inputs, and a clock that waits for the device."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch
from torch import Tensor

from xaibench.cache import DEFAULT_CACHE_DIR, Cache
from xaibench.data import Dataset, load_dataset
from xaibench.models import ModelSpec, TrainedModel, get_model


def cached_model(
    dataset: str = "mnist1d", model: str = "mnist1d_cnn", device: torch.device | None = None,
    cache_dir: str | None = None,
) -> tuple[Dataset, TrainedModel]:  # fmt: skip
    """The data set and its trained model from the cache ($XAIBENCH_CACHE unless given),
    trained into it on first use (get_model gives it in eval mode)."""
    cache = Cache(cache_dir or os.environ.get("XAIBENCH_CACHE", DEFAULT_CACHE_DIR))
    data, spec, _ = load_dataset(dataset, {}, cache)
    trained = get_model(ModelSpec(model), data, spec, cache, device or torch.device("cpu"),
                        progress=False)  # fmt: skip
    return data, trained


def batch_of(inputs: Tensor, size: int) -> Tensor:
    """`size` inputs, repeating `inputs` as often as needed, contiguous."""
    repeats = -(-size // len(inputs))
    return inputs.repeat(repeats, *[1] * (inputs.dim() - 1))[:size].contiguous()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of `fn`, waiting for the device's queued work at both ends (a GPU
    runs asynchronously: without the wait, the clock stops before the work is done)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started
