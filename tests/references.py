"""Slow re-implementations that follow the papers step by step, for the fast methods and metrics
to be compared against.

Each reference handles one sample (and often one position, channel, mask or draw) at a time,
with plain loops, numpy and scipy, the way the paper (and, where named, its reference code)
describes the procedure; each docstring names its paper. Where a reference needs random draws
it takes them from the package's own documented draw functions (noise patterns, subsets,
masks), so the two agree on the randomness and differ only in the computation.

The tests under tests/methods and tests/metrics import them from here.
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

import xaibench
from xaibench.methods.gradient import expected_gradients_draws
from xaibench.methods.smoothgrad import noise_patterns
from xaibench.perturb import make_baseline, region_ids

# --- shared steps -----------------------------------------------------------------------------


def _output_of(model, x, target, output):
    """The model's output for one sample `x`: the target's logit, probability, or whether the
    target is the arg max ("correct"), as a float."""
    with torch.no_grad():
        logits = model(x[None])[0].double()
    if output == "probability":
        return torch.softmax(logits, 0)[target].item()
    if output == "correct":
        return float(logits.argmax().item() == target)
    return logits[target].item()


def _region_order(attribution, patch, most_relevant_first):
    """Regions sorted by summed attribution (stable: ties keep the lower index first)."""
    ids, count = region_ids(tuple(attribution.shape[1:]), patch, torch.device("cpu"))
    sums = np.zeros(count)
    np.add.at(sums, ids.numpy(), attribution.sum(0).flatten().double().numpy())
    order = np.argsort(-sums if most_relevant_first else sums, kind="stable")
    return order, ids.numpy()


def _target_logit(model, x, target):
    return model(x).gather(1, target[:, None]).squeeze(1)


def _gradient(model, x, target):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_target_logit(model, x, target).sum(), x)
    return grad


# === Methods ==================================================================================

# --- gradient family --------------------------------------------------------------------------


def smoothgrad_reference(model, x, target, samples, noise, seed):
    """Smilkov et al. 2017, one sample and one noisy copy at a time: the copies' signed
    gradients, with noise std = noise * (x_max - x_min) of each sample."""
    patterns = noise_patterns(x, samples, seed)  # the documented, shared noise draws
    grads = torch.zeros(samples, *x.shape)
    for i in range(len(x)):
        sigma = noise * (x[i].max() - x[i].min())
        for k in range(samples):
            noisy = (x[i] + sigma * patterns[k])[None]
            grads[k, i] = _gradient(model, noisy, target[i : i + 1])[0]
    return grads


def expected_gradients_reference(model, x, target, background, draws, seed):
    """Erion et al. 2021, one sample and one (reference, alpha) draw at a time: the mean over
    draws of (x - reference) * the gradient at reference + alpha (x - reference), with the
    package's documented draws of references from the background and of alphas."""
    references, alphas = expected_gradients_draws(background, draws, seed=seed, like=x)
    expected = torch.zeros_like(x)
    for i in range(len(x)):
        for reference, alpha in zip(references, alphas, strict=True):
            point = (reference + alpha * (x[i] - reference))[None]
            grad = _gradient(model, point, target[i : i + 1])[0]
            expected[i] += (x[i] - reference) * grad / len(alphas)
    return expected


