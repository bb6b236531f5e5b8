"""Networks trained elsewhere: torchvision's and timm's pretrained weights, read from local files
only (nothing is downloaded at run time), with the preprocessing they were trained with.

`model=torchvision model.arch=resnet50 model.weights=IMAGENET1K_V2` reads the file that
torchvision itself would download into its hub cache (`torch.hub.get_dir()/checkpoints`, under
`$TORCH_HOME`); `model=timm model.arch=resnet50.a1_in1k` reads timm's file from the local
Hugging Face cache (or the torch hub cache for weights timm fetches by URL). `model.checkpoint`
names a file to read instead, with the same architecture and preprocessing. Without weights
(`weights: null`, `pretrained: false`) the architecture is trained by xaibench like its own.

The weights' preprocessing (resize, centre crop, interpolation, mean and std) becomes the
dataset settings the config leaves unset (data/preparation.py `with_model_preprocessing`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import torch
from torch import nn

from xaibench.checks import one_line
from xaibench.models.registry import register_model
from xaibench.registry import XaibenchError

# "none" as well as null: `model.weights=none` on the command line is the string "none".
NO_WEIGHTS = (None, "none", "None", "null")


@dataclass(frozen=True)
class Weights:
    """Pretrained weights a config asks for: `load()` reads `file` (and nothing else) into the
    network; `preprocessing` holds the dataset settings of the inputs they were trained on."""

    name: str  # e.g. "torchvision resnet50 IMAGENET1K_V2"
    file: Path
    fetch: str  # the command that fetches `file` where there is network ("" for a checkpoint)
    num_classes: int
    preprocessing: dict  # resize, size, interpolation, normalise ("given"), mean, std
    read: Callable[[Path], nn.Module]  # the network with the weights of a file

    def check_file(self) -> None:
        """One line when `file` is absent, naming it and how to fetch it."""
        if self.file.is_file():
            return
        if not self.fetch:
            raise XaibenchError(
                f"checkpoint {self.file} does not exist; set model.checkpoint=<file>"
            )
        raise XaibenchError(
            f"no weights for {self.name}: {self.file} does not exist, and xaibench never "
            f"downloads; fetch them once where there is network with {self.fetch}, or set "
            "model.checkpoint=<file>"
        )

    def load(self) -> nn.Module:
        """The network with the weights of `file`, its ReLUs made hook-friendly."""
        from xaibench.models.resnet import separate_relus

        self.check_file()
        return separate_relus(self.read(self.file))


def read_checkpoint(file: Path) -> dict:
    """A state dict read with weights_only=True, so the file cannot run code."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise XaibenchError(
            f"weights file {file} cannot be read with weights_only=True ({one_line(error)})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return state


# torchvision


def torchvision_architectures() -> list[str]:
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def check_torchvision_arch(arch: str) -> None:
    names = torchvision_architectures()
    if arch not in names:  # 80 names: the closest ones, and how to list them all
        close = difflib.get_close_matches(arch, names, n=5, cutoff=0.5)
        raise XaibenchError(
            f"model.arch={arch!r} is not a torchvision classification model; close: "
            f'{", ".join(close) or "none"}; all: `python -c "import torchvision; print('
            'torchvision.models.list_models(module=torchvision.models))"`'
        )


def torchvision_weights(
    checkpoint: str | None, arch: str = "resnet50", weights: str | None = None
) -> Weights | None:
    """The weights `weights` (a name of torchvision's weights enum of `arch`, or DEFAULT) from
    the local torch hub cache or `checkpoint`; None when `weights` is null or none."""
    if weights in NO_WEIGHTS:
        return None
    import torchvision.models
    from torchvision.transforms._presets import ImageClassification

    check_torchvision_arch(arch)
    enum = torchvision.models.get_model_weights(arch)
    names = [member.name for member in enum]
    if weights not in [*names, "DEFAULT"]:
        raise XaibenchError(
            f"model.weights={weights!r} is not a weight of torchvision's {arch}; valid: "
            f"{', '.join([*names, 'DEFAULT'])}, or null (trained by xaibench)"
        )
    member = enum[weights]
    name = f"torchvision {arch} {member.name}"
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(member.url).path).name
    file = Path(checkpoint).expanduser().resolve() if checkpoint else cached
    transform = member.transforms()
    if not isinstance(transform, ImageClassification):
        raise XaibenchError(f"{name}: its preprocessing is not an image classification's")

    fetch = (
        f'`python -c "import torchvision; torchvision.models.get_weight('
        f"'{type(member).__name__}.{member.name}').get_state_dict()\"` (or `curl -L "
        f"--create-dirs -o {cached} {member.url}`)"
    )

    def read(file: Path) -> nn.Module:
        state = read_checkpoint(file)
        # torchvision's own builder, so that settings it changes for pretrained weights
        # (inception_v3's transform_input, aux_logits) are as torchvision makes them; the
        # state dict is the local file's (torchvision would check a download's hash, and
        # download when its cache lacks the file).
        with mock.patch.object(type(member), "get_state_dict", return_value=state):
            try:
                model = torchvision.models.get_model(arch, weights=member)
            except RuntimeError as error:  # load_state_dict: missing or unexpected keys
                raise XaibenchError(
                    f"weights file {file} does not match {name}: {one_line(error)}"
                ) from None
        return model

    preprocessing = {
        "resize": transform.resize_size[0],
        "size": transform.crop_size[0],
        "interpolation": transform.interpolation.value,
        "normalise": "given",
        "mean": list(transform.mean),
        "std": list(transform.std),
    }
    num_classes = len(member.meta["categories"])
    return Weights(name, file, "" if checkpoint else fetch, num_classes, preprocessing, read)


