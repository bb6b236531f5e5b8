"""setup=hmt: the seed study's second dataset (HMT tissue tiles, read from the user's folder) with
its VGG-7, and `experiment=ig_vs_gradcam setup=hmt`, on a fixture folder of random tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.helpers import compose_config
from xaibench.models import MODELS
from xaibench.registry import XaibenchError
from xaibench.run import run
from xaibench.settings import read_settings

# The class folders of Kather_texture_2016_image_tiles_5000.
CLASSES = ["01_TUMOR", "02_STROMA", "03_COMPLEX", "04_LYMPHO", "05_DEBRIS", "06_MUCOSA",
           "07_ADIPOSE", "08_EMPTY"]  # fmt: skip
TILES = 20  # per class: the 10% test split then holds 2 of each, 16 in all (debug=fast's samples)
FAITHFULNESS = ["deletion", "insertion", "aopc_morf", "aopc_lerf", "sensitivity_n",
                "faithfulness_correlation", "infidelity", "monotonicity", "road_morf",
                "road_lerf"]  # fmt: skip
METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "gradcam", "random"]


@pytest.fixture
def hmt_data(tmp_path, monkeypatch) -> Path:
    """$XAIBENCH_DATA/hmt/<class>/<tile>.tif: 150x150 RGB tiles of random colour per class."""
    generator = np.random.default_rng(0)
    for number, name in enumerate(CLASSES):
        folder = tmp_path / "data" / "hmt" / name
        folder.mkdir(parents=True)
        for tile in range(TILES):
            pixels = generator.integers(0, 256, (150, 150, 3)) // 2 + 16 * number
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"tile_{tile}.tif")
    monkeypatch.setenv("XAIBENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "data" / "hmt"


def test_setup_hmt_reads_the_tiles_under_xaibench_data_with_the_seeds_vgg7(hmt_data, tmp_path):
    settings = read_settings(compose_config("setup=hmt", f"cache_dir={tmp_path}"))
    assert settings.dataset == "imagefolder"
    assert settings.dataset_params["root"] == str(hmt_data)
    assert settings.dataset_params["size"] == 64
    assert settings.model.name == "cnn2d" and settings.model.params == {"width": 32, "blocks": 2}
    # VGG-7: 4 convolutions (32, 32, 64, 64 channels), 2 max-pools, 1 linear layer.
    model = MODELS["cnn2d"].build((3, 64, 64), 8, **settings.model.params)
    convolutions = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions == [32, 32, 64, 64]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1


def test_ig_vs_gradcam_runs_on_hmt_with_the_faithfulness_metrics(hmt_data, tmp_path):
    study = ["experiment=ig_vs_gradcam", "setup=hmt", "debug=fast", f"cache_dir={tmp_path}"]
    # The setup's study settings: no localisation metrics (the tiles have no masks), costs
    # sized for 64x64 tiles, every class in proportion.
    cfg = compose_config(*study)
    assert list(cfg.metric) == FAITHFULNESS
    assert cfg.metric.deletion.steps == 64 and cfg.metric.aopc_morf.patch == 8
    assert cfg.metric.monotonicity.patch == 8 and cfg.metric.road_morf.removed == [0.5]
    assert cfg.subset == "stratified"
    # These check that the study runs, not its numbers: 32x32 tiles, fewer steps and draws.
    cfg = compose_config(
        *study, "dataset.size=32", "samples=8", "metric.sensitivity_n.subsets=4",
        "metric.faithfulness_correlation.subsets=4", "metric.infidelity.perturbations=4",
        "metric.monotonicity.draws=1", "method.integrated_gradients.steps=8",
        "metric.deletion.steps=8", "metric.insertion.steps=8", "metric.aopc_morf.steps=4",
        "metric.aopc_lerf.steps=4",
    )  # fmt: skip
    result = run(cfg)
    assert result.meta["errors"] == []
    # The classes are the eight folders; the 8 explained tiles are one of each.
    explained = result.meta["explained"]
    assert explained["test_per_class"] == [2] * 8
    assert explained["per_class"] == [1] * 8
    assert result.inputs.shape == (8, 3, 32, 32)
    assert set(result.scores["method"]) == set(METHODS)
    assert set(result.scores["metric"]) == set(FAITHFULNESS)
    assert len(result.scores) == 8 * len(METHODS) * len(FAITHFULNESS)
    assert len(result.summary) == len(METHODS) * len(FAITHFULNESS)
    # Grad-CAM's maps are the upsampled last-convolution map: the same for every channel.
    maps = result.attributions["gradcam"]
    assert torch.equal(maps[:, 0], maps[:, 2])


@pytest.mark.parametrize("data_dir", ["unset", "empty"])
def test_missing_hmt_tiles_are_named_in_one_line(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if data_dir == "unset":
        monkeypatch.delenv("XAIBENCH_DATA", raising=False)
        folder = tmp_path / "home" / "data" / "hmt"
    else:
        monkeypatch.setenv("XAIBENCH_DATA", str(tmp_path / "empty"))
        folder = tmp_path / "empty" / "hmt"
    cfg = compose_config("experiment=ig_vs_gradcam", "setup=hmt", f"cache_dir={tmp_path}")
    with pytest.raises(XaibenchError) as excinfo:
        run(cfg)
    assert str(excinfo.value) == (
        f"imagefolder root {folder} is not a folder; set dataset.root=<folder with one "
        "subfolder of images per class> (setups such as setup=hmt look under $XAIBENCH_DATA, "
        "by default ~/data)"
    )
