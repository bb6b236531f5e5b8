"""Device hygiene, checked on the CPU: every method and metric keeps its work on the inputs'
device, so that a GPU run neither fails on a tensor left on the CPU nor waits for the host in
its hot loops.

A `TorchFunctionMode` sees every torch call with the arguments as written, and records two
kinds, each with the xaibench function that made it:

- *host round trips*: reading a tensor's values on the host (`.item()`, `.tolist()`,
  `.numpy()`, `.cpu()`, `.to("cpu")`, `bool(t)`, `int(t)`, `float(t)`, NumPy conversion,
  `torch.allclose`, `torch.equal`) or an operation whose output size depends on values
  (`nonzero`, boolean-mask indexing, `unique`, ...). On a GPU each one waits for the device.
- *host tensors*: a tensor factory (`torch.zeros`, `arange`, `rand`, `tensor`, ...) called
  without `device=`, which makes a CPU tensor whatever the inputs' device.

Every method and metric runs on 2 and on 6 inputs with a batch size that makes the number of
batches grow with the inputs. Round trips must not grow with the batches (a fixed number per
call is fine: a check before the work, or the final move of the scores to the CPU), and host
tensors are allowed only where xaibench draws random numbers on a CPU generator on purpose (the
same numbers on every device), and moves them to the device once per call or per block.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import xaibench
from tests.helpers import (
    DEVICE_DIMS,
    METHOD_CASES,
    METRIC_CASES,
    device_problem,
    method_settings,
    metric_settings,
)

PACKAGE = Path(xaibench.__file__).resolve().parent
TORCH = Path(torch.__file__).resolve().parent

ROUND_TRIPS = {
    "item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__",
    "__array__", "allclose", "equal", "nonzero", "argwhere", "masked_select", "unique",
    "unique_consecutive", "bincount", "histc",
}  # fmt: skip
FACTORIES = {
    "zeros", "ones", "full", "empty", "arange", "range", "linspace", "logspace", "eye", "rand",
    "randn", "randint", "randperm", "normal", "tensor", "as_tensor", "scalar_tensor",
}  # fmt: skip

# Functions that draw random numbers on a CPU generator on purpose, so that a GPU run draws
# the numbers a CPU run draws (and CPU results stay as they were); each moves its draws to the
# inputs' device once per call (the uniform baseline once per block of a method's batch).
CPU_DRAWS = {
    ("methods/controls.py", "random"),
    ("methods/gradient.py", "expected_gradients_draws"),
    ("methods/perturbation.py", "rise_masks"),
    ("methods/smoothgrad.py", "noise_patterns"),
    ("metrics/correlation.py", "random_subsets"),
    ("metrics/infidelity.py", "square_corners"),
    ("metrics/infidelity.py", "infidelity"),
    ("metrics/randomisation.py", "other_classes"),
    ("metrics/road.py", "road"),
    ("metrics/robustness.py", "drawn_perturbations"),
    ("perturb.py", "uniform_baseline"),
}

# Where a fixed number of round trips per call is by design, and may recur per batch:
# `explain` checks its inputs and target before any work (a run's re-explaining metrics call it
# once per batch of re-explained inputs), and conjugate gradient (ROAD's imputation of images)
# reads whether every system has converged once every CHECK_EVERY iterations, which is what
# lets it stop early.
PER_CALL_CHECKS = {
    ("checks.py", "check_call"),
    ("checks.py", "count_nonfinite"),
    ("checks.py", "output_problem"),
    ("checks.py", "check_target_range"),
    ("metrics/imputation.py", "conjugate_gradient_impute"),
}


COMPREHENSIONS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}  # named by their function


def caller() -> tuple[str, str]:
    """The function that made the torch call, skipping torch's own frames: an xaibench file
    relative to the package, another library's (captum's) by its full path."""
    frame = sys._getframe(2)
    while frame is not None and (
        TORCH in Path(frame.f_code.co_filename).parents or frame.f_code.co_name in COMPREHENSIONS
    ):
        frame = frame.f_back
    if frame is None:
        return ("?", "?")
    path = Path(frame.f_code.co_filename)
    shown = path.relative_to(PACKAGE) if path.is_relative_to(PACKAGE) else path
    return str(shown), frame.f_code.co_name


def is_host(value: object) -> bool:
    """The host named as such (`"cpu"`): on this CPU, `inputs.device` is a CPU device too, and
    moving a tensor there is what the code should do."""
    return isinstance(value, str) and value.startswith("cpu")


class HostTraffic(TorchFunctionMode):
    """Counts round trips and host tensors by (file, function, torch call)."""

    def __init__(self) -> None:
        super().__init__()
        self.round_trips: Counter[tuple[str, str, str]] = Counter()
        self.host_tensors: Counter[tuple[str, str, str]] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if self.is_round_trip(name, args, kwargs):
            self.round_trips[(*caller(), name)] += 1
        elif name in FACTORIES and "device" not in kwargs and not self.on_device(name, args):
            self.host_tensors[(*caller(), name)] += 1
        return func(*args, **kwargs)

    @staticmethod
    def is_round_trip(name: str, args: tuple, kwargs: dict) -> bool:
        if name in ROUND_TRIPS:
            return True
        if name == "to":  # to the host by name; `.to(inputs.device)` is the inputs' device
            return any(is_host(v) for v in (*args[1:], kwargs.get("device")))
        if name in ("__getitem__", "__setitem__") and len(args) > 1:
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        if name == "repeat_interleave":  # tensor repeats without output_size read the sum
            return isinstance(args[1] if len(args) > 1 else kwargs.get("repeats"), torch.Tensor)
        return False

    @staticmethod
    def on_device(name: str, args: tuple) -> bool:
        """`torch.tensor(t)` / `as_tensor(t)` of a tensor keeps its device."""
        return name in ("tensor", "as_tensor") and bool(args) and isinstance(args[0], torch.Tensor)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One CPU thread: the toy models are too small to share, and on a busy CPU threads that
    wait for each other make these tests ten times slower (restored after the module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def traffic(run) -> HostTraffic:
    with HostTraffic() as seen:
        run()
    return seen


def shown(counts: Counter) -> str:
    return "; ".join(f"{f}:{fn} {call} x{n}" for (f, fn, call), n in sorted(counts.items()))


def growth(small: HostTraffic, large: HostTraffic) -> Counter:
    """Round trips that the larger run makes more often, outside the per-call checks."""
    grown = large.round_trips - small.round_trips
    return Counter({k: n for k, n in grown.items() if k[:2] not in PER_CALL_CHECKS})


def unexpected_host_tensors(seen: HostTraffic) -> Counter:
    return Counter({k: n for k, n in seen.host_tensors.items() if k[:2] not in CPU_DRAWS})


def xaibench_only(counts: Counter) -> Counter:
    """Calls made in xaibench's own code (not captum's or zennit's internals)."""
    return Counter({k: n for k, n in counts.items() if not Path(k[0]).is_absolute()})


