"""Shapes: synthetic RGB images whose class is the shape of one object, with its pixels as mask.

Each image has a textured background, a few class-independent distractors (thin lines and
small dots) and one object — a circle, square, triangle or cross — at a random position, size,
rotation and colour. Only the object's shape tells the class, so a model that classifies well
must look at the object, and the object's pixels are the ground truth for localisation.
Written here because no maintained library generates images with class-defining masks.

Everything a sample shows is drawn from one seeded generator into a `Scenes` record first and
rendered afterwards, so the same scenes can be rendered without their object (the test that
the label lives in the mask).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from xaibench.constraints import Count, NonNegative, Range, Seed
from xaibench.data.registry import register_dataset
from xaibench.registry import XaibenchError

CLASSES = ("circle", "square", "triangle", "cross")
# Object scales relative to the drawn radius, so every shape covers about the area of the
# circle (pi r^2): size alone does not tell the class.
SQUARE_HALF_SIDE = np.sqrt(np.pi) / 2  # (2a)^2 = pi
TRIANGLE_CIRCUMRADIUS = np.sqrt(4 * np.pi / (3 * np.sqrt(3)))  # (3 sqrt3 / 4) R^2 = pi
CROSS_HALF_LENGTH = 1.25
CROSS_HALF_WIDTH = CROSS_HALF_LENGTH - np.sqrt(CROSS_HALF_LENGTH**2 - np.pi / 4)  # 8Lw - 4w^2 = pi
# The farthest any shape reaches from its centre, in radii: where centres may go does not
# depend on the class.
REACH = max(
    1.0,
    SQUARE_HALF_SIDE * np.sqrt(2),
    TRIANGLE_CIRCUMRADIUS,
    np.hypot(CROSS_HALF_LENGTH, CROSS_HALF_WIDTH),
)
DOT_RADIUS = (1.0, 2.5)  # distractor dots, in pixels: smaller than any object
LINE_WIDTH = 1.2  # distractor lines, in pixels


@dataclass(frozen=True)
class Scenes:
    """Everything drawn for N images (arrays over N, and over distractor slots D)."""

    labels: np.ndarray  # (N,) class index
    center: np.ndarray  # (N, 2) object centre (row, column), pixels
    radius: np.ndarray  # (N,) object radius, pixels
    angle: np.ndarray  # (N,) object rotation, radians
    color: np.ndarray  # (N, 3) object colour
    background: np.ndarray  # (N, 3, H, W) textured background
    distractor_start: np.ndarray  # (N, D, 2) line start or dot centre
    distractor_end: np.ndarray  # (N, D, 2) line end (= start for dots)
    distractor_width: np.ndarray  # (N, D) half-width in pixels (0 for absent slots)
    distractor_color: np.ndarray  # (N, D, 3)
    noise: np.ndarray  # (N, 3, H, W) pixel noise added last


def sample_scenes(
    rng: np.random.Generator,
    count: int,
    size: int,
    object_size: tuple[float, float],
    distractors: int,
    texture: float,
    noise: float,
) -> Scenes:
    """Draw `count` scenes; `object_size` is the radius range as a fraction of `size`."""
    low, high = object_size[0] * size, object_size[1] * size
    radius = rng.uniform(low, high, count)
    # The object stays inside the image, whatever its shape and rotation.
    reach = radius * REACH
    center = reach[:, None] + rng.uniform(0, 1, (count, 2)) * (size - 1 - 2 * reach[:, None])
    # Dim, desaturated backgrounds; bright saturated objects and distractors of any hue.
    base = rng.uniform(0.15, 0.45, (count, 1, 1, 1)) + rng.uniform(-0.05, 0.05, (count, 3, 1, 1))
    base = base.astype(np.float32)
    white = rng.standard_normal((count, 3, size, size), dtype=np.float32)
    field = gaussian_filter(white, (0, 0, 3, 3))
    field /= field.std(axis=(1, 2, 3), keepdims=True)
    kinds = rng.integers(0, 2, (count, distractors))  # 0 = line, 1 = dot
    present = np.arange(distractors)[None, :] < rng.integers(0, distractors + 1, (count, 1))
    start = rng.uniform(0, size - 1, (count, distractors, 2))
    offset = rng.normal(0, size / 5, (count, distractors, 2))
    end = np.where(kinds[..., None] == 1, start, np.clip(start + offset, 0, size - 1))
    width = np.where(kinds == 1, rng.uniform(*DOT_RADIUS, (count, distractors)), LINE_WIDTH / 2)
    return Scenes(
        labels=rng.integers(0, len(CLASSES), count),
        center=center,
        radius=radius,
        angle=rng.uniform(0, 2 * np.pi, count),
        color=_bright_colors(rng, count),
        background=base + np.float32(texture) * field,
        distractor_start=start,
        distractor_end=end,
        distractor_width=np.where(present, width, 0.0),
        distractor_color=_bright_colors(rng, count * distractors).reshape(count, distractors, 3),
        noise=np.float32(noise) * rng.standard_normal((count, 3, size, size), dtype=np.float32),
    )


def _bright_colors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random hue, saturation 0.6-1, value 0.75-1 (HSV to RGB), shape (count, 3)."""
    hue, sat, val = (
        rng.uniform(0, 1, count),
        rng.uniform(0.6, 1, count),
        rng.uniform(0.75, 1, count),
    )
    k = (np.array([5, 3, 1])[None, :] + hue[:, None] * 6) % 6
    ramp = np.clip(np.minimum(k, 4 - k), 0, 1)
    return (val[:, None] * (1 - sat[:, None] * ramp)).astype(np.float32)