def epsilon_plus_reference(conv: nn.Conv1d, linear: nn.Linear, x, target, eps=1e-6):
    """Montavon et al. 2019 (LRP overview), written out for conv -> ReLU -> flatten -> linear
    without biases: epsilon rule on the dense layer, z+ on the convolution (zennit's z+ for
    inputs of any sign: positive contributions x+ w+ and x- w-), relevance in = the logit."""
    h = F.relu(conv(x))
    flat = h.flatten(1)
    z = flat @ linear.weight.T
    relevance = torch.zeros_like(z).scatter(1, target[:, None], z.gather(1, target[:, None]))
    stabilised = z + eps * torch.where(z >= 0, 1.0, -1.0)
    r_hidden = (flat * ((relevance / stabilised) @ linear.weight)).view_as(h)
    # z+: R_i = sum_j (x+_i w+_ij + x-_i w-_ij) / z+_j R_j, written as one loop over outputs.
    w_pos, w_neg = conv.weight.clamp(min=0), conv.weight.clamp(max=0)
    x_pos, x_neg = x.clamp(min=0), x.clamp(max=0)
    z_plus = F.conv1d(x_pos, w_pos, padding=1) + F.conv1d(x_neg, w_neg, padding=1)
    share = r_hidden / (z_plus + eps * torch.where(z_plus >= 0, 1.0, -1.0))
    r_input = torch.zeros_like(x)
    for j in range(h.shape[2]):  # output position j reads inputs j-1, j, j+1 (padding 1)
        for offset in range(3):
            i = j + offset - 1
            if 0 <= i < x.shape[2]:
                w_p, w_n = w_pos[:, :, offset], w_neg[:, :, offset]  # (out, in)
                # (N, in, out): the positive contributions of input i to output j
                contrib = x_pos[:, :, i, None] * w_p.T[None] + x_neg[:, :, i, None] * w_n.T[None]
                r_input[:, :, i] += (contrib * share[:, None, :, j]).sum(dim=2)
    return r_input


class GuidedReLU(torch.autograd.Function):
    """Springenberg et al. 2015, guided backpropagation: pass a gradient only where
    both the forward input and the incoming gradient are positive."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * (grad > 0)


class DeconvReLU(torch.autograd.Function):
    """Zeiler & Fergus 2014: the backward ReLU rectifies the gradient, ignoring the input."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


def modified_backward_reference(model: nn.Sequential, relu, x, target):
    """The gradient of a Sequential model with every ReLU's backward replaced by `relu`:
    guided backpropagation (Springenberg et al. 2015) with GuidedReLU, deconvolution (Zeiler &
    Fergus 2014) with DeconvReLU."""
    x = x.detach().clone().requires_grad_(True)
    out = x
    for layer in model:
        out = relu.apply(out) if isinstance(layer, nn.ReLU) else layer(out)
    (grad,) = torch.autograd.grad(out.gather(1, target[:, None]).sum(), x)
    return grad


# --- CAM family -------------------------------------------------------------------------------


def gradcam_reference(model, layer, x, target):
    """Selvaraju et al. 2017, eqs. 1-2: alpha_k = mean over positions of d y_c / d A_k;
    map = ReLU(sum_k alpha_k A_k), upsampled linearly to the input length."""
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.update(a=o))
    x = x.clone().requires_grad_(True)
    score = model(x).gather(1, target[:, None]).sum()
    handle.remove()
    activations = captured["a"]
    (grads,) = torch.autograd.grad(score, activations)
    alpha = grads.mean(dim=2, keepdim=True)
    cam = F.relu((alpha * activations).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-1], mode="linear", align_corners=False).detach()


def _split_at(model: nn.Sequential, k: int, x_i, t_i):
    """Activations A (K, ...) of layer k and the gradient of the target logit with respect to
    them, by running the two halves of the Sequential model separately."""
    a = model[: k + 1](x_i[None]).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model[k + 1 :](a)[0, t_i], a)
    return a[0].detach(), g[0]


def _resize(cam, x):
    mode = "linear" if x.dim() == 3 else "bilinear"
    return F.interpolate(cam[None, None], size=x.shape[2:], mode=mode, align_corners=False)[0]


def gradient_cam_reference(method, model, k, x, target):
    """Grad-CAM++ (Chattopadhay et al. 2018, alpha in closed form), XGrad-CAM (Fu et al. 2020)
    and LayerCAM (Jiang et al. 2021), one sample, channel and position at a time, on layer k of
    a Sequential model."""
    maps = []
    for i in range(len(x)):
        a, g = _split_at(model, k, x[i], target[i])
        cam = torch.zeros(a.shape[1:])
        for c in range(a.shape[0]):
            total = a[c].sum()
            weight = 0.0
            for pos in itertools.product(*map(range, a.shape[1:])):
                if method == "gradcam_pp" and g[c][pos] > 0:
                    # Chattopadhay et al. 2018: alpha (closed form) times ReLU(G)
                    gp = g[c][pos]
                    weight += gp**2 / (2 * gp**2 + total * gp**3) * gp
                elif method == "xgradcam" and total != 0:
                    weight += a[c][pos] / total * g[c][pos]  # Fu et al. 2020
                elif method == "layercam":
                    cam[pos] += max(g[c][pos], 0) * a[c][pos]  # Jiang et al. 2021
            if method != "layercam":
                cam += weight * a[c]
        maps.append(_resize(F.relu(cam), x).expand(x.shape[1:]))
    return torch.stack(maps)


