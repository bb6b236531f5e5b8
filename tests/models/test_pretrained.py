"""Pretrained weights from local files only: torchvision's hub cache and timm's Hugging Face
cache, written here with random weights under the file names the libraries expect; the
preprocessing a run applies equals the weights' own transforms, tensor for tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from tests.helpers import compose_config
from xaibench.cache import Cache
from xaibench.data import load_dataset
from xaibench.models import ModelSpec, get_model, model_weights
from xaibench.models.resnet import separate_relus
from xaibench.registry import XaibenchError
from xaibench.settings import read_settings

WNIDS = ("n01443537", "n15075141")  # ImageNet's classes 1 (goldfish) and 999 (toilet tissue)


def write_image(path: Path, seed: int, shape=(37, 53)) -> Path:
    """A random RGB PNG, not square, so that resizing and cropping both matter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def image_folder(root: Path, wnids=WNIDS, layout: str = "split") -> Path:
    """<root>/train/<wnid>/0.png and <root>/test/<wnid>/1.png (layout split), or two images
    per class folder in <root> (layout flat)."""
    for k, wnid in enumerate(wnids):
        if layout == "split":
            write_image(root / "train" / wnid / "0.png", 10 * k)
            write_image(root / "test" / wnid / "1.png", 10 * k + 1)
        else:
            for i in range(2):
                write_image(root / wnid / f"{i}.png", 10 * k + i)
    return root


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache: $TORCH_HOME in tmp_path."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def write_torchvision_weights(arch: str, weights: str, seed: int = 0) -> tuple[Path, dict]:
    """Random weights of `arch` in the torch hub cache, under the name torchvision downloads
    `weights` to; (the file, the state dict)."""
    member = torchvision.models.get_model_weights(arch)[weights]
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(member.url).name
    file.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    state = torchvision.models.get_model(arch, num_classes=1000).state_dict()
    torch.save(state, file)
    return file, state


def test_torchvision_weights_load_exactly_from_the_hub_cache(torch_home):
    file, state = write_torchvision_weights("resnet18", "IMAGENET1K_V1")
    assert file == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    weights = model_weights(
        ModelSpec("torchvision", {"arch": "resnet18", "weights": "IMAGENET1K_V1"})
    )
    assert weights is not None
    assert (weights.file, weights.num_classes) == (file, 1000)
    loaded = weights.load().state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[key], state[key]) for key in state)


def test_a_missing_weights_file_is_one_line_naming_it_and_the_fetch_command(torch_home, tmp_path):
    cfg = compose_config(
        "model=torchvision", "model.arch=resnet18", "model.weights=IMAGENET1K_V1",
        "dataset=imagefolder", f"dataset.root={tmp_path}", f"cache_dir={tmp_path / 'cache'}",
    )  # fmt: skip
    with pytest.raises(XaibenchError) as excinfo:
        read_settings(cfg)  # before any data is read
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "get_weight('ResNet18_Weights.IMAGENET1K_V1').get_state_dict()" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message


def run_settings(tmp_path: Path, *overrides: str):
    return read_settings(compose_config(f"cache_dir={tmp_path / 'cache'}", *overrides))


