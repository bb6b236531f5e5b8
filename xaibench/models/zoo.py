"""Train a model once per setting, cache its weights, and report its accuracy.

The cache key holds everything that determines the weights: the dataset spec, the
architecture and its parameters, the training settings, the seed and the arithmetic that runs
the training (see `training_arithmetic`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from xaibench.cache import Cache, spec_digest
from xaibench.checks import one_line, output_problem
from xaibench.constraints import Count, NonNegative, Positive, Range
from xaibench.data import Dataset
from xaibench.models.custom import code_version
from xaibench.models.predict import accuracy
from xaibench.models.pretrained import Weights
from xaibench.models.registry import MODEL_DATA, MODELS, check_model_params
from xaibench.registry import (
    UnknownNameError,
    XaibenchError,
    check_values,
    default_params,
    type_hints,
)


@dataclass(frozen=True)
class TrainConfig:
    """Adam with a one-cycle learning rate; the epoch with the best validation accuracy is
    kept, and training stops after `patience` epochs without improvement."""

    epochs: Count = 40
    batch_size: Count = 128
    lr: Positive = 3e-3
    weight_decay: NonNegative = 0.0
    val_fraction: Annotated[float, Range(0, 1, high_open=True)] = 0.1  # 0: no validation split
    patience: Count = 10


def train_config(train: dict) -> TrainConfig:
    """The training settings `model.train` as a TrainConfig, each key and value checked."""
    fields = list(TrainConfig.__dataclass_fields__)
    for key in train:
        if key not in fields:
            raise UnknownNameError("training setting", key, fields, where=" in model.train")
    check_values(train, type_hints(TrainConfig), "model.train.")
    return TrainConfig(**train)


@dataclass(frozen=True)
class TrainedModel:
    """A model ready to explain. `key` names its weights: the cache key of a trained model, or
    the digest of the checkpoint it was loaded from."""

    model: nn.Module
    test_accuracy: float
    val_accuracy: float | None  # None for a loaded checkpoint
    epochs_trained: int  # 0 for a loaded checkpoint
    train_seconds: float
    cached: bool
    key: str
    checkpoint: str | None = None
    weights: str | None = None  # the pretrained weights' name, e.g. torchvision resnet50 ...
    preprocessing: dict | None = None  # the inputs the pretrained weights were trained on


@dataclass(frozen=True)
class ModelSpec:
    """What decides the model of a run: architecture `name` and its `params`, the training
    settings `train` (fields of TrainConfig), the training seed, or a local `checkpoint` (a
    state dict) to load instead of training."""

    name: str
    params: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    seed: int = 0
    checkpoint: str | None = None


def model_weights(spec: ModelSpec) -> Weights | None:
    """The pretrained weights `spec` asks for (models/pretrained.py), or None: the model is
    trained here or loaded from a plain checkpoint."""
    weights = MODELS[spec.name].weights
    return weights(spec.checkpoint, **spec.params) if weights else None


def get_model(
    spec: ModelSpec,
    dataset: Dataset,
    dataset_spec: dict,
    cache: Cache,
    device: torch.device,
    progress: bool = True,
    batch_size: int = 4096,
) -> TrainedModel:
    """The model in eval mode on `device`: loaded from its pretrained weights or from
    `spec.checkpoint` when given, else trained on `dataset` once per setting and cached
    (`dataset_spec` identifies the data). `batch_size` bounds the inputs per forward pass
    when a loaded model's test accuracy is measured (memory only)."""
    name, params, seed, checkpoint = spec.name, spec.params, spec.seed, spec.checkpoint
    info = MODELS[name]
    check_model_params(name, params)
    config = train_config(spec.train)
    input_shape = tuple(dataset.x_train.shape[1:])

    def build() -> nn.Module:
        model = info.build(input_shape, dataset.num_classes, **params)
        check_output_shape(model, dataset, name)
        return model

    key_spec = {
        "model": name,
        "params": {**default_params(info.build, MODEL_DATA), **params},
        "train": vars(config),
        "seed": seed,
        "data": dataset_spec,
        "arithmetic": training_arithmetic(device),
        **code_version(params),  # a custom model's own code; nothing for built-in models
    }
    pretrained = model_weights(spec)
    if pretrained:
        return load_pretrained(pretrained, key_spec, dataset, device, batch_size)
    if checkpoint:
        return load_checkpoint(build, checkpoint, key_spec, dataset, device, batch_size)

    def train_now() -> dict:
        return train_model(
            build, dataset, config, seed, device, progress, label=f"{name} seed {seed}"
        )

    entry, cached = cache.load_or_build("models", key_spec, train_now)
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
        key=cache.path("models", key_spec).stem,
    )


