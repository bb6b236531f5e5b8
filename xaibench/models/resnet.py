"""torchvision's ResNets made fit for small images and for hook-based explanation methods."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class SeparateReLUBlock(BasicBlock):
    """torchvision's BasicBlock with its two ReLUs as separate, non-inplace modules.

    The original calls one inplace ReLU module twice, which methods that hook nonlinearities
    (guided backprop, DeepLIFT, LRP) cannot tell apart, and inplace ReLUs break their hooks.
    The computation is unchanged.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()
        self.relu_out = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu_out(self.bn2(self.conv2(out)) + identity)


class SeparateReLUBottleneck(Bottleneck):
    """torchvision's Bottleneck (ResNet-50 and deeper) with its three ReLUs as separate,
    non-inplace modules (see SeparateReLUBlock). The computation is unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_separate_relus(self)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.relu_out(self.bn3(self.conv3(out)) + identity)


def add_separate_relus(block: nn.Module) -> None:
    block.relu = nn.ReLU()
    block.relu2 = nn.ReLU()
    block.relu_out = nn.ReLU()


def separate_relus(model: nn.Module) -> nn.Module:
    """`model` (any torchvision network) with every ReLU module non-inplace and, in a ResNet,
    each block's shared ReLU split into one module per use, so that hook-based methods see
    every nonlinearity. Parameters and outputs are unchanged (ReLUs hold no parameters)."""
    for module in model.modules():
        if type(module) is BasicBlock:
            module.__class__ = SeparateReLUBlock
            module.relu, module.relu_out = nn.ReLU(), nn.ReLU()
        elif type(module) is Bottleneck:
            module.__class__ = SeparateReLUBottleneck
            add_separate_relus(module)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return model


def small_resnet18(in_channels: int, num_classes: int, small_input: bool = True) -> ResNet:
    """ResNet-18 for `in_channels`; with `small_input` (inputs of about 32x32 to 64x64) the
    stem is a 3x3 stride-1 convolution without max-pool, as He et al. and most CIFAR work do,
    so the last feature maps are not 1x1."""
    model = ResNet(SeparateReLUBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.relu = nn.ReLU()
    if small_input:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    # The initialisation torchvision gives every convolution.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