def scorecam_reference(model, k, x, target, weighting):
    """Wang et al. 2020 (Score-CAM), Algorithm 1, one masked input per forward pass."""
    maps = []
    with torch.no_grad():
        for i in range(len(x)):
            a = model[: k + 1](x[i][None])[0]
            scores = []
            for c in range(a.shape[0]):
                up = _resize(a[c], x)[0]
                mask = (up - up.min()) / (up.max() - up.min()) if up.max() > up.min() else up * 0
                logits = model(x[i][None] * mask)[0]
                if weighting == "probability":
                    logits = logits.softmax(0)
                scores.append(logits[target[i]])
            scores = torch.stack(scores)
            w = scores.softmax(0) if weighting == "channel_softmax" else scores
            cam = F.relu(sum(w[c] * a[c] for c in range(a.shape[0])))
            maps.append(_resize(cam, x).expand(x.shape[1:]))
    return torch.stack(maps)


def eigencam_reference(model, k, x):
    """Muhammad & Yeasin 2020: project the (positions x channels) activations on their first
    right singular vector (numpy's SVD), sign chosen so the projection sums to >= 0."""
    maps = []
    with torch.no_grad():
        for i in range(len(x)):
            a = model[: k + 1](x[i][None])[0].double().numpy()
            matrix = a.reshape(a.shape[0], -1).T
            projection = matrix @ np.linalg.svd(matrix)[2][0]
            projection = -projection if projection.sum() < 0 else projection
            cam = torch.from_numpy(np.maximum(projection, 0)).float().view(a.shape[1:])
            maps.append(_resize(cam, x).expand(x.shape[1:]))
    return torch.stack(maps)


def cam_reference(method, model, k, x, target, **params):
    """The reference for `method` on layer k: Score-CAM (Wang et al. 2020), Eigen-CAM
    (Muhammad & Yeasin 2020), or a gradient-weighted CAM (Chattopadhay et al. 2018, Fu et al.
    2020, Jiang et al. 2021)."""
    if method == "scorecam":
        return scorecam_reference(model, k, x, target, params.get("weighting", "channel_softmax"))
    if method == "eigencam":
        return eigencam_reference(model, k, x)
    return gradient_cam_reference(method, model, k, x, target)


# --- perturbation family ----------------------------------------------------------------------


def _target_score(model, x, t, output):
    logits = model(x)
    if output == "probability":
        logits = logits.softmax(dim=1)
    return logits[:, t]


@torch.no_grad()
def occlusion_reference(model, x, target, window, stride, output):
    """Zeiler & Fergus 2014 with captum's convention: each window (all channels) is set to zero
    in turn; a position's attribution is the mean output drop over the windows covering it."""
    attributions = []
    for i in range(len(x)):
        base = _target_score(model, x[i][None], target[i], output)
        total = torch.zeros(x.shape[2:])
        count = torch.zeros(x.shape[2:])
        sizes = zip(x.shape[2:], window, stride, strict=True)
        starts = [range(0, size - w + 1, s) for size, w, s in sizes]
        for start in itertools.product(*starts):
            region = tuple(slice(s, s + w) for s, w in zip(start, window, strict=True))
            occluded = x[i].clone()
            occluded[(slice(None), *region)] = 0
            drop = base - _target_score(model, occluded[None], target[i], output)
            total[region] += drop
            count[region] += 1
        attributions.append((total / count).expand(x.shape[1:]))
    return torch.stack(attributions)


@torch.no_grad()
def rise_saliency_reference(model, x, target, masks, p, output):
    """Petsiuk et al. 2018 (RISE), the saliency as a Monte Carlo sum, one masked input at a
    time: S = 1 / (N p) * sum_m f(x * M_m) M_m."""
    maps = torch.zeros(len(x), *x.shape[2:])
    for i in range(len(x)):
        for mask in masks:
            score = _target_score(model, (x[i] * mask)[None], target[i], output)
            maps[i] += score[0] * mask
    return (maps / (len(masks) * p))[:, None].expand_as(x)


