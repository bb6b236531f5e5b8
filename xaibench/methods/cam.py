"""Class activation maps: a convolution layer's feature maps, weighted and summed, upsampled to
the input's length or size and repeated over its channels.

Grad-CAM comes from captum. captum has none of the other variants and pytorch-grad-cam raises on
1D inputs, so Grad-CAM++, XGrad-CAM, LayerCAM, Score-CAM and Eigen-CAM are written here, each
from its paper's equations (tests check each against a slow re-implementation). They share the
notation of the papers: A_k the k-th feature map of the layer, G_k = d y_c / d A_k the gradient
of the target logit y_c with respect to it, sums "over positions" run over the map's length
(signals) or height and width (images).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import Tensor, nn

from xaibench.methods.propagation import guided_backprop
from xaibench.methods.registry import register_method
from xaibench.registry import XaibenchError, check_choice

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)
SCORECAM_WEIGHTINGS = ("channel_softmax", "probability")


def find_layer(model: nn.Module, layer: str | None) -> nn.Module:
    """The module at path `layer`, or the model's last convolution when `layer` is None."""
    if layer is not None:
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            raise XaibenchError(
                f"layer {layer!r} does not exist in {type(model).__name__}; valid layers: "
                f"{', '.join(names)}"
            ) from None
    convolutions = [m for m in model.modules() if isinstance(m, CONVOLUTIONS)]
    if not convolutions:
        raise XaibenchError(
            f"CAM methods need a convolution layer, but {type(model).__name__} has none; "
            "pass layer=<module path> to choose one"
        )
    return convolutions[-1]


def resize_to_input(maps: Tensor, inputs: Tensor) -> Tensor:
    """Linear (signals) or bilinear (images) interpolation of (N, K, ...) maps to the input's
    length or size."""
    mode = "linear" if inputs.dim() == 3 else "bilinear"
    return F.interpolate(maps, size=inputs.shape[2:], mode=mode, align_corners=False)


def upsample_to_input(maps: Tensor, inputs: Tensor) -> Tensor:
    """(N, 1, ...) maps resized to the input and repeated over the input's channels."""
    return resize_to_input(maps, inputs).expand_as(inputs).contiguous()


