"""Slow (`pytest -m slow`, about a minute each): mnist1d_cnn reaches the MNIST-1D paper's
accuracy and trains deterministically; cnn2d on shapes, trained with the shipped configs, is
accurate, and its accuracy lives in the ground-truth mask."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.helpers import compose_config
from xaibench.cache import Cache
from xaibench.data import load_dataset
from xaibench.data.shapes import render, scene_chunks, split_seeds
from xaibench.models import ModelSpec, accuracy, get_model
from xaibench.settings import read_settings

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mnist1d_cnn_reaches_93_percent(seed, tmp_path):
    """The MNIST-1D paper reports about 94% for its CNN; ours must reach at least 93%."""
    cache = Cache(tmp_path)
    data, spec, _ = load_dataset("mnist1d", {}, cache)
    trained = get_model(
        ModelSpec("mnist1d_cnn", seed=seed), data, spec, cache, torch.device("cpu"), progress=False
    )
    assert trained.test_accuracy >= 0.93


def test_training_is_deterministic_on_the_cpu(tmp_path):
    data, spec, _ = load_dataset("mnist1d", {"num_samples": 1000}, Cache(tmp_path / "d"))
    weights = []
    for folder in ("a", "b"):
        trained = get_model(
            ModelSpec("mnist1d_cnn", train={"epochs": 3}), data, spec, Cache(tmp_path / folder),
            torch.device("cpu"), progress=False,
        )  # fmt: skip
        weights.append(trained.model.state_dict())
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    settings = read_settings(
        compose_config("dataset=shapes", "model=cnn2d", "progress=false", f"cache_dir={cache}")
    )
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    trained = get_model(
        settings.model, data, spec, settings.cache, torch.device("cpu"), progress=False
    )
    return settings.dataset_params, data, trained


def test_cnn2d_reaches_95_percent_on_shapes(shapes_model):
    _, _, trained = shapes_model
    assert trained.test_accuracy >= 0.95


def rendered_test_set(params: dict, data, **edits) -> tuple[torch.Tensor, torch.Tensor]:
    """The shapes test scenes rendered again (with `edits`: render's `show_object`, or scene
    fields to replace), prepared like the model's inputs."""
    show_object = edits.pop("show_object", True)
    _, test_seed = split_seeds(params["seed"])
    difficulty = {k: params[k] for k in ("object_size", "distractors", "texture", "noise")}
    images, labels = [], []
    for scenes in scene_chunks(params["num_test"], test_seed, params["size"], **difficulty):
        scenes = replace(scenes, **{k: v(scenes) for k, v in edits.items()})
        images.append(render(scenes, params["size"], show_object=show_object)[0])
        labels.append(scenes.labels)
    x = torch.from_numpy(np.concatenate(images)).float() / 255
    mean = torch.tensor(data.preparation["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(data.preparation["std"]).view(1, -1, 1, 1)
    return (x - mean) / std, torch.from_numpy(np.concatenate(labels)).long()


def test_the_label_lives_in_the_object(shapes_model):
    params, data, trained = shapes_model
    same, labels = rendered_test_set(params, data)
    assert torch.allclose(same, data.x_test, atol=1e-5)  # the re-rendering is faithful
    assert torch.equal(labels, data.y_test)
    # Without its object, the model is at chance (4 classes) ...
    bare, _ = rendered_test_set(params, data, show_object=False)
    assert accuracy(trained.model, bare, labels) < 0.4
    # ... while removing every distractor, as much clutter as the object or more, changes
    # little: the class is the object, not its surroundings.
    clean, _ = rendered_test_set(params, data, distractor_width=lambda s: 0 * s.distractor_width)
    assert accuracy(trained.model, clean, labels) >= 0.93
