"""Validation of what users pass to `explain` and `evaluate`, and of what a model returns: one
clear line per mistake, before any work starts."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from xaibench.registry import XaibenchError, shown

TARGET_MODES = ("predicted", "label")


def check_call(model: torch.nn.Module, inputs: Tensor, target: object) -> Tensor:
    """What `explain` and `evaluate` check first: the inputs, that the model takes them and
    returns logits, and the target; returns the target as a long tensor (N,)."""
    check_inputs(inputs)
    classes = model_classes(model, inputs)
    checked = as_target(target, inputs)
    check_target_range(checked, classes)
    return checked


def as_target(target: object, inputs: Tensor) -> Tensor:
    """The target class of every sample as a long tensor (N,) on the inputs' device."""
    n = len(inputs)
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return torch.full((n,), int(target), dtype=torch.long, device=inputs.device)
    try:
        target = torch.as_tensor(target, device=inputs.device)
    except (TypeError, ValueError, RuntimeError):
        raise XaibenchError(
            f"target={shown(target)} must be a class index (an int), one per sample (a list of "
            "ints or an integer tensor (N,))"
        ) from None
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
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
    """A floating-point tensor (N, C, L) or (N, C, H, W) with N >= 1, finite everywhere."""
    if not isinstance(inputs, Tensor) or inputs.dim() not in (3, 4):
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise XaibenchError(
            f"inputs must be a tensor shaped (N, C, L) for signals or (N, C, H, W) for images, "
            f"got {shape}"
        )
    if len(inputs) == 0:
        raise XaibenchError(f"inputs hold no samples (shape {tuple(inputs.shape)})")
    if not inputs.dtype.is_floating_point:
        raise XaibenchError(
            f"inputs must be floating point, got dtype {inputs.dtype}; convert them, e.g. "
            "inputs.float() (or inputs.float() / 255 for 8-bit images)"
        )
    bad = count_nonfinite(inputs)
    if bad:
        raise XaibenchError(f"inputs hold NaN or infinite values in {bad} of {len(inputs)} samples")


def count_nonfinite(inputs: Tensor) -> int:
    """How many samples (rows) of `inputs` hold a NaN or an infinite value."""
    return int((~torch.isfinite(inputs.detach()).flatten(1).all(dim=1)).sum())


def check_attributions(attributions: Tensor, inputs: Tensor) -> None:
    if not isinstance(attributions, Tensor) or attributions.shape != inputs.shape:
        shape = (
            tuple(attributions.shape)
            if isinstance(attributions, Tensor)
            else f"a {type(attributions).__name__}"
        )
        raise XaibenchError(
            f"attributions must be a tensor shaped like the inputs {tuple(inputs.shape)}, "
            f"got {shape}"
        )


def model_classes(model: torch.nn.Module, inputs: Tensor) -> int:
    """The number of classes, from one forward pass of the first input, after checking that
    the model takes the inputs and returns logits, one per class."""
    try:
        with torch.inference_mode():
            output = model(inputs[:1])
    except Exception as error:  # the model's own reason, on one line
        raise XaibenchError(
            f"the model cannot run on inputs shaped {tuple(inputs.shape)}: {one_line(error)}"
        ) from None
    problem = output_problem(output, 1)
    if problem:
        raise XaibenchError(f"the model {problem}")
    return output.shape[1]


def output_problem(output: object, rows: int) -> str | None:
    """What is wrong with a model's output for `rows` inputs, if anything: methods and metrics
    read logits, a tensor (rows, classes) with two classes at least, not probabilities."""
    if not isinstance(output, Tensor):
        return f"returns a {type(output).__name__}, not a tensor of logits shaped (N, classes)"
    if output.dim() != 2 or output.shape[0] != rows:
        return (
            f"returns outputs shaped {tuple(output.shape)} for {rows} input(s), not logits "
            f"shaped ({rows}, classes)"
        )
    if output.shape[1] < 2:
        return (
            f"returns {output.shape[1]} output per input; methods and metrics need one logit "
            "per class, two classes at least"
        )
    if bool((output >= 0).all()) and torch.allclose(
        output.double().sum(dim=1), torch.ones(rows, dtype=torch.float64, device=output.device)
    ):
        return (
            "returns probabilities (non-negative, summing to 1), but methods and metrics read "
            "logits: remove its final softmax"
        )
    return None


def one_line(error: Exception) -> str:
    """An exception as '<type>: <first line of its message>'."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def num_outputs(model: torch.nn.Module, inputs: Tensor) -> int:
    """Number of model outputs (classes), from one forward pass of the first sample."""
    with torch.inference_mode():
        return model(inputs[:1]).shape[1]
