"""Ground truth reaches methods and metrics through the run context, and runs record what data
they used; shapes with cnn2d runs end to end."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compose_config
from xaibench.cache import Cache
from xaibench.data import Dataset, load_dataset
from xaibench.metrics import METRICS, MetricResult
from xaibench.metrics.registry import register_metric
from xaibench.report.run_summary import summary_text
from xaibench.run import run
from xaibench.runfolder import write_plots
from xaibench.samples import Samples, run_context


def test_the_context_holds_the_masks_of_the_explained_samples_in_their_order():
    masks = torch.rand(5, 7, generator=torch.Generator().manual_seed(0)) > 0.5
    data = Dataset("toy", torch.zeros(3, 1, 7), torch.zeros(3).long(), torch.zeros(5, 1, 7),
                   torch.zeros(5).long(), 1, masks_test=masks)  # fmt: skip
    index = torch.tensor([3, 0, 4])
    samples = Samples(index, torch.zeros(3, 1, 7), *[torch.zeros(3).long()] * 3)
    context = run_context(data, samples)
    assert torch.equal(context["masks"], masks[index])
    assert context["background"] is data.x_train
    without = Dataset("toy", *[getattr(data, f) for f in ("x_train", "y_train", "x_test",
                      "y_test", "num_classes")])  # fmt: skip
    assert "masks" not in run_context(without, samples)


@pytest.fixture
def mask_metric(monkeypatch):
    """A localisation-style metric registered for one test: each sample's mask size."""
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))

    @register_metric("mask_size", category="localisation", higher_is_better=True)
    def mask_size(model, inputs, target, attributions, masks=None):
        assert masks.shape == (len(inputs), *inputs.shape[2:])
        assert masks.dtype == torch.bool and masks.device == inputs.device
        return MetricResult(masks.flatten(1).sum(1).float())


def test_a_run_hands_each_sample_its_own_mask_and_reports_a_weak_model(mask_metric, tmp_path):
    overrides = ["debug=fast", f"cache_dir={tmp_path}", "method=[saliency]", "metric=[deletion]",
                 "+metric.mask_size={}", "min_accuracy=1.0", "samples=12"]  # fmt: skip
    result = run(compose_config(*overrides))
    assert result.meta["errors"] == []
    data, _, _ = load_dataset(
        "mnist1d", {"normalise": "none", "train_limit": 800, "test_limit": 200}, Cache(tmp_path)
    )
    scores = result.scores[result.scores["metric"] == "mask_size"]
    expected = data.masks_test[scores["sample"].tolist()].sum(1)
    assert scores["value"].tolist() == expected.float().tolist()
    # The masks follow the explained subset (stratified by default, not the first 12).
    index = result.meta["explained"]["indices"]
    assert len(index) == 12 and index != list(range(12))
    assert torch.equal(result.masks, data.masks_test[index])
    # The run records what it ran on: split sizes, preparation and the explained subset.
    meta = result.meta
    assert meta["dataset"]["train_size"] == 800 and meta["dataset"]["test_size"] == 200
    assert meta["dataset"]["preparation"]["normalise"] == "none"
    assert meta["dataset"]["masks"] is True
    assert meta["explained"]["count"] == 12
    assert meta["explained"]["per_class"] == data.y_test[index].bincount(minlength=10).tolist()
    # A model below min_accuracy is flagged first thing in the summary.
    assert meta["model"]["too_weak"] is True
    assert (
        summary_text(result.meta, result.summary)
        .splitlines()[2]
        .startswith("**WARNING: MODEL TOO WEAK TO EXPLAIN")
    )


def test_shapes_with_cnn2d_runs_every_method_and_metric(tmp_path):
    overrides = [
        "dataset=shapes", "model=cnn2d", "debug=fast", f"cache_dir={tmp_path}", "samples=8",
        "dataset.num_train=300", "dataset.num_test=60", "dataset.size=32",
        "metric.sensitivity_n.subsets=10",  # its default makes 700 forwards per sample
    ]  # fmt: skip
    cfg = compose_config(*overrides)
    result = run(cfg)
    assert result.meta["errors"] == []
    assert len(result.scores) == 8 * len(cfg.method) * len(cfg.metric)
    assert result.inputs.shape == (8, 3, 32, 32)
    assert result.masks.shape == (8, 32, 32)
    assert result.meta["dataset"]["preparation"]["normalise"] == "standard"
    write_plots(tmp_path / "plots", result)
    assert (tmp_path / "plots" / "gallery.png").stat().st_size > 10_000
