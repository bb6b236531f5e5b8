"""Datasets read from local files (torchvision layouts, ImageFolder) and scikit-learn's digits,
on fixture files written here: nothing is downloaded."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from xaibench.cache import Cache
from xaibench.data import load_dataset
from xaibench.registry import XaibenchError

RAW = {"normalise": "none"}  # compare pixel values as read


def write_idx(path, array: np.ndarray) -> None:
    """MNIST's idx format: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root, folder: str, rng: np.random.Generator) -> dict:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(12) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(5) % 10,
    }
    for name, array in arrays.items():
        write_idx(raw / name, array)
    return arrays


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_mnist_layouts_are_read_as_grey_images(name, folder, tmp_path):
    arrays = fake_mnist(tmp_path / "data", folder, np.random.default_rng(0))
    data, spec, _ = load_dataset(
        name, {"root": str(tmp_path / "data"), **RAW}, Cache(tmp_path / "c")
    )
    assert data.x_train.shape == (12, 1, 28, 28)
    expected = torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).float() / 255
    assert torch.equal(data.x_test[:, 0], expected)
    assert data.y_train.tolist() == (np.arange(12) % 10).tolist()
    assert data.num_classes == 10
    assert data.masks_test is None
    assert spec["download"] is False


def test_cifar10_layout_is_read_channels_first(tmp_path, monkeypatch):
    import torchvision.datasets.cifar

    # Fixture files cannot match the real files' md5 sums, which torchvision checks.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        # Each row holds the red plane, then green, then blue, each 32x32 row-major.
        batches[name] = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                         "labels": [1, 7]}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(batches[name]))
    labels = [f"class{i}" for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": labels}))
    data, _, _ = load_dataset("cifar10", {"root": str(tmp_path), **RAW}, Cache(tmp_path / "c"))
    assert data.x_train.shape == (10, 3, 32, 32)
    green_plane = batches["test_batch"]["data"][1, 1024:2048].reshape(32, 32)
    assert torch.equal(data.x_test[1, 1], torch.from_numpy(green_plane).float() / 255)
    assert data.y_test.tolist() == [1, 7]


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py")]
)
def test_missing_files_name_the_folder_and_how_to_get_them(name, folder, tmp_path):
    with pytest.raises(XaibenchError) as error:
        load_dataset(name, {"root": str(tmp_path)}, Cache(tmp_path / "c"))
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / folder) in message
    assert "download=True" in message


def write_images(folder, colors: dict[str, tuple[int, int, int]], count: int) -> None:
    """`count` solid-colour PNGs of 10x12 pixels per class folder."""
    for label, color in colors.items():
        (folder / label).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (12, 10), color).save(folder / label / f"{i}.png")


COLORS = {"benign": (200, 10, 10), "tumour": (10, 10, 200), "stroma": (10, 200, 10)}


def test_imagefolder_is_split_stratified_and_resized(tmp_path):
    write_images(tmp_path / "images", COLORS, count=10)
    params = {"root": str(tmp_path / "images"), "size": 8, "test_fraction": 0.3, **RAW}
    data, _, _ = load_dataset("imagefolder", params, Cache(tmp_path / "c"))
    assert data.x_train.shape == (21, 3, 8, 8)
    assert data.x_test.shape == (9, 3, 8, 8)
    assert data.num_classes == 3
    assert data.y_test.bincount().tolist() == [3, 3, 3]  # classes sorted: benign, stroma, tumour
    # Classes are the sorted folder names; every image keeps its folder's colour.
    colors = torch.tensor([COLORS["benign"], COLORS["stroma"], COLORS["tumour"]]) / 255
    assert torch.allclose(data.x_test[:, :, 4, 4], colors[data.y_test])
    assert data.y_test[:3].unique().numel() > 1  # shuffled: the first test images mix classes


def test_imagefolder_keeps_given_train_and_test_folders(tmp_path):
    write_images(tmp_path / "set" / "train", COLORS, count=4)
    write_images(tmp_path / "set" / "test", COLORS, count=2)
    params = {"root": str(tmp_path / "set"), "size": 6, "grayscale": True, **RAW}
    data, _, _ = load_dataset("imagefolder", params, Cache(tmp_path / "c"))
    assert data.x_train.shape == (12, 1, 6, 6)
    assert data.x_test.shape == (6, 1, 6, 6)


def test_imagefolder_rereads_edited_files_and_rejects_mismatched_classes(tmp_path):
    write_images(tmp_path / "set" / "train", COLORS, count=3)
    write_images(tmp_path / "set" / "test", {"benign": (1, 2, 3)}, count=2)
    params = {"root": str(tmp_path / "set"), "size": 4}
    with pytest.raises(XaibenchError, match="give both the same class folders"):
        load_dataset("imagefolder", params, Cache(tmp_path / "c"))
    write_images(tmp_path / "set" / "test", {"stroma": (1, 2, 3), "tumour": (4, 5, 6)}, count=1)
    cache = Cache(tmp_path / "c")
    _, _, cached = load_dataset("imagefolder", params, cache)
    assert not cached
    _, _, cached = load_dataset("imagefolder", params, cache)
    assert cached
    Image.new("RGB", (12, 10), (0, 0, 0)).save(tmp_path / "set" / "train" / "benign" / "new.png")
    data, _, cached = load_dataset("imagefolder", params, cache)
    assert not cached  # a new file is a new dataset
    assert len(data.x_train) == 10


@pytest.mark.parametrize("root", [None, "/nonexistent/images"])
def test_imagefolder_without_a_folder_says_how_to_give_one(root, tmp_path):
    with pytest.raises(XaibenchError, match=r"dataset\.root=<folder"):
        load_dataset("imagefolder", {"root": root}, Cache(tmp_path))


def test_digits_are_sklearns_images_split_by_class(tmp_path):
    from sklearn.datasets import load_digits

    data, _, _ = load_dataset("digits", RAW, Cache(tmp_path))
    assert data.x_train.shape == (1347, 1, 8, 8)
    assert data.x_test.shape == (450, 1, 8, 8)
    images = torch.tensor(load_digits().images / 16, dtype=torch.float32)
    # Every test image is one of scikit-learn's, with its label.
    flat = images.flatten(1)
    matches = (data.x_test.flatten(1)[:, None] == flat[None]).all(-1)
    assert matches.any(1).all()
    targets = torch.from_numpy(load_digits().target)
    assert torch.equal(targets[matches.float().argmax(1)], data.y_test)
    proportions = data.y_test.bincount() / len(data.y_test)
    assert torch.allclose(proportions, torch.full((10,), 0.1), atol=0.01)  # stratified