# === Metrics ==================================================================================

# --- faithfulness -----------------------------------------------------------------------------


def rise_causal_metric_reference(model, x, target, saliency, mode, steps, substrate, output):
    """Petsiuk et al. 2018, RISE's CausalMetric (deletion and insertion): move `P / steps`
    pixels per step in saliency order, score the target before every move and after the last,
    AUC = (sum - first/2 - last/2) / (n - 1)."""
    channels = x.shape[0]
    positions = x[0].numel()
    assert positions % steps == 0, "RISE moves the same number of pixels every step"
    per_step = positions // steps
    order = np.argsort(-saliency.sum(0).flatten().numpy(), kind="stable")
    start, finish = (x.clone(), substrate) if mode == "deletion" else (substrate.clone(), x)
    start, finish = start.reshape(channels, -1), finish.reshape(channels, -1)
    curve = []
    for i in range(steps + 1):
        curve.append(_output_of(model, start.reshape(x.shape), target, output))
        if i < steps:
            coords = order[per_step * i : per_step * (i + 1)]
            start[:, coords] = finish[:, coords]
    curve = np.array(curve)
    return curve, (curve.sum() - curve[0] / 2 - curve[-1] / 2) / (len(curve) - 1)


def sensitivity_n_reference(model, x, target, attribution, masks, baseline):
    """Ancona et al. 2018, per sample: for each n, correlate over subsets S the attribution
    sum over S with f(x) - f(x with S set to the baseline)."""
    channels = x.shape[0]
    full = _output_of(model, x, target, "logit")
    relevance = attribution.sum(0).flatten().double().numpy()
    curve = []
    for subsets_of_size in masks:
        mass, drop = [], []
        for mask in subsets_of_size:
            perturbed = x.clone().reshape(channels, -1)
            perturbed[:, mask] = baseline.reshape(channels, -1)[:, mask]
            drop.append(full - _output_of(model, perturbed.reshape(x.shape), target, "logit"))
            mass.append(relevance[mask.numpy()].sum())
        curve.append(stats.pearsonr(mass, drop).statistic)
    return np.array(curve)


def aopc_reference(model, x, target, attribution, most_relevant_first, steps, patch, substrate):
    """Samek et al. 2017: x^(0) = x; x^(k) = x^(k-1) with region r_k replaced by the
    substrate; AOPC = 1/(L+1) sum_{k=0..L} f(x^(0)) - f(x^(k))."""
    order, ids = _region_order(attribution, patch, most_relevant_first)
    current = x.clone().reshape(x.shape[0], -1)
    flat_substrate = substrate.reshape(x.shape[0], -1)
    curve = [_output_of(model, x, target, "logit")]
    for region in order[:steps]:
        inside = ids == region
        current[:, inside] = flat_substrate[:, inside]
        curve.append(_output_of(model, current.reshape(x.shape), target, "logit"))
    return np.array(curve), np.mean(curve[0] - np.array(curve))


def abpc_reference(model, x, target, attribution, steps, patch, substrate, output):
    """Blücher et al. 2024 (symmetric relevance gain) / the area between perturbation curves:
    two pixel-flipping curves with one removal, the most relevant regions first (MoRF) and the
    least relevant first (LeRF); point k of each has the first floor(k R / steps) regions of
    its order replaced by the substrate, one region at a time; the score is
    AUC(LeRF) - AUC(MoRF), each by the trapezoid rule over the fraction removed."""
    flat_substrate = substrate.reshape(x.shape[0], -1)
    curves, areas = [], []
    for most_relevant_first in (True, False):
        order, ids = _region_order(attribution, patch, most_relevant_first)
        regions = len(order)
        current = x.clone().reshape(x.shape[0], -1)
        removed = 0
        curve, fractions = [], []
        for k in range(steps + 1):
            while removed < k * regions // steps:
                inside = ids == order[removed]
                current[:, inside] = flat_substrate[:, inside]
                removed += 1
            curve.append(_output_of(model, current.reshape(x.shape), target, output))
            fractions.append(removed / regions)
        curves.append(np.array(curve))
        areas.append(np.trapezoid(curves[-1], fractions))
    return curves[1] - curves[0], areas[1] - areas[0]