def layer_activations(
    model: nn.Module, layer: str | None, inputs: Tensor, target: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """The layer's output A (N, K, ...) and, given a target, G = d y_c / d A (else None).

    A module called more than once in a forward pass (ResNet blocks reuse their ReLU) gives
    its last call.
    """
    module = find_layer(model, layer)
    captured: list[Tensor] = []

    def keep(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        captured.append(output)
        # Hand a copy downstream, so that an in-place operation after the layer (ReLU with
        # inplace=True) cannot overwrite the activations kept here.
        return output.clone()

    handle = module.register_forward_hook(keep)
    try:
        with torch.set_grad_enabled(target is not None):
            logits = model(inputs)
    finally:
        handle.remove()
    activations = captured[-1]
    if not isinstance(activations, Tensor) or activations.dim() < 3:
        shape = tuple(activations.shape) if isinstance(activations, Tensor) else "not a tensor"
        raise XaibenchError(
            f"layer {layer or 'the last convolution'!r} outputs {shape}, with no positions to "
            "map; choose a convolution layer with layer=<module path>"
        )
    if target is None:
        return activations.detach(), None
    score = logits.gather(1, target[:, None]).sum()
    (gradients,) = torch.autograd.grad(score, activations)
    return activations.detach(), gradients


def positions(maps: Tensor) -> tuple[int, ...]:
    """The position dimensions of (N, K, ...) feature maps."""
    return tuple(range(2, maps.dim()))


def weighted_sum(weights: Tensor, activations: Tensor) -> Tensor:
    """ReLU(sum_k w_k A_k) for weights (N, K) or (N, K, ...): maps (N, 1, ...)."""
    if weights.dim() == 2:
        weights = weights.view(*weights.shape, *[1] * (activations.dim() - 2))
    return F.relu((weights * activations).sum(dim=1, keepdim=True))


def gradient_cam(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    layer: str | None,
    weigh: Callable[[Tensor, Tensor], Tensor],
) -> Tensor:
    """A CAM from the layer's activations and gradients: ReLU(sum_k weigh(A, G)_k A_k)."""
    activations, gradients = layer_activations(model, layer, inputs, target)
    return upsample_to_input(weighted_sum(weigh(activations, gradients), activations), inputs)


@register_method(
    "gradcam",
    family="cam",
)
def gradcam(
    model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None, relu: bool = True
) -> Tensor:
    # The default layer is the last convolution module's output, as captum's examples use;
    # the paper (and pytorch-grad-cam) take the maps after the following ReLU: pass the ReLU's
    # module path as `layer` for that variant.
    """Feature maps of a convolution layer (default: the last) weighted by their spatially averaged
    gradients, summed, ReLU'd and upsampled.

    References:
        Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
        Localization. ICCV 2017
    """
    maps = LayerGradCam(model, find_layer(model, layer)).attribute(
        inputs, target=target, relu_attributions=relu
    )
    return upsample_to_input(maps, inputs)


@register_method(
    "guided_gradcam",
    family="cam",
)
def guided_gradcam(
    model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None
) -> Tensor:
    # The product of xaibench's own two methods rather than captum's GuidedGradCam, so that it
    # uses the same Grad-CAM (layer default, linear upsampling) as `gradcam` and the same
    # guided backprop (activations unshared for ResNets) as `guided_backprop`; the tests check
    # it equals captum's GuidedGradCam with bilinear upsampling.
    """Guided backprop times the upsampled Grad-CAM map, element by element.

    References:
        Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
        Localization. ICCV 2017
    """
    return guided_backprop(model, inputs, target) * gradcam(model, inputs, target, layer)


def gradcam_pp_weights(activations: Tensor, gradients: Tensor) -> Tensor:
    """Chattopadhay et al. 2018, closed form for alpha (with Y_c = exp(y_c), so that higher
    derivatives are powers of G): alpha = G^2 / (2 G^2 + sum_positions(A) G^3), 0 where the
    denominator is; w_k = sum_positions alpha ReLU(G)."""
    g2, g3 = gradients**2, gradients**3
    denominator = 2 * g2 + activations.sum(dim=positions(activations), keepdim=True) * g3
    alpha = torch.where(denominator != 0, g2 / denominator.where(denominator != 0, 1.0), 0.0)
    return (alpha * F.relu(gradients)).sum(dim=positions(activations))


@register_method(
    "gradcam_pp",
    family="cam",
)
def gradcam_pp(model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None):
    # The paper's weights use the gradient of exp(y_c), which scales every weight of a sample
    # by exp(y_c) (overflowing for large logits); like pytorch-grad-cam, the logit's gradient
    # is used, which changes each map by that positive factor only.
    """Grad-CAM++: channels weighted by positive gradients with per-position coefficients from
    higher-order derivatives.

    References:
        Chattopadhay, Sarkar, Howlader, Balasubramanian. Grad-CAM++: Generalized Gradient-Based
        Visual Explanations for Deep Convolutional Networks. WACV 2018
    """
    return gradient_cam(model, inputs, target, layer, gradcam_pp_weights)


def xgradcam_weights(activations: Tensor, gradients: Tensor) -> Tensor:
    """Fu et al. 2020: w_k = sum_positions (A_k / sum_positions A_k) G_k, 0 for a
    channel whose activations sum to 0."""
    total = activations.sum(dim=positions(activations), keepdim=True)
    share = torch.where(total != 0, activations / total.where(total != 0, 1.0), 0.0)
    return (share * gradients).sum(dim=positions(activations))


@register_method(
    "xgradcam",
    family="cam",
)
def xgradcam(model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None):
    """XGrad-CAM: channels weighted by gradients averaged with the channel's own normalised
    activations as weights.

    References:
        Fu, Hu, Dong, Zhang, Ren, Han. Axiom-based Grad-CAM: Towards Accurate Visualization and
        Explanation of CNNs. BMVC 2020
    """
    return gradient_cam(model, inputs, target, layer, xgradcam_weights)


@register_method(
    "layercam",
    family="cam",
)
def layercam(model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None):
    # Per-position weights ReLU(G_k); the map is ReLU(sum_k ReLU(G_k) * A_k).
    """LayerCAM: every position of every feature map weighted by its own positive gradient.

    References:
        Jiang, Zhang, Hou, Cheng, Wei. LayerCAM: Exploring Hierarchical Class Activation Maps for
        Localization. IEEE TIP 2021
    """
    return gradient_cam(model, inputs, target, layer, lambda a, g: F.relu(g))


@register_method(
    "eigencam",
    family="cam",
)
def eigencam(model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None):
    # As in the paper: the (positions x channels) activation matrix, not centred, projected
    # on its first right singular vector. pytorch-grad-cam centres it first (a PCA) and keeps
    # the singular vector's arbitrary sign; here the sign is chosen so that the projection
    # sums to a non-negative value, then ReLU as for the other CAMs.
    """Eigen-CAM: the feature maps projected on their first principal direction (class-agnostic:
    ignores the target).

    References:
        Muhammad, Yeasin. Eigen-CAM: Class Activation Map using Principal Components. IJCNN 2020
    """
    with torch.no_grad():
        activations, _ = layer_activations(model, layer, inputs)
        matrix = activations.flatten(2).transpose(1, 2)  # (N, positions, K)
        first = torch.linalg.svd(matrix, full_matrices=False).Vh[:, 0]  # (N, K)
        projection = (matrix @ first[:, :, None]).squeeze(2)  # (N, positions)
        sign = torch.where(projection.sum(dim=1, keepdim=True) < 0, -1.0, 1.0)
        maps = F.relu(sign * projection).view(len(inputs), 1, *activations.shape[2:])
    return upsample_to_input(maps, inputs)


@register_method(
    "scorecam",
    family="cam",
)
def scorecam(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    layer: str | None = None,
    weighting: str = "channel_softmax",
    batch_size: int = 4096,
) -> Tensor:
    # weighting=channel_softmax follows the paper's Algorithm 1 (softmax over channels of the
    # masked inputs' target logits; subtracting the baseline's logit does not change a
    # softmax) and pytorch-grad-cam; weighting=probability follows the authors' code, which
    # weights each channel by the target's softmax probability of its masked input.
    """Score-CAM: each channel, upsampled and scaled to [0, 1], masks the input; the target logits
    of the masked inputs (softmax over channels) weight the channels.

    References:
        Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. Score-CAM: Score-Weighted Visual
        Explanations for Convolutional Neural Networks. CVPR Workshops 2020
    """
    check_choice("weighting", weighting, SCORECAM_WEIGHTINGS)
    with torch.no_grad():
        activations, _ = layer_activations(model, layer, inputs)
        scores = _masked_scores(model, inputs.detach(), target, activations, weighting, batch_size)
        weights = scores.softmax(dim=1) if weighting == "channel_softmax" else scores
        return upsample_to_input(weighted_sum(weights, activations), inputs)


def _masked_scores(
    model: nn.Module, inputs: Tensor, target: Tensor, activations: Tensor, weighting: str,
    batch_size: int,
) -> Tensor:  # fmt: skip
    """Target logits (or probabilities) of the inputs masked by each channel: (N, K).

    Channels are processed in chunks, so that one forward pass holds at most `batch_size`
    masked inputs (whole batch x chunk of channels) and only that chunk is upsampled.
    """
    n, channels = activations.shape[:2]
    per_call = max(1, batch_size // n)
    scores = []
    for start in range(0, channels, per_call):
        masks = _unit_range(resize_to_input(activations[:, start : start + per_call], inputs))
        masked = inputs[:, None] * masks[:, :, None]  # (N, k, C, ...)
        k = masks.shape[1]
        logits = model(masked.flatten(0, 1)).view(n, k, -1)
        if weighting == "probability":
            logits = logits.softmax(dim=2)
        scores.append(logits.gather(2, target.view(n, 1, 1).expand(n, k, 1)).squeeze(2))
    return torch.cat(scores, dim=1)


def _unit_range(maps: Tensor) -> Tensor:
    """Each (sample, channel) map scaled to [0, 1]; a constant map becomes 0."""
    flat = maps.flatten(2)
    low = flat.min(dim=2).values.view(*maps.shape[:2], *[1] * (maps.dim() - 2))
    high = flat.max(dim=2).values.view(*maps.shape[:2], *[1] * (maps.dim() - 2))
    spread = high - low
    return torch.where(spread > 0, (maps - low) / spread.where(spread > 0, 1.0), 0.0)
