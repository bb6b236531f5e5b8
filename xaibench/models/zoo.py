"""Train a model once per setting, cache its weights, and report its accuracy.

The cache key holds everything that determines the weights: the dataset spec, the
architecture and its parameters, the training settings and the seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from xaibench.cache import Cache
from xaibench.data import Dataset
from xaibench.models.registry import MODELS
from xaibench.registry import check_params, default_params


@dataclass(frozen=True)
class TrainConfig:
    """Adam with a one-cycle learning rate; the epoch with the best validation accuracy is
    kept, and training stops after `patience` epochs without improvement."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 10


@dataclass(frozen=True)
class TrainedModel:
    model: nn.Module
    test_accuracy: float
    val_accuracy: float
    epochs_trained: int
    train_seconds: float
    cached: bool
    key: str


def get_model(
    name: str,
    params: dict,
    train: dict,
    dataset: Dataset,
    dataset_spec: dict,
    seed: int,
    cache: Cache,
    device: torch.device,
    progress: bool = True,
) -> TrainedModel:
    """The trained model in eval mode on `device`, from the cache or trained now."""
    info = MODELS[name]
    check_params(info.build, params, "model", name, skip=2)
    config = TrainConfig(**train)
    input_shape = tuple(dataset.x_train.shape[1:])

    def build() -> nn.Module:
        return info.build(input_shape, dataset.num_classes, **params)

    spec = {
        "model": name,
        "params": {**default_params(info.build, skip=2), **params},
        "train": vars(config),
        "seed": seed,
        "data": dataset_spec,
    }

    def train_now() -> dict:
        return train_model(
            build, dataset, config, seed, device, progress, label=f"{name} seed {seed}"
        )

    entry, cached = cache.load_or_build("models", spec, train_now)
    model = build()
    model.load_state_dict(entry["state_dict"])
    model.to(device).eval()
    return TrainedModel(
        model=model,
        test_accuracy=entry["test_accuracy"],
        val_accuracy=entry["val_accuracy"],
        epochs_trained=entry["epochs_trained"],
        train_seconds=entry["train_seconds"],
        cached=cached,
        key=cache.path("models", spec).stem,
    )


@torch.inference_mode()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 4096) -> float:
    device = next(model.parameters()).device
    correct = sum(
        (model(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size])
        .sum()
        .item()
        for i in range(0, len(x), batch_size)
    )
    return correct / max(len(x), 1)


def train_model(
    build,
    dataset: Dataset,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    progress: bool,
    label: str,
) -> dict:
    """Train from scratch; returns the cache entry (CPU state dict and accuracies)."""
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset.x_train), generator=generator)
    n_val = round(config.val_fraction * len(order))
    val, fit = order[:n_val], order[n_val:]
    x_fit, y_fit = dataset.x_train[fit].to(device), dataset.y_train[fit].to(device)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(fit) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
    )

    best = {"val_accuracy": -1.0, "epoch": 0, "state_dict": None}
    # disable=None: a bar only when stderr is a terminal, so CI logs stay clean.
    bar = tqdm(
        range(config.epochs), desc=f"training {label}", disable=None if progress else True,
        leave=False,
    )  # fmt: skip
    for epoch in bar:
        model.train()
        for batch in torch.randperm(len(fit), generator=generator).split(config.batch_size):
            batch = batch.to(device)
            loss = F.cross_entropy(model(x_fit[batch]), y_fit[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        val_accuracy = accuracy(model, dataset.x_train[val], dataset.y_train[val]) if n_val else 0.0
        if val_accuracy > best["val_accuracy"] or not n_val:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best = {"val_accuracy": val_accuracy, "epoch": epoch + 1, "state_dict": state}
        bar.set_postfix(loss=f"{loss.item():.3f}", val_acc=f"{val_accuracy:.3f}")
        if n_val and epoch + 1 - best["epoch"] >= config.patience:
            break
    bar.close()

    model.load_state_dict(best["state_dict"])
    return {
        "state_dict": best["state_dict"],
        "val_accuracy": best["val_accuracy"],
        "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test),
        "epochs_trained": best["epoch"],
        "train_seconds": time.perf_counter() - started,
    }
