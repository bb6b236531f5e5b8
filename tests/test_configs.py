"""Configs and registries agree, and every experiment runs end to end in debug mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from tests.helpers import compose_config
from xaibench.configs import expected_configs
from xaibench.data import DATASETS
from xaibench.methods import METHODS
from xaibench.metrics import METRICS
from xaibench.models import MODELS
from xaibench.registry import RUN_PARAMS, UnknownNameError
from xaibench.run import run
from xaibench.settings import CONF_DIR, read_settings

CONF = Path(CONF_DIR)
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "registry"),
    [("method", METHODS), ("metric", METRICS), ("dataset", DATASETS), ("model", MODELS)],
)
def test_every_registered_name_has_a_config_and_vice_versa(group, registry):
    # Methods and metrics: xaibench's own (installed plug-ins ship no config here).
    assert options(group) == registry.builtin_names()


@pytest.mark.parametrize("setup", options("setup"))
def test_a_setup_chooses_a_dataset_and_its_model(setup):
    cfg = compose_config(f"setup={setup}")
    assert (cfg.dataset.name, cfg.model.name) == {
        "mnist1d": ("mnist1d", "mnist1d_cnn"),
        "shapes": ("shapes", "cnn2d"),
        "imagenet": ("imagenet", "torchvision"),
        "hmt": ("imagefolder", "cnn2d"),
    }[setup]


def test_every_method_and_metric_config_holds_only_valid_settings(tmp_path):
    cfg = compose_config(
        f"method=[{','.join(METHODS.builtin_names())}]",
        f"metric=[{','.join(METRICS.builtin_names())}]",
        f"cache_dir={tmp_path}",
    )
    settings = read_settings(cfg)  # raises on any setting a function does not take
    assert list(settings.methods) == METHODS.builtin_names()
    assert list(settings.metrics) == METRICS.builtin_names()


def test_memory_knob_reaches_methods_and_metrics(tmp_path):
    settings = read_settings(compose_config("batch_size=123", f"cache_dir={tmp_path}"))
    assert settings.methods["integrated_gradients"].params["batch_size"] == 123
    assert all(entry.params["batch_size"] == 123 for entry in settings.metrics.values())


def test_the_method_and_metric_configs_are_generated_from_the_docstrings():
    stale = [
        str(path.relative_to(CONF))
        for path, text in expected_configs(CONF).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run `python -m xaibench.catalog --write-configs`"


@pytest.mark.parametrize(
    ("kind", "name"),
    [("method", n) for n in METHODS.builtin_names()]
    + [("metric", n) for n in METRICS.builtin_names()],
)
def test_config_defaults_equal_the_python_defaults(kind, name):
    info = (METHODS if kind == "method" else METRICS)[name]
    written = yaml.safe_load((CONF / kind / f"{name}.yaml").read_text()) or {}
    defaults = info.defaults()
    for setting, value in written.items():
        if setting in RUN_PARAMS:
            assert value == f"${{{setting}}}"  # the run's own value
            continue
        default = defaults[setting]
        expected = list(default) if isinstance(default, tuple) else default
        assert value == ({} if expected is None and isinstance(value, dict) else expected), setting
    set_by_run = {"method", "method_params"} if kind == "metric" and info.reexplains else set()
    assert set(written) == set(info.settings()) - set_by_run


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def swept_setups(experiment: str) -> list[str]:
    """The `setup` values (dataset with model) an experiment's own sweep runs, if it sweeps."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", [f"experiment={experiment}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.get("params") or {}
    return str(params["setup"]).split(",") if "setup" in params else [None]


# Studies of data and weights that only the user has (an ImageNet folder, pretrained weights):
# each is debug-tested on fixture files written by its own test.
LOCAL_FILES = {"imagenet_resnet50": "tests/test_imagenet_study.py"}
EXPERIMENT_SETUPS = [
    (e, setup) for e in EXPERIMENTS if e not in LOCAL_FILES for setup in swept_setups(e)
]
# These runs check that configs compose and run, so on shapes they train on few images and
# explain few samples (the studies' own runs use the configs as they are).
SMALL = {"shapes": ["dataset.num_train=300", "dataset.num_test=60", "samples=4"]}


@pytest.mark.parametrize(("experiment", "setup"), EXPERIMENT_SETUPS)
def test_every_experiment_runs_in_debug_mode(experiment, setup, shared_cache):
    overrides = [f"experiment={experiment}", "debug=fast", f"cache_dir={shared_cache}"]
    if setup:
        overrides += [f"setup={setup}", *SMALL.get(setup, [])]
    cfg = compose_config(*overrides)
    result = run(cfg)
    assert result.meta["errors"] == []
    methods, metrics = list(cfg.method), list(cfg.metric)
    assert len(result.scores) == cfg.samples * len(methods) * len(metrics)
    assert set(result.scores["method"]) == set(methods)
    assert set(result.scores["metric"]) == set(metrics)
    assert len(result.summary) == len(methods) * len(metrics)


def test_an_entry_can_run_a_registered_function_under_another_label(shared_cache):
    cfg = compose_config(
        "debug=fast",
        f"cache_dir={shared_cache}",
        "method=[integrated_gradients]",
        "metric=[deletion]",
        "+method.ig_blur={uses: integrated_gradients, baseline: blur, steps: 16}",
        "+metric.deletion_blur={uses: deletion, baseline: blur}",
    )
    result = run(cfg)
    assert result.meta["errors"] == []
    assert set(result.scores["method"]) == {"integrated_gradients", "ig_blur"}
    assert set(result.scores["metric"]) == {"deletion", "deletion_blur"}
    variant = result.scores[result.scores["method"] == "ig_blur"]["method_params"].iloc[0]
    assert '"uses": "integrated_gradients"' in variant
    # Same maps and metric, different substrate: the scores must differ.
    by_metric = result.scores[result.scores["method"] == "integrated_gradients"].groupby("metric")
    values = by_metric["value"].apply(list)
    assert values["deletion"] != values["deletion_blur"]


def test_an_unknown_uses_target_is_named(tmp_path):
    cfg = compose_config(f"cache_dir={tmp_path}", "+method.mine={uses: gradcamm}")
    with pytest.raises(UnknownNameError, match="unknown method 'gradcamm'"):
        read_settings(cfg)


@pytest.mark.parametrize(("experiment", "setup"), EXPERIMENT_SETUPS)
def test_the_runs_seed_and_batch_size_reach_every_entry_of_every_experiment(
    experiment, setup, tmp_path
):
    """Aliases (`uses:`) included, which take no config file's interpolations."""
    overrides = [f"experiment={experiment}", "batch_size=123", "seed=7", f"cache_dir={tmp_path}"]
    settings = read_settings(compose_config(*overrides, *([f"setup={setup}"] if setup else [])))
    for kind, entries in (("method", settings.methods), ("metric", settings.metrics)):
        registry = METHODS if kind == "method" else METRICS
        for label, entry in entries.items():
            taken = registry[entry.name].settings()
            for setting, value in (("batch_size", 123), ("seed", 7)):
                if setting in taken:
                    assert entry.params[setting] == value, (kind, label, setting)
