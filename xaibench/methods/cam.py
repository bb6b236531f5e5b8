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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import Tensor, nn

from xaibench.constraints import Count, OneOf
from xaibench.methods.propagation import guided_backprop
from xaibench.methods.registry import register_method
from xaibench.perturb import forward_in_passes
from xaibench.registry import XaibenchError

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)
SCORECAM_WEIGHTINGS = ("channel_softmax", "probability")
SHOWN_LAYERS = 12  # at most this many layers named in an error


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


class _NoPositions(Exception):
    """Raised by `needs_positions`' hook, so that the forward pass unwinds (and whatever hooks
    another library set are removed) before the error message runs the model again."""

    def __init__(self, shape: tuple | str):
        self.shape = shape


def mapped_layers(model: nn.Module, inputs: Tensor) -> list[str]:
    """The module paths whose output has positions (a tensor (N, K, ...) with at least one
    position dimension): the layers a CAM can map. One forward pass of one input."""
    found: set[str] = set()

    def keep(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if output_shape(output) is None:
                found.add(name)

        return hook

    handles = [module.register_forward_hook(keep(name))
               for name, module in model.named_modules() if name]  # fmt: skip
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for handle in handles:
            handle.remove()
    return [name for name, _ in model.named_modules() if name in found]


def no_positions_error(
    model: nn.Module, layer: str | None, inputs: Tensor, shape: tuple | str
) -> XaibenchError:
    """The one line every CAM gives for a layer whose output has no positions to map."""
    valid = mapped_layers(model, inputs)
    # The last layers are the usual CAM layers; a ResNet has some 60 with positions.
    shown = ", ".join(valid[-SHOWN_LAYERS:]) or "none"
    if len(valid) > SHOWN_LAYERS:
        shown = f"the last {SHOWN_LAYERS} of {len(valid)}: {shown}"
    return XaibenchError(
        f"layer {layer or 'the last convolution'!r} outputs {shape}, with no positions to map; "
        f"layers with positions: {shown} (choose one with layer=<module path>)"
    )


def output_shape(output: object) -> tuple | str | None:
    """None when a layer's output has positions (a tensor (N, K, ...)), else what it is (its
    shape, or "not a tensor") for the error."""
    if not isinstance(output, Tensor):
        return "not a tensor"
    return None if output.dim() >= 3 else tuple(output.shape)


@contextmanager
def needs_positions(model: nn.Module, layer: str | None, inputs: Tensor) -> Iterator[nn.Module]:
    """The module at `layer` (see `find_layer`), checked during the forward passes inside the
    block: an output without positions stops the pass with `no_positions_error`'s one line
    (captum's LayerGradCam would fail with a raw shape error instead)."""
    module = find_layer(model, layer)

    def check(module: nn.Module, args: tuple, output: object) -> None:
        if (shape := output_shape(output)) is not None:
            raise _NoPositions(shape)

    handle = module.register_forward_hook(check)
    try:
        yield module
    except _NoPositions as stop:
        handle.remove()  # first: the error's own forward pass must not stop on it
        raise no_positions_error(model, layer, inputs, stop.shape) from None
    finally:
        handle.remove()


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
    if (shape := output_shape(activations)) is not None:
        raise no_positions_error(model, layer, inputs, shape)
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
    assert gradients is not None  # layer_activations gives them when given a target
    return upsample_to_input(weighted_sum(weigh(activations, gradients), activations), inputs)


@register_method(
    "gradcam",
    family="cam",
)
def gradcam(
    model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None, relu: bool = True
) -> Tensor:
    r"""Grad-CAM: a convolution layer's feature maps weighted by the mean of their gradients,
    summed, rectified and upsampled to the input.

    With $A_k$ the k-th feature map of `layer` and $G_k = \partial y_c / \partial A_k$ the
    gradient of the target logit with respect to it, each channel gets the weight
    $w_k = \frac{1}{Z} \sum_p G_{k,p}$ (the mean over the layer's Z positions), and the map is
    $\mathrm{ReLU}(\sum_k w_k A_k)$, upsampled to the input. It shows where the layer's
    features raise the target logit, to first order, at the layer's coarse resolution: it does
    not tell which input values or channels matter (every channel of a position gets the same
    value). On a network that ends in global average pooling and one linear layer, taken at the
    pooled layer, it is CAM (Zhou et al. 2016) divided by Z, and before the ReLU the map's
    positions sum to the target logit minus its bias. One forward and one backward pass
    (captum's `LayerGradCam`).

    The default layer is the last convolution's raw output, so that any CNN works without
    naming a layer; the paper takes the rectified maps after the ReLU that follows. The two
    differ wherever that convolution's output is negative. For the paper's choice pass the
    ReLU's (or the block's) path: `features.9` for `mnist1d_cnn`, `layer4.1` for `resnet18`,
    whose last convolution (`layer4.1.conv2`) comes before the block's batch norm, residual sum
    and ReLU.

    Args:
        layer: Module path of the layer (as for `model.get_submodule`: `features.9`,
            `layer4.1`); None (default) takes the model's last `Conv1d` or `Conv2d` module and
            its output before the activation that follows (see above). A module called more
            than once in a forward pass gives its last call.
        relu: Rectify the weighted sum (True, the paper). False returns the signed sum, which
            also shows where the layer's features lower the target logit.

    Returns:
        Attributions shaped like `inputs`: the layer's map upsampled linearly (signals) or
        bilinearly (images, `align_corners=False`) to the input's length or size and repeated
        over the input's channels; non-negative unless `relu=False`.

    Implementations differ:
        - Layer: captum's examples take a convolution's output, as xaibench's default does; the
          paper and pytorch-grad-cam take the maps after the following ReLU (pytorch-grad-cam's
          README: `model.layer4[-1]` for ResNets, `model.features[-1]` for VGG).
        - Scale: pytorch-grad-cam rescales every map to [0, 1] (min-max per image) and resizes
          it with OpenCV; xaibench returns the unscaled map (wrap it in `postprocess` with
          `normalise="minmax"` for pytorch-grad-cam's scale). pytorch-grad-cam raises on 1D
          inputs.
        - captum's `LayerGradCam` leaves out the ReLU unless `relu_attributions=True`, and its
          `LayerAttribution.interpolate` upsamples with nearest neighbours by default; xaibench
          rectifies by default and upsamples (bi)linearly.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem(dims=2, samples=2, size=8, channels=3)
        >>> maps = xaibench.explain(model, inputs, target, "gradcam")
        >>> maps.shape
        torch.Size([2, 3, 8, 8])
        >>> bool((maps >= 0).all()), torch.equal(maps[:, 0], maps[:, 2])
        (True, True)
        >>> after_relu = xaibench.explain(model, inputs, target, "gradcam", layer="3")
        >>> torch.allclose(after_relu, maps)   # the paper's layer gives another map
        False

    References:
        Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
        Localization. ICCV 2017
    """
    with needs_positions(model, layer, inputs) as module:
        maps = LayerGradCam(model, module).attribute(inputs, target=target, relu_attributions=relu)
    return upsample_to_input(maps, inputs)


@register_method(
    "guided_gradcam",
    family="cam",
)
def guided_gradcam(
    model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None
) -> Tensor:
    r"""Guided Grad-CAM: guided backpropagation multiplied, value by value, by the upsampled
    Grad-CAM map.

    $\phi = \mathrm{GBP} \odot \mathrm{Grad\text{-}CAM}$: the fine detail of guided backprop,
    kept where Grad-CAM finds evidence for the target and suppressed elsewhere, which is the
    paper's answer to Grad-CAM's coarseness and guided backprop's lack of class specificity.
    Signed like guided backprop. Two forward and two backward passes. It inherits both parts'
    weaknesses: Adebayo et al. 2018 found guided backprop and Guided Grad-CAM nearly unchanged
    when the model's top layers are randomised, so whatever class specificity it has comes from
    the Grad-CAM factor.

    It is the product of xaibench's own `guided_backprop` and `gradcam`, rather than captum's
    `GuidedGradCam`, so that it uses the same Grad-CAM (default layer, (bi)linear upsampling) as
    `gradcam` and the same guided backprop (one ReLU module per call, for ResNets and functional
    ReLUs) as `guided_backprop`.

    Args:
        layer: The Grad-CAM layer, as for `gradcam` (default: the last convolution's output).

    Returns:
        Attributions shaped like `inputs`, signed: guided backprop's map times the Grad-CAM map,
        which is upsampled and the same for every channel.

    Implementations differ:
        - captum's `GuidedGradCam` upsamples the Grad-CAM map with nearest neighbours by
          default; the paper upsamples bilinearly, as xaibench does (linearly for signals).
          With bilinear upsampling captum's result equals xaibench's (tested).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "guided_gradcam")
        >>> guided = xaibench.explain(model, inputs, target, "guided_backprop")
        >>> cam = xaibench.explain(model, inputs, target, "gradcam")
        >>> torch.allclose(maps, guided * cam)
        True

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
    r"""Grad-CAM++: a layer's feature maps weighted by their positive gradients, each position's
    gradient scaled by a coefficient from higher-order derivatives; summed, rectified, upsampled.

    With $A_k$, $G_k$ as in `gradcam`, $w_k = \sum_p \alpha_{k,p} \mathrm{ReLU}(G_{k,p})$ with
    $\alpha_{k,p} = G_{k,p}^2 / (2 G_{k,p}^2 + G_{k,p}^3 \sum_q A_{k,q})$ (0 where the
    denominator is 0), and the map is $\mathrm{ReLU}(\sum_k w_k A_k)$, upsampled as Grad-CAM's.
    Unlike Grad-CAM, negative gradients do not lower a channel's weight, and the coefficients
    keep a channel that fires in a small region from being outweighed by one that fires over a
    large region (the paper's motivation: several instances of a class in one image). The
    closed form for alpha is the paper's, derived for the output $\exp(y_c)$ of a network that
    is piecewise linear after the layer, whose higher derivatives are then $\exp(y_c)$ times
    powers of G. One forward and one backward pass. Written here from the paper's equations, as
    captum has no Grad-CAM++; like the other CAMs written here, it is tested against values
    worked out by hand and against a slow per-position re-implementation of the paper.

    The closed form assumes non-negative activations (a layer after a ReLU): then
    $0 < \alpha \le 1/2$ wherever the gradient is positive. At a layer whose outputs can be
    negative, such as the default (a convolution's raw output), $\sum_q A_{k,q}$ can be negative
    and alpha can become negative, or very large where $2 + G_{k,p} \sum_q A_{k,q}$ is near 0.
    Pass the ReLU's path as `layer` (`features.9` for `mnist1d_cnn`).

    Args:
        layer: Module path of the layer to map; default and conventions as for `gradcam`.

    Returns:
        Attributions shaped like `inputs`, non-negative: the layer's map upsampled as Grad-CAM's.

    Implementations differ:
        - pytorch-grad-cam adds eps = 1e-6 to alpha's denominator, which matters when
          gradients are small: alpha falls from about 1/2 to 1/3 at $G = 10^{-3}$ and to about
          0.01 at $G = 10^{-4}$, so channels with small gradients are down-weighted against the
          others. Gradients of a logit with respect to late feature maps are often that small
          (global average pooling divides each by the number of positions). xaibench uses the
          paper's closed form, with alpha = 0 only where the denominator is exactly 0.
        - The paper differentiates $\exp(y_c)$, which multiplies every weight of a sample by
          $\exp(y_c)$ (and overflows for large logits); like pytorch-grad-cam, xaibench uses the
          logit's gradient, which changes each map by that positive factor only.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "gradcam_pp", layer="3")  # after ReLU
        >>> maps.shape, bool((maps >= 0).all())
        (torch.Size([4, 1, 16]), True)

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
    r"""XGrad-CAM: a layer's feature maps weighted by their gradients averaged with the
    channel's normalised activations as weights; summed, rectified, upsampled.

    With $A_k$, $G_k$ as in `gradcam`, $w_k = \sum_p (A_{k,p} / \sum_q A_{k,q}) G_{k,p}$ (0 for a
    channel whose activations sum to 0), and the map is $\mathrm{ReLU}(\sum_k w_k A_k)$,
    upsampled as Grad-CAM's. Fu et al. derive these weights from two axioms, sensitivity and
    conservation: the unrectified map's positions then sum to $\sum_k \sum_p A_{k,p} G_{k,p}$,
    which equals the target logit when the network after the layer is positively homogeneous
    (ReLUs, no biases). One forward and one backward pass. Written here from the paper's
    equations, as captum has no XGrad-CAM (tested like `gradcam_pp`).

    The normalisation assumes non-negative activations (a layer after a ReLU). At a layer whose
    outputs can be negative, such as the default (a convolution's raw output), a channel's sum
    can be near 0 while its activations are not, and its weight then explodes. Pass the ReLU's
    path as `layer` (`features.9` for `mnist1d_cnn`).

    Args:
        layer: Module path of the layer to map; default and conventions as for `gradcam`.

    Returns:
        Attributions shaped like `inputs`, non-negative: the layer's map upsampled as Grad-CAM's.

    Implementations differ:
        - pytorch-grad-cam adds eps = 1e-7 to every channel's sum; xaibench gives weight 0 to a
          channel whose activations sum to exactly 0 (after a ReLU, an all-zero channel, whose
          weight does not change the map) and otherwise uses the paper's formula.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "xgradcam", layer="3")  # after ReLU
        >>> maps.shape
        torch.Size([4, 1, 16])
        >>> bool((maps >= 0).all())
        True

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
    r"""LayerCAM: every position of a layer's feature maps weighted by its own positive gradient;
    summed over channels, rectified, upsampled.

    With $A_k$, $G_k$ as in `gradcam`, the map is
    $\mathrm{ReLU}(\sum_k \mathrm{ReLU}(G_{k,p}) A_{k,p})$, upsampled as Grad-CAM's. Where
    Grad-CAM gives a channel one weight (its mean gradient), LayerCAM keeps each position's own
    weight, so the map follows local evidence even at shallow layers, whose gradients vary a lot
    across positions (the paper's point: finer maps from earlier layers). At a rectified layer
    every term is non-negative. One forward and one backward pass. Written here from the
    paper's equations, as captum has no LayerCAM (tested like `gradcam_pp`).

    Args:
        layer: Module path of the layer to map; default and conventions as for `gradcam`.

    Returns:
        Attributions shaped like `inputs`, non-negative: the layer's map upsampled as Grad-CAM's.

    Implementations differ:
        - The paper fuses the maps of several layers, rescaling those of shallow layers with a
          tanh before fusing; xaibench computes one layer's map (choose it with `layer`).
          pytorch-grad-cam, given several layers, min-max scales each layer's map and averages
          them; its single-layer map is xaibench's, scaled to [0, 1].

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem(channels=2)
        >>> maps = xaibench.explain(model, inputs, target, "layercam", layer="1")  # first ReLU
        >>> bool((maps >= 0).all()), torch.equal(maps[:, 0], maps[:, 1])  # one map per position
        (True, True)

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
    r"""Eigen-CAM: a layer's feature maps projected on their dominant direction (the first
    singular vector); class-agnostic, it ignores the target.

    Let M be the layer's activations as a (positions x channels) matrix and v its first right
    singular vector; the map is $\mathrm{ReLU}(s M v)$, upsampled as Grad-CAM's, with the sign
    $s = \pm 1$ chosen so that $s M v$ sums to a non-negative value (a singular vector's sign is
    arbitrary). No gradients and no target: it shows the layer's dominant activation pattern,
    the same for every class, so it can say where the model looks but not why it chose one
    class over another. One forward pass and one small SVD per sample. Written here from the
    paper's equations, as captum has no Eigen-CAM (tested like `gradcam_pp`).

    Args:
        layer: Module path of the layer to map; default and conventions as for `gradcam`.

    Returns:
        Attributions shaped like `inputs`, non-negative and the same for every target: the
        layer's map, upsampled and repeated over channels as Grad-CAM's.

    Implementations differ:
        - pytorch-grad-cam centres M (each channel minus its mean over positions, a PCA)
          before the SVD and keeps the singular vector's arbitrary sign. A centred projection
          sums to zero over positions, so that sign decides which half of the map survives
          the final ReLU. xaibench follows the paper, which decomposes M itself, and fixes the
          sign as above.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "eigencam")
        >>> other = xaibench.explain(model, inputs, (target + 1) % 3, "eigencam")
        >>> torch.equal(maps, other)   # the target plays no part
        True

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
    weighting: Annotated[str, OneOf(SCORECAM_WEIGHTINGS)] = "channel_softmax",
    batch_size: Count = 4096,
) -> Tensor:
    r"""Score-CAM: each feature map, upsampled and scaled to [0, 1], masks the input, and the
    target scores of the masked inputs weight the maps; summed, rectified, upsampled.

    For channel k, $H_k$ is $A_k$ upsampled to the input and min-max scaled to [0, 1] (0 for a
    constant map), and $s_k = y_c(x \odot H_k)$ the target logit of the input masked by it (all
    channels of a position scaled together; masked-out values tend to 0, the dataset mean for
    standardised inputs). The weights are $w = \mathrm{softmax}_k(s)$ and the map is
    $\mathrm{ReLU}(\sum_k w_k A_k)$, upsampled as Grad-CAM's. Gradient-free: it asks the model
    how much each channel's highlighted region alone supports the target, at the cost of one
    forward pass per channel and sample (64 for `mnist1d_cnn`'s last layer, 512 for
    `resnet18`'s), `batch_size` masked inputs at a time. Written here from the paper's
    equations, as captum has no Score-CAM (tested like `gradcam_pp`).

    Args:
        layer: Module path of the layer to map; default and conventions as for `gradcam`.
        weighting: `channel_softmax` (default): the softmax over channels of the masked inputs'
            target logits, the paper's Algorithm 1 (its score minus the baseline's logit gives
            the same softmax) and pytorch-grad-cam's choice. `probability`: each channel
            weighted by its masked input's softmax probability (over classes) of the target,
            as the authors' code does; the weights then do not sum to 1, and the map's scale
            carries the model's confidence.
        batch_size: The most masked inputs per forward pass (samples x channels per chunk); it
            changes memory use only.

    Returns:
        Attributions shaped like `inputs`, non-negative: the layer's map upsampled as Grad-CAM's.

    Implementations differ:
        - pytorch-grad-cam upsamples the masks with `UpsamplingBilinear2d`, which aligns
          corners (`align_corners=True`); the authors' code and xaibench use
          `align_corners=False`. The two place the layer's grid at different input positions,
          so masks and scores differ, most when the layer is much coarser than the input.
        - The authors' code skips a channel whose upsampled map is constant; here, as in
          pytorch-grad-cam, it masks the input with zeros and is scored like any other. Its own
          term vanishes when the constant is 0 (a dead channel after a ReLU), but under
          `channel_softmax` its score still enters the softmax's denominator.
        - The authors' code sums the upsampled maps before the ReLU and min-max scales the
          result; xaibench, like pytorch-grad-cam, sums at the layer's resolution, rectifies and
          then upsamples (the same except next to sign changes) and does not rescale.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "scorecam")
        >>> confidence = xaibench.explain(model, inputs, target, "scorecam",
        ...                               weighting="probability")
        >>> bool((maps >= 0).all()), bool((confidence >= 0).all())
        (True, True)

    References:
        Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. Score-CAM: Score-Weighted Visual
        Explanations for Convolutional Neural Networks. CVPR Workshops 2020
    """
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
        logits = forward_in_passes(model, masked.flatten(0, 1), batch_size).view(n, k, -1)
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