BATCH = 4  # inputs per batch: 2 inputs make one batch or a few, 6 inputs three times as many


def explain_run(method: str, variant: dict, dims: int, samples: int):
    model, inputs, target, context = device_problem(dims, samples)
    settings = method_settings(method, context, batch_size=BATCH, **variant)
    return lambda: xaibench.explain(model, inputs, target, method, **settings)


def evaluate_run(metric: str, variant: dict, dims: int, samples: int):
    model, inputs, target, context = device_problem(dims, samples)
    settings = metric_settings(metric, context, batch_size=BATCH, **variant)
    maps = xaibench.explain(model, inputs, target, "input_x_gradient")
    return lambda: xaibench.evaluate(model, inputs, target, maps, metric, **settings)


@pytest.mark.parametrize("dims", DEVICE_DIMS)
@pytest.mark.parametrize(("method", "variant"), METHOD_CASES)
def test_a_method_makes_no_more_host_round_trips_for_more_batches(method, variant, dims):
    small = traffic(explain_run(method, variant, dims, 2))
    large = traffic(explain_run(method, variant, dims, 6))
    grown = xaibench_only(growth(small, large))
    assert not grown, f"{method}: round trips grow with the batches: {shown(grown)}"
    stray = xaibench_only(unexpected_host_tensors(large))
    assert not stray, f"{method}: tensors made without the inputs' device: {shown(stray)}"


@pytest.mark.parametrize("dims", DEVICE_DIMS)
@pytest.mark.parametrize(("metric", "variant"), METRIC_CASES)
def test_a_metric_makes_no_more_host_round_trips_for_more_batches(metric, variant, dims):
    small = traffic(evaluate_run(metric, variant, dims, 2))
    large = traffic(evaluate_run(metric, variant, dims, 6))
    grown = xaibench_only(growth(small, large))
    assert not grown, f"{metric}: round trips grow with the batches: {shown(grown)}"
    stray = xaibench_only(unexpected_host_tensors(large))
    assert not stray, f"{metric}: tensors made without the inputs' device: {shown(stray)}"


def test_the_counter_sees_a_round_trip_per_batch_and_a_host_tensor():
    """The counter itself: a loop that reads a value per batch, and a factory without a
    device, are both seen and named; `.to(inputs.device)` is not a round trip."""

    def per_batch(x: torch.Tensor) -> float:
        total = torch.zeros(1).to(x.device)
        for chunk in x.split(2):
            total += float(chunk.sum())
        return total

    two, eight = torch.ones(2), torch.ones(8)
    small, large = traffic(lambda: per_batch(two)), traffic(lambda: per_batch(eight))
    here = str(Path(__file__).resolve())
    assert large.round_trips - small.round_trips == Counter({(here, "per_batch", "__float__"): 3})
    assert large.host_tensors == Counter({(here, "per_batch", "zeros"): 1})
    assert large.round_trips == Counter({(here, "per_batch", "__float__"): 4})  # not the .to
    assert traffic(lambda: torch.ones(2).to("cpu")).round_trips  # to the host by name


# The explicit host copies that methods and metrics may make (grep-able): evaluate's results
# leave the device once per call, as its docstring promises (scores on the CPU), and model
# randomisation re-initialises a CPU copy of each layer once per run (CPU draws on any device).
HOST_COPIES_ALLOWED = {"metrics/__init__.py": 4, "metrics/randomisation.py": 1}
HOST_COPY = re.compile(r"\.(cpu|numpy|tolist|item)\(\)|^\s*(import|from)\s+(numpy|scipy)\b")


def test_methods_and_metrics_copy_to_the_host_only_where_listed():
    """No NumPy or SciPy, and no `.cpu()`, `.numpy()`, `.tolist()` or `.item()` outside
    docstring examples, in methods/, metrics/ and perturb.py, but for the listed ones."""
    found = Counter()
    for path in [
        *PACKAGE.glob("methods/*.py"),
        *PACKAGE.glob("metrics/*.py"),
        PACKAGE / "perturb.py",
    ]:
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#")[0]
            if HOST_COPY.search(code) and not code.lstrip().startswith((">>>", "...")):
                found[str(path.relative_to(PACKAGE))] += 1
    assert found == Counter(HOST_COPIES_ALLOWED)
