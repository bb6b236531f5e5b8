"""Methods that change how relevance flows backward: DeepLIFT, guided backprop, deconvolution
and layer-wise relevance propagation (LRP)."""

from __future__ import annotations

import sys
from typing import Annotated

import torch.nn.functional as F
from captum.attr import Deconvolution, DeepLift, GuidedBackprop
from torch import Tensor, nn

from xaibench.constraints import Count, OneOf, Positive
from xaibench.methods.activations import unshared_activations
from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.registry import register_method
from xaibench.perturb import Baseline, make_baseline

SPRINGENBERG = (
    "Springenberg, Dosovitskiy, Brox, Riedmiller. Striving for Simplicity: The All "
    "Convolutional Net. ICLR Workshop 2015"
)


@register_method(
    "deeplift",
    family="gradient",
)
def deeplift(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    baseline: Baseline = "zero",
    batch_size: Count = 4096,
) -> Tensor:
    r"""DeepLIFT (rescale rule): each input value's share of the difference between the target
    logit at the input and at a baseline.

    Contributions $\phi_i = (x_i - x'_i)\, m_i$ that sum to $y_c(x) - y_c(x')$
    (summation-to-delta) for the target logit $y_c$ and the baseline $x'$. The multipliers m are
    propagated backward like gradients, except that every nonlinearity's derivative is replaced
    by its secant slope between the baseline and the input, $\Delta out / \Delta in$ (the
    rescale rule). Like integrated gradients it explains a finite difference from a baseline,
    in logit units, but with one forward pass (input and baseline together) and one backward
    pass; the two differ in general. With a zero baseline on a ReLU network without biases it
    equals gradient x input and epsilon-LRP (Ancona et al. 2018; tested). Computed by captum's
    `DeepLift`.

    Args:
        baseline: The reference input $x'$: `zero` (default), `mean`, `blur` or `uniform`, as
            defined for `integrated_gradients`.
        batch_size: The most model inputs per forward pass (two per sample: the input and its
            baseline); it changes memory use only.

    Returns:
        Attributions shaped like `inputs`, signed, summing per sample to
        $y_c(x) - y_c(x')$ on networks without max pooling.

    Implementations differ:
        - The paper also proposes the RevealCancel rule, which treats positive and negative
          contributions separately; captum, and so xaibench, offers the rescale rule only.
        - captum's rule for max pooling does not conserve exactly: summation-to-delta then
          misses by about 1e-2 of the logit on a small test CNN, while it holds to float
          precision on ReLU networks without max pooling (tested).
        - captum's `DeepLift` raises on a ReLU module called twice (torchvision's ResNet
          blocks), an in-place ReLU overwrites the inputs it stores, and a functional `F.relu`
          gets the plain gradient; xaibench runs it on a torch.fx view of the model, as for
          `guided_backprop`.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "deeplift")
        >>> with torch.no_grad():
        ...     delta = (model(inputs) - model(torch.zeros_like(inputs)))[torch.arange(4), target]
        >>> torch.allclose(maps.sum(dim=(1, 2)), delta, atol=1e-6)   # summation-to-delta
        True

    References:
        Shrikumar, Greenside, Kundaje. Learning Important Features Through Propagating Activation
        Differences. ICML 2017
    """
    explainer = DeepLift(unshared_activations(model))

    def attribute(x: Tensor, t: Tensor) -> Tensor:
        return explainer.attribute(x, baselines=make_baseline(baseline, x), target=t)

    # captum runs inputs and baselines through the model together: two inputs per sample.
    return map_sample_chunks(attribute, inputs, target, batch_size // 2)


@register_method(
    "guided_backprop",
    family="gradient",
)
def guided_backprop(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    r"""Guided backpropagation: the gradient of the target logit, computed with every ReLU also
    blocking negative signals on the way back.

    At each ReLU the backward signal becomes $\mathrm{ReLU}(g)\,[z > 0]$: it passes only where
    the unit was active in the forward pass (as for the gradient) and the signal itself is
    positive. Other layers pass the ordinary gradient, and only ReLUs are guided (other
    activations are not). The maps are sharp and image-like, but the guidance discards most of
    what the top layers and the class contribute: Adebayo et al. 2018 found them nearly
    unchanged when the top layers' weights are randomised, and Nie et al. 2018 showed they
    largely reconstruct the input. Read them as a picture of the input features the network
    responds to, not as evidence for a class. One forward and one backward pass (captum's
    `GuidedBackprop`).

    Returns:
        Attributions shaped like `inputs`, signed.

    Implementations differ:
        - captum hooks activation modules, so a ReLU module called twice (torchvision's
          ResNet blocks) or in place breaks it, and a functional `F.relu` is not seen at all
          (guided backprop then silently becomes the plain gradient there). xaibench runs it,
          like `deconvolution` and `deeplift`, on a torch.fx view of the model with one fresh,
          non-in-place module per activation call, sharing the model's weights (models that
          torch.fx cannot trace run as they are).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> def class_overlap(method, **settings):
        ...     zero, one = (xaibench.explain(model, inputs, torch.full((4,), c), method,
        ...                                   **settings).flatten(1) for c in (0, 1))
        ...     return torch.cosine_similarity(zero, one, dim=1).mean()
        >>> bool(class_overlap("guided_backprop") > class_overlap("saliency", signed=True))
        True

    References:
        Springenberg, Dosovitskiy, Brox, Riedmiller. Striving for Simplicity: The All Convolutional
        Net. ICLR Workshop 2015
    """
    return GuidedBackprop(unshared_activations(model)).attribute(inputs, target=target)


@register_method(
    "deconvolution",
    family="gradient",
)
def deconvolution(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    r"""Deconvolution (DeconvNet): the target logit propagated back with every ReLU passing only
    positive signals, whatever the forward pass did.

    At each ReLU the backward signal becomes $\mathrm{ReLU}(g)$, regardless of whether the unit
    was active; convolutions and linear layers pass it back through their transposed weights
    (as the gradient does), and max pooling through the forward pass's switches. The input
    therefore enters the map only through those switches: on a network without max pooling the
    map is the same for every input of a class. It shows which input patterns would excite the
    class, not what this input contributed. One forward and one backward pass (captum's
    `Deconvolution`).

    Returns:
        Attributions shaped like `inputs`, signed.

    Implementations differ:
        - Zeiler & Fergus project single feature-map activations down to the input; like
          captum, xaibench starts from the target logit, which makes it a class attribution in
          the sense of Simonyan et al. 2014.
        - captum hooks activation modules: xaibench runs it on a torch.fx view of the model
          with one module per activation call, as for `guided_backprop`, so that reused,
          in-place and functional ReLUs are rectified too.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()   # no max pooling; targets 0, 1, 2, 0
        >>> maps = xaibench.explain(model, inputs, target, "deconvolution")
        >>> torch.equal(inputs[0], inputs[3]), torch.equal(maps[0], maps[3])
        (False, True)

    References:
        Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014
    """
    return Deconvolution(unshared_activations(model)).attribute(inputs, target=target)


LRP_RULES = ("epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1")
CANONIZERS = ("auto", "none")


@register_method(
    "lrp",
    family="gradient",
)
def lrp(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    rule: Annotated[str, OneOf(LRP_RULES)] = "epsilon",
    epsilon: Positive = 1e-6,
    canonizer: Annotated[str, OneOf(CANONIZERS)] = "auto",
) -> Tensor:
    r"""Layer-wise relevance propagation (LRP, zennit): the target logit redistributed layer by
    layer down to the input, by the chosen rules.

    Relevance starts as the target logit $y_c$ (0 for the other classes), and every layer hands its
    output relevance $R_j$ to its inputs in proportion to their contributions $z_{ij} = x_i w_{ij}$.
    `rule="epsilon"` applies the epsilon rule $R_i = \sum_j z_{ij} R_j / (z_j + \epsilon\,
    \mathrm{sign}(z_j))$, with $z_j = \sum_{i'} z_{i'j} + b_j$, to every convolution and linear
    layer; on ReLU networks it equals gradient x input as epsilon goes to 0 (Ancona et al. 2018;
    tested, also on ResNet-18 through zennit's canonizer). The composites follow Kohlbrenner et al.
    2020, with epsilon on linear layers and, on convolutions: $z^+$, positive contributions only
    (`epsilon_plus`, tested against the rules written out); the same with the flat rule on the first
    layer, which spreads relevance evenly over each unit's receptive field whatever the input
    (`epsilon_plus_flat`); or alpha = 2, beta = 1, positive contributions counted twice and negative
    ones once against (`epsilon_alpha2_beta1`). In every case activations pass relevance through
    unchanged, sums and average pooling split it in proportion to their inputs, and max pooling
    hands it to the maximum. Relevance is conserved layer by layer except for what biases and
    epsilon absorb, so without biases the map sums to $y_c$ (alpha2-beta1 excepted: it conserves
    only at units with both positive and negative contributions). One forward and one modified
    backward pass.

    Args:
        rule: `epsilon` (default: the epsilon rule on every convolution and linear layer),
            `epsilon_plus`, `epsilon_plus_flat` or `epsilon_alpha2_beta1` (zennit's composites).
        epsilon: The epsilon of the epsilon rule, and the stabiliser of the other rules (added
            with the sign of the denominator); 1e-6 by default, zennit's default. A larger
            epsilon absorbs more relevance at weakly activated units: sparser maps, further
            from gradient x input.
        canonizer: `auto` (default): torchvision ResNets get zennit's ResNet canonizer
            (residual sums made explicit, batch norms merged into the preceding convolutions);
            other models with batch norms have each merged into the layer registered just before
            it (right for conv-BN stacks); other models get none. Residual sums outside
            torchvision ResNets (custom residual architectures) then pass the plain gradient.
            `none`: batch norms pass relevance unchanged and residual sums the plain gradient.
            The model is restored after the call.

    Returns:
        Attributions shaped like `inputs`, signed, in logit units.

    Implementations differ:
        - Starting relevance: the target logit, as in captum's `LRP` (which multiplies its
          normalised relevance by the output score) and Montavon et al. 2019; zennit's
          examples start from 1 (the one-hot vector), which divides every map by $y_c$ and
          flips its sign when the logit is negative.
        - zennit rather than captum: captum's `LRP` has no default rule for `Conv1d` (nor for
          1D average pooling or `BatchNorm1d`) and cannot handle ResNets' residual sums; zennit's
          rules cover every convolution and its canonizers rewrite torchvision ResNets and
          merge batch norms for the duration of the call. captum's default epsilon is 1e-9.
        - The zB rule, often recommended for the first layer of image models, is not offered:
          it needs the bounds of the inputs after normalisation.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "lrp", epsilon=1e-9)
        >>> gradient_x_input = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> torch.allclose(maps, gradient_x_input, atol=1e-6)   # a ReLU network
        True

    References:
        Bach, Binder, Montavon, Klauschen, Mueller, Samek. On Pixel-Wise Explanations for Non-Linear
        Classifier Decisions by Layer-Wise Relevance Propagation. PLoS ONE 2015; composites:
        Kohlbrenner et al. Towards Best Practice in Explaining Neural Network Decisions with LRP.
        IJCNN 2020
    """
    from zennit.attribution import Gradient  # here: zennit imports torchvision (seconds)

    composite = _composite(rule, epsilon, _canonizers(model) if canonizer == "auto" else [])

    def target_logits(output: Tensor) -> Tensor:
        # The relevance that enters the network is the target logit itself (as in captum and
        # Montavon et al. 2019); zennit's examples start from 1, which rescales each map.
        return output * F.one_hot(target, output.shape[1]).to(output.dtype)

    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(inputs, target_logits)
    return relevance


def _composite(rule: str, epsilon: float, canonizers: list):
    from zennit import composites
    from zennit.rules import Epsilon
    from zennit.types import Convolution

    if rule == "epsilon":
        rules = [(Convolution, Epsilon(epsilon)), (nn.Linear, Epsilon(epsilon))]
        return composites.LayerMapComposite(
            [*composites.layer_map_base(epsilon), *rules], canonizers=canonizers
        )
    composite = {
        "epsilon_plus": composites.EpsilonPlus,
        "epsilon_plus_flat": composites.EpsilonPlusFlat,
        "epsilon_alpha2_beta1": composites.EpsilonAlpha2Beta1,
    }[rule]
    return composite(epsilon=epsilon, stabilizer=epsilon, canonizers=canonizers)


def _canonizers(model: nn.Module) -> list:
    """torchvision ResNets: zennit's ResNet canonizer (explicit residual sums, merged batch
    norms); other models with batch norms: merge each into the layer registered before it
    (right for sequential conv-BN stacks); otherwise none."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer

    resnet = sys.modules.get("torchvision.models.resnet")
    blocks = () if resnet is None else (resnet.BasicBlock, resnet.Bottleneck)
    modules = list(model.modules())
    if blocks and any(isinstance(m, blocks) for m in modules):
        return [ResNetCanonizer()]
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules):
        return [SequentialMergeBatchNorm()]
    return []
