"""Validation of what users pass to `explain` and `evaluate`: one clear line per mistake."""

from __future__ import annotations

import torch
from torch import Tensor

from xaibench.registry import XaibenchError

TARGET_MODES = ("predicted", "label")


def as_target(target: int | list[int] | Tensor, inputs: Tensor) -> Tensor:
    """The target class of every sample as a long tensor (N,) on the inputs' device."""
    n = len(inputs)
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=inputs.device)
    target = torch.as_tensor(target, device=inputs.device)
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise XaibenchError(f"target must hold class indices (integers), got dtype {target.dtype}")
    target = target.long().reshape(-1)
    if target.is_inference():  # e.g. predictions made under inference_mode: autograd refuses them
        target = target.clone()
    if target.numel() == 1 and n != 1:
        target = target.expand(n)
    if target.shape != (n,):
        raise XaibenchError(
            f"target has {target.numel()} entries but inputs have {n} samples; give one class per "
            "sample or a single int"
        )
    return target


def check_target_range(target: Tensor, num_outputs: int) -> None:
    if len(target) and (target.min() < 0 or target.max() >= num_outputs):
        bad = target[(target < 0) | (target >= num_outputs)][0].item()
        raise XaibenchError(
            f"target class {bad} is out of range: the model has {num_outputs} outputs "
            f"(valid targets 0..{num_outputs - 1})"
        )


def check_inputs(inputs: Tensor) -> None:
    if not isinstance(inputs, Tensor) or inputs.dim() not in (3, 4):
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise XaibenchError(
            f"inputs must be a tensor shaped (N, C, L) for signals or (N, C, H, W) for images, "
            f"got {shape}"
        )


def check_attributions(attributions: Tensor, inputs: Tensor) -> None:
    if not isinstance(attributions, Tensor) or attributions.shape != inputs.shape:
        shape = tuple(attributions.shape) if isinstance(attributions, Tensor) else attributions
        raise XaibenchError(
            f"attributions must be shaped like the inputs {tuple(inputs.shape)}, got {shape}"
        )


def num_outputs(model: torch.nn.Module, inputs: Tensor) -> int:
    """Number of model outputs (classes), from one forward pass of the first sample."""
    with torch.inference_mode():
        return model(inputs[:1]).shape[1]
