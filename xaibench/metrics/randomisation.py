"""Randomisation sanity checks: does the map change when the model or the class does?

Both re-explain with the method that made the maps (`method`, `method_params`) and compare,
per sample, the new map with the original one (`similarity`: Spearman rank correlation or
SSIM on the position maps; see `similarity.map_similarity`). Lower similarity is better: a map
that survives randomising the model, or explaining another class, does not explain the model.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from xaibench.checks import num_outputs
from xaibench.metrics.reexplain import Explainer
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import map_similarity
from xaibench.registry import XaibenchError, check_choice

MODES = ("cascading", "independent")


def randomisable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that hold parameters and can re-initialise them, from the output down.

    The order is the reverse of registration order, which is the forward order for the
    sequential CNNs xaibench builds; a module without `reset_parameters` is not a layer here.
    """
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if hasattr(module, "reset_parameters") and any(True for _ in module.parameters(False))
    ]
    if not layers:
        raise XaibenchError(
            f"model_randomisation: {type(model).__name__} has no layer with parameters to "
            "re-initialise (modules with reset_parameters)"
        )
    return layers[::-1]


def randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise a module with PyTorch's default initialisation (as the untrained model
    was), seeded, without touching the caller's random state."""
    device = next(module.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        module.reset_parameters()


@register_metric(
    "model_randomisation",
    category="randomisation",
    higher_is_better=False,
    # cascading: layers 1..k randomised; independent: layer k alone.
    curve_x_label="layer k, counted from the output ({mode} randomisation)",
    curve_y_label="{similarity} similarity to the original map",
)
def model_randomisation(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    mode: str = "cascading",
    similarity: str = "spearman",
    absolute: bool = True,
    seed: int = 0,
) -> MetricResult:
    """Similarity between the map and the map of the same method on a model whose layers are
    re-initialised, from the top layer down (cascading) or one at a time (independent); the
    score is the mean over the randomisation steps where it is defined.

    Curve point k: similarity after randomising layer k counted from the output (k = 1..K);
    cascading keeps layers 1..k randomised, independent randomises layer k alone. Layer k is
    re-initialised from seed `seed + k`, identically in both modes and for every batch. The
    caller's model is never changed: each step works on a deep copy.

    A constant map (Grad-CAM's ReLU often zeroes the whole map once a layer is random) has no
    rank correlation: that curve point is NaN, and the score is the mean over the defined
    points, NaN only when none is defined. Averaging with NaN would drop every sample with one
    constant map (on shapes: Grad-CAM's whole independent column); counting it as 0 would be
    a convention no paper states. Implementations disagree here (scipy and so Quantus return
    NaN for the point); the curves keep the NaN, so per-step counts stay visible.

    References:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. Sanity Checks for Saliency Maps.
        NeurIPS 2018
    """
    check_choice("mode", mode, MODES)
    layers = randomisable_layers(model)
    randomised = copy.deepcopy(model)
    points = []
    for k, (name, _) in enumerate(layers, start=1):
        if mode == "independent":
            randomised = copy.deepcopy(model)
        randomise(randomised.get_submodule(name), seed + k)
        maps = reexplain(randomised, inputs, target)
        points.append(map_similarity(attributions, maps, similarity, absolute))
    curves = torch.stack(points, dim=1)
    curve_x = torch.arange(1, len(layers) + 1, dtype=torch.float64)
    return MetricResult(scores=curves.nanmean(dim=1), curves=curves, curve_x=curve_x)


def other_classes(target: Tensor, classes: int, seed: int) -> Tensor:
    """A random class other than the target, for every sample.

    One draw per class from `seed` (class y -> a uniform choice among the other classes),
    shared by all samples of that class, so a sample's choice does not depend on its batch.
    """
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.randint(1, classes, (classes,), generator=generator).to(target.device)
    return (target + offsets[target]) % classes


@register_metric("random_logit", category="randomisation", higher_is_better=False)
def random_logit(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    similarity: str = "ssim",
    absolute: bool = False,
    seed: int = 0,
) -> MetricResult:
    """Similarity between the map for the target class and the same method's map for a random
    other class.

    SSIM (Sixt et al.'s measure) between the map of the target and of a random other
    class. The other class is drawn per class, not per sample (see `other_classes`); vary
    `seed` to average over other pairs.

    References:
        Sixt, Granz, Landgraf. When Explanations Lie: Why Many Modified BP Attributions Fail.
        ICML 2020
    """
    classes = num_outputs(model, inputs)
    if classes < 2:
        raise XaibenchError("random_logit needs a model with at least two outputs")
    maps = reexplain(model, inputs, other_classes(target, classes, seed))
    return MetricResult(scores=map_similarity(attributions, maps, similarity, absolute))
