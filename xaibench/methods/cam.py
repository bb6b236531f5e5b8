"""Class activation maps, upsampled to the input's length or size."""

from __future__ import annotations

import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import Tensor, nn

from xaibench.methods.registry import register_method
from xaibench.registry import XaibenchError

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)


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


def upsample_to_input(maps: Tensor, inputs: Tensor) -> Tensor:
    """Linear (signals) or bilinear (images) upsampling of (N, 1, ...) maps to the input size,
    repeated over the input's channels."""
    mode = "linear" if inputs.dim() == 3 else "bilinear"
    maps = F.interpolate(maps, size=inputs.shape[2:], mode=mode, align_corners=False)
    return maps.expand_as(inputs).contiguous()


@register_method(
    "gradcam",
    family="cam",
    description="Feature maps of a convolution layer (default: the last) weighted by their "
    "spatially averaged gradients, summed, ReLU'd and upsampled.",
    citation="Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via "
    "Gradient-based Localization. ICCV 2017",
)
def gradcam(
    model: nn.Module, inputs: Tensor, target: Tensor, layer: str | None = None, relu: bool = True
) -> Tensor:
    # The default layer is the last convolution module's output, as captum's examples use;
    # the paper (and pytorch-grad-cam) take the maps after the following ReLU: pass the ReLU's
    # module path as `layer` for that variant.
    maps = LayerGradCam(model, find_layer(model, layer)).attribute(
        inputs, target=target, relu_attributions=relu
    )
    return upsample_to_input(maps, inputs)
