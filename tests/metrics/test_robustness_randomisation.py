"""Max-sensitivity, local Lipschitz, model randomisation and random logit: slow references
(tests/references.py), closed forms, captum's sensitivity_max, and the sanity-check contrast of
Adebayo et al."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.metrics import sensitivity_max
from scipy import stats

import xaibench
from tests.helpers import LinearSignalModel
from tests.references import (
    random_logit_reference,
    randomisation_reference,
    robustness_reference,
)
from xaibench.methods import METHODS, MethodInfo
from xaibench.metrics import METRICS, randomisation
from xaibench.metrics.randomisation import other_classes, randomisable_layers


def deltas(samples, shape, radius, seed):
    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand((samples, *shape), generator=generator, dtype=torch.float64)
    return ((2 * uniform - 1) * radius).float()


# --- max-sensitivity and local Lipschitz ------------------------------------------------------


def test_max_sensitivity_and_local_lipschitz_match_the_papers(cnn1d, signals):
    """Yeh et al. 2019: max ||phi(y) - phi(x)||; Alvarez-Melis & Jaakkola 2018: max of that
    over ||y - x||; both over the same draws from the L-infinity ball."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "saliency")
    common = {"method": "saliency", "radius": 0.3, "perturbations": 5, "seed": 9}
    absolute = xaibench.evaluate(cnn1d, signals, target, attr, "max_sensitivity", **common)
    relative = xaibench.evaluate(
        cnn1d, signals, target, attr, "max_sensitivity", relative=True, **common
    )
    lipschitz = xaibench.evaluate(cnn1d, signals, target, attr, "local_lipschitz", **common)
    perturbations = deltas(5, signals.shape[1:], 0.3, 9)
    for i in range(len(signals)):
        distance, step = robustness_reference(
            cnn1d, signals[i], target[i].item(), "saliency", attr[i], perturbations
        )
        assert absolute.scores[i].item() == pytest.approx(distance.max(), rel=1e-5)
        norm = attr[i].double().norm().item()
        assert relative.scores[i].item() == pytest.approx(distance.max() / norm, rel=1e-5)
        assert lipschitz.scores[i].item() == pytest.approx((distance / step).max(), rel=1e-5)


