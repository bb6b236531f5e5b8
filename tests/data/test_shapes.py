"""The shapes dataset: seeded scenes whose masks are exactly the class object's pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaibench.data.shapes import (
    CLASSES,
    generate,
    object_masks,
    render,
    sample_scenes,
    scene_chunks,
    shapes,
)

SIZE = 48
DIFFICULTY = {"object_size": (0.1, 0.2), "distractors": 6, "texture": 0.08, "noise": 0.02}


def scenes_with_and_without_object(count: int = 200, **difficulty):
    """(images, labels, masks) and the images of the same scenes rendered without object."""
    seed = np.random.SeedSequence(3)
    settings = {**DIFFICULTY, **difficulty}
    images, labels, masks = generate(count, seed, SIZE, chunk=64, **settings)
    bare = [
        render(s, SIZE, show_object=False)[0]
        for s in scene_chunks(count, seed, SIZE, 64, **settings)
    ]
    return (images, labels, masks), np.concatenate(bare)


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_masks_cover_exactly_the_pixels_the_object_changes(noise):
    (images, _, masks), bare = scenes_with_and_without_object(noise=noise)
    changed = (images != bare).any(axis=1)
    # Every object pixel differs from what lies beneath it (bright object colours against a
    # dim background), and nothing outside the mask changes.
    assert np.array_equal(changed, masks)


def test_each_image_has_one_whole_object_inside_the_frame():
    _, _, masks = generate(300, np.random.SeedSequence(5), SIZE, **DIFFICULTY)
    area = masks.sum(axis=(1, 2))
    radius = np.array(DIFFICULTY["object_size"]) * SIZE
    assert (area > 0.6 * np.pi * radius[0] ** 2).all()  # never mostly hidden or cut off
    border = masks[:, 0].any(1) | masks[:, -1].any(1) | masks[:, :, 0].any(1)
    assert not (border | masks[:, :, -1].any(1)).any()


def test_every_class_covers_about_the_same_area():
    """Shapes are scaled to the circle's area, so the object's size does not tell its class."""
    rng = np.random.default_rng(0)
    scenes = sample_scenes(rng, 2000, SIZE, **DIFFICULTY)
    area = object_masks(scenes, SIZE).sum(axis=(1, 2)) / (np.pi * scenes.radius**2)
    per_class = [area[scenes.labels == c].mean() for c in range(len(CLASSES))]
    assert per_class == pytest.approx([1.0] * len(CLASSES), rel=0.08)


def test_backgrounds_and_distractors_do_not_depend_on_the_class():
    """Without the object, a linear classifier cannot tell the classes apart better than
    chance: all class information is in the object."""
    (_, labels, _), bare = scenes_with_and_without_object(count=400)
    features = bare.reshape(len(bare), 3, -1).mean(-1)  # mean colour per image
    means = np.stack([features[labels == c].mean(0) for c in range(len(CLASSES))])
    spread = features.std(0) / np.sqrt(len(bare) / len(CLASSES))
    assert (np.abs(means - means.mean(0)) < 4 * spread).all()


def test_generation_is_seeded_and_splits_are_independent():
    small = shapes(num_train=20, num_test=10, size=SIZE, seed=1)
    again = shapes(num_train=20, num_test=10, size=SIZE, seed=1)
    larger = shapes(num_train=40, num_test=10, size=SIZE, seed=1)
    other = shapes(num_train=20, num_test=10, size=SIZE, seed=2)
    for key in ("x_train", "y_train", "x_test", "y_test", "masks_test"):
        assert torch.equal(small[key], again[key]), key
    assert torch.equal(small["x_test"], larger["x_test"])  # more training data, same test set
    assert not torch.equal(small["x_test"], other["x_test"])
    assert small["x_test"].shape == (10, 3, SIZE, SIZE)
    assert small["x_test"].dtype == torch.uint8
    assert small["masks_test"].shape == (10, SIZE, SIZE)
    assert small["masks_test"].dtype == torch.bool
    assert small["num_classes"] == len(CLASSES)
