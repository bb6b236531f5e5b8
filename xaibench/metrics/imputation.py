"""Noisy linear imputation (Rong et al. 2022, ROAD): fill removed positions from their
neighbours, so that removal leaks as little as possible about *which* positions were removed.

Each removed value is the weighted mean of its in-bounds neighbours (images: 1/6 for the four
direct and 1/12 for the four diagonal neighbours; signals: 1/2 for left and right), where
neighbours that are also removed are unknowns of the same linear system. Gaussian noise
N(0, noise^2) is then added to the imputed values (ROAD's reference code: noise = 0.01).

ROAD's reference code solves one sparse system per image with scipy on the CPU. Here the
systems of a whole batch are solved at once on the inputs' device: by one batched dense solve
for inputs of at most DENSE_POSITIONS positions (signals, small images), where it is a single
LAPACK call, and by conjugate gradient above that, where dense matrices would not fit (the
system is symmetric positive definite: see `impute`). The tests compare both with a
scipy.sparse solve of the reference code's system.
"""

from __future__ import annotations

import math
from types import EllipsisType

import torch
import torch.nn.functional as F
from torch import Tensor

from xaibench.registry import XaibenchError

DIRECT, DIAGONAL = 1 / 6, 1 / 12
NEIGHBOUR_WEIGHTS: dict[int, list[tuple[tuple[int, ...], float]]] = {
    1: [((-1,), 0.5), ((1,), 0.5)],
    2: [
        ((dy, dx), DIRECT if dy == 0 or dx == 0 else DIAGONAL)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy, dx) != (0, 0)
    ],
}

# Relative residual at which a system counts as solved. Conjugate gradient needs at most one
# iteration per unknown in exact arithmetic, which caps the loop; whether all systems are
# solved is checked every few iterations only, to keep device synchronisations rare.
TOLERANCE = 1e-10
CHECK_EVERY = 8

# Inputs with at most this many positions are solved densely: (P x P) float64 per input,
# 32 KB at 64 positions.
DENSE_POSITIONS = 64


def neighbour_sum(values: Tensor) -> Tensor:
    """sum_j w_ij v_j over the in-bounds neighbours j of every position i, per channel;
    values (B, C, *spatial). Shifted slices of a zero-padded copy (out of bounds counts 0):
    a grouped float64 convolution has no fast CPU kernel and was 100x slower."""
    spatial = values.shape[2:]
    padded = F.pad(values, [1, 1] * len(spatial))
    total = torch.zeros_like(values)
    for offset, weight in NEIGHBOUR_WEIGHTS[len(spatial)]:
        window = tuple(slice(1 + o, 1 + o + size) for o, size in zip(offset, spatial, strict=True))
        index: tuple[EllipsisType | slice, ...] = (..., *window)
        total += weight * padded[index]
    return total


def impute(inputs: Tensor, removed: Tensor, check: bool = True) -> Tensor:
    """Noise-free linear imputation of the `removed` positions (bool (B, *spatial), all channels).

    Unknowns v solve, at every removed position i: s_i v_i - sum_{removed j} w_ij v_j =
    sum_{kept j} w_ij x_j, where s_i is the total weight of i's in-bounds neighbours. The
    matrix is symmetric (w_ij = w_ji) and, when each connected group of removed positions
    touches a kept one, positive definite (irreducibly diagonally dominant).

    `check=False` skips the check that every input keeps a position (it reads a value on the
    host, a wait on a GPU), for callers that know it already.
    """
    if check and removed.flatten(1).all(dim=1).any():
        raise XaibenchError("noisy linear imputation needs at least one kept position per input")
    if removed[0].numel() <= DENSE_POSITIONS:
        return dense_impute(inputs, removed)
    return conjugate_gradient_impute(inputs, removed)


def neighbour_matrix(spatial: tuple[int, ...], device: torch.device) -> Tensor:
    """W (P, P): W[i, j] = w_ij for in-bounds neighbours j of position i, 0 elsewhere."""
    identity = torch.eye(math.prod(spatial), dtype=torch.float64, device=device)
    # Column j of neighbour_sum(e_j) holds w_ij at every neighbour i of j; W is symmetric.
    return neighbour_sum(identity.view(-1, 1, *spatial)).flatten(1)


def dense_impute(inputs: Tensor, removed: Tensor) -> Tensor:
    """`impute` by one batched dense solve: rows of kept positions are v_i = x_i."""
    x = inputs.double().flatten(2).transpose(1, 2)  # (B, P, C): channels share the matrix
    hidden = removed.flatten(1)[:, :, None]
    neighbours = neighbour_matrix(tuple(removed.shape[1:]), inputs.device)
    identity = torch.eye(len(neighbours), dtype=torch.float64, device=inputs.device)
    system = torch.where(hidden, torch.diag(neighbours.sum(dim=1)) - neighbours, identity)
    solution = torch.linalg.solve(system, torch.where(hidden, 0.0, x))
    filled = torch.where(hidden, solution, x).transpose(1, 2).reshape(inputs.shape)
    return filled.to(inputs.dtype)


def conjugate_gradient_impute(inputs: Tensor, removed: Tensor) -> Tensor:
    """`impute` by conjugate gradient on the whole batch, matrix-free (neighbour sums).

    Each (sample, channel) system stops on its own residual, so a sample's result does not
    depend on the rest of its batch.
    """
    x = inputs.double()
    unknown = removed[:, None].expand_as(x)
    weights = neighbour_sum(torch.ones_like(x[:1, :1]))

    def system(v: Tensor) -> Tensor:
        return torch.where(unknown, weights * v - neighbour_sum(torch.where(unknown, v, 0)), 0)

    rhs = torch.where(unknown, neighbour_sum(torch.where(unknown, 0, x)), 0)
    dims = tuple(range(2, x.dim()))
    solution = torch.zeros_like(x)
    residual = rhs.clone()
    direction = residual.clone()
    residual_norm = residual.square().sum(dims, keepdim=True)
    threshold = TOLERANCE**2 * residual_norm
    for iteration in range(int(removed.flatten(1).sum(dim=1).max()) + 1):
        active = residual_norm > threshold
        if iteration % CHECK_EVERY == 0 and not active.any():
            break
        applied = system(direction)
        curvature = (direction * applied).sum(dims, keepdim=True)
        step = torch.where(active, residual_norm / torch.where(active, curvature, 1), 0)
        solution = solution + step * direction
        residual = residual - step * applied
        new_norm = residual.square().sum(dims, keepdim=True)
        ratio = torch.where(active, new_norm / torch.where(active, residual_norm, 1), 0)
        direction = torch.where(active, residual + ratio * direction, direction)
        residual_norm = torch.where(active, new_norm, residual_norm)
    return torch.where(unknown, solution, x).to(inputs.dtype)


def noisy_linear_imputation(
    inputs: Tensor, removed: Tensor, noise: Tensor, check: bool = True
) -> Tensor:
    """`impute`, plus `noise` (shaped like `inputs`, already scaled) at the removed positions."""
    filled = impute(inputs, removed, check)
    return torch.where(removed[:, None], filled + noise, filled)