def confidence_change_reference(model, x, target, attribution, rescale, output):
    """Chattopadhay et al. 2018 (Grad-CAM++, section 5.1), one sample: the map summed over
    channels, rescaled to [0, 1] position by position; E = x multiplied by it (every channel
    of a position alike); Y = f(x), O = f(E). Returns (Y, O, max(0, Y - O) / Y, Y < O)."""
    relevance = attribution.sum(0).double().numpy().flatten()
    if rescale == "min_max":
        low, high = relevance.min(), relevance.max()
    else:
        relevance, low, high = np.maximum(relevance, 0), 0.0, np.maximum(relevance, 0).max()
    explained = x.clone().reshape(x.shape[0], -1)
    for position, value in enumerate(relevance):
        explained[:, position] *= float((value - low) / (high - low))
    full = _output_of(model, x, target, output)
    faded = _output_of(model, explained.reshape(x.shape), target, output)
    return full, faded, max(0.0, full - faded) / full, float(full < faded)


def faithfulness_correlation_reference(model, x, target, attribution, masks):
    """Bhatt et al. 2020: the Pearson correlation, over random subsets S of fixed size, of
    (sum_S a, f(x) - f(x with S set to zero)), for one sample."""
    full = _output_of(model, x, target, "logit")
    mass, drop = [], []
    for mask in masks:
        perturbed = x.clone()
        perturbed[:, mask] = 0.0
        drop.append(full - _output_of(model, perturbed, target, "logit"))
        mass.append(attribution.sum(0)[mask].double().sum().item())
    return stats.pearsonr(mass, drop)[0]


def square_infidelity_reference(model, x, target, attribution, squares):
    """Yeh et al. 2019, infidelity with square removal, for one sample: I = x - baseline on a
    random segment, 0 elsewhere; the unnormalised mean of (I . a - (f(x) - f(x - I)))^2."""
    full = _output_of(model, x, target, "logit")
    errors = []
    for square in squares:
        perturbation = torch.where(square, x, 0.0)
        change = full - _output_of(model, x - perturbation, target, "logit")
        errors.append(((perturbation * attribution).sum().item() - change) ** 2)
    return np.mean(errors)


def monotonicity_reference(model, x, target, attribution, samples, seed):
    """Nguyen & Martinez 2020: for each position i, v_i = mean over draws d of
    (f(x) - f(x with x_i from draw d))^2; score = Spearman(|a_i|, v_i)."""
    full = _output_of(model, x, target, "probability")
    effects = []
    for i in range(x.shape[-1]):
        changes = []
        for d in range(samples):
            draw = make_baseline("uniform", x[None], seed=seed + d)[0]
            perturbed = x.clone()
            perturbed[:, i] = draw[:, i]
            changes.append((full - _output_of(model, perturbed, target, "probability")) ** 2)
        effects.append(np.mean(changes))
    return stats.spearmanr(attribution.sum(0).abs().numpy(), effects)[0]


_OFFSETS = {
    1: [((-1,), 1 / 2), ((1,), 1 / 2)],
    2: [((dy, dx), 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
        for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)],
}  # fmt: skip