def test_the_weights_preprocessing_is_the_dataset_default_and_equals_their_transforms(
    torch_home, tmp_path
):
    write_torchvision_weights("resnet18", "IMAGENET1K_V1")
    root = image_folder(tmp_path / "images")
    settings = run_settings(
        tmp_path, "model=torchvision", "model.arch=resnet18", "model.weights=IMAGENET1K_V1",
        "dataset=imagefolder", f"dataset.root={root}", "dataset.classes=imagenet",
    )  # fmt: skip
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    transform = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    for k, wnid in enumerate(WNIDS):
        image = Image.open(root / "test" / wnid / "1.png").convert("RGB")
        assert torch.equal(data.x_test[k], transform(image))
    assert data.y_test.tolist() == [1, 999]
    expected = {"resize": 256, "size": 224, "interpolation": "bilinear", "normalise": "given",
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # fmt: skip
    assert {key: spec[key] for key in expected} == expected
    trained = get_model(settings.model, data, spec, settings.cache, torch.device("cpu"), False)
    assert trained.preprocessing == expected
    assert trained.weights == "torchvision resnet18 IMAGENET1K_V1"


def test_a_dataset_setting_wins_over_the_weights_preprocessing(torch_home, tmp_path):
    write_torchvision_weights("resnet18", "IMAGENET1K_V1")
    root = image_folder(tmp_path / "images")
    settings = run_settings(
        tmp_path, "model=torchvision", "model.arch=resnet18", "model.weights=IMAGENET1K_V1",
        "dataset=imagefolder", f"dataset.root={root}", "dataset.classes=imagenet",
        "dataset.size=32", "dataset.normalise=standard",
    )  # fmt: skip
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    assert data.x_test.shape[-2:] == (32, 32)
    assert (spec["resize"], spec["normalise"]) == (256, "standard")  # the rest: the model's
    # standard: the training images' own statistics, not ImageNet's
    assert data.preparation["mean"] != [0.485, 0.456, 0.406]


def test_weights_whose_classes_are_not_the_datasets_are_refused_in_one_line(torch_home, tmp_path):
    write_torchvision_weights("resnet18", "IMAGENET1K_V1")
    root = image_folder(tmp_path / "images", wnids=("cats", "dogs"))
    settings = run_settings(
        tmp_path, "model=torchvision", "model.arch=resnet18", "model.weights=IMAGENET1K_V1",
        "dataset=imagefolder", f"dataset.root={root}",
    )  # fmt: skip
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    with pytest.raises(XaibenchError, match="predicts 1000 classes but dataset imagefolder has 2"):
        get_model(settings.model, data, spec, settings.cache, torch.device("cpu"), False)


def test_imagenet_class_folders_keep_their_imagenet_index_in_any_subset(tmp_path):
    root = image_folder(tmp_path / "val", layout="flat")
    data, _, _ = load_dataset("imagenet", {"root": str(root), "size": 16, "resize": 20},
                              Cache(tmp_path / "cache"))  # fmt: skip
    # ImageFolder alone would label the two folders 0 and 1
    assert sorted(data.y_train.tolist()) == sorted(data.y_test.tolist()) == [1, 999]
    assert data.num_classes == 1000
    (root / "my_cats").mkdir()
    write_image(root / "my_cats" / "0.png", 5)
    with pytest.raises(XaibenchError, match="class folder 'my_cats' is not an ImageNet-1k wnid"):
        load_dataset("imagenet", {"root": str(root), "size": 16}, Cache(tmp_path / "cache"))
    with pytest.raises(XaibenchError, match=f"no ImageNet folder at {tmp_path / 'none'}: set"):
        load_dataset("imagenet", {"root": str(tmp_path / "none")}, Cache(tmp_path / "cache"))


def test_imagenet_wnids_are_in_torchvisions_class_order():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from xaibench.data.vision import imagenet_wnids

    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == len(_IMAGENET_CATEGORIES) == 1000
    assert wnids == sorted(wnids)  # torchvision's and timm's indices are the sorted wnids
    # spot checks against the ImageNet devkit: tench, goldfish, ..., toilet tissue
    assert (wnids[0], wnids[1], wnids[999]) == ("n01440764", "n01443537", "n15075141")
    assert (_IMAGENET_CATEGORIES[0], _IMAGENET_CATEGORIES[999]) == ("tench", "toilet tissue")


def test_per_class_reads_the_first_images_of_each_folder(tmp_path):
    root = tmp_path / "val"
    for k, wnid in enumerate(WNIDS):
        for i in range(4):
            write_image(root / wnid / f"{i}.png", 10 * k + i)
    data, _, _ = load_dataset("imagenet", {"root": str(root), "size": 8, "per_class": 2},
                              Cache(tmp_path / "cache"))  # fmt: skip
    assert len(data.x_train) + len(data.x_test) == 4


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_separate_relus_compute_the_same_network_with_one_relu_per_use(arch):
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, num_classes=10).eval()
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(inputs)
        after = separate_relus(model)(inputs)
    assert torch.equal(before, after)
    calls: dict[nn.Module, int] = {}
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    for relu in relus:
        relu.register_forward_hook(lambda m, i, o: calls.__setitem__(m, calls.get(m, 0) + 1))
    with torch.no_grad():
        model(inputs)
    assert not any(relu.inplace for relu in relus)
    assert set(calls.values()) == {1}  # every ReLU module is one nonlinearity


