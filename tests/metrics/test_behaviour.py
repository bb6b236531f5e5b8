"""Properties every metric must have: the contract a plug-in must meet too
(xaibench.testing.check_metric: direction, one score per sample, batch invariance, the model
left as found), NaN isolation, clear errors."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import xaibench
from xaibench.metrics import METRICS
from xaibench.testing import check_metric

# Ground-truth masks for the 6 `signals` of conftest (16 positions), different per sample.
MASKS = torch.rand(6, 16, generator=torch.Generator().manual_seed(0)) < 0.4
MASKS[:, 0] = True
REEXPLAIN = {"method": "input_x_gradient"}

SMALL = {
    "deletion": {"steps": 8},
    "insertion": {"steps": 8},
    "aopc_morf": {"steps": 6},
    "aopc_lerf": {"steps": 6},
    "abpc": {"steps": 6},
    "selectivity": {"steps": 8},
    "region_perturbation": {"steps": 6},
    "average_drop": {},
    "increase_in_confidence": {},
    "sensitivity_n": {"subsets": 20},
    "faithfulness_correlation": {"subsets": 20},
    "faithfulness_estimate": {},
    "infidelity": {"perturbations": 10},
    "monotonicity": {"draws": 2},
    "road_morf": {"removed": [0.25, 0.75], "output": "probability"},
    "road_lerf": {"removed": [0.25, 0.75], "output": "probability"},
    "max_sensitivity": {**REEXPLAIN, "perturbations": 3},
    "local_lipschitz": {**REEXPLAIN, "perturbations": 3},
    "model_randomisation": REEXPLAIN,
    "random_logit": REEXPLAIN,
    "pointing_game": {"masks": MASKS},
    "relevance_mass": {"masks": MASKS},
    "relevance_rank": {"masks": MASKS},
    "localisation_auc": {"masks": MASKS},
    "top_k_intersection": {"masks": MASKS},
    "sparseness": {},
    "complexity": {},
    "effective_complexity": {},
}


def small_params(metric: str, samples: torch.Tensor | slice = slice(None)) -> dict:
    """Small settings for `metric`, with per-sample context (masks) cut to `samples`."""
    params = dict(SMALL.get(metric, {}))
    if "masks" in params:
        params["masks"] = params["masks"][samples]
    return params


def takes_batch_size(metric: str) -> bool:
    return "batch_size" in inspect.signature(METRICS[metric].calling).parameters


def test_every_registered_metric_has_small_test_settings():
    assert set(SMALL) == set(METRICS.builtin_names())


@pytest.mark.parametrize("metric", METRICS.builtin_names())
def test_every_metric_meets_the_contract_of_a_plugin_and_any_order(metric, cnn1d, signals):
    """xaibench.testing.check_metric, the check a plug-in author runs: a declared direction,
    one score per sample, the same score alone as in the batch (another widely used tool
    normalises across the batch; xaibench must not), the model left as found; and the same
    scores for the samples in any order."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    check_metric(metric, cnn1d, signals, target, attr, **small_params(metric))
    batch = xaibench.evaluate(cnn1d, signals, target, attr, metric, **small_params(metric))
    reordered = torch.tensor([5, 3, 1, 0, 2, 4])
    shuffled = xaibench.evaluate(
        cnn1d, signals[reordered], target[reordered], attr[reordered], metric,
        **small_params(metric, reordered),
    )  # fmt: skip
    torch.testing.assert_close(
        shuffled.scores, batch.scores[reordered], rtol=1e-5, atol=1e-5, equal_nan=True
    )


@pytest.mark.parametrize("metric", [m for m in METRICS.builtin_names() if takes_batch_size(m)])
def test_forward_chunk_size_does_not_change_scores(metric, cnn1d, signals):
    """With batch_size=7, no forward pass sees more than 7 inputs (re-explanations included),
    and the scores equal those computed in large chunks."""
    attr = xaibench.explain(cnn1d, signals, 1, "saliency")
    params = small_params(metric)
    big = xaibench.evaluate(cnn1d, signals, 1, attr, metric, batch_size=4096, **params)
    sizes = []
    # On the first layer, as for methods; the copies model randomisation makes carry it too.
    handle = cnn1d[0].register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    try:
        small = xaibench.evaluate(cnn1d, signals, 1, attr, metric, batch_size=7, **params)
    finally:
        handle.remove()
    assert max(sizes) <= 7
    torch.testing.assert_close(big.scores, small.scores, rtol=1e-5, atol=1e-5, equal_nan=True)


