"""Image datasets read by torchvision from a local folder: MNIST, Fashion-MNIST, CIFAR-10, and
any ImageFolder (one subfolder of images per class) such as a histology set or an ImageNet
subset.

Nothing is downloaded unless a config asks for it (`download: true`); when the files are
absent the error says where torchvision looked and how to fetch them once. Inputs are kept as
uint8 (the cache stores them compactly; preparation scales them to [0, 1]).
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path
from typing import Annotated

import torch
from torch import Tensor

from xaibench.checks import one_line
from xaibench.constraints import Count, OneOf, Range, Seed
from xaibench.data.registry import register_dataset
from xaibench.data.splits import TestFraction, stratified_split
from xaibench.registry import XaibenchError

# As in the configs: $XAIBENCH_DATA, else ~/data.
DEFAULT_ROOT = os.environ.get("XAIBENCH_DATA", "~/data")


def read_torchvision(
    class_name: str, folder: str, root: str = DEFAULT_ROOT, download: bool = False
) -> dict:
    """Both splits of a torchvision dataset class as uint8 tensors (N, C, H, W); `folder` is
    where that class looks under `root` (named in the error when the files are absent)."""
    import torchvision.datasets  # imported on use: it takes seconds

    dataset_class = getattr(torchvision.datasets, class_name)
    root = str(Path(root).expanduser())
    try:
        train, test = (
            dataset_class(root, train=split, download=download) for split in (True, False)
        )
    except RuntimeError as error:
        if "not found" not in str(error):
            raise
        raise XaibenchError(
            f"no {class_name} data in {Path(root) / folder} (torchvision: {error}); "
            f'fetch it once where there is network with `python -c "import torchvision; '
            f"torchvision.datasets.{class_name}('{root}', download=True)\"`, or set "
            "dataset.root=<folder that holds it>"
        ) from None
    return {
        "x_train": _channels_first(train.data),
        "y_train": torch.as_tensor(train.targets).long(),
        "x_test": _channels_first(test.data),
        "y_test": torch.as_tensor(test.targets).long(),
        "num_classes": len(train.classes),
    }


def _channels_first(data) -> Tensor:
    """torchvision keeps grey images as (N, H, W) tensors and colour ones as (N, H, W, C)
    arrays; models take (N, C, H, W)."""
    data = torch.as_tensor(data)
    return data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2).contiguous()


# name: (torchvision class, where it looks under root, description, citation)
TORCHVISION_SETS = {
    "mnist": (
        "MNIST", "MNIST/raw",
        "MNIST handwritten digits (60000/10000 grey 28x28 images), read from <root>/MNIST/raw.",
        "LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document "
        "recognition. Proc. IEEE 1998",
    ),
    "fashion_mnist": (
        "FashionMNIST", "FashionMNIST/raw",
        "Fashion-MNIST clothing images (60000/10000 grey 28x28, 10 classes), read from "
        "<root>/FashionMNIST/raw.",
        "Xiao, Rasul, Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
        "Learning Algorithms. arXiv:1708.07747, 2017",
    ),
    "cifar10": (
        "CIFAR10", "cifar-10-batches-py",
        "CIFAR-10 (50000/10000 colour 32x32 images, 10 classes), read from "
        "<root>/cifar-10-batches-py.",
        "Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Tech. report, "
        "University of Toronto, 2009",
    ),
}  # fmt: skip

for _name, (_class, _folder, _description, _citation) in TORCHVISION_SETS.items():
    register_dataset(_name, description=_description, citation=_citation)(
        partial(read_torchvision, _class, _folder)
    )


def imagefolder_root(root: str | None) -> Path:
    """The folder an `imagefolder` dataset reads, checked to exist."""
    if not root:
        raise XaibenchError(
            "dataset imagefolder needs dataset.root=<folder with one subfolder of images per "
            "class, or train/ and test/ folders laid out that way>"
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise XaibenchError(
            f"imagefolder root {folder} is not a folder; set dataset.root=<folder with one "
            "subfolder of images per class> (setups such as setup=hmt look under "
            "$XAIBENCH_DATA, by default ~/data)"
        )
    return folder


def imagefolder_fingerprint(root: str | None = None, **_) -> str:
    """A digest of every file's path, size and modification time under `root`: editing,
    adding or removing an image gives a new cache entry."""
    folder = imagefolder_root(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


# How images are resized (torchvision's InterpolationMode names, as pretrained weights give them).
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "nearest-exact", "box", "hamming", "lanczos")

# The 1000 ImageNet-1k classes by WordNet id, in the order of every torchvision and timm
# ImageNet classifier's outputs (the sorted ids; the list is timm's imagenet_synsets.txt).
IMAGENET_WNIDS = Path(__file__).with_name("imagenet_wnids.txt")

# How class folders become labels: `folders` (ImageFolder's order: the sorted folder names),
# or `imagenet` (folders named by ImageNet wnids, each labelled with its ImageNet index).
CLASS_ORDERS = ("folders", "imagenet")


def imagenet_wnids() -> list[str]:
    return IMAGENET_WNIDS.read_text().split()


@register_dataset(
    "imagefolder",
    description="Your own images: <root>/<class>/<image> (split here into train and test), or "
    "<root>/train/<class>/... and <root>/test/<class>/..., resized to size x size (or, with "
    "resize, the shorter side to resize and the centre cropped to size x size).",
    citation="torchvision.datasets.ImageFolder",
    fingerprint=imagefolder_fingerprint,
)
def imagefolder(
    root: str | None = None,
    size: Count = 64,
    grayscale: bool = False,
    test_fraction: TestFraction = 0.2,
    split_seed: Seed = 0,
    resize: Annotated[int | None, Range(low=1)] = None,
    interpolation: Annotated[str, OneOf(INTERPOLATIONS)] = "bilinear",
    classes: Annotated[str, OneOf(CLASS_ORDERS)] = "folders",
    per_class: Annotated[int | None, Range(low=1)] = None,
) -> dict:
    """`resize` None: each image squashed to size x size; an integer: its shorter side resized
    to `resize` (aspect kept) and the centre size x size cropped, as torchvision's and timm's
    evaluation transforms do. `per_class`: only the first N images (sorted by name) of each
    class folder are read, so that a subset of a large set (ImageNet's 50000 validation
    images) fits in memory and in the cache."""
    from torchvision import datasets, transforms

    folder = imagefolder_root(root)
    mode = transforms.InterpolationMode(interpolation)
    if resize is None:
        steps: list = [transforms.Resize((size, size), interpolation=mode)]
    else:
        steps = [transforms.Resize(resize, interpolation=mode), transforms.CenterCrop(size)]
    if grayscale:
        steps.append(transforms.Grayscale())
    transform = transforms.Compose([*steps, transforms.PILToTensor()])
    wnids = imagenet_wnids() if classes == "imagenet" else None

    def read(path: Path) -> tuple[Tensor, Tensor, list[str]]:
        try:
            found = datasets.ImageFolder(os.fspath(path), transform=transform)
        except FileNotFoundError as error:
            raise XaibenchError(f"imagefolder: {error}") from None
        labels_of = list(range(len(found.classes)))
        if wnids is not None:
            labels_of = imagenet_labels(found.classes, wnids, path)
        images, labels, taken = [], [], [0] * len(found.classes)
        for index, (file, label) in enumerate(found.samples):
            if per_class is not None and taken[label] >= per_class:
                continue
            taken[label] += 1
            try:
                image, _ = found[index]
            except OSError as error:  # not an image (PIL's UnidentifiedImageError), truncated
                raise XaibenchError(
                    f"imagefolder: {file} cannot be read as an image ({one_line(error)}); "
                    "remove it or replace it"
                ) from None
            images.append(image)
            labels.append(labels_of[label])
        return torch.stack(images), torch.tensor(labels), found.classes

    if (folder / "train").is_dir() and (folder / "test").is_dir():
        x_train, y_train, found_classes = read(folder / "train")
        x_test, y_test, test_classes = read(folder / "test")
        if test_classes != found_classes:
            raise XaibenchError(
                f"imagefolder: {folder}/test has classes {test_classes} but {folder}/train has "
                f"{found_classes}; give both the same class folders"
            )
    else:
        images, labels, found_classes = read(folder)
        train, test = stratified_split(labels, test_fraction, split_seed)
        x_train, y_train, x_test, y_test = images[train], labels[train], images[test], labels[test]
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "num_classes": len(wnids) if wnids is not None else len(found_classes),
    }


def imagenet_labels(folders: list[str], wnids: list[str], path: Path) -> list[int]:
    """The ImageNet index of each class folder, by its wnid: a folder of any subset of the
    1000 classes keeps the labels an ImageNet classifier predicts (ImageFolder's own order
    would number a subset 0, 1, 2, ... and silently mislabel every image)."""
    index = {wnid: i for i, wnid in enumerate(wnids)}
    unknown = [name for name in folders if name not in index]
    if unknown:
        raise XaibenchError(
            f"imagefolder {path}: class folder {unknown[0]!r} is not an ImageNet-1k wnid "
            f"(like n01440764); with dataset.classes=imagenet every class folder is named by "
            "its wnid, or set dataset.classes=folders"
        )
    return [index[name] for name in folders]


def imagenet_root(root: str | None) -> str:
    """The folder an `imagenet` dataset reads, checked to exist."""
    if not root or not Path(root).expanduser().is_dir():
        raise XaibenchError(
            f"no ImageNet folder at {root}: set dataset.root=<folder with one subfolder of "
            "images per wnid, like n01440764>, or $XAIBENCH_DATA so that "
            "$XAIBENCH_DATA/imagenet/val is one"
        )
    return root


def imagenet_fingerprint(root: str | None = None, **_) -> str:
    return imagefolder_fingerprint(imagenet_root(root))


@register_dataset(
    "imagenet",
    description="ImageNet-1k images in an ImageFolder, <root>/<wnid>/<image> (e.g. the "
    "validation set sorted into wnid folders), labelled with ImageNet's class indices (any "
    "subset of the 1000 folders keeps them) and split here into train and test.",
    citation="Russakovsky et al. ImageNet Large Scale Visual Recognition Challenge. IJCV 2015",
    fingerprint=imagenet_fingerprint,
)
def imagenet(
    root: str | None = None,
    size: Count = 224,
    resize: Annotated[int | None, Range(low=1)] = 256,
    interpolation: Annotated[str, OneOf(INTERPOLATIONS)] = "bilinear",
    per_class: Annotated[int | None, Range(low=1)] = 2,
    test_fraction: TestFraction = 0.5,
    split_seed: Seed = 0,
) -> dict:
    """imagefolder with classes=imagenet; `per_class` images of each class are read (2 of
    each of the 1000 classes: 2000 images, 300 MB as uint8 at 224 px), split half and half."""
    return imagefolder(
        imagenet_root(root), size, test_fraction=test_fraction, split_seed=split_seed,
        resize=resize, interpolation=interpolation, classes="imagenet", per_class=per_class,
    )  # fmt: skip
