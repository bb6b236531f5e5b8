"""Small CNNs trained by xaibench itself (no pretrained weights exist offline)."""

from __future__ import annotations

from torch import Tensor, nn

from xaibench.constraints import Count
from xaibench.models.registry import register_model
from xaibench.registry import XaibenchError


class MNIST1DCNN(nn.Module):
    """Four 1D convolutions (two pooled) and a linear classifier: about 95% on MNIST-1D.

    ReLUs are separate, non-inplace modules so that hook-based methods (guided backprop,
    DeepLIFT, LRP) see every nonlinearity. `features.9` is the ReLU after the last convolution.
    """

    def __init__(self, in_channels: int, length: int, num_classes: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.Conv1d(width, width, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(2 * width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * (length // 4), num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model(
    "mnist1d_cnn", description="1D CNN for signals: 4 convolutions, 2 max-pools, linear."
)
def mnist1d_cnn(input_shape: tuple[int, ...], num_classes: int, width: Count = 32) -> nn.Module:
    if len(input_shape) != 2:
        raise XaibenchError(f"mnist1d_cnn takes signals (C, L), got input shape {input_shape}")
    channels, length = input_shape
    return MNIST1DCNN(channels, length, num_classes, width)


class CNN2D(nn.Module):
    """VGG-style image classifier (like the seeds' VGG-7): `blocks` blocks of two 3x3
    convolutions with ReLU and a 2x2 max-pool, channels doubling from `width`; then global
    average pooling and a linear layer, so any input size of at least 2**blocks works.

    ReLUs are separate, non-inplace modules (see MNIST1DCNN).
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 8, blocks: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for block in range(blocks):
            out = width * 2**block
            layers += [
                nn.Conv2d(channels, out, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(out, out, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model(
    "cnn2d",
    description="VGG-style 2D CNN for images: blocks of two 3x3 convolutions and a max-pool, "
    "global average pooling, linear.",
)
def cnn2d(
    input_shape: tuple[int, ...], num_classes: int, width: Count = 8, blocks: Count = 3
) -> nn.Module:
    if len(input_shape) != 3:
        raise XaibenchError(f"cnn2d takes images (C, H, W), got input shape {input_shape}")
    return CNN2D(input_shape[0], num_classes, width, blocks)


@register_model(
    "resnet18",
    description="torchvision's ResNet-18 (untrained), for small inputs by default: a 3x3 "
    "stride-1 first convolution and no max-pool, as for CIFAR.",
)
def resnet18(input_shape: tuple[int, ...], num_classes: int, small_input: bool = True) -> nn.Module:
    from xaibench.models.resnet import small_resnet18  # imports torchvision: load on use

    if len(input_shape) != 3:
        raise XaibenchError(f"resnet18 takes images (C, H, W), got input shape {input_shape}")
    return small_resnet18(input_shape[0], num_classes, small_input)