def test_relative_max_sensitivity_equals_captum(cnn1d, signals):
    target = torch.tensor([2, 2, 1, 1, 0, 0])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    ours = xaibench.evaluate(
        cnn1d, signals, target, attr, "max_sensitivity",
        method="input_x_gradient", radius=0.2, perturbations=4, seed=1, relative=True,
    )  # fmt: skip
    perturbations = deltas(4, signals.shape[1:], 0.2, 1)

    def perturb(inputs, radius):  # captum repeats each input `samples` times
        return inputs + perturbations.repeat(len(inputs) // 4, 1, 1)

    def explain(inputs, target):  # captum passes and expects tuples for the unperturbed inputs
        if isinstance(inputs, tuple):
            return (explain(inputs[0], target),)
        return xaibench.explain(cnn1d, inputs, target, "input_x_gradient")

    theirs = sensitivity_max(
        explain, signals, perturb_func=perturb, n_perturb_samples=4, target=target
    )
    torch.testing.assert_close(ours.scores, theirs.double(), rtol=1e-5, atol=1e-6)


def test_robustness_closed_forms_on_the_linear_model(linear_model):
    """The gradient of a linear model never moves (both scores 0); gradient x input = W * x
    moves by W * delta, so the Lipschitz ratio is at most max |W|."""
    x = torch.randn(3, 1, 6, generator=torch.Generator().manual_seed(0))
    settings = {"radius": 0.5, "perturbations": 8, "seed": 2}
    gradient = xaibench.explain(linear_model, x, 0, "saliency", signed=True)
    for metric in ("max_sensitivity", "local_lipschitz"):
        still = xaibench.evaluate(
            linear_model, x, 0, gradient, metric, method="saliency",
            method_params={"signed": True}, **settings,
        )  # fmt: skip
        assert still.scores.abs().max().item() < 1e-6
    ixg = xaibench.explain(linear_model, x, 0, "input_x_gradient")
    moved = xaibench.evaluate(
        linear_model, x, 0, ixg, "max_sensitivity", method="input_x_gradient", **settings
    )
    weights = linear_model.linear.weight[0].double()
    expected = (deltas(8, (1, 6), 0.5, 2).double()[:, 0] * weights).norm(dim=1).max()
    torch.testing.assert_close(moved.scores, expected.expand(3))


def test_robustness_metrics_need_the_method_that_made_the_maps(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError, match="pass method="):
        xaibench.evaluate(cnn1d, signals, 0, signals, "max_sensitivity")
    with pytest.raises(xaibench.UnknownNameError, match="'salency'"):
        xaibench.evaluate(cnn1d, signals, 0, signals, "local_lipschitz", method="salency")


# --- model randomisation (Adebayo et al. 2018) --------------------------------------------------


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_model_randomisation_matches_adebayo_reference(mode, cnn1d, signals):
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    res = xaibench.evaluate(
        cnn1d, signals, target, attr, "model_randomisation",
        method="input_x_gradient", mode=mode, seed=3,
    )  # fmt: skip
    assert res.curves.shape == (6, 3)  # two convolutions and the linear layer
    for i in range(len(signals)):
        expected = randomisation_reference(
            cnn1d, signals[i], target[i].item(), "input_x_gradient", attr[i], mode, 3
        )
        np.testing.assert_allclose(res.curves[i].numpy(), expected, rtol=1e-6, atol=1e-6)
        assert res.scores[i].item() == pytest.approx(np.nanmean(expected))


def test_model_randomisation_scores_the_steps_where_similarity_is_defined(
    cnn1d, signals, monkeypatch
):
    # A constant map has no Spearman correlation (NaN): step 2 is undefined for sample 0 and
    # every step for sample 1. The score averages the defined steps; NaN only if none is.
    steps = iter([[0.9, float("nan")], [float("nan"), float("nan")], [0.3, float("nan")]])
    monkeypatch.setattr(
        randomisation, "map_similarity",
        lambda *args: torch.tensor(next(steps), dtype=torch.float64),
    )  # fmt: skip
    attr = xaibench.explain(cnn1d, signals[:2], 0, "saliency")
    res = xaibench.evaluate(cnn1d, signals[:2], 0, attr, "model_randomisation", method="saliency")
    assert res.curves[0].isnan().tolist() == [False, True, False]
    assert res.scores[0].item() == pytest.approx(0.6)
    assert res.scores[1].isnan()


def test_model_randomisation_leaves_the_model_and_random_state_alone(cnn1d, signals):
    before = copy.deepcopy(cnn1d.state_dict())
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    attr = xaibench.explain(cnn1d, signals, 0, "saliency")
    xaibench.evaluate(cnn1d, signals, 0, attr, "model_randomisation", method="saliency")
    assert torch.rand(1) == expected_next
    for key, value in cnn1d.state_dict().items():
        assert torch.equal(value, before[key])


def input_only_map(model, inputs, target):
    """An 'edge detector' that ignores the model: the absolute first difference of the input."""
    edges = torch.zeros_like(inputs)
    edges[..., 1:] = (inputs[..., 1:] - inputs[..., :-1]).abs()
    return edges


@pytest.fixture
def with_input_only_method(monkeypatch):
    info = MethodInfo("input_only", input_only_map, "control")
    monkeypatch.setitem(METHODS._entries, "input_only", info)


@pytest.mark.usefixtures("with_input_only_method")
@pytest.mark.parametrize("similarity", ["spearman", "ssim"])
def test_randomisation_drops_saliency_but_not_an_input_only_map(similarity):
    """Adebayo et al.'s contrast, on a trained-looking model: saliency depends on the
    weights, an edge detector does not, so only saliency's similarity collapses."""
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 8, 5, padding=2), torch.nn.ReLU(),
        torch.nn.Conv1d(8, 8, 5, padding=2), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 32, 4),
    ).eval()  # fmt: skip
    x = torch.randn(16, 1, 32, generator=torch.Generator().manual_seed(0))
    scores = {}
    for method in ("saliency", "input_only"):
        attr = xaibench.explain(model, x, 0, method)
        res = xaibench.evaluate(
            model, x, 0, attr, "model_randomisation", method=method, similarity=similarity
        )
        scores[method] = res.curves[:, -1].mean().item()  # all layers randomised
    assert scores["input_only"] == pytest.approx(1.0)
    assert scores["saliency"] < 0.5


