"""A user's own method, metric and model, in a module written here (in tmp_path, on sys.path):
selected with `_target_` in a config, run like a built-in, named in meta.json and the run
tables, and never served stale: an edit is recomputed (retrained), and restoring the code
reuses the first cache entry. Installed plug-ins (entry points) are in tests/test_catalog.py
and tests/e2e/test_your_own_method.py."""

from __future__ import annotations

import json
import uuid
import warnings
from importlib.metadata import EntryPoint

import pytest

import xaibench
from tests.helpers import compose_config
from xaibench.methods import METHODS
from xaibench.plugins import PluginWarning, load_entry_points
from xaibench.registry import XaibenchError
from xaibench.run import run

RUN = ("debug=fast", "threads=1", "samples=8", "method=[saliency]", "metric=[deletion]")

# The method keeps the evidence for the target (clamp(min=clip)); the edit keeps the evidence
# against it (clamp(max=clip)); the metric is the mean absolute attribution.
PLUGIN = '''
import torch
import xaibench


def gxi(model, inputs, target, clip: float = 0.0):
    """Gradient x input, clipped."""
    logits = model(inputs).gather(1, target[:, None]).sum()
    return (torch.autograd.grad(logits, inputs)[0] * inputs).detach().clamp(min=clip)


def mass(attributions):
    """Mean absolute attribution."""
    return xaibench.MetricResult(scores=attributions.abs().flatten(1).mean(dim=1).double())
'''
EDITED = PLUGIN.replace("clamp(min=clip)", "clamp(max=clip)")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """(name, write): a module of a fresh name in tmp_path, on sys.path; `write(source)`
    replaces its source."""
    name = f"plugin_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> None:
        (tmp_path / f"{name}.py").write_text(source)

    write(PLUGIN)
    yield name, write
    for registry_name in [n for n in METHODS.names() if n.startswith(name)]:
        METHODS.remove(registry_name)
    from xaibench.metrics import METRICS

    for registry_name in [n for n in METRICS.names() if n.startswith(name)]:
        METRICS.remove(registry_name)


def plugin_run(module: str, cache, *extra: str):
    return run(compose_config(
        *RUN, f"cache_dir={cache}",
        f"+method.mine={{_target_: {module}.gxi, clip: 0}}",
        f"+metric.mass={{_target_: {module}.mass, higher_is_better: false}}",
        *extra,
    ))  # fmt: skip


def scores_of(result, method: str, metric: str) -> list[float]:
    table = result.scores
    return table[(table.method == method) & (table.metric == metric)]["value"].tolist()


def test_an_edited_plugin_is_recomputed_and_restoring_it_reuses_the_first_entry(
    user_module, tmp_path
):
    module, write = user_module
    cache = tmp_path / "cache"
    first = plugin_run(module, cache)
    assert first.meta["errors"] == []
    assert first.meta["stages"]["explain/mine"]["cached"] is False
    # The plug-in's maps are non-negative; deletion and the plug-in metric score them.
    assert (first.attributions["mine"] >= 0).all()
    assert len(scores_of(first, "mine", "deletion")) == 8
    assert len(scores_of(first, "saliency", "mass")) == 8

    write(EDITED)
    edited = plugin_run(module, cache)
    assert edited.meta["stages"]["explain/mine"]["cached"] is False
    assert edited.meta["stages"]["explain/saliency"]["cached"] is True
    assert (edited.attributions["mine"] <= 0).all()
    assert scores_of(edited, "mine", "mass") != scores_of(first, "mine", "mass")
    assert scores_of(edited, "saliency", "mass") == scores_of(first, "saliency", "mass")

    write(PLUGIN)
    restored = plugin_run(module, cache)
    assert restored.meta["stages"]["explain/mine"]["cached"] is True
    assert restored.meta["stages"]["evaluate/mass"]["cached"] is True
    assert scores_of(restored, "mine", "deletion") == scores_of(first, "mine", "deletion")
    assert scores_of(restored, "mine", "mass") == scores_of(first, "mine", "mass")