class InputRows(TorchDispatchMode):
    """The most inputs' worth of values held by one tensor that an operation made: the size of
    its storage (a view counts its base) in tensors of `shape`, the shape of one input."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape
        self.most = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tuple(tensor.shape[1:]) == self.shape:
                one = math.prod(self.shape) * tensor.element_size()
                self.most = max(self.most, tensor.untyped_storage().nbytes() // one)
        return out


@pytest.mark.parametrize("metric", METRICS.builtin_names())
def test_no_metric_holds_more_inputs_at_once_than_given_or_batch_size(metric, cnn1d):
    """Memory flat in N: on 40 inputs with batch_size=8, no tensor shaped like a batch of
    inputs or maps that a metric makes (perturbed copies, their re-explained maps) holds more
    than 40 of them: perturbed inputs are built a block at a time, never N x draws at once.
    (Max-sensitivity held all N x perturbations copies and their maps before.)"""
    inputs = torch.randn(40, 2, 16, generator=torch.Generator().manual_seed(2))
    target = torch.arange(40) % 3
    attr = xaibench.explain(cnn1d, inputs, target, "input_x_gradient")
    params = dict(SMALL[metric])  # a copy: SMALL's masks belong to the other tests' 6 inputs
    if takes_batch_size(metric):
        params["batch_size"] = 8
    if "masks" in params:
        params["masks"] = torch.rand(40, 16, generator=torch.Generator().manual_seed(3)) < 0.4
    with InputRows(tuple(inputs.shape[1:])) as rows:
        xaibench.evaluate(cnn1d, inputs, target, attr, metric, **params)
    assert 0 < rows.most <= len(inputs)


@pytest.mark.parametrize("metric", METRICS.builtin_names())
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_attributions_give_nan_for_those_samples_only(metric, bad, cnn1d, signals):
    attr = xaibench.explain(cnn1d, signals, 1, "input_x_gradient")
    broken = attr.clone()
    broken[2, 1, 5] = bad
    clean = xaibench.evaluate(cnn1d, signals, 1, attr, metric, **small_params(metric))
    res = xaibench.evaluate(cnn1d, signals, 1, broken, metric, **small_params(metric))
    assert torch.isnan(res.scores[2])
    keep = torch.tensor([0, 1, 3, 4, 5])
    torch.testing.assert_close(res.scores[keep], clean.scores[keep], rtol=1e-6, atol=1e-6)
    if res.curves is not None:
        assert torch.isnan(res.curves[2]).all()
        assert torch.isfinite(res.curves[keep]).all()


class LargestOther(InputRows):
    """The largest storage, in bytes, of a tensor an operation made that is not shaped like a
    batch of inputs (those InputRows bounds)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tuple(tensor.shape[1:]) != self.shape:
                self.most = max(self.most, tensor.untyped_storage().nbytes())
        return out


@pytest.mark.parametrize("metric", ["sensitivity_n", "faithfulness_correlation"])
def test_subset_correlations_hold_a_blocks_outputs_not_every_samples(metric, cnn1d):
    """With batch_size=64, 40 inputs make no larger tensor than 20 inputs (besides inputs and
    maps): the outputs, drops and subset sums of the |n| x subsets perturbations are held a
    block of samples at a time, not N x subsets x |n| of each (as they were)."""
    inputs = torch.randn(40, 2, 16, generator=torch.Generator().manual_seed(2))
    target = torch.arange(40) % 3
    attr = xaibench.explain(cnn1d, inputs, target, "input_x_gradient")
    largest = []
    for n in (20, 40):
        with LargestOther(tuple(inputs.shape[1:])) as other:
            xaibench.evaluate(cnn1d, inputs[:n], target[:n], attr[:n], metric, batch_size=64,
                              subsets=100)  # fmt: skip
        largest.append(other.most)
    assert largest[1] == largest[0]


def test_evaluate_many_shares_forward_passes_but_matches_one_at_a_time(cnn1d, signals):
    maps = [xaibench.explain(cnn1d, signals, 0, m) for m in ("saliency", "gradcam", "random")]
    together = xaibench.evaluate_many(cnn1d, signals, 0, maps, "sensitivity_n", subsets=20)
    for attr, shared in zip(maps, together, strict=True):
        alone = xaibench.evaluate(cnn1d, signals, 0, attr, "sensitivity_n", subsets=20)
        torch.testing.assert_close(alone.curves, shared.curves, equal_nan=True)


def test_a_constant_map_has_undefined_sensitivity_n(cnn1d, signals):
    """A constant map gives the same mass to every subset: the correlation is undefined."""
    res = xaibench.evaluate(
        cnn1d, signals, 0, torch.ones_like(signals), "sensitivity_n", subsets=10
    )
    assert torch.isnan(res.scores).all()


def test_ties_are_broken_by_position_lower_index_first(linear_model):
    """A flat map deletes positions left to right."""
    x = torch.ones(1, 1, 6)
    res = xaibench.evaluate(
        linear_model, x, 0, torch.zeros_like(x), "deletion", steps=6, output="logit"
    )
    weights = linear_model.linear.weight[0]
    expected = [weights[k:].sum().item() for k in range(7)]
    assert res.curves[0].tolist() == pytest.approx(expected)


# --- bad input: one line that names the value and the fix ------------------------------


def _message(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_unknown_metric_lists_the_valid_ones(cnn1d, signals):
    with pytest.raises(xaibench.UnknownNameError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "delition")
    assert "'delition'" in _message(excinfo) and "deletion" in _message(excinfo)


def test_unknown_parameter_lists_the_valid_ones(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "deletion", step=4)
    assert "'step'" in _message(excinfo) and "steps" in _message(excinfo)


def test_attributions_of_the_wrong_shape_are_refused(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals[:, :1], "deletion")
    assert "(6, 2, 16)" in _message(excinfo) and "(6, 1, 16)" in _message(excinfo)


def test_steps_beyond_the_number_of_positions_are_refused(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "deletion", steps=17)
    assert "steps=17" in _message(excinfo) and "16" in _message(excinfo)


@pytest.mark.parametrize("n", [16, 1.5, [2, 40]])
def test_invalid_subset_sizes_are_refused(n, cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "sensitivity_n", n=n)
    assert "1..15" in _message(excinfo)


def test_a_subset_size_of_zero_is_refused_before_the_input_is_known(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, "sensitivity_n", n=0)
    assert "n=0 must be a number > 0" in _message(excinfo)


@pytest.mark.parametrize("target", [3, -1, [0, 1, 2, 3, 0, 1]])
def test_target_out_of_range_is_refused(target, cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, target, signals, "deletion")
    assert "out of range" in _message(excinfo) and "0..2" in _message(excinfo)
    with pytest.raises(xaibench.XaibenchError):
        xaibench.explain(cnn1d, signals, target, "saliency")


def test_target_count_must_match_the_samples(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, [0, 1], signals, "deletion")
    assert "2 entries" in _message(excinfo) and "6 samples" in _message(excinfo)
