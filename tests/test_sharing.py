"""Work shared between the metrics of a run (xaibench/metrics/sharing.py) and the forwards and
backwards a stage counts: shared work gives the scores computed alone, bit for bit; the metric
that reuses runs no re-explanation forward of its own; model randomisation's copies are counted;
metrics whose perturbations do not depend on the map run their forwards once for all methods."""

from __future__ import annotations

import copy

import pytest
import torch

import xaibench
from tests.helpers import tiny_cnn1d
from xaibench.cache import Cache
from xaibench.counting import count_forwards
from xaibench.metrics import METRICS
from xaibench.metrics.randomisation import RandomisedModel, randomisable_layers, randomise
from xaibench.samples import Samples
from xaibench.scoring import CacheKeys, score_all
from xaibench.settings import Entry
from xaibench.stages import Stages

N = 5  # explained inputs
# Forwards (and backwards) per explained input of each method: one forward and backward pass.
PER_EXPLANATION = {"saliency": 1, "input_x_gradient": 1, "gradcam": 1}


def problem():
    model = tiny_cnn1d()
    inputs = torch.randn(N, 2, 16, generator=torch.Generator().manual_seed(3))
    target = torch.tensor([0, 1, 2, 0, 1])
    return model, Samples(torch.arange(N), inputs, target, target, target)


def score(metrics: dict[str, dict], methods: list[str], tmp_path):
    """score_all as a run calls it: (results[metric][method], the stage records)."""
    model, samples = problem()
    method_entries = {m: Entry(m, m, {}) for m in methods}
    metric_entries = {
        label: Entry(label, params.pop("uses", label), params)
        for label, params in copy.deepcopy(metrics).items()
    }
    keys = CacheKeys("tiny", samples, {})
    stages = Stages(Cache(tmp_path), reuse=False)
    maps = {}
    for label, entry in method_entries.items():
        keys.attributions(entry, {})
        maps[label] = xaibench.explain(model, samples.inputs, samples.targets, entry.name)
    results = score_all(model, samples, maps, metric_entries, method_entries, keys, stages)
    assert stages.errors == []
    return results, stages.records, model, samples, maps


def alone(metric: str, params: dict, method: str, model, samples, maps):
    """The metric's result for one method, computed alone (no shared work)."""
    return xaibench.evaluate(
        model, samples.inputs, samples.targets, maps[method], metric, method=method, **params
    )


def identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit, NaN where the other has NaN."""
    return (
        a.dtype == b.dtype
        and torch.equal(a.isnan(), b.isnan())
        and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))
    )


ROBUSTNESS = {"radius": 0.2, "perturbations": 3, "seed": 4}


def test_max_sensitivity_and_local_lipschitz_share_their_reexplanations(tmp_path):
    methods = list(PER_EXPLANATION)
    metrics = {
        "max_sensitivity": dict(ROBUSTNESS),
        "local_lipschitz": dict(ROBUSTNESS),
        "relative": {"uses": "max_sensitivity", "relative": True, **ROBUSTNESS},
        "other_seed": {"uses": "local_lipschitz", **ROBUSTNESS, "seed": 5},
    }
    results, records, model, samples, maps = score(metrics, methods, tmp_path)
    # Bit for bit the scores of each metric computed alone.
    for label, params in metrics.items():
        params = dict(params)
        name = params.pop("uses", label)
        for method in methods:
            expected = alone(name, params, method, model, samples, maps)
            assert identical(results[label][method].scores, expected.scores), (label, method)
    # max_sensitivity re-explains N x perturbations copies per method (one forward and backward
    # each, plus one forward that checks the target range per explain call and per metric call).
    copies = N * ROBUSTNESS["perturbations"]
    checks = 2 * len(methods)
    first = records["evaluate/max_sensitivity"]
    assert first["forwards"] == copies * sum(PER_EXPLANATION.values()) + checks
    assert first["backwards"] == copies * sum(PER_EXPLANATION.values())
    assert first["reused"] == 0
    # The metrics with the same radius, perturbations and seed run no re-explanation at all:
    # only their own target checks, one per method; what they reused is the first one's work.
    for label in ("local_lipschitz", "relative"):
        assert records[f"evaluate/{label}"]["forwards"] == len(methods)
        assert records[f"evaluate/{label}"]["backwards"] == 0
        assert records[f"evaluate/{label}"]["reused"] == first["forwards"] - len(methods)
    # Another seed draws other perturbations: nothing to share.
    assert records["evaluate/other_seed"] | {"seconds": 0} == first | {"seconds": 0}


def test_model_randomisation_counts_the_forwards_on_its_copies(tmp_path):
    """methods x layers x samples x forwards per explanation, the copies' included (they were
    not counted before), and the scores and curves of each method computed alone."""
    methods = ["saliency", "input_x_gradient", "edge"]
    metrics = {"model_randomisation": {}, "independent": {"uses": "model_randomisation",
               "mode": "independent"}}  # fmt: skip
    results, records, model, samples, maps = score(metrics, methods, tmp_path)
    layers = len(randomisable_layers(model))
    assert layers == 3
    per_explanation = {"saliency": 1, "input_x_gradient": 1, "edge": 0}
    for label in metrics:
        record = records[f"evaluate/{label}"]
        checks = len(methods) * (1 + layers)  # one per metric call and per explain call
        assert record["forwards"] == layers * N * sum(per_explanation.values()) + checks
        assert record["backwards"] == layers * N * sum(per_explanation.values())
    for label, params in metrics.items():
        params = dict(params)
        name = params.pop("uses", label)
        for method in methods:
            expected = alone(name, params, method, model, samples, maps)
            assert identical(results[label][method].curves, expected.curves), (label, method)
            assert identical(results[label][method].scores, expected.scores), (label, method)


def test_model_randomisation_entries_differing_only_in_similarity_share_their_reexplanations(
    tmp_path,
):
    """sanity_checks' `cascading` and `cascading_signed`: the same randomised models and the
    same method, so the second re-explains nothing; its scores are still its own, computed
    alone bit for bit. Another seed draws other weights: nothing shared."""
    methods = ["saliency", "input_x_gradient", "edge"]
    metrics = {
        "cascading": {"uses": "model_randomisation", "absolute": True},
        "cascading_signed": {"uses": "model_randomisation", "absolute": False},
        "ssim": {"uses": "model_randomisation", "similarity": "ssim"},
        "other_seed": {"uses": "model_randomisation", "seed": 1},
    }
    results, records, model, samples, maps = score(metrics, methods, tmp_path)
    for label, params in metrics.items():
        params = dict(params)
        name = params.pop("uses")
        for method in methods:
            expected = alone(name, params, method, model, samples, maps)
            assert identical(results[label][method].curves, expected.curves), (label, method)
    first = records["evaluate/cascading"]
    assert first["reused"] == 0
    for label in ("cascading_signed", "ssim"):  # only their own target checks, one per method
        assert records[f"evaluate/{label}"]["forwards"] == len(methods)
        assert records[f"evaluate/{label}"]["backwards"] == 0
        assert records[f"evaluate/{label}"]["reused"] == first["forwards"] - len(methods)
    assert records["evaluate/other_seed"] | {"seconds": 0} == first | {"seconds": 0}
    # Sharing the maps did not share the scores (saliency's maps are unsigned: no difference).
    for label in ("cascading_signed", "ssim"):
        assert not identical(results["cascading"]["input_x_gradient"].scores,
                             results[label]["input_x_gradient"].scores)  # fmt: skip


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_randomised_copies_hold_the_weights_of_a_fresh_copy_randomised_step_by_step(mode):
    """The randomised weights are drawn once and copied in: at every step, and in any order of
    steps, they equal those of the deep copy randomised step by step (the code before)."""
    model = tiny_cnn1d()
    layers = randomisable_layers(model)
    expected = []
    randomised = copy.deepcopy(model)
    for k, (name, _) in enumerate(layers, start=1):
        if mode == "independent":
            randomised = copy.deepcopy(model)
        randomise(randomised.get_submodule(name), 7 + k)
        expected.append(copy.deepcopy(randomised.state_dict()))
    shared = RandomisedModel(model, layers, mode, seed=7)
    for k in [1, 2, 3, 1, 3, 2, 2]:
        state = shared.at(k).state_dict()
        assert all(torch.equal(state[key], expected[k - 1][key]) for key in state), k
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
               tiny_cnn1d().state_dict().values(), strict=True))  # fmt: skip


def test_metrics_whose_perturbations_ignore_the_map_run_their_forwards_once_for_all_methods(
    tmp_path,
):
    metrics = {
        "sensitivity_n": {"n": [0.25, 0.5], "subsets": 4},
        "faithfulness_correlation": {"subsets": 6},
        "infidelity": {"perturbations": 5},
    }
    _, one, *_ = score(metrics, ["saliency"], tmp_path / "one")
    _, three, *_ = score(metrics, list(PER_EXPLANATION), tmp_path / "three")
    expected = {  # one forward per perturbed input and sample, one for the unperturbed input,
        "sensitivity_n": N * (2 * 4 + 1),  # and one target check
        "faithfulness_correlation": N * (6 + 1),
        "infidelity": N * (5 + 1),
    }
    for metric, forwards in expected.items():
        assert one[f"evaluate/{metric}"]["forwards"] == forwards + 1, metric
        assert three[f"evaluate/{metric}"]["forwards"] == forwards + 1, metric
        assert METRICS[metric].shared_across_methods


def test_a_copy_of_a_counted_model_counts_as_the_model_also_in_a_later_block():
    model = tiny_cnn1d()
    inputs = torch.randn(4, 2, 16, generator=torch.Generator().manual_seed(0))
    with count_forwards(model) as first:
        early = copy.deepcopy(model)
        early(inputs)
        with count_forwards(model) as inner:  # nested: each forward counted once per counter
            model(inputs[:3]).sum().backward()
    assert (first.calls, first.inputs, first.backwards) == (2, 7, 3)
    assert (inner.calls, inner.inputs, inner.backwards) == (1, 3, 3)
    early(inputs)  # no counter active: nothing counted anywhere
    with count_forwards(model) as later:
        early(inputs[:2])
        copy.deepcopy(early)(inputs[:1]).sum().backward()
        with torch.no_grad():
            model(inputs)
    assert (later.calls, later.inputs, later.backwards) == (3, 7, 1)
    assert (first.calls, first.inputs) == (2, 7)
    assert not model._forward_hooks  # the hook leaves the model with its last block
