"""Randomisation sanity checks: does the map change when the model or the class does? Model
parameter randomisation and random logit re-explain and compare the new map with the original."""

from __future__ import annotations

import copy
from itertools import chain
from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.checks import num_outputs
from xaibench.constraints import OneOf, Seed
from xaibench.metrics.reexplain import Explainer
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.sharing import shared
from xaibench.metrics.similarity import SIMILARITIES, map_similarity
from xaibench.registry import XaibenchError

MODES = ("cascading", "independent")
Similarity = Annotated[str, OneOf(SIMILARITIES)]


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
    was), seeded, without touching the caller's random state.

    The draws are made on the CPU's generator, on a CPU copy of a module that lives elsewhere,
    so that a GPU run randomises to the weights a CPU run gets (a CUDA generator would draw
    other numbers from the same seed).
    """
    device = next(module.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if device.type == "cpu":
            module.reset_parameters()  # type: ignore[operator]  # only layers that define it
            return
        on_cpu = copy.deepcopy(module).cpu()
        on_cpu.reset_parameters()  # type: ignore[operator]
    with torch.no_grad():
        drawn = module_tensors(on_cpu)
        for key, tensor in module_tensors(module).items():
            tensor.copy_(drawn[key])


def module_tensors(module: nn.Module) -> dict[str, Tensor]:
    """Every parameter and buffer of a module and its children, by name."""
    return dict(chain(module.named_parameters(), module.named_buffers()))


class RandomisedModel:
    """A copy of `model` set to step k of the randomisation on demand (`at(k)`), its weights
    drawn once: every method then re-explains on the same randomised copies.

    Step k re-initialises layer k (`layers`, from the output down) from `seed` + k on the model
    with layers 1..k-1 already randomised (cascading) or on the trained model (independent),
    exactly as a fresh deep copy randomised step by step would; the randomised values of every
    step are kept (about one model's parameters in all) and copied into one working copy, whose
    other layers are copied back from `model` when a step no longer wants them randomised.
    """

    def __init__(self, model: nn.Module, layers: list[tuple[str, nn.Module]], mode: str, seed: int):
        self.model = model
        self.names = [name for name, _ in layers]
        self.mode = mode
        self.steps: list[dict[str, Tensor]] = []
        randomised = copy.deepcopy(model)
        for k, name in enumerate(self.names, start=1):
            if mode == "independent":
                randomised = copy.deepcopy(model)
            randomise(randomised.get_submodule(name), seed + k)
            tensors = module_tensors(randomised.get_submodule(name))
            self.steps.append({key: t.detach().clone() for key, t in tensors.items()})
        self.copy = randomised if mode == "cascading" else copy.deepcopy(model)
        self.applied = list(range(1, len(self.names) + 1)) if mode == "cascading" else []

    def at(self, k: int) -> nn.Module:
        """The working copy at step k (1-based), with the weights of a fresh deep copy of `model`
        randomised step by step up to k."""
        wanted = list(range(1, k + 1)) if self.mode == "cascading" else [k]
        if self.applied != wanted[: len(self.applied)]:
            self._set(self.applied, trained=True)
            self.applied = []
        self._set(wanted[len(self.applied) :], trained=False)
        self.applied = wanted
        return self.copy

    @torch.no_grad()
    def _set(self, steps: list[int], trained: bool) -> None:
        # In order: where a layer holds another (a parent with its own parameters), the later
        # step's values of the shared tensors are the ones the step-by-step copy has.
        for k in steps:
            name = self.names[k - 1]
            trained_values = module_tensors(self.model.get_submodule(name))
            source = trained_values if trained else self.steps[k - 1]
            for key, tensor in module_tensors(self.copy.get_submodule(name)).items():
                tensor.copy_(source[key])


def randomised_model(
    model: nn.Module, layers: list[tuple[str, nn.Module]], mode: str, seed: int
) -> RandomisedModel:
    """`RandomisedModel(model, layers, mode, seed)`, built once per run while work is shared
    (sharing.py): kept until the run's scoring ends, one working copy and about one model's
    parameters per mode and seed."""
    names = [name for name, _ in layers]

    def build() -> RandomisedModel:
        return RandomisedModel(model, layers, mode, seed)

    return shared("randomised_model", (model, names, mode, seed), build, model)


# Re-explained maps kept for another entry with the same mode and seed (sanity_checks'
# `cascading` and `cascading_signed` differ only in `absolute`) stay in memory until the run's
# scoring ends: kept only while one method's maps over every layer fit in this many bytes.
SHARED_MAPS_BYTES = 256 * 2**20


def randomised_maps(
    randomised: RandomisedModel, k: int, seed: int, reexplain: Explainer, inputs: Tensor,
    target: Tensor,
) -> Tensor:  # fmt: skip
    """The maps `reexplain` makes on the randomised model at step k: while a run shares work
    (sharing.py), made once for every entry with the same mode, seed and method, whatever its
    similarity or `absolute`; kept per method and step (N x the inputs' size each) within
    SHARED_MAPS_BYTES."""

    def compute() -> Tensor:
        return reexplain(randomised.at(k), inputs, target)

    settings = getattr(reexplain, "settings", None)  # an explainer without them is not shared
    if inputs.numel() * inputs.element_size() * len(randomised.names) > SHARED_MAPS_BYTES:
        settings = None  # too large to keep: computed again by each entry
    parts = (settings, randomised.model, randomised.names, randomised.mode, seed, k, inputs,
             target)  # fmt: skip
    return shared("randomised_maps", parts, compute, randomised.model)


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
    mode: Annotated[str, OneOf(MODES)] = "cascading",
    similarity: Similarity = "spearman",
    absolute: bool = True,
    seed: Seed = 0,
) -> MetricResult:
    r"""Similarity between the map and the same method's map on a model whose layers are
    re-initialised from the output down (cascading) or one at a time (independent); the score
    is the mean over the randomisation steps where it is defined.

    Adebayo et al.'s model parameter randomisation test. The layers are the modules that hold
    parameters and can re-initialise them (`reset_parameters`: convolutions, linear layers,
    batch norms), counted from the output: $k = 1$ is the last one registered, which is the
    output layer of the sequential CNNs xaibench builds. Step $k$ re-initialises layer $k$
    with PyTorch's default initialisation (as for an untrained model) from seed `seed` + $k$,
    the same in both modes and for every batch; cascading keeps layers $1..k$ randomised,
    independent randomises layer $k$ alone. After each step the method that made the maps
    explains the inputs again on the randomised copy, and curve point $k$ is the per-sample
    similarity of the new map to the given one, on the position maps (channels summed). The
    caller's model and random state are never changed (tested): the steps work on a copy.

    A constant map (Grad-CAM's ReLU often zeroes the whole map once a layer is random) has no
    rank correlation: that curve point is NaN, and the score is the mean over the defined
    points, NaN only when none is defined. Averaging with the NaN would drop every sample with
    one constant map (on the shapes data set: Grad-CAM's whole independent column); counting
    it as 0 would be a convention no paper states. The curves keep the NaN, so per-step counts
    stay visible. Cost: one re-explanation per layer and sample. The randomised weights are
    drawn once per call, and in a run once for all methods (the same for each): one working
    copy of the model and the re-initialised layers' values, about one model's parameters,
    kept until the run's scoring ends.

    Lower is better: a map that explains the model must change once the model's learned
    weights are gone; a map that stays similar (guided backprop in the paper, or the input-only
    edge detector, which always fails) shows the input rather than what the model computes.

    Args:
        reexplain: The method that made the maps, run again on each randomised model; the
            registry builds it from the shared settings `method`, `method_params`,
            `batch_size` and `background`.
        mode: `cascading` (default, the paper's main test: layers from the output down stay
            randomised) or `independent` (one layer at a time, the rest trained).
        similarity: `spearman` (default: rank correlation of the two position maps, ties
            averaged; NaN for a constant map) or `ssim` (structural similarity of the maps
            after rescaling each to [0, 1] by its own range; Gaussian window of 11, sigma 1.5,
            as Wang et al. 2004; in 1D or 2D).
        absolute: Compare the absolute values of the maps (default true; Adebayo et al.
            report both, and with absolute values a map whose sign flips still counts as
            similar).
        seed: Layer $k$ is re-initialised from `seed` + $k$.

    Returns:
        MetricResult: `scores` (N,), the mean similarity over the defined steps; `curves`
        (N, K), the similarity after each of the K steps; `curve_x` (K,), the layer index k
        counted from the output.

    Implementations differ:
        - Quantus' MPRT (0.6.0), also top-down and cascading by default with Spearman on
          absolute maps, seeds every layer with the same seed (43 by default) through
          `torch.manual_seed`, which changes the caller's global random state; its
          `independent` order goes from the input up. Its `return_average_correlation` means
          the similarity over the layers but also includes the unrandomised model's own
          similarity (the code skips a key "orig" while the key is "original"), and with
          `np.mean` one NaN step makes the sample NaN. Its `normalise=True` divides maps by the
          batch's largest absolute value, which changes SSIM (not Spearman).
        - scipy (and so Quantus) return NaN for the rank correlation of a constant map, as
          xaibench does for the point; they differ in how the mean over steps treats it.
        - Adebayo et al. also compare with the HOG similarity; xaibench has Spearman and SSIM.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> edges = xaibench.explain(model, inputs, target, "edge")
        >>> control = xaibench.evaluate(
        ...     model, inputs, target, edges, "model_randomisation", method="edge"
        ... )
        >>> control.curves.shape  # three layers: two convolutions and the linear output layer
        torch.Size([4, 3])
        >>> control.scores.round(decimals=6).tolist()  # ignores the model: always the same map
        [1.0, 1.0, 1.0, 1.0]

        Saliency depends on the weights, so randomising them changes it:

        >>> maps = xaibench.explain(model, inputs, target, "saliency")
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, maps, "model_randomisation", method="saliency"
        ... )
        >>> bool((result.scores < 0.9).all())
        True

    References:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. Sanity Checks for Saliency Maps.
        NeurIPS 2018
    """
    layers = randomisable_layers(model)
    randomised = randomised_model(model, layers, mode, seed)
    points = []
    for k in range(1, len(layers) + 1):
        maps = randomised_maps(randomised, k, seed, reexplain, inputs, target)
        points.append(map_similarity(attributions, maps, similarity, absolute))
    curves = torch.stack(points, dim=1)
    curve_x = torch.arange(1, len(layers) + 1, dtype=torch.float64, device=inputs.device)
    return MetricResult(scores=curves.nanmean(dim=1), curves=curves, curve_x=curve_x)


def other_classes(target: Tensor, classes: int, seed: int) -> Tensor:
    """A random class other than the target, for every sample.

    One draw per class from `seed` (class y -> a uniform choice among the other classes),
    shared by all samples of that class, so a sample's choice does not depend on its batch.
    """
    # A CPU generator, its draws moved once: every device gets the numbers a CPU run draws.
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
    similarity: Similarity = "ssim",
    absolute: bool = False,
    seed: Seed = 0,
) -> MetricResult:
    r"""Similarity between the map for the target class and the same method's map for a random
    other class.

    Sixt et al.'s random logit test: an explanation that looks the same whatever class it
    explains does not explain the class. The other class is drawn once per class from `seed`
    (class $y$ maps to a uniform choice among the other classes) and shared by every sample of
    that class, so a sample's choice does not depend on its batch; vary `seed` to cover other
    class pairs. The method that made the maps explains the inputs again for the other class,
    and the score is the per-sample similarity of the two position maps (channels summed):
    SSIM by default (Sixt et al.'s measure), on the maps rescaled each to [0, 1] by its own
    range, so a constant map becomes all zeros and two constant maps score 1; or Spearman's
    rank correlation, NaN for a constant map. Needs a model with at least two outputs. Cost:
    one re-explanation per sample.

    Lower is better: a map that explains the target class should differ from the map of
    another class; a high similarity means the map shows the input, not the class.

    Args:
        reexplain: The method that made the maps, run again for the other class; the registry
            builds it from the shared settings `method`, `method_params`, `batch_size` and
            `background`.
        similarity: `ssim` (default, Sixt et al.'s: structural similarity with a Gaussian
            window of 11, sigma 1.5, as Wang et al. 2004, in 1D or 2D) or `spearman` (rank
            correlation, ties averaged).
        absolute: Compare the absolute values of the maps. Default false: for many methods the
            sign is what tells two classes apart.
        seed: Seed of the class pairs.

    Returns:
        MetricResult: `scores` (N,), the similarity of each sample's two maps.

    Implementations differ:
        - Quantus' RandomLogit (0.6.0) needs `num_classes` (default 1000) set to the model's;
          it draws the other class per sample after `np.random.seed(42)` at every batch, so a
          sample's class depends on its position in the batch. Its SSIM is scikit-image's on
          the flattened maps (images compared as 1D sequences), with the default 7-point
          uniform window and the two maps' joint range as data range; and its default
          `normalise=True` divides maps by the batch's largest absolute value, which changes
          SSIM. xaibench uses a Gaussian window in 1D or 2D and rescales each map by its own
          range.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> edges = xaibench.explain(model, inputs, target, "edge")
        >>> control = xaibench.evaluate(model, inputs, target, edges, "random_logit", method="edge")
        >>> control.scores.round(decimals=6).tolist()  # ignores the class: the same map
        [1.0, 1.0, 1.0, 1.0]
        >>> maps = xaibench.explain(model, inputs, target, "saliency")
        >>> result = xaibench.evaluate(
        ...     model, inputs, target, maps, "random_logit", method="saliency"
        ... )
        >>> bool((result.scores < 0.9).all())
        True

    References:
        Sixt, Granz, Landgraf. When Explanations Lie: Why Many Modified BP Attributions Fail.
        ICML 2020
    """
    classes = num_outputs(model, inputs)
    if classes < 2:
        raise XaibenchError("random_logit needs a model with at least two outputs")
    maps = reexplain(model, inputs, other_classes(target, classes, seed))
    return MetricResult(scores=map_similarity(attributions, maps, similarity, absolute))
