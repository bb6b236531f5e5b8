"""Methods that change how relevance flows backward: DeepLIFT, guided backprop, deconvolution
and layer-wise relevance propagation (LRP)."""

from __future__ import annotations

import sys

import torch.nn.functional as F
from captum.attr import Deconvolution, DeepLift, GuidedBackprop
from torch import Tensor, nn

from xaibench.methods.activations import unshared_activations
from xaibench.methods.chunking import map_sample_chunks
from xaibench.methods.registry import register_method
from xaibench.perturb import make_baseline
from xaibench.registry import check_choice

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
    baseline: str = "zero",
    batch_size: int = 4096,
) -> Tensor:
    """DeepLIFT with the rescale rule (captum): contributions of input - baseline to output - output
    at the baseline (`baseline`: zero, mean, blur, uniform).

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
    """Gradient where every ReLU also blocks negative gradients on the way back (captum).

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
    """Backward pass where ReLUs pass only positive gradients, ignoring the forward activations
    (captum's Deconvolution).

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
    rule: str = "epsilon",
    epsilon: float = 1e-6,
    canonizer: str = "auto",
) -> Tensor:
    # zennit rather than captum: captum's LRP has no rule for Conv1d and cannot handle the
    # residual sums of ResNets; zennit's rules cover every _ConvNd and its canonizers rewrite
    # torchvision ResNets and merge batch norms for the duration of the call.
    # zennit is imported here because it imports torchvision (seconds) on import.
    """Layer-wise relevance propagation (zennit) of the target logit: `rule` epsilon everywhere, or
    the composites epsilon_plus, epsilon_plus_flat, epsilon_alpha2_beta1.

    References:
        Bach, Binder, Montavon, Klauschen, Mueller, Samek. On Pixel-Wise Explanations for Non-Linear
        Classifier Decisions by Layer-Wise Relevance Propagation. PLoS ONE 2015; composites:
        Kohlbrenner et al. Towards Best Practice in Explaining Neural Network Decisions with LRP.
        IJCNN 2020
    """
    from zennit.attribution import Gradient

    check_choice("LRP rule", rule, LRP_RULES, plural="rules")
    check_choice("canonizer", canonizer, CANONIZERS)
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
