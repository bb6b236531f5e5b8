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

import torch
from torch import Tensor

from xaibench.checks import one_line
from xaibench.constraints import Count, Seed
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


@register_dataset(
    "imagefolder",
    description="Your own images: <root>/<class>/<image> (split here into train and test), or "
    "<root>/train/<class>/... and <root>/test/<class>/..., resized to size x size.",
    citation="torchvision.datasets.ImageFolder",
    fingerprint=imagefolder_fingerprint,
)
def imagefolder(
    root: str | None = None,
    size: Count = 64,
    grayscale: bool = False,
    test_fraction: TestFraction = 0.2,
    split_seed: Seed = 0,
) -> dict:
    from torchvision import datasets, transforms

    folder = imagefolder_root(root)
    steps = [transforms.Resize((size, size))]
    if grayscale:
        steps.append(transforms.Grayscale())
    transform = transforms.Compose([*steps, transforms.PILToTensor()])

    def read(path: Path) -> tuple[Tensor, Tensor, list[str]]:
        try:
            found = datasets.ImageFolder(os.fspath(path), transform=transform)
        except FileNotFoundError as error:
            raise XaibenchError(f"imagefolder: {error}") from None
        images, labels = [], []
        for index, (file, _) in enumerate(found.samples):
            try:
                image, label = found[index]
            except OSError as error:  # not an image (PIL's UnidentifiedImageError), truncated
                raise XaibenchError(
                    f"imagefolder: {file} cannot be read as an image ({one_line(error)}); "
                    "remove it or replace it"
                ) from None
            images.append(image)
            labels.append(label)
        return torch.stack(images), torch.tensor(labels), found.classes

    if (folder / "train").is_dir() and (folder / "test").is_dir():
        x_train, y_train, classes = read(folder / "train")
        x_test, y_test, test_classes = read(folder / "test")
        if test_classes != classes:
            raise XaibenchError(
                f"imagefolder: {folder}/test has classes {test_classes} but {folder}/train has "
                f"{classes}; give both the same class folders"
            )
    else:
        images, labels, classes = read(folder)
        train, test = stratified_split(labels, test_fraction, split_seed)
        x_train, y_train, x_test, y_test = images[train], labels[train], images[test], labels[test]
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "num_classes": len(classes),
    }
