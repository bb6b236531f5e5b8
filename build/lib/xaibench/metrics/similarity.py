"""Per-sample similarity of two sets of values: Pearson, Spearman (tie-aware) and SSIM.

Every function compares row i of one tensor with row i of the other and nothing else, so a
sample's similarity never depends on its batch. Written by hand because they must run batched
on the model's device (scipy works on one pair of NumPy arrays at a time); the tests check
them against scipy and against a loop that follows Wang et al. 2004.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from xaibench.registry import UnknownNameError, XaibenchError

SIMILARITIES = ("spearman", "ssim")


def pearson(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """Pearson correlation along `dim`; NaN where either side is constant."""
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    denominator = (a.square().sum(dim) * b.square().sum(dim)).sqrt()
    correlation = (a * b).sum(dim) / denominator
    return correlation.masked_fill(denominator == 0, float("nan"))


def average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..n along the last dimension, ties sharing their average rank (scipy's
    `rankdata(method="average")`), in float64."""
    ordered, order = values.sort(dim=-1, stable=True)
    n = values.shape[-1]
    index = torch.arange(n, device=values.device).expand_as(ordered)
    starts_group = torch.ones_like(ordered, dtype=torch.bool)
    starts_group[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    ends_group = torch.ones_like(starts_group)
    ends_group[..., :-1] = starts_group[..., 1:]
    first = torch.where(starts_group, index, 0).cummax(dim=-1).values
    last = torch.where(ends_group, index, n - 1).flip(-1).cummin(dim=-1).values.flip(-1)
    mean_rank = (first + last).double() / 2 + 1
    return torch.empty_like(mean_rank).scatter_(-1, order, mean_rank)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each row of `a` (N, ...) with the same row of `b`; NaN
    where either row is constant."""
    return pearson(average_ranks(a.flatten(1)), average_ranks(b.flatten(1)))


# Wang, Bovik, Sheikh, Simoncelli 2004: an 11-point Gaussian window with sigma 1.5 and
# constants K1 = 0.01, K2 = 0.03 of the data range.
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def ssim(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity of maps a, b (N, *spatial) with 1 or 2 spatial dimensions.

    Gaussian-weighted local statistics over every full window position (no padding), as in
    Wang et al. 2004; the window shrinks to the largest odd size that fits a short side.
    """
    spatial = a.shape[1:]
    if len(spatial) not in (1, 2):
        raise XaibenchError(f"ssim compares 1D or 2D maps, got maps shaped {tuple(spatial)}")
    size = min(SSIM_WINDOW, *[s if s % 2 else s - 1 for s in spatial])
    half = (size - 1) / 2
    x = torch.linspace(-half, half, size, dtype=torch.float64, device=a.device)
    window = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    window = window / window.sum()

    def local_mean(values: Tensor) -> Tensor:
        values = values[:, None]
        if len(spatial) == 1:
            return F.conv1d(values, window.view(1, 1, -1))
        values = F.conv2d(values, window.view(1, 1, -1, 1))
        return F.conv2d(values, window.view(1, 1, 1, -1))

    a, b = a.double(), b.double()
    mean_a, mean_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mean_a**2
    var_b = local_mean(b * b) - mean_b**2
    covariance = local_mean(a * b) - mean_a * mean_b
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / (
        (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    )
    return index.flatten(1).mean(dim=1)


def unit_range(maps: Tensor) -> Tensor:
    """Each map (N, ...) rescaled to [0, 1] by its own minimum and maximum (constant maps
    become 0), so SSIM's data range is 1 for every sample."""
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    scaled = (flat - low) / torch.where(span > 0, span, 1)
    return scaled.view_as(maps)


def map_similarity(original: Tensor, other: Tensor, similarity: str, absolute: bool) -> Tensor:
    """Similarity of two explanations per sample (N,), on their position maps (channels summed).

    `absolute` compares |maps| (Adebayo et al. 2018 report both). SSIM compares the maps after
    rescaling each to [0, 1] by its own range.
    """
    original = original.sum(dim=1).double()
    other = other.sum(dim=1).double()
    if absolute:
        original, other = original.abs(), other.abs()
    if similarity == "spearman":
        return spearman(original, other)
    if similarity == "ssim":
        return ssim(unit_range(original), unit_range(other))
    raise UnknownNameError("similarity", similarity, SIMILARITIES, plural="similarities")


def relative_difference(a: Tensor, b: Tensor) -> Tensor:
    """Per sample, max |a - b| / max |b| over all other dimensions: how far map `a` is from
    the reference map `b`, in units of the reference's largest value (Ancona et al. 2018 show
    maps that coincide exactly; this measures how exactly). NaN where `b` is all zero."""
    scale = b.abs().flatten(1).amax(dim=1)
    gap = (a - b).abs().flatten(1).amax(dim=1)
    return (gap / scale).masked_fill(scale == 0, float("nan"))
