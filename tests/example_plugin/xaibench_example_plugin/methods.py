"""The example plug-in's method, registered with xaibench's public decorator."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import xaibench


@xaibench.register_method("gxi_pos", family="gradient")
def gxi_pos(model: nn.Module, inputs: Tensor, target: Tensor, clip: float = 0.0) -> Tensor:
    r"""Gradient x input, positive evidence only: $\max(x_i\, \partial y_c / \partial x_i, c)$.

    The contribution of each input value to the target logit to first order, as gradient x
    input gives it, with everything below `clip` raised to `clip`: with the default 0 the map
    keeps the evidence for the target class and drops the evidence against it. One forward and
    one backward pass.

    Args:
        clip: The smallest value the map holds.

    Returns:
        Attributions shaped like `inputs`, at least `clip` everywhere.

    Example:
        >>> import xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> maps = xaibench.explain(model, inputs, target, "gxi_pos")
        >>> bool((maps >= 0).all())
        True

    References:
        Shrikumar et al. 2016, "Not just a black box: learning important features through
        propagating activation differences", arXiv:1605.01713 (gradient x input).
    """
    logits = model(inputs)
    # The target logit of each sample depends on that sample only: the gradient of their sum
    # gives every sample's own gradient (the model's parameters get none).
    (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), inputs)
    return (gradient * inputs).detach().clamp(min=clip)