def test_meta_and_every_score_row_name_the_plugins_import_path_and_version(user_module, tmp_path):
    module, _ = user_module
    result = plugin_run(module, tmp_path)
    version = result.meta["plugins"]["methods"]["mine"]["_version_"]
    assert version.startswith("source:") and len(version) == len("source:") + 16
    assert result.meta["plugins"] == {
        "methods": {"mine": {"_target_": f"{module}.gxi", "_version_": version}},
        "metrics": {
            "mass": {
                "_target_": f"{module}.mass",
                "_version_": result.meta["plugins"]["metrics"]["mass"]["_version_"],
            }
        },
    }
    rows = result.scores[result.scores.method == "mine"]
    assert {json.loads(p)["_target_"] for p in rows.method_params} == {f"{module}.gxi"}
    assert {json.loads(p)["_version_"] for p in rows.method_params} == {version}
    assert {json.loads(p)["clip"] for p in rows.method_params} == {0}
    mass_rows = result.scores[result.scores.metric == "mass"]
    assert set(mass_rows.higher_is_better) == {False}
    assert json.loads(mass_rows.metric_params.iloc[0])["_target_"] == f"{module}.mass"
    # Built-ins are recorded as before: no import path, no version.
    assert "_target_" not in json.loads(result.scores[result.scores.method == "saliency"]
                                        .method_params.iloc[0])  # fmt: skip


MODEL = """
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes, input_shape):
        super().__init__()
        self.conv = nn.Conv1d(input_shape[0], 4, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool1d(4)
        self.out = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.out(self.pool(self.conv(x).relu()).flatten(1))
"""


def test_an_edited_custom_model_is_retrained_and_restoring_it_reuses_the_first_weights(
    user_module, tmp_path
):
    module, write = user_module
    write(MODEL)
    overrides = (*RUN, f"cache_dir={tmp_path}", "model=custom", f"model._target_={module}.Net")
    first = run(compose_config(*overrides))
    assert first.meta["model"]["cached"] is False
    write(MODEL.replace("AdaptiveAvgPool1d", "AdaptiveMaxPool1d"))
    edited = run(compose_config(*overrides))
    assert edited.meta["model"]["cached"] is False
    assert edited.meta["model"]["key"] != first.meta["model"]["key"]
    write(MODEL)
    restored = run(compose_config(*overrides))
    assert restored.meta["model"]["cached"] is True
    assert restored.meta["model"]["key"] == first.meta["model"]["key"]
    assert restored.meta["model"]["test_accuracy"] == first.meta["model"]["test_accuracy"]


def test_a_builtin_models_key_holds_no_user_code():
    """The keys of built-in models are as before this feature: existing caches stay valid."""
    from xaibench.models.custom import code_version

    assert code_version({"channels": 8}) == {}


# --- each way a plug-in can be wrong: one line ---------------------------------------------

NO_TARGET = "def gxi(model, inputs, clip: float = 0.0):\n    return inputs\n"
BROKEN_IMPORT = "import torch\nraise RuntimeError('weights file missing')\n"

PLUGIN_CASES = {
    "a module that does not exist": (
        None, "method", "{_target_: nosuch_module_xyz.fn}",
        "method 'mine': _target_='nosuch_module_xyz.fn' cannot be imported: "
        "ModuleNotFoundError: No module named 'nosuch_module_xyz'",
    ),
    "a module that fails on import": (
        BROKEN_IMPORT, "method", "{_target_: MODULE.gxi}",
        "cannot be imported: RuntimeError: weights file missing (MODULE.py, line 2)",
    ),
    "a function the module lacks": (
        PLUGIN, "method", "{_target_: MODULE.nothing}",
        "_target_='MODULE.nothing' cannot be imported: ",
    ),
    "a method without a target parameter": (
        NO_TARGET, "method", "{_target_: MODULE.gxi}",
        "method 'MODULE.gxi': its function takes no parameter 'target'; a method is "
        "fn(model, inputs, target, **settings)",
    ),
    "a metric without a direction": (
        PLUGIN, "metric", "{_target_: MODULE.mass}",
        "metric 'mine': MODULE.mass declares no direction; add higher_is_better: true or false",
    ),
    "a direction that is not a bool": (
        PLUGIN, "metric", "{_target_: MODULE.mass, higher_is_better: up}",
        "higher_is_better='up' must be true or false",
    ),
    "an unknown family": (
        PLUGIN, "method", "{_target_: MODULE.gxi, family: magic}",
        "unknown family 'magic'; valid families: gradient, cam, perturbation, control, wrapper, "
        "other",
    ),
    "a setting the function does not take": (
        PLUGIN, "method", "{_target_: MODULE.gxi, clipp: 0}",
        "unknown parameter 'clipp' for method 'mine'; valid parameters: clip",
    ),
    "both uses and _target_": (
        PLUGIN, "method", "{_target_: MODULE.gxi, uses: saliency}",
        "method 'mine' sets both uses and _target_; keep one",
    ),
    "a target that is not an import path": (
        None, "method", "{_target_: 3}",
        "method 'mine': _target_=3 must be an import path, module.function",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "kind", "entry", "fragment"), PLUGIN_CASES.values(), ids=list(PLUGIN_CASES)
)
def test_a_wrong_plugin_is_named_in_one_line_before_any_work(
    source, kind, entry, fragment, user_module, tmp_path
):
    from xaibench.settings import read_settings

    module, write = user_module
    if source is not None:
        write(source)
    cfg = compose_config(
        *RUN, f"cache_dir={tmp_path}", f"+{kind}.mine={entry.replace('MODULE', module)}"
    )
    with pytest.raises(XaibenchError) as excinfo:
        read_settings(cfg)
    message = str(excinfo.value)
    assert "\n" not in message and len(message) < 400, message
    assert fragment.replace("MODULE", module) in message


