"""Predictions in batches: the one loop that runs a model over many inputs for their classes."""

from __future__ import annotations

import torch
from torch import Tensor, nn


@torch.no_grad()  # not inference_mode: targets made here may enter autograd later
def predict_classes(model: nn.Module, inputs: Tensor, batch_size: int = 4096) -> Tensor:
    """The arg-max class of every input (N,), `batch_size` inputs per forward pass on the
    model's device; returned on the device of `inputs`."""
    device = next(model.parameters()).device
    batches = inputs.split(max(1, int(batch_size)))
    return torch.cat([model(x.to(device)).argmax(1).to(inputs.device) for x in batches])


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 4096) -> float:
    """Share of the inputs `x` classified as their labels `y`."""
    correct = int((predict_classes(model, x, batch_size) == y.to(x.device)).sum())
    return correct / max(len(x), 1)