def test_the_layer_order_starts_at_the_output(cnn1d):
    assert [name for name, _ in randomisable_layers(cnn1d)] == ["6", "2", "0"]


# --- random logit (Sixt et al. 2020) -----------------------------------------------------------


def test_curve_labels_name_the_randomisation_mode_and_the_similarity():
    info = METRICS["model_randomisation"]
    x_label, y_label = info.curve_labels({"mode": "independent"})
    assert "independent" in x_label and "cascading" not in x_label
    assert y_label.startswith("spearman")  # the default fills what the run did not record
    assert info.curve_labels({"similarity": "ssim"}) == (
        "layer k, counted from the output (cascading randomisation)",
        "ssim similarity to the original map",
    )


def test_other_class_is_never_the_target_and_is_fixed_per_class():
    target = torch.arange(10).repeat(3)
    other = other_classes(target, 10, seed=0)
    assert (other != target).all()
    assert torch.equal(other[:10], other[10:20])
    assert not torch.equal(other, other_classes(target, 10, seed=1))


def test_random_logit_matches_sixt_reference(cnn1d, signals):
    """Per sample: re-explain for the other class alone, SSIM (Wang et al.'s loop) of the two
    maps, each rescaled to [0, 1]."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "saliency")
    res = xaibench.evaluate(cnn1d, signals, target, attr, "random_logit", method="saliency")
    others = other_classes(target, 3, seed=0)
    for i in range(len(signals)):
        expected = random_logit_reference(cnn1d, signals[i], others[i].item(), "saliency", attr[i])
        assert res.scores[i].item() == pytest.approx(expected, rel=1e-4)


def test_random_logit_spearman_on_the_linear_model(linear_model):
    """The signed gradient of class c is W_c, so the score is Spearman(W_target, W_other);
    with two classes the other class is the remaining one."""
    weight = torch.tensor([[1.0, -2.0, 3.0, 0.5, 4.0, -1.0], [2.0, 0.0, 1.0, 3.0, 5.0, 4.0]])
    model = LinearSignalModel(weight).eval()
    x = torch.ones(2, 1, 6)
    gradient = xaibench.explain(model, x, 0, "saliency", signed=True)
    res = xaibench.evaluate(
        model, x, 0, gradient, "random_logit", method="saliency",
        method_params={"signed": True}, similarity="spearman",
    )  # fmt: skip
    expected = stats.spearmanr(weight[0], weight[1])[0]
    torch.testing.assert_close(res.scores, torch.full((2,), expected, dtype=torch.float64))


@pytest.mark.usefixtures("with_input_only_method")
def test_random_logit_separates_saliency_from_an_input_only_map(cnn1d, signals):
    """Saliency for another class looks different; an input-only map cannot change."""
    scores = {}
    for method in ("saliency", "input_only"):
        attr = xaibench.explain(cnn1d, signals, 0, method)
        scores[method] = xaibench.evaluate(
            cnn1d, signals, 0, attr, "random_logit", method=method
        ).scores
    torch.testing.assert_close(scores["input_only"], torch.ones(6, dtype=torch.float64))
    assert scores["saliency"].mean() < 0.5


def test_the_registry_says_which_metrics_re_explain():
    from xaibench.metrics import METRICS

    reexplaining = {name for name in METRICS.builtin_names() if METRICS[name].reexplains}
    assert reexplaining == {"max_sensitivity", "local_lipschitz", "model_randomisation",
                            "random_logit"}  # fmt: skip
