"""The explained inputs of a run, and what the run hands to methods and metrics about them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xaibench.data import Dataset
from xaibench.models import predict_classes
from xaibench.registry import XaibenchError


@dataclass(frozen=True)
class Samples:
    """The explained test inputs on the run's device, with what is known about them."""

    index: torch.Tensor  # positions in the test split (CPU)
    inputs: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    targets: torch.Tensor  # the class explained and scored for each sample


def check_sample_count(count: int, data: Dataset) -> None:
    """A run explains the first `count` test inputs: the test split must hold that many."""
    if count > len(data.x_test):
        raise XaibenchError(
            f"samples={count} is more than the {len(data.x_test)} test inputs of dataset "
            f"{data.name}; choose samples <= {len(data.x_test)}"
        )


def select_samples(
    model: torch.nn.Module,
    data: Dataset,
    count: int,
    target: str,
    device: torch.device,
    batch_size: int,
) -> Samples:
    """The first `count` test inputs, their predictions and the classes to explain (`target`:
    the model's prediction or the label)."""
    index = torch.arange(min(count, len(data.x_test)))
    inputs = data.x_test[index].to(device)
    labels = data.y_test[index].to(device)
    predicted = predict_classes(model, inputs, batch_size)
    targets = predicted if target == "predicted" else labels
    return Samples(index, inputs, labels, predicted, targets)


def run_context(data: Dataset, samples: Samples) -> dict:
    """What methods and metrics may ask for by parameter name (see registry.CONTEXT_PARAMS):
    the training inputs, and the explained samples' ground-truth masks where the dataset has
    them (on the samples' device)."""
    context = {"background": data.x_train}
    if data.masks_test is not None:
        context["masks"] = data.masks_test[samples.index].to(samples.inputs.device)
    return context


def explained_subset(samples: Samples, data: Dataset) -> dict:
    """Which test inputs were explained: the first `count` of the test split, in the order the
    dataset gives them, with their classes (meta.json)."""
    classes = samples.labels.cpu().bincount(minlength=data.num_classes)
    return {
        "selection": "first",
        "count": len(samples.index),
        "of": len(data.x_test),
        "per_class": classes.tolist(),
    }