def test_torchvision_without_weights_is_an_architecture_xaibench_trains():
    assert model_weights(ModelSpec("torchvision", {"arch": "resnet18", "weights": None})) is None
    assert model_weights(ModelSpec("torchvision", {"arch": "resnet18", "weights": "none"})) is None


# --- timm (optional) -----------------------------------------------------------------------------

TIMM_ARCH = "test_resnet.r160_in1k"  # timm's tiny test network, 160 px, mean and std 0.5


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face hub cache in tmp_path."""
    pytest.importorskip("timm")
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def write_timm_weights(cache: Path, arch: str) -> tuple[Path, dict]:
    """Random weights of `arch` where the Hugging Face cache keeps timm's model.safetensors:
    models--timm--<arch>/snapshots/<revision>/, with refs/main naming the revision."""
    import timm
    from safetensors.torch import save_file

    repo = cache / f"models--timm--{arch}"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    file = repo / "snapshots" / revision / "model.safetensors"
    file.parent.mkdir(parents=True)
    torch.manual_seed(0)
    state = timm.create_model(arch, pretrained=False).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(file))
    return file, state


def test_timm_weights_load_exactly_from_the_hugging_face_cache(hf_cache):
    file, state = write_timm_weights(hf_cache, TIMM_ARCH)
    weights = model_weights(ModelSpec("timm", {"arch": TIMM_ARCH}))
    assert weights is not None
    assert (weights.file, weights.num_classes) == (file, 1000)
    loaded = weights.load().state_dict()
    assert all(torch.equal(loaded[key], state[key]) for key in state)


def test_timm_weights_load_from_a_given_checkpoint_file(hf_cache, tmp_path):
    import timm

    torch.manual_seed(1)
    state = timm.create_model(TIMM_ARCH, pretrained=False).state_dict()
    torch.save(state, tmp_path / "mine.pth")
    spec = ModelSpec("timm", {"arch": TIMM_ARCH}, checkpoint=str(tmp_path / "mine.pth"))
    weights = model_weights(spec)
    assert weights is not None
    loaded = weights.load().state_dict()
    assert all(torch.equal(loaded[key], state[key]) for key in state)


def test_timm_preprocessing_equals_timms_eval_transform(hf_cache, tmp_path):
    from timm.data import create_transform, resolve_data_config

    write_timm_weights(hf_cache, TIMM_ARCH)
    root = image_folder(tmp_path / "images")
    settings = run_settings(
        tmp_path, "model=timm", f"model.arch={TIMM_ARCH}", "dataset=imagefolder",
        f"dataset.root={root}", "dataset.classes=imagenet",
    )  # fmt: skip
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    import timm

    model = timm.create_model(TIMM_ARCH, pretrained=False)
    transform = create_transform(**resolve_data_config(model=model))
    for k, wnid in enumerate(WNIDS):
        image = Image.open(root / "test" / wnid / "1.png").convert("RGB")
        assert torch.equal(data.x_test[k], transform(image))
    assert (spec["size"], spec["mean"]) == (160, [0.5, 0.5, 0.5])


def test_missing_timm_weights_are_one_line_naming_the_cache_and_the_fetch_command(hf_cache):
    weights = model_weights(ModelSpec("timm", {"arch": TIMM_ARCH}))
    assert weights is not None
    with pytest.raises(XaibenchError) as excinfo:
        weights.load()
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(hf_cache / f"models--timm--{TIMM_ARCH}") in message
    assert f"timm.create_model('{TIMM_ARCH}', pretrained=True)" in message


def test_default_weights_are_the_enums_default_under_its_own_name(torch_home):
    weights = model_weights(ModelSpec("torchvision", {"arch": "resnet50", "weights": "DEFAULT"}))
    assert weights is not None
    assert weights.name == "torchvision resnet50 IMAGENET1K_V2"
    assert weights.file == torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert (weights.preprocessing["resize"], weights.preprocessing["size"]) == (232, 224)
