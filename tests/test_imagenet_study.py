"""The ImageNet study config (experiment=imagenet_resnet50 setup=imagenet) runs end to end in
debug mode on a fixture ImageNet folder (random images in a few wnid folders) with random
weights written into a temporary torch hub cache under the name torchvision gives them:
ResNet-50 as configured (slow: a minute with one thread), and ResNet-18 in the default run (the
same config with model.arch and model.weights overridden)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from tests.helpers import compose_config
from xaibench.run import run
from xaibench.runfolder import write_run

WNIDS = ("n01440764", "n02123045", "n15075141")  # ImageNet classes 0, 281 and 999


# (architecture, weights, the weights' resize)
NETWORKS = [
    pytest.param("resnet50", "IMAGENET1K_V2", 232, marks=pytest.mark.slow, id="resnet50"),
    pytest.param("resnet18", "IMAGENET1K_V1", 256, id="resnet18"),
]


@pytest.fixture
def imagenet_fixture(tmp_path, monkeypatch) -> Path:
    """<tmp>/val/<wnid>/<i>.png, 2 images per class, and $TORCH_HOME in tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    rng = np.random.default_rng(0)
    for wnid in WNIDS:
        (tmp_path / "val" / wnid).mkdir(parents=True)
        for i in range(2):
            pixels = rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "val" / wnid / f"{i}.png")
    return tmp_path


def write_random_weights(arch: str, weights: str) -> None:
    member = torchvision.models.get_model_weights(arch)[weights]
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(member.url).name
    file.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.get_model(arch, num_classes=1000).state_dict(), file)


@pytest.mark.parametrize(("arch", "weights", "resize"), NETWORKS)
def test_the_imagenet_study_runs_every_method_and_metric_on_a_pretrained_resnet(
    imagenet_fixture, arch, weights, resize
):
    write_random_weights(arch, weights)
    cfg = compose_config(
        "experiment=imagenet_resnet50", "setup=imagenet", "debug=fast", "samples=2", "threads=1",
        f"model.arch={arch}", f"model.weights={weights}",
        f"dataset.root={imagenet_fixture / 'val'}", f"cache_dir={imagenet_fixture / 'cache'}",
    )  # fmt: skip
    result = run(cfg)
    assert result.meta["errors"] == []
    methods, metrics = set(cfg.method), set(cfg.metric)
    assert {"saliency", "integrated_gradients", "gradcam", "rise", "occlusion"} <= methods
    assert metrics == {"deletion", "insertion"}
    assert len(result.scores) == 2 * len(methods) * len(metrics)
    assert result.scores["value"].notna().all()
    assert set(zip(result.summary["method"], result.summary["metric"], strict=True)) == {
        (method, metric) for method in methods for metric in metrics
    }
    # 224 px inputs labelled with their ImageNet indices, prepared as the weights were trained
    assert result.inputs.shape[1:] == (3, 224, 224)
    assert set(result.labels.tolist()) <= {0, 281, 999}
    write_run(imagenet_fixture / "run", result)
    meta = json.loads((imagenet_fixture / "run" / "meta.json").read_text())
    imagenet = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    expected = {"resize": resize, "size": 224, "interpolation": "bilinear", "normalise": "given",
                **imagenet}  # fmt: skip
    assert meta["model"]["preprocessing"] == expected
    assert meta["model"]["weights"] == f"torchvision {arch} {weights}"
    assert {key: meta["dataset"]["spec"][key] for key in expected} == expected
    assert {key: meta["dataset"]["preparation"][key] for key in imagenet} == imagenet