def road_reference_impute(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Rong et al. 2022, ROAD's reference NoisyLinearImputer without noise: one sparse equation
    per removed position, -s_i v_i + sum_{removed j} w_j v_j = -sum_{kept j} w_j x_j, s_i the
    weight of the in-bounds neighbours, solved per channel with scipy.sparse."""
    spatial = removed.shape
    unknown = [tuple(p) for p in np.argwhere(removed)]
    column = {p: k for k, p in enumerate(unknown)}
    matrix = scipy.sparse.lil_matrix((len(unknown), len(unknown)))
    rhs = np.zeros((len(unknown), image.shape[0]))
    for k, p in enumerate(unknown):
        total = 0.0
        for offset, weight in _OFFSETS[len(spatial)]:
            q = tuple(np.add(p, offset))
            if not all(0 <= c < s for c, s in zip(q, spatial, strict=True)):
                continue
            total += weight
            if removed[q]:
                matrix[k, column[q]] = weight
            else:
                rhs[k] -= weight * image[(slice(None), *q)]
        matrix[k, k] = -total
    solved = scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs).reshape(len(unknown), -1)
    filled = image.copy()
    for k, p in enumerate(unknown):
        filled[(slice(None), *p)] = solved[k]
    return filled


def road_reference(model, x, target, attribution, most_relevant_first, removed, noise, output):
    """Rong et al. 2022: for each fraction p, remove round(p * P) positions in the map's order,
    impute them with the reference code's sparse system (scipy), add the noise, evaluate."""
    order, _ = _region_order(attribution, 1, most_relevant_first)
    curve = []
    for k, p in enumerate(removed):
        hidden = np.zeros(x.shape[1:], dtype=bool).reshape(-1)
        hidden[order[: int(p * hidden.size + 0.5)]] = True
        hidden = hidden.reshape(x.shape[1:])
        filled = road_reference_impute(x.double().numpy(), hidden)
        filled = torch.tensor(filled, dtype=x.dtype)
        filled = torch.where(torch.tensor(hidden)[None], filled + noise[k], filled)
        curve.append(_output_of(model, filled, target, output))
    return np.array(curve)


# --- robustness and randomisation -------------------------------------------------------------


def robustness_reference(model, x, target, method, attribution, perturbations):
    """Max-sensitivity (Yeh et al. 2019) and local Lipschitz (Alvarez-Melis & Jaakkola 2018),
    one draw at a time: re-explain x + delta alone; return the distances ||phi(x + delta) -
    phi(x)|| and the input steps ||delta||."""
    distances, steps = [], []
    for delta in perturbations:
        moved = xaibench.explain(model, (x + delta)[None], target, method)[0]
        distances.append((moved - attribution).double().norm().item())
        steps.append(delta.double().norm().item())
    return np.array(distances), np.array(steps)


def randomisation_reference(model, x, target, method, attribution, mode, seed):
    """Adebayo et al. 2018, model randomisation: layers from the output down; cascading keeps
    randomising, independent starts afresh from the trained model each time; similarity:
    Spearman of |maps| (scipy)."""
    names = [n for n, m in model.named_modules()
             if hasattr(m, "reset_parameters") and list(m.parameters(False))][::-1]  # fmt: skip
    randomised = copy.deepcopy(model)
    curve = []
    for k, name in enumerate(names, start=1):
        if mode == "independent":
            randomised = copy.deepcopy(model)
        torch.manual_seed(seed + k)
        randomised.get_submodule(name).reset_parameters()
        moved = xaibench.explain(randomised, x[None], target, method)[0]
        curve.append(stats.spearmanr(attribution.sum(0).abs(), moved.sum(0).abs())[0])
    return np.array(curve)


def _unit_range(values):
    values = values - values.min()
    return values / values.max()


def random_logit_reference(model, x, other, method, attribution):
    """Sixt et al. 2020, random logit, for one sample: re-explain it alone for the other class,
    then the SSIM (Wang et al. 2004's loop, ssim_reference) of the two maps, each rescaled to
    [0, 1]."""
    moved = xaibench.explain(model, x[None], other, method)[0]
    return ssim_reference(
        _unit_range(attribution.sum(0).double()).numpy(),
        _unit_range(moved.sum(0).double()).numpy(),
    )


def ssim_reference(a: np.ndarray, b: np.ndarray, window: int = 11, sigma: float = 1.5) -> float:
    """Wang, Bovik, Sheikh, Simoncelli 2004, Eqs. 13-16: local Gaussian-weighted statistics
    at every full window position, SSIM index per position, then the mean (MSSIM)."""
    c1, c2 = 0.01**2, 0.03**2
    half = (window - 1) // 2
    g = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    w = np.multiply.outer(g, g) if a.ndim == 2 else g
    w = w / w.sum()
    indices = []
    for start in np.ndindex(*[s - window + 1 for s in a.shape]):
        box = tuple(slice(s, s + window) for s in start)
        pa, pb = a[box], b[box]
        mu_a, mu_b = (w * pa).sum(), (w * pb).sum()
        var_a, var_b = (w * (pa - mu_a) ** 2).sum(), (w * (pb - mu_b) ** 2).sum()
        cov = (w * (pa - mu_a) * (pb - mu_b)).sum()
        indices.append(
            ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
            / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        )
    return float(np.mean(indices))


# --- localisation and complexity --------------------------------------------------------------


def auc_by_pairs(scores, mask):
    """Localisation AUC (Fawcett 2006, as used by Arras et al. 2022): the probability that a
    mask position outscores a background one, ties one half, counted pair by pair."""
    inside, outside = scores[mask], scores[~mask]
    wins = sum(float(a > b) + 0.5 * float(a == b) for a in inside for b in outside)
    return wins / (len(inside) * len(outside))


def gini_reference(values):
    """Chalasani et al. 2020 / Hurley & Rickard 2009: sum_i (2i - n - 1) a_(i) / (n sum a)."""
    ordered = sorted(abs(v) for v in values)
    n = len(ordered)
    return sum((2 * i - n - 1) * a for i, a in enumerate(ordered, 1)) / (n * sum(ordered))


def entropy_reference(values):
    """Bhatt et al. 2020, complexity: the entropy of each position's fractional contribution
    |a_i| / sum |a|."""
    total = sum(abs(v) for v in values)
    return -sum(abs(v) / total * math.log(abs(v) / total) for v in values if v != 0)


# --- catalogue additions (tests/metrics/test_catalogue_more.py) ------------------------------


def selectivity_reference(model, x, target, attribution, patch, substrate):
    """Montavon, Samek, Müller 2018 (selectivity): remove the regions one at a time, most
    relevant first (each replaced by the substrate), and record the function value (the
    target's logit) before the first removal and after each; the area under that curve by the
    trapezoid rule over the fraction of regions removed."""
    order, ids = _region_order(attribution, patch, True)
    current = x.clone().reshape(x.shape[0], -1)
    flat_substrate = substrate.reshape(x.shape[0], -1)
    curve = [_output_of(model, x, target, "logit")]
    for region in order:
        inside = ids == region
        current[:, inside] = flat_substrate[:, inside]
        curve.append(_output_of(model, current.reshape(x.shape), target, "logit"))
    fractions = np.arange(len(curve)) / len(order)
    return np.array(curve), np.trapezoid(curve, fractions)


def faithfulness_estimate_reference(model, x, target, attribution, patch, substrate, output):
    """Alvarez-Melis & Jaakkola 2018 (faithfulness estimate), one sample: for every region
    alone, its summed attribution and the drop f(x) - f(x with that region set to the
    substrate); the Pearson correlation of the two over the regions (NaN if either is
    constant)."""
    _, ids = _region_order(attribution, patch, True)
    relevance = attribution.sum(0).flatten().double().numpy()
    full = _output_of(model, x, target, output)
    mass, drop = [], []
    for region in range(ids.max() + 1):
        inside = ids == region
        perturbed = x.clone().reshape(x.shape[0], -1)
        perturbed[:, inside] = substrate.reshape(x.shape[0], -1)[:, inside]
        drop.append(full - _output_of(model, perturbed.reshape(x.shape), target, output))
        mass.append(relevance[inside].sum())
    if np.ptp(mass) == 0 or np.ptp(drop) == 0:
        return float("nan")
    return stats.pearsonr(mass, drop).statistic


def effective_complexity_reference(values, eps, relative):
    """Nguyen & Martínez 2020 (effective complexity): the number of attributions whose
    magnitude exceeds eps (here eps times the largest magnitude when `relative`), counted one
    position at a time."""
    threshold = eps * max(abs(v) for v in values) if relative else eps
    return sum(1 for v in values if abs(v) > threshold)


def top_k_intersection_reference(scores, mask, k, concept_influence):
    """Theiner et al. 2021 (top-k intersection): binarise the map to its k highest positions
    (stable: ties keep the lower index first) and count how many lie in the mask, over k;
    times the number of positions over the mask's size with concept influence."""
    top = np.argsort(-np.asarray(scores), kind="stable")[:k]
    share = sum(bool(mask[i]) for i in top) / k
    return share * len(mask) / sum(mask) if concept_influence else share