@register_model(
    "torchvision",
    description="A torchvision classifier by name (model.arch), with its pretrained weights "
    "(model.weights, read from the local torch hub cache) and their preprocessing; without "
    "weights, trained by xaibench.",
    weights=torchvision_weights,
)
def torchvision_model(
    input_shape: tuple[int, ...],
    num_classes: int,
    arch: str = "resnet50",
    weights: str | None = None,
) -> nn.Module:
    """The architecture with random weights and the dataset's classes, for xaibench to train
    (pretrained weights are loaded by `torchvision_weights`)."""
    import torchvision.models

    from xaibench.models.resnet import separate_relus

    check_torchvision_arch(arch)
    return separate_relus(torchvision.models.get_model(arch, weights=None, num_classes=num_classes))


# timm (optional: pip install "xaibench[timm]")


def import_timm():
    """timm, with the Hugging Face hub offline (set before huggingface_hub is imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import timm
    except ImportError:
        raise XaibenchError(
            'model=timm needs timm: pip install "xaibench[timm]" (or pip install timm)'
        ) from None
    return timm


def timm_file(arch: str, cfg) -> tuple[Path, str]:
    """(the local file timm's weights of `arch` are read from, the command that fetches it):
    the Hugging Face cache for weights on the hub, else the torch hub cache for a URL."""
    from huggingface_hub import constants, try_to_load_from_cache

    fetch = (
        f"`HF_HUB_OFFLINE=0 python -c \"import timm; timm.create_model('{arch}', "
        'pretrained=True)"`'
    )
    if cfg.hf_hub_id:
        repo = cfg.hf_hub_id.split("@")[0]
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        for filename in [*names, "model.safetensors", "pytorch_model.bin"]:
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found), fetch
        folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
        return folder / "snapshots" / "<revision>" / "model.safetensors", fetch
    if cfg.url:
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name, fetch
    raise XaibenchError(
        f"timm names no file for the weights of {arch}; set model.checkpoint=<file>"
    )


def timm_preprocessing(arch: str, cfg) -> dict:
    """The dataset settings of timm's evaluation transform for `cfg` (resolve_data_config and
    create_transform: the shorter side resized to floor(size / crop_pct), the centre cropped)."""
    from timm.data import resolve_data_config

    config = resolve_data_config(pretrained_cfg=cfg.to_dict())
    height, width = config["input_size"][1:]
    if height != width or config.get("crop_mode", "center") != "center":
        raise XaibenchError(
            f"timm {arch}'s preprocessing (input {height}x{width}, crop_mode "
            f"{config.get('crop_mode')}) is not a square centre crop, which is what xaibench "
            "reads; set dataset.size, dataset.resize, dataset.normalise yourself"
        )
    return {
        "resize": int(height / config["crop_pct"]),  # timm: math.floor(img_size / crop_pct)
        "size": height,
        "interpolation": config["interpolation"],
        "normalise": "given",
        "mean": list(config["mean"]),
        "std": list(config["std"]),
    }


def timm_weights(
    checkpoint: str | None, arch: str = "resnet18", pretrained: bool = True
) -> Weights | None:
    """timm's pretrained weights of `arch` (a model name, optionally with its tag, e.g.
    resnet50.a1_in1k) from the local cache or `checkpoint`; None with pretrained=false and no
    checkpoint."""
    if not pretrained and not checkpoint:
        return None
    timm = import_timm()
    from timm.models import get_pretrained_cfg

    check_timm_arch(timm, arch)
    cfg = get_pretrained_cfg(arch)
    if cfg is None:
        raise XaibenchError(
            f"timm has no pretrained weights for {arch!r}; set model.pretrained=false"
        )
    name = f"timm {arch}"
    if checkpoint:
        file, fetch = Path(checkpoint).expanduser().resolve(), ""
    else:
        file, fetch = timm_file(arch, cfg)
    preprocessing = timm_preprocessing(arch, cfg)

    def read(file: Path) -> nn.Module:
        try:  # timm's loader (its key remapping), reading the given file only
            return timm.create_model(
                arch, pretrained=True, pretrained_cfg_overlay={"file": str(file)}
            )
        except (RuntimeError, ValueError, OSError) as error:
            raise XaibenchError(
                f"weights file {file} does not match {name}: {one_line(error)}"
            ) from None

    return Weights(name, file, fetch, cfg.num_classes, preprocessing, read)


def check_timm_arch(timm, arch: str) -> None:
    if not timm.is_model(arch.split(".")[0]):
        raise XaibenchError(
            f"model.arch={arch!r} is not a timm model; list them with "
            f"`python -c \"import timm; print(timm.list_models('*{arch.split('.')[0][:6]}*'))\"`"
        )


@register_model(
    "timm",
    description="A timm classifier by name (model.arch, e.g. resnet50.a1_in1k), with its "
    "pretrained weights from the local Hugging Face cache or model.checkpoint and their "
    "preprocessing; pretrained: false trains it here. Needs xaibench[timm].",
    weights=timm_weights,
)
def timm_model(
    input_shape: tuple[int, ...], num_classes: int, arch: str = "resnet18", pretrained: bool = True
) -> nn.Module:
    """The architecture with random weights, the dataset's classes and channels, for xaibench
    to train (pretrained weights are loaded by `timm_weights`)."""
    from xaibench.models.resnet import separate_relus

    timm = import_timm()
    check_timm_arch(timm, arch)
    model = timm.create_model(
        arch, pretrained=False, num_classes=num_classes, in_chans=input_shape[0]
    )
    return separate_relus(model)