def test_a_map_of_the_wrong_shape_or_dtype_is_named_in_one_line(cnn1d, signals):
    def flat(model, inputs, target):
        return inputs.sum(dim=1)

    def double(model, inputs, target):
        return inputs.double()

    for fn, fragment in [
        (flat, "returned a map shaped (6, 16) of torch.float32; it must be shaped like its "
               "inputs, (6, 2, 16) of torch.float32"),
        (double, "returned a map shaped (6, 2, 16) of torch.float64"),
    ]:  # fmt: skip
        name = f"test_{fn.__name__}_{uuid.uuid4().hex[:6]}"
        xaibench.register_method(name, family="other")(fn)
        try:
            with pytest.raises(XaibenchError) as excinfo:
                xaibench.explain(cnn1d, signals, 0, name)
        finally:
            METHODS.remove(name)
        message = str(excinfo.value)
        assert "\n" not in message
        assert message.startswith(f"method {name!r} {fragment}")


def test_a_plugin_whose_maps_are_nan_is_scored_nan_and_counted(user_module, tmp_path):
    module, write = user_module
    write(PLUGIN.replace("clamp(min=clip)", "clamp(min=clip) / 0.0 * 0.0"))
    result = plugin_run(module, tmp_path)
    assert result.meta["errors"] == []
    assert all(v != v for v in scores_of(result, "mine", "deletion"))  # NaN
    assert result.meta["nan_scores"]["mine/deletion"] == 8


def test_a_broken_installed_plugin_warns_in_one_line_and_breaks_nothing(monkeypatch):
    broken = EntryPoint("broken", "nosuch_plugin_pkg.methods:fn", "xaibench.methods")
    monkeypatch.setattr(
        "importlib.metadata.entry_points",
        lambda group=None: [broken] if group == "xaibench.methods" else [],
    )
    before = METHODS.names()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_entry_points("method", METHODS)
    (warning,) = caught
    assert warning.category is PluginWarning
    message = str(warning.message)
    assert "\n" not in message
    assert message.startswith(
        "xaibench: plug-in entry point broken = nosuch_plugin_pkg.methods:fn (group "
        "xaibench.methods) failed to load and is left out: ModuleNotFoundError: No module "
        "named 'nosuch_plugin_pkg'"
    )
    assert METHODS.names() == before


def test_a_plugin_map_of_the_wrong_shape_fails_that_method_only(user_module, tmp_path):
    module, write = user_module
    write(PLUGIN.replace(".clamp(min=clip)", ".clamp(min=clip).sum(dim=1)"))
    result = plugin_run(module, tmp_path)
    (error,) = result.meta["errors"]
    assert error["stage"] == "explain" and error["method"] == "mine"
    assert (
        f"method '{module}.gxi' returned a map shaped (8, 40) of torch.float32" in (error["error"])
    )
    assert set(result.scores.method) == {"saliency"}


def test_a_run_folder_of_a_plugin_whose_code_changed_is_refused(user_module, tmp_path):
    from xaibench.origins import origin, refresh
    from xaibench.runfolder import changed_plugin

    module, write = user_module
    first = plugin_run(module, tmp_path)
    assert changed_plugin(first.meta) is None
    write(EDITED)
    assert changed_plugin(first.meta) == f"method 'mine' ({module}.gxi)"
    write(PLUGIN)
    assert changed_plugin(first.meta) is None
    refresh(module)
    assert (
        origin(METHODS[f"{module}.gxi"].fn).version
        == (first.meta["plugins"]["methods"]["mine"]["_version_"])
    )