def training_arithmetic(device: torch.device) -> dict:
    """What, beyond the seed, decides the trained weights: on the CPU, PyTorch's thread count,
    which sets the order of floating-point sums (shapes' cnn2d, seed 0, reached test accuracy
    0.989 trained with 2 threads and 0.981 with 1). Part of the cache key, so a run never
    reuses weights its own settings would not have produced. On CUDA the device type only:
    its kernels are not bit-reproducible across runs anyway."""
    if device.type == "cpu":
        return {"device": "cpu", "threads": torch.get_num_threads()}
    return {"device": device.type}


def check_output_shape(model: nn.Module, dataset: Dataset, name: str) -> None:
    """One forward pass of one training input must give one logit per class."""
    inputs = dataset.x_train[:1].float()
    was_training = model.training
    try:
        with torch.inference_mode():
            output = model.eval()(inputs)
    except Exception as error:  # the model's own reason, on one line
        raise XaibenchError(
            f"model {name} cannot run on inputs of dataset {dataset.name} shaped "
            f"{tuple(inputs.shape)}: {one_line(error)}"
        ) from None
    finally:
        model.train(was_training)
    problem = output_problem(output, 1)
    if problem:
        raise XaibenchError(f"model {name} {problem}")
    shape = tuple(output.shape)
    if shape != (1, dataset.num_classes):
        raise XaibenchError(
            f"model {name} maps an input of shape {tuple(dataset.x_train.shape[1:])} to outputs "
            f"of shape {shape[1:]}, but dataset {dataset.name} needs ({dataset.num_classes},): "
            "one logit per class"
        )


def load_checkpoint(
    build,
    checkpoint: str,
    spec: dict,
    dataset: Dataset,
    device: torch.device,
    batch_size: int = 4096,
) -> TrainedModel:
    """The model with the weights of a local state dict (or a dict holding one under
    "state_dict"), loaded with `weights_only=True` so the file cannot run code; its test
    accuracy is measured on the dataset."""
    path = Path(checkpoint).expanduser().resolve()
    if not path.is_file():
        raise XaibenchError(f"checkpoint {path} does not exist; set model.checkpoint=<file>")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise XaibenchError(
            f"checkpoint {path} cannot be read with weights_only=True ({type(error).__name__}); "
            "save the weights with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    model = build()
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        detail = str(error).strip().splitlines()
        raise XaibenchError(
            f"checkpoint {path} does not match model {spec['model']}: "
            f"{' '.join(line.strip() for line in detail)}"
        ) from None
    model.to(device).eval()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # The weights and the code that runs them: a custom model's own code too (its forward pass
    # decides the maps); the keys of built-in models are as before.
    weights_code = {k: v for k, v in spec.items() if k in ("model", "params", "user_code")}
    key = spec_digest({"checkpoint": digest, **weights_code})
    return loaded_model(model, dataset, batch_size, key, path)


def load_pretrained(
    weights: Weights, spec: dict, dataset: Dataset, device: torch.device, batch_size: int = 4096
) -> TrainedModel:
    """The network with its pretrained weights, read from their local file; its test accuracy
    is measured on the dataset, whose classes must be the weights' classes."""
    if dataset.num_classes != weights.num_classes:
        raise XaibenchError(
            f"{weights.name} predicts {weights.num_classes} classes but dataset {dataset.name} "
            f"has {dataset.num_classes}; give it the weights' classes (an ImageNet folder: "
            "dataset=imagenet, or dataset.classes=imagenet with class folders named by wnid)"
        )
    model = weights.load()
    check_output_shape(model, dataset, spec["model"])
    model.to(device).eval()
    digest = hashlib.sha256(weights.file.read_bytes()).hexdigest()
    key = spec_digest({"weights": digest, "model": spec["model"], "params": spec["params"]})
    return loaded_model(
        model, dataset, batch_size, key, weights.file,
        weights=weights.name, preprocessing=weights.preprocessing,
    )  # fmt: skip


def loaded_model(
    model: nn.Module, dataset: Dataset, batch_size: int, key: str, file: Path, **record: Any
) -> TrainedModel:
    """A model whose weights were read from `file` (not trained here), its test accuracy
    measured on `dataset`."""
    return TrainedModel(
        model=model,
        test_accuracy=accuracy(model, dataset.x_test, dataset.y_test, batch_size),
        val_accuracy=None,
        epochs_trained=0,
        train_seconds=0.0,
        cached=False,
        key=key,
        checkpoint=str(file),
        **record,
    )


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

    best: dict[str, Any] = {"val_accuracy": -1.0, "epoch": 0, "state_dict": None}
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
