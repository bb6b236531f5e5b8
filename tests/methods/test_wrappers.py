"""The wrappers: `smooth` (any method over noisy copies) and `postprocess` (per-sample
transforms and normalisation), alone, nested, and as labelled variants in a run config."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

import xaibench
from xaibench.methods.smoothgrad import noise_patterns
from xaibench.registry import UnknownNameError, XaibenchError
from xaibench.run import run
from xaibench.settings import CONF_DIR, read_settings

TARGET = torch.tensor([0, 1, 2, 0, 1, 2])


def test_smooth_without_noise_is_the_method_itself(cnn1d, signals):
    smoothed = xaibench.explain(
        cnn1d, signals, TARGET, "smooth", method="gradcam", params={"layer": "3"}, noise=0.0,
        noisy_copies=3,
    )  # fmt: skip
    plain = xaibench.explain(cnn1d, signals, TARGET, "gradcam", layer="3")
    torch.testing.assert_close(smoothed, plain, rtol=1e-5, atol=1e-7)


def test_smoothed_gradcam_is_the_mean_gradcam_of_the_noisy_copies(cnn2d, images):
    target = torch.tensor([0, 1, 2, 1])
    samples, noise, seed = 5, 0.1, 9
    patterns = noise_patterns(images, samples, seed)
    expected = torch.zeros_like(images)
    for i in range(len(images)):
        sigma = noise * (images[i].max() - images[i].min())
        for k in range(samples):
            noisy = (images[i] + sigma * patterns[k])[None]
            expected[i] += xaibench.explain(cnn2d, noisy, target[i : i + 1], "gradcam")[0]
    expected /= samples
    attr = xaibench.explain(cnn2d, images, target, "smooth", method="gradcam", noisy_copies=samples,
                            noise=noise, seed=seed, batch_size=6)  # fmt: skip
    torch.testing.assert_close(attr, expected, rtol=1e-4, atol=1e-7)


def test_smooth_hands_the_background_on_to_the_method_it_wraps(cnn1d, signals):
    background = torch.randn(20, 2, 16, generator=torch.Generator().manual_seed(0))
    settings = {"draws": 8, "seed": 2}
    smoothed = xaibench.explain(
        cnn1d, signals, TARGET, "smooth", method="expected_gradients", params=settings,
        noise=0.0, noisy_copies=2, background=background,
    )  # fmt: skip
    plain = xaibench.explain(
        cnn1d, signals, TARGET, "expected_gradients", **settings, background=background
    )
    torch.testing.assert_close(smoothed, plain, rtol=1e-5, atol=1e-7)


def test_smooth_names_a_wrong_method_or_setting(cnn1d, signals):
    with pytest.raises(UnknownNameError, match="unknown method 'gradcm'"):
        xaibench.explain(cnn1d, signals, 0, "smooth", method="gradcm")
    with pytest.raises(XaibenchError, match="unknown parameter 'layr' for method 'gradcam'"):
        xaibench.explain(cnn1d, signals, 0, "smooth", method="gradcam", params={"layr": "3"})
    with pytest.raises(XaibenchError, match="statistic='median' must be one of mean, mean_sq"):
        xaibench.explain(cnn1d, signals, 0, "smooth", statistic="median")


# --- postprocess ------------------------------------------------------------------------------


def test_postprocess_transforms_and_normalises_each_sample_by_hand(linear_model):
    """On a linear model gradient x input is x * w, so every output can be written down."""
    x = torch.tensor([[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], [[2.0, 0.0, 0.0, 0.0, 0.0, 0.0]]])
    w = linear_model.linear.weight[0]  # [1, -2, 3, 0.5, 4, -1]

    def post(**settings):
        return xaibench.explain(linear_model, x, 0, "postprocess", method="input_x_gradient",
                                **settings)[:, 0]  # fmt: skip

    torch.testing.assert_close(post(transform="none", normalise="none"), x[:, 0] * w)
    torch.testing.assert_close(post(transform="abs", normalise="none"), (x[:, 0] * w).abs())
    positive = post(transform="positive", normalise="none")
    torch.testing.assert_close(positive[0], torch.tensor([1.0, 0.0, 3.0, 0.5, 4.0, 0.0]))
    negative = post(transform="negative", normalise="none")
    torch.testing.assert_close(negative[0], torch.tensor([0.0, 2.0, 0.0, 0.0, 0.0, 1.0]))
    # Each sample on its own: sample 0 by its max |a| = 4, sample 1 by its own 2.
    by_max = post(transform="none", normalise="max")
    torch.testing.assert_close(by_max[0], w / 4)
    torch.testing.assert_close(by_max[1], torch.tensor([1.0, 0, 0, 0, 0, 0]))
    by_sum = post(transform="none", normalise="sum")
    torch.testing.assert_close(by_sum[0], w / 11.5)
    minmax = post(transform="none", normalise="minmax")
    torch.testing.assert_close(minmax[0], (w + 2) / 6)


def test_postprocess_never_looks_at_the_other_samples(cnn1d, signals):
    """Multiplying one sample by 1000 changes no other sample's normalised map."""
    scaled = signals.clone()
    scaled[0] *= 1000
    for normalise in ["max", "sum", "minmax"]:
        before = xaibench.explain(cnn1d, signals, TARGET, "postprocess", normalise=normalise)
        after = xaibench.explain(cnn1d, scaled, TARGET, "postprocess", normalise=normalise)
        torch.testing.assert_close(before[1:], after[1:])


