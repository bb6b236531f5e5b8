"""Every method on torchvision's ResNet-18: residual sums, batch norms, and one in-place ReLU
module called twice per block, which hook-based methods must cope with."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import xaibench
from xaibench.methods import METHODS
from xaibench.registry import context_for

# Fewer inner iterations than the defaults, to keep a ResNet on 2 CPU cores quick.
LIGHT = {
    "integrated_gradients": {"steps": 8},
    "expected_gradients": {"draws": 4},
    "smoothgrad": {"noisy_copies": 4},
    "smoothgrad_sq": {"noisy_copies": 4},
    "smoothgrad_x_input": {"noisy_copies": 4},
    "vargrad": {"noisy_copies": 4},
    "smooth": {"noisy_copies": 4},
    "postprocess": {"params": {"steps": 8}},
    "occlusion": {"window": 8, "stride": 8},
    "rise": {"num_masks": 16},
    "scorecam": {"layer": "layer3.1.conv2"},  # 256 channels rather than 512
}


def resnet18(classes: int = 3) -> nn.Module:
    """Untrained, with batch-norm statistics and affine parameters set away from their
    identity defaults, so that mishandled batch norms show."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=classes)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
    return model.eval()


def snapshot(model: nn.Module) -> dict:
    hooks = [
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    ]  # fmt: skip
    return {
        "modules": [(name, type(m)) for name, m in model.named_modules()],
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},  # incl. BN statistics
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "hooks": hooks,
        "grads": [p.grad for p in model.parameters()],
    }


def assert_unchanged(before: dict, after: dict) -> None:
    state_before, state_after = before.pop("state"), after.pop("state")
    assert before == after
    assert all(torch.equal(state_before[k], state_after[k]) for k in state_before)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return resnet18()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", METHODS.builtin_names())
def test_every_method_runs_on_resnet18_and_leaves_it_unchanged(method, model, images):
    background = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    extra = context_for(METHODS[method].fn, {"background": background})
    before = snapshot(model)
    attr = xaibench.explain(model, images, torch.tensor([0, 2]), method, **LIGHT.get(method, {}),
                            **extra)  # fmt: skip
    assert attr.shape == images.shape
    assert torch.isfinite(attr).all()
    assert_unchanged(before, snapshot(model))


def test_epsilon_lrp_equals_gradient_x_input_on_resnet18(model, images):
    """With zennit's ResNet canonizer (batch norms merged into the convolutions, residual sums
    made explicit), epsilon-LRP of a ReLU network is gradient x input (Ancona et al. 2018);
    without it the batch norms pass relevance unchanged and the maps are far off."""
    ixg = xaibench.explain(model, images, 1, "input_x_gradient")
    lrp = xaibench.explain(model, images, 1, "lrp", epsilon=1e-9)
    torch.testing.assert_close(lrp, ixg, rtol=1e-3, atol=1e-5 * ixg.abs().max().item())
    raw = xaibench.explain(model, images, 1, "lrp", epsilon=1e-9, canonizer="none")
    assert (raw - ixg).abs().max() > 10 * ixg.abs().max()


def test_deeplift_on_resnet18_sums_to_the_output_difference(model, images):
    """DeepLIFT needs its own hooks on every ReLU call: torchvision reuses one in-place ReLU
    per block, which captum alone refuses."""
    attr = xaibench.explain(model, images, 1, "deeplift")
    with torch.no_grad():
        gap = model(images)[:, 1] - model(torch.zeros_like(images))[:, 1]
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)), gap, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS.builtin_names())
def test_every_method_runs_on_resnet18_with_its_defaults_at_64_pixels(method, model):
    """The defaults (2000 RISE masks, all 512 Score-CAM channels, ...) on 64 x 64 images."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    background = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    extra = context_for(METHODS[method].fn, {"background": background})
    before = snapshot(model)
    attr = xaibench.explain(model, x, 1, method, **extra)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    assert_unchanged(before, snapshot(model))
