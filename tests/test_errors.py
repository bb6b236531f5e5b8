"""Clear one-line errors for mistakes that only show once a model is in hand."""

from __future__ import annotations

import pytest
import torch

import xaibench


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_a_cam_method_on_a_model_without_convolutions_says_why(linear_model):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.explain(linear_model, torch.ones(2, 1, 6), 0, "gradcam")
    message = _one_line(excinfo)
    assert "convolution" in message and "layer=" in message


def test_a_layer_path_that_does_not_exist_lists_the_valid_ones(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.explain(cnn1d, signals, 0, "gradcam", layer="features.9")
    message = _one_line(excinfo)
    assert "'features.9' does not exist" in message and "valid layers: 0, 1, 2" in message


def test_inputs_that_are_not_signals_or_images_are_refused(cnn1d):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.explain(cnn1d, torch.ones(2, 16), 0, "saliency")
    assert "(N, C, L)" in _one_line(excinfo) and "(2, 16)" in _one_line(excinfo)


@pytest.mark.parametrize(
    ("call", "old", "new"),
    [
        (lambda m, x: xaibench.explain(m, x, 0, "smoothgrad", samples=4), "samples",
         "noisy_copies"),
        (lambda m, x: xaibench.explain(m, x, 0, "vargrad", samples=4), "samples", "noisy_copies"),
        (lambda m, x: xaibench.explain(m, x, 0, "expected_gradients", samples=4), "samples",
         "draws"),
        (lambda m, x: xaibench.evaluate(m, x, 0, x, "monotonicity", samples=4), "samples",
         "draws"),
        (lambda m, x: xaibench.evaluate(m, x, 0, x, "infidelity", samples=4), "samples",
         "perturbations"),
        (lambda m, x: xaibench.evaluate(m, x, 0, x, "max_sensitivity", samples=4,
                                        method="saliency"), "samples", "perturbations"),
    ],
)  # fmt: skip
def test_a_renamed_setting_names_its_new_name(call, old, new, cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        call(cnn1d, signals)
    assert f"parameter {old!r} is now called {new!r}" in _one_line(excinfo)


def test_the_old_spelling_of_a_dataset_setting_names_the_new_one():
    from xaibench.data import check_dataset_params

    with pytest.raises(xaibench.XaibenchError) as excinfo:
        check_dataset_params("mnist1d", {"normalize": "none"})
    assert "'normalize' is now called 'normalise'" in _one_line(excinfo)


def test_a_metric_returning_curves_without_their_x_is_named(monkeypatch, cnn1d, signals):
    from xaibench.metrics import METRICS, MetricResult, register_metric

    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))

    @register_metric("curve_without_x", category="faithfulness", higher_is_better=True)
    def curve_without_x(attributions):
        """A metric that forgets curve_x."""
        return MetricResult(attributions.flatten(1).sum(1), curves=attributions.flatten(1))

    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "curve_without_x")
    assert "metric 'curve_without_x' returned curve_x shaped NoneType" in _one_line(excinfo)