def test_postprocess_leaves_an_all_zero_map_at_zero(linear_model):
    x = torch.zeros(2, 1, 6)
    for normalise in ["max", "sum", "minmax"]:
        attr = xaibench.explain(linear_model, x, 0, "postprocess", method="input_x_gradient",
                                normalise=normalise)  # fmt: skip
        assert torch.equal(attr, torch.zeros_like(x))


def test_wrappers_nest(cnn1d, signals):
    smooth = {"method": "gradcam", "params": {"layer": "3"}, "noisy_copies": 4, "seed": 1}
    nested = xaibench.explain(cnn1d, signals, TARGET, "postprocess", method="smooth",
                              params=smooth, transform="none", normalise="max")  # fmt: skip
    smoothed = xaibench.explain(cnn1d, signals, TARGET, "smooth", **smooth)
    peak = smoothed.flatten(1).abs().amax(dim=1).view(-1, 1, 1)
    torch.testing.assert_close(nested, smoothed / peak)


def test_postprocess_names_a_wrong_choice(cnn1d, signals):
    with pytest.raises(XaibenchError, match="transform='square' must be one of none, abs, pos"):
        xaibench.explain(cnn1d, signals, 0, "postprocess", transform="square")
    with pytest.raises(XaibenchError, match="normalise='l2' must be one of none, max, sum, mi"):
        xaibench.explain(cnn1d, signals, 0, "postprocess", normalise="l2")


# --- In a run ---------------------------------------------------------------------------------


def test_a_run_holds_labelled_smoothed_and_postprocessed_variants(tmp_path):
    """The README's recipe: variants of wrapped methods under their own labels, with `uses`."""
    overrides = [
        "debug=fast",
        "samples=4",
        f"cache_dir={tmp_path}",
        "method=[gradcam]",
        "metric=[deletion]",
        "+method.smooth_gradcam={uses: smooth, method: gradcam, noisy_copies: 3, "
        "params: {layer: features.9}}",
        "+method.ig_abs_max={uses: postprocess, method: integrated_gradients, "
        "params: {steps: 8}, transform: abs, normalise: max}",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    settings = read_settings(cfg)
    assert {label: entry.name for label, entry in settings.methods.items()} == {
        "gradcam": "gradcam", "smooth_gradcam": "smooth", "ig_abs_max": "postprocess",
    }  # fmt: skip
    result = run(cfg)
    assert result.meta["errors"] == []
    assert set(result.scores["method"]) == {"gradcam", "smooth_gradcam", "ig_abs_max"}
    ig = result.attributions["ig_abs_max"]
    torch.testing.assert_close(ig.flatten(1).amax(dim=1), torch.ones(4))
    assert not torch.equal(result.attributions["smooth_gradcam"], result.attributions["gradcam"])