def object_masks(scenes: Scenes, size: int) -> np.ndarray:
    """(N, H, W) bool: the pixels of each scene's object."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    dy = (rows[None] - scenes.center[:, 0, None, None]) / scenes.radius[:, None, None]
    dx = (cols[None] - scenes.center[:, 1, None, None]) / scenes.radius[:, None, None]
    cos, sin = np.cos(scenes.angle)[:, None, None], np.sin(scenes.angle)[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # coordinates in the object's frame
    circle = u**2 + v**2 <= 1
    square = np.maximum(np.abs(u), np.abs(v)) <= SQUARE_HALF_SIDE
    # Equilateral triangle: inside the three edges, each at the inradius (R / 2) from the centre.
    triangle = np.ones_like(circle)
    for edge in range(3):
        theta = 2 * np.pi * edge / 3
        triangle &= u * np.cos(theta) + v * np.sin(theta) <= TRIANGLE_CIRCUMRADIUS / 2
    w, length = CROSS_HALF_WIDTH, CROSS_HALF_LENGTH
    cross = ((np.abs(u) <= w) & (np.abs(v) <= length)) | ((np.abs(v) <= w) & (np.abs(u) <= length))
    by_class = np.stack([circle, square, triangle, cross], axis=1)  # (N, classes, H, W)
    return np.take_along_axis(by_class, scenes.labels[:, None, None, None], axis=1)[:, 0]


def distractor_masks(scenes: Scenes, size: int) -> np.ndarray:
    """(N, D, H, W) bool: pixels within each distractor's half-width of its segment."""
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    start = scenes.distractor_start.astype(np.float32)[..., None, None]  # (N, D, 2, 1, 1)
    step = scenes.distractor_end.astype(np.float32)[..., None, None] - start
    to_row, to_col = rows - start[:, :, 0], cols - start[:, :, 1]
    length2 = np.maximum(step[:, :, 0] ** 2 + step[:, :, 1] ** 2, 1e-12)
    # Position of the nearest point along the segment, 0 at its start and 1 at its end.
    along = np.clip((to_row * step[:, :, 0] + to_col * step[:, :, 1]) / length2, 0, 1)
    distance2 = (to_row - along * step[:, :, 0]) ** 2 + (to_col - along * step[:, :, 1]) ** 2
    return distance2 <= scenes.distractor_width[:, :, None, None] ** 2


def render(scenes: Scenes, size: int, show_object: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, H, W) uint8, object masks (N, H, W) bool). The object is drawn last, so
    every pixel of its mask shows it; `show_object=False` leaves what lies beneath."""
    image = scenes.background.copy()
    for slot, mask in enumerate(np.moveaxis(distractor_masks(scenes, size), 1, 0)):
        image = np.where(mask[:, None], scenes.distractor_color[:, slot, :, None, None], image)
    masks = object_masks(scenes, size)
    if show_object:
        image = np.where(masks[:, None], scenes.color[:, :, None, None], image)
    image = np.clip(image + scenes.noise, 0, 1, out=image)
    return np.round(image * 255).astype(np.uint8), masks


def scene_chunks(
    count: int, seed: np.random.SeedSequence, size: int, chunk: int = 500, **difficulty
) -> Iterator[Scenes]:
    """`count` scenes from `seed`, drawn `chunk` at a time to bound memory."""
    rng = np.random.default_rng(seed)
    for start in range(0, count, chunk):
        yield sample_scenes(rng, min(chunk, count - start), size, **difficulty)


def generate(
    count: int, seed: np.random.SeedSequence, size: int, chunk: int = 500, **difficulty
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8, labels, masks) of `count` scenes from `seed`."""
    images, labels, masks = [], [], []
    for scenes in scene_chunks(count, seed, size, chunk, **difficulty):
        image, mask = render(scenes, size)
        images.append(image)
        labels.append(scenes.labels)
        masks.append(mask)
    return np.concatenate(images), np.concatenate(labels), np.concatenate(masks)


def split_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The train and test splits' seeds: independent streams, so a larger train set keeps the
    same test set."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return train, test


@register_dataset(
    "shapes",
    description="Synthetic RGB images (default 64x64, 4 classes): the class is the shape of one "
    "object among distractors on a textured background; its pixels are the ground-truth mask.",
    citation="xaibench (generated; in the spirit of the synthetic localisation sets of "
    "Arras et al. 2022, CLEVR-XAI)",
)
def shapes(
    num_train: Count = 4000,
    num_test: Count = 1000,
    size: Annotated[int, Range(low=8)] = 64,  # objects of a few pixels at least
    # The radius as a fraction of the side: (min, max), the object inside the image.
    object_size: Annotated[tuple[float, float], Range(0, 0.3, low_open=True)] = (0.1, 0.2),
    distractors: Annotated[int, Range(low=0)] = 6,
    texture: NonNegative = 0.08,
    noise: NonNegative = 0.02,
    seed: Seed = 0,
) -> dict:
    if object_size[0] > object_size[1]:
        raise XaibenchError(f"shapes: object_size={list(object_size)} must be [min, max]")
    difficulty: dict[str, Any] = {
        "object_size": tuple(object_size),
        "distractors": distractors,
        "texture": texture,
        "noise": noise,
    }
    train_seed, test_seed = split_seeds(seed)
    x_train, y_train, _ = generate(num_train, train_seed, size, **difficulty)
    x_test, y_test, masks_test = generate(num_test, test_seed, size, **difficulty)
    return {
        "x_train": torch.from_numpy(x_train),
        "y_train": torch.from_numpy(y_train).long(),
        "x_test": torch.from_numpy(x_test),
        "y_test": torch.from_numpy(y_test).long(),
        "masks_test": torch.from_numpy(masks_test),
        "num_classes": len(CLASSES),
    }
