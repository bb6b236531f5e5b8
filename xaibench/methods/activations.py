"""A view of a model in which every activation call has a module of its own.

Methods that change the backward pass of nonlinearities (DeepLIFT, guided backprop,
deconvolution) hook activation *modules*. Three common patterns defeat them: a module called
twice (torchvision's ResNet blocks reuse `self.relu`; captum's DeepLIFT then raises), an
in-place activation (DeepLIFT's stored inputs are overwritten), and a functional `F.relu` in
`forward` (no module to hook: guided backprop silently becomes the plain gradient).

`unshared_activations` traces the model with torch.fx and gives every such call its own fresh,
non-in-place module. The traced copy shares the original's parameters and other submodules
(no weights are copied, nothing in the original changes) and computes the same outputs.
"""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import fx, nn

log = logging.getLogger("xaibench")

# Parameter-free modules that hook-based methods treat as nonlinearities (captum's DeepLIFT
# hooks these types; guided backprop and deconvolution hook ReLUs).
HOOKED = (
    nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.MaxPool1d, nn.MaxPool2d,
)  # fmt: skip
FUNCTIONAL_RELU = (F.relu, torch.relu, torch.relu_, F.relu_)


def unshared_activations(model: nn.Module) -> nn.Module:
    """`model`, or a traced copy of it with one non-in-place module per activation call.

    Models that torch.fx cannot trace (data-dependent control flow) are returned unchanged:
    hooks then see what they would see without xaibench.
    """
    try:
        traced = fx.symbolic_trace(model)
    except Exception as error:  # fx raises many types; the model itself is still usable
        log.debug("torch.fx cannot trace %s (%s): activations stay as they are",
                  type(model).__name__, error)  # fmt: skip
        return model
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    changed = False
    for node in list(traced.graph.nodes):
        replacement = _own_module(traced, node, calls)
        if replacement is None:
            continue
        name = f"xaibench_activation_{len(traced.graph.nodes)}_{node.name}"
        traced.add_submodule(name, replacement)
        with traced.graph.inserting_before(node):
            call = traced.graph.call_module(name, args=(node.args[0],))
        node.replace_all_uses_with(call)
        traced.graph.erase_node(node)
        changed = True
    if not changed:
        return model
    traced.graph.lint()
    traced.delete_all_unused_submodules()  # the shared modules that no call uses any more
    traced.recompile()
    return traced


def _own_module(traced: fx.GraphModule, node: fx.Node, calls: dict[str, int]) -> nn.Module | None:
    """A fresh module for this activation call, or None if the call is fine as it is."""
    if node.op == "call_module":
        assert isinstance(node.target, str)  # a call_module's target is the submodule's path
        module = traced.get_submodule(node.target)
        if not isinstance(module, HOOKED):
            return None
        if calls[node.target] == 1 and not getattr(module, "inplace", False):
            return None
        fresh = copy.deepcopy(module)
        if hasattr(fresh, "inplace"):
            fresh.inplace = False
        return fresh
    is_relu = (node.op == "call_function" and node.target in FUNCTIONAL_RELU) or (
        node.op == "call_method" and node.target in ("relu", "relu_")
    )
    if is_relu and len(node.args) == 1 and set(node.kwargs) <= {"inplace"}:
        return nn.ReLU()
    return None
