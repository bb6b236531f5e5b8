"""Small CNNs trained by xaibench itself (no pretrained weights exist offline)."""

from __future__ import annotations

from torch import Tensor, nn

from xaibench.models.registry import register_model


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
def mnist1d_cnn(input_shape: tuple[int, ...], num_classes: int, width: int = 32) -> nn.Module:
    if len(input_shape) != 2:
        raise ValueError(f"mnist1d_cnn takes signals (C, L), got input shape {input_shape}")
    channels, length = input_shape
    return MNIST1DCNN(channels, length, num_classes, width)
