"""Every bad input fails before any work starts, in one line that names the setting, the bad
value and what is valid: the Python API (`explain`, `evaluate`), every registered method's and
metric's settings, the settings a run reads, and the data and model a run gets. The command
line's table is tests/e2e/test_validation_cli.py; the plug-ins' (a wrong `_target_`,
function or map) is in tests/test_plugins.py."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

import xaibench
from tests.helpers import WrongOutputNet, compose_config
from xaibench.cache import Cache
from xaibench.constraints import allows, describe
from xaibench.data import DATASETS, Dataset, load_dataset, register_dataset
from xaibench.methods import METHODS
from xaibench.metrics import METRICS
from xaibench.models import ModelSpec, get_model
from xaibench.registry import XaibenchError
from xaibench.samples import sample_count
from xaibench.settings import MODEL_KEYS, RUN_SETTINGS, read_settings


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# --- the Python API: inputs, targets and models -----------------------------------------------

# (call(model, inputs, maps), expected fragment); the model is tiny_cnn1d (2 channels, 16
# positions, 3 classes), the inputs (6, 2, 16), the maps its saliency maps.
API_CASES = {
    "inputs with the wrong channels": (
        lambda m, x, a: xaibench.explain(m, torch.randn(6, 3, 16), 0, "saliency"),
        "the model cannot run on inputs shaped (6, 3, 16): RuntimeError: ",
    ),
    "inputs of the wrong length": (
        lambda m, x, a: xaibench.evaluate(m, torch.randn(6, 2, 15), 0, a[:, :, :15], "deletion"),
        "the model cannot run on inputs shaped (6, 2, 15): RuntimeError: ",
    ),
    "int inputs": (
        lambda m, x, a: xaibench.explain(m, x.long(), 0, "saliency"),
        "inputs must be floating point, got dtype torch.int64",
    ),
    "uint8 inputs": (
        lambda m, x, a: xaibench.evaluate(m, x.byte(), 0, a, "deletion"),
        "inputs must be floating point, got dtype torch.uint8",
    ),
    "a numpy array as inputs": (
        lambda m, x, a: xaibench.explain(m, x.numpy(), 0, "saliency"),
        "inputs must be a tensor shaped (N, C, L) for signals or (N, C, H, W) for images, got "
        "ndarray",
    ),
    "flat inputs": (
        lambda m, x, a: xaibench.explain(m, x.flatten(1), 0, "saliency"),
        "got (6, 32)",
    ),
    "an empty batch": (
        lambda m, x, a: xaibench.explain(m, x[:0], 0, "saliency"),
        "inputs hold no samples (shape (0, 2, 16))",
    ),
    "NaN inputs": (
        lambda m, x, a: xaibench.explain(m, with_value(x, float("nan"), 1, 4), 0, "saliency"),
        "inputs hold NaN or infinite values in 2 of 6 samples",
    ),
    "infinite inputs": (
        lambda m, x, a: xaibench.evaluate(m, with_value(x, float("inf"), 0), 0, a, "deletion"),
        "inputs hold NaN or infinite values in 1 of 6 samples",
    ),
    'target="cat"': (
        lambda m, x, a: xaibench.explain(m, x, "cat", "saliency"),
        "target='cat' must be a class index (an int), one per sample",
    ),
    "a float target": (
        lambda m, x, a: xaibench.explain(m, x, torch.zeros(6), "saliency"),
        "target must hold class indices (integers), got dtype torch.float32",
    ),
    "a target per sample too many": (
        lambda m, x, a: xaibench.evaluate(m, x, [0] * 7, a, "deletion"),
        "target has 7 entries but inputs have 6 samples",
    ),
    "a target beyond the classes": (
        lambda m, x, a: xaibench.explain(m, x, 3, "saliency"),
        "target class 3 is out of range: the model has 3 outputs (valid targets 0..2)",
    ),
    "a model with one output": (
        lambda m, x, a: xaibench.evaluate(one_output_model(), x, 0, a, "deletion"),
        "the model returns 1 output per input; methods and metrics need one logit per class",
    ),
    "a softmax-output model": (
        lambda m, x, a: xaibench.explain(nn.Sequential(m, nn.Softmax(dim=1)), x, 0, "saliency"),
        "the model returns probabilities (non-negative, summing to 1), but methods and metrics "
        "read logits",
    ),
    "a model returning a tuple": (
        lambda m, x, a: xaibench.explain(WrongOutputNet(3, (2, 16), "tuple"), x, 0, "saliency"),
        "the model returns a tuple, not a tensor of logits shaped (N, classes)",
    ),
    "a model returning a dict": (
        lambda m, x, a: xaibench.evaluate(WrongOutputNet(3, (2, 16), "dict"), x, 0, a, "deletion"),
        "the model returns a dict, not a tensor of logits shaped (N, classes)",
    ),
    "evaluate given a numpy array": (
        lambda m, x, a: xaibench.evaluate(m, x, 0, a.numpy(), "deletion"),
        "attributions must be a tensor shaped like the inputs (6, 2, 16), got a ndarray",
    ),
    "maps of another shape": (
        lambda m, x, a: xaibench.evaluate(m, x, 0, a[:, :1], "deletion"),
        "attributions must be a tensor shaped like the inputs (6, 2, 16), got (6, 1, 16)",
    ),
    "negative noise": (
        lambda m, x, a: xaibench.explain(m, x, 0, "smoothgrad", noise=-0.1),
        "method 'smoothgrad': noise=-0.1 must be a number >= 0",
    ),
    "steps=0 for integrated gradients": (
        lambda m, x, a: xaibench.explain(m, x, 0, "integrated_gradients", steps=0),
        "method 'integrated_gradients': steps=0 must be an integer >= 1",
    ),
    "a float where an int goes": (
        lambda m, x, a: xaibench.evaluate(m, x, 0, a, "deletion", steps=3.7),
        "metric 'deletion': steps=3.7 must be an integer >= 1",
    ),
    "NaN where a number goes": (
        lambda m, x, a: xaibench.evaluate(m, x, 0, a, "infidelity", noise=float("nan")),
        "metric 'infidelity': noise=nan must be a number >= 0",
    ),
    "a string where a bool goes": (
        lambda m, x, a: xaibench.explain(m, x, 0, "saliency", signed="no"),
        "method 'saliency': signed='no' must be true or false",
    ),
    "an unknown setting": (
        lambda m, x, a: xaibench.explain(m, x, 0, "integrated_gradients", step=8),
        "unknown parameter 'step' for method 'integrated_gradients'; valid parameters: steps,",
    ),
    "a bad setting of the method a wrapper wraps": (
        lambda m, x, a: xaibench.explain(m, x, 0, "postprocess", params={"steps": 0}),
        "method 'integrated_gradients': steps=0 must be an integer >= 1",
    ),
    "a bad setting of the method a metric re-explains with": (
        lambda m, x, a: xaibench.evaluate(
            m, x, 0, a, "max_sensitivity", method="smoothgrad", method_params={"noise": -1}
        ),
        "method 'smoothgrad': noise=-1 must be a number >= 0",
    ),
}


def with_value(x: torch.Tensor, value: float, *samples: int) -> torch.Tensor:
    x = x.clone()
    x[list(samples), 0, 3] = value
    return x


def one_output_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(32, 1))


@pytest.mark.parametrize(("call", "fragment"), API_CASES.values(), ids=API_CASES.keys())
def test_a_bad_call_fails_in_one_line(call, fragment, cnn1d, signals):
    maps = xaibench.explain(cnn1d, signals, 0, "saliency")
    with pytest.raises(XaibenchError) as excinfo:
        call(cnn1d, signals, maps)
    assert fragment in one_line(excinfo)


# --- every method's and metric's settings -----------------------------------------------------

COUNT, SEED, BOOL = "an integer >= 1", "an integer >= 0", "true or false"
BASELINE = "one of blur, mean, uniform, zero"
OUTPUT = "one of probability, logit, correct"
SIMILARITY = "one of spearman, ssim"
LAYER = "a string or null"
PARAMS = "a mapping or null"
SMOOTHED = ("smoothgrad", "smoothgrad_sq", "vargrad", "smoothgrad_x_input")

# (method, setting, bad value, what is valid): every setting with a type or range to check.
METHOD_CASES = [
    ("deeplift", "baseline", "black", BASELINE),
    ("deeplift", "batch_size", 0, COUNT),
    ("expected_gradients", "draws", 0, COUNT),
    ("expected_gradients", "seed", -1, SEED),
    ("expected_gradients", "batch_size", 0, COUNT),
    ("integrated_gradients", "steps", 0, COUNT),
    ("integrated_gradients", "baseline", "black", BASELINE),
    ("integrated_gradients", "batch_size", 2.5, COUNT),
    ("lrp", "rule", "z", "one of epsilon, epsilon_plus, epsilon_plus_flat, epsilon_alpha2_beta1"),
    ("lrp", "epsilon", 0, "a number > 0"),
    ("lrp", "canonizer", "resnet", "one of auto, none"),
    ("occlusion", "window", 0, "an integer >= 1 or a list of integers >= 1"),
    ("occlusion", "stride", [2, 0], "an integer >= 1 or a list of integers >= 1"),
    ("occlusion", "baseline", "grey", BASELINE),
    ("occlusion", "output", "correct", "one of logit, probability"),
    ("occlusion", "batch_size", -5, COUNT),
    ("postprocess", "params", "steps=8", PARAMS),
    ("postprocess", "transform", "square", "one of none, abs, positive, negative"),
    ("postprocess", "normalise", "l2", "one of none, max, sum, minmax"),
    ("postprocess", "batch_size", 0, COUNT),
    ("random", "seed", -1, SEED),
    ("rise", "num_masks", 0, COUNT),
    ("rise", "cell", 0, COUNT),
    ("rise", "p", 0, "a number in (0, 1]"),
    ("rise", "p", 1.5, "a number in (0, 1]"),
    ("rise", "seed", "abc", SEED),
    ("rise", "baseline", "black", BASELINE),
    ("rise", "output", "margin", OUTPUT),
    ("rise", "batch_size", 0, COUNT),
    ("saliency", "signed", "no", BOOL),
    ("gradcam", "relu", 1, BOOL),
    *[(cam, "layer", 9, LAYER) for cam in
      ("gradcam", "gradcam_pp", "guided_gradcam", "xgradcam", "layercam", "eigencam", "scorecam")],
    ("scorecam", "weighting", "max", "one of channel_softmax, probability"),
    ("scorecam", "batch_size", 0, COUNT),
    ("smooth", "params", ["layer"], PARAMS),
    ("smooth", "noisy_copies", 0, COUNT),
    ("smooth", "noise", -0.1, "a number >= 0"),
    ("smooth", "seed", -1, SEED),
    ("smooth", "statistic", "median", "one of mean, mean_square, variance"),
    ("smooth", "batch_size", 0, COUNT),
    *[(name, "noisy_copies", 0, COUNT) for name in SMOOTHED],
    *[(name, "noise", -0.1, "a number >= 0") for name in SMOOTHED],
    *[(name, "seed", -1, SEED) for name in SMOOTHED],
    *[(name, "batch_size", 0, COUNT) for name in SMOOTHED],
    ("smoothgrad", "signed", "yes", BOOL),
]  # fmt: skip

FAITHFULNESS = (
    "deletion", "insertion", "aopc_morf", "aopc_lerf", "road_morf", "road_lerf", "monotonicity",
    "sensitivity_n", "faithfulness_correlation", "infidelity", "abpc", "average_drop",
    "increase_in_confidence", "selectivity", "region_perturbation", "faithfulness_estimate",
)  # fmt: skip
SEEDLESS = ("deletion", "insertion", "abpc", "average_drop", "increase_in_confidence",
            "selectivity")  # fmt: skip
REEXPLAINING = ("max_sensitivity", "local_lipschitz", "model_randomisation", "random_logit")
METRIC_CASES = [
    *[(name, "batch_size", 0, COUNT) for name in FAITHFULNESS],
    *[(name, "output", "margin", OUTPUT) for name in FAITHFULNESS
      if name != "selectivity"],  # selectivity fixes output: logit
    *[(name, "seed", -1, SEED) for name in FAITHFULNESS + REEXPLAINING
      if name not in SEEDLESS],
    *[(name, "patch", 0, COUNT) for name in ("deletion", "insertion", "aopc_morf", "aopc_lerf",
                                             "road_morf", "road_lerf", "monotonicity",
                                             "infidelity", "abpc", "selectivity",
                                             "region_perturbation", "faithfulness_estimate")],
    *[(name, "baseline", "black", BASELINE) for name in ("deletion", "insertion", "aopc_morf",
                                                          "aopc_lerf", "monotonicity",
                                                          "sensitivity_n",
                                                          "faithfulness_correlation",
                                                          "infidelity", "abpc",
                                                          "selectivity",
                                                          "faithfulness_estimate")],
    *[(name, "steps", 0, COUNT) for name in ("deletion", "insertion", "aopc_morf", "aopc_lerf",
                                             "abpc", "selectivity", "region_perturbation")],
    *[(name, "rescale", "max", "one of min_max, positive_max")
      for name in ("average_drop", "increase_in_confidence")],
    *[(name, "removed", [0.5, 1.0], "a number in (0, 1) or a list of numbers in (0, 1)")
      for name in ("road_morf", "road_lerf")],
    *[(name, "noise", -0.1, "a number >= 0") for name in ("road_morf", "road_lerf", "infidelity")],
    ("monotonicity", "draws", 0, COUNT),
    ("sensitivity_n", "n", [0.1, 0], "a number > 0 or a list of numbers > 0"),
    ("sensitivity_n", "subsets", 1, "an integer >= 2"),
    ("faithfulness_correlation", "subset_size", -3, "a number > 0"),
    ("faithfulness_correlation", "subsets", 0, "an integer >= 2"),
    ("infidelity", "perturbation", "uniform", "one of noisy_baseline, square, gaussian"),
    ("infidelity", "perturbations", 0, COUNT),
    ("infidelity", "normalise", "yes", BOOL),
    *[(name, "radius", 0, "a number > 0") for name in ("max_sensitivity", "local_lipschitz")],
    *[(name, "perturbations", 0, COUNT) for name in ("max_sensitivity", "local_lipschitz")],
    ("max_sensitivity", "relative", "no", BOOL),
    *[(name, "batch_size", 0, COUNT) for name in REEXPLAINING],
    ("model_randomisation", "mode", "random", "one of cascading, independent"),
    *[(name, "similarity", "pearson", SIMILARITY) for name in
      ("model_randomisation", "random_logit")],
    *[(name, "absolute", "yes", BOOL) for name in ("model_randomisation", "random_logit")],
    *[(name, "method_params", "signed", PARAMS) for name in REEXPLAINING],
    ("effective_complexity", "eps", -0.1, "a number >= 0"),
    ("effective_complexity", "relative", "yes", BOOL),
    ("top_k_intersection", "k", -3, "a number > 0"),
    ("top_k_intersection", "concept_influence", "yes", BOOL),
]  # fmt: skip


@pytest.mark.parametrize(("name", "setting", "value", "valid"), METHOD_CASES)
def test_a_method_setting_outside_its_range_is_named(name, setting, value, valid, cnn1d, signals):
    with pytest.raises(XaibenchError) as excinfo:
        xaibench.explain(cnn1d, signals, 0, name, **{setting: value})
    assert f"method '{name}': {setting}={value!r} must be {valid}" == one_line(excinfo)


@pytest.mark.parametrize(("name", "setting", "value", "valid"), METRIC_CASES)
def test_a_metric_setting_outside_its_range_is_named(name, setting, value, valid, cnn1d, signals):
    reexplain = {"method": "saliency"} if name in REEXPLAINING else {}
    with pytest.raises(XaibenchError) as excinfo:
        xaibench.evaluate(cnn1d, signals, 0, signals, name, **{**reexplain, setting: value})
    assert f"metric '{name}': {setting}={value!r} must be {valid}" == one_line(excinfo)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda m, x: xaibench.explain(m, x, 0, "smooth", method="gradcm"),
         "unknown method 'gradcm'; valid methods: deconvolution,"),
        (lambda m, x: xaibench.explain(m, x, 0, "postprocess", method="IG"),
         "unknown method 'IG'; valid methods: deconvolution,"),
        (lambda m, x: xaibench.explain(m, x, 0, "postprocess", method=3),
         "method 'postprocess': method=3 must be a string"),
        (lambda m, x: xaibench.evaluate(m, x, 0, x, "random_logit", method="salency"),
         "unknown method 'salency'; valid methods: deconvolution,"),
    ],
)  # fmt: skip
def test_an_unknown_method_name_lists_the_valid_ones(call, fragment, cnn1d, signals):
    with pytest.raises(XaibenchError) as excinfo:
        call(cnn1d, signals)
    assert fragment in one_line(excinfo)


def test_every_setting_with_a_type_or_range_is_in_the_tables():
    """A new method or metric adds its rows: its settings are then checked the same way."""
    covered = {("method", *row[:2]) for row in METHOD_CASES}
    covered |= {("metric", *row[:2]) for row in METRIC_CASES}
    free = ("a string", "a string or null", "a value")  # names: checked by their registry
    for kind, registry in (("method", METHODS), ("metric", METRICS)):
        for name in registry.builtin_names():
            for setting, hint in registry[name].setting_types().items():
                if describe(hint) not in free:
                    assert (kind, name, setting) in covered, (kind, name, setting)


def test_every_default_lies_in_its_own_range():
    for registry in (METHODS, METRICS):
        for name in registry.builtin_names():
            info = registry[name]
            types = info.setting_types()
            for setting, default in info.defaults().items():
                assert allows(types[setting], default), (name, setting, default)


# --- the settings of a run --------------------------------------------------------------------

CONFIG_CASES = {
    "samples=0": "samples=0 must be an integer >= 1 or all",
    "samples=3.7": "samples=3.7 must be an integer >= 1 or all",
    "samples=abc": "samples='abc' must be an integer >= 1 or all",
    "samples=every": "samples='every' must be an integer >= 1 or all",
    "subset=random": "subset='random' must be one of first, shuffled, stratified",
    "shard=-1": "shard=-1 must be an integer >= 0",
    "shards=0": "shards=0 must be an integer >= 1",
    "shard=3 shards=3": "shard=3 does not exist with shards=3; choose shard from 0 to 2 (or "
        "raise shards)",
    "samples=16 shards=17": "shards=17 is more than the 16 explained inputs (samples); choose "
        "shards <= 16",
    "batch_size=0": "batch_size=0 must be an integer >= 1",
    "seed=abc": "seed='abc' must be an integer >= 0",
    "seed=-1": "seed=-1 must be an integer >= 0",
    "device=tpu": "device='tpu' must be one of auto, cpu, cuda, cuda:N",
    "device=cuda:x": "device='cuda:x' must be one of auto, cpu, cuda, cuda:N",
    "threads=0": "threads=0 must be an integer >= 1 or null",
    "reuse=no": "reuse='no' must be true or false",
    "progress=1": "progress=1 must be true or false",
    "min_accuracy=90": "min_accuracy=90 must be a number in [0, 1]",
    "target=cat": "target='cat' must be one of predicted, label",
    "sweep_report=maybe": "sweep_report='maybe' must be true or false",
    "dataset.train_split=1.5": "dataset 'mnist1d': train_split=1.5 must be a number in (0, 1)",
    "dataset.num_samples=5": "dataset 'mnist1d': num_samples=5 must be an integer >= 10",
    "dataset.iid_noise_scale=nan":
        "dataset 'mnist1d': iid_noise_scale=nan must be a number >= 0",
    "dataset.padding=[36]": "dataset 'mnist1d': padding=[36] must be a list of 2 integers >= 0",
    "dataset.shuffle_seq=yes": "dataset 'mnist1d': shuffle_seq='yes' must be true or false",
    "dataset.max_translation=0": "dataset 'mnist1d': max_translation=0 must be an integer >= 1",
    "dataset.normalise=minmax":
        "dataset 'mnist1d': normalise='minmax' must be one of none, standard, given",
    "dataset.normalise=given": "normalise=given needs dataset.mean and dataset.std",
    "dataset.mean=[0.5]": "dataset.mean and dataset.std apply with normalise=given, not "
        "normalise=none; set dataset.normalise=given",
    "dataset.normalise=given dataset.mean=[0.5] dataset.std=[0.2,0.3]":
        "dataset.mean has 1 numbers but dataset.std has 2",
    "dataset.normalise=given dataset.mean=[0.5] dataset.std=[0]":
        "dataset 'mnist1d': std=[0] must be a list of numbers > 0 or null",
    "dataset=imagefolder dataset.interpolation=cubic":
        "dataset 'imagefolder': interpolation='cubic' must be one of bilinear, bicubic,",
    "dataset=imagefolder dataset.classes=wnids":
        "dataset 'imagefolder': classes='wnids' must be one of folders, imagenet",
    "dataset=imagenet dataset.per_class=0":
        "dataset 'imagenet': per_class=0 must be an integer >= 1 or null",
    "model=torchvision model.arch=resnet51":
        "model.arch='resnet51' is not a torchvision classification model; close: resnet50",
    "model=timm model.arch=nosuchnet": "model.arch='nosuchnet' is not a timm model",
    "model=torchvision model.weights=IMAGENET9":
        "model.weights='IMAGENET9' is not a weight of torchvision's resnet50; valid: "
        "IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT, or null",
    "dataset.test_limit=0": "dataset 'mnist1d': test_limit=0 must be an integer >= 1 or null",
    "setup=shapes dataset.size=0": "dataset 'shapes': size=0 must be an integer >= 8",
    "setup=shapes dataset.object_size=[0.1,0.9]":
        "dataset 'shapes': object_size=[0.1, 0.9] must be a list of 2 numbers in (0, 0.3]",
    "setup=shapes dataset.distractors=-1":
        "dataset 'shapes': distractors=-1 must be an integer >= 0",
    "dataset=digits dataset.test_fraction=0":
        "dataset 'digits': test_fraction=0 must be a number in (0, 1)",
    "dataset=imagefolder dataset.size=0": "dataset 'imagefolder': size=0 must be an integer >= 1",
    "dataset=mnist dataset.download=maybe":
        "dataset 'mnist': download='maybe' must be true or false",
    "model.width=0": "model 'mnist1d_cnn': width=0 must be an integer >= 1",
    "setup=shapes model.blocks=0": "model 'cnn2d': blocks=0 must be an integer >= 1",
    "model=resnet18 model.small_input=no":
        "model 'resnet18': small_input='no' must be true or false",
    "model.seed=-1": "model.seed=-1 must be an integer >= 0",
    "model.train.epochs=0": "model.train.epochs=0 must be an integer >= 1",
    "model.train.batch_size=0": "model.train.batch_size=0 must be an integer >= 1",
    "model.train.lr=fast": "model.train.lr='fast' must be a number > 0",
    "model.train.weight_decay=-1": "model.train.weight_decay=-1 must be a number >= 0",
    "model.train.val_fraction=1.5": "model.train.val_fraction=1.5 must be a number in [0, 1)",
    "model.train.patience=0": "model.train.patience=0 must be an integer >= 1",
    "+model.train.lrr=0.1":
        "unknown training setting 'lrr' in model.train; valid training settings: epochs,",
    "metric=[monotonicity] metric.monotonicity.draws=0":
        "metric 'monotonicity': draws=0 must be an integer >= 1",
    "metric.deletion.baseline=black":
        "metric 'deletion': baseline='black' must be one of blur, mean, uniform, zero",
    "method.integrated_gradients.steps=0":
        "method 'integrated_gradients': steps=0 must be an integer >= 1",
    "metric.sensitivity_n.subsets=0": "metric 'sensitivity_n': subsets=0 must be an integer >= 2",
    "+method.ig_blur={uses:integrated_gradients,baseline:black}":
        "method 'ig_blur': baseline='black' must be one of blur, mean, uniform, zero",
    "+method.smooth_gradcam={uses:smooth,method:gradcam,params:{layr:x}}":
        "unknown parameter 'layr' for method 'gradcam'; valid parameters: layer, relu",
}  # fmt: skip


@pytest.mark.parametrize(("overrides", "fragment"), CONFIG_CASES.items(), ids=list(CONFIG_CASES))
def test_a_bad_run_setting_is_named_before_any_work(overrides, fragment):
    cfg = compose_config(*overrides.split())
    with pytest.raises(XaibenchError) as excinfo:
        read_settings(cfg)
    assert fragment in one_line(excinfo)


def test_every_run_setting_has_a_type():
    cfg = compose_config()
    assert set(RUN_SETTINGS) == {key for key in cfg if key not in ("dataset", "model", "method",
                                                                     "metric")}  # fmt: skip
    assert set(MODEL_KEYS) <= set(cfg.model)


# --- what a run learns only from its data and its model -----------------------------------------


@pytest.fixture
def toy_dataset(monkeypatch):
    """Registers `toy`: `problem` says what is wrong with it (nan, one_class, no_test)."""
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))

    @register_dataset("toy", description="test", citation="test")
    def toy(problem: str = "none") -> dict:
        x, y = torch.randn(10, 1, 8), torch.arange(10) % 2
        if problem == "nan":
            x[[2, 5], 0, 0] = float("nan")
        x_test = x[:0] if problem == "no_test" else x[:4]
        classes = 1 if problem == "one_class" else 2
        return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y[: len(x_test)],
                "num_classes": classes}  # fmt: skip


@pytest.mark.parametrize(
    ("problem", "fragment"),
    [
        ("nan", "dataset toy: 2 of 10 training inputs hold NaN or infinite values"),
        ("one_class", "dataset toy has 1 class(es); explaining a class takes two at least"),
        ("no_test", "dataset toy has no test inputs with these settings"),
    ],
)
def test_data_a_run_cannot_use_is_named(problem, fragment, toy_dataset, tmp_path):
    with pytest.raises(XaibenchError) as excinfo:
        load_dataset("toy", {"problem": problem, "normalise": "none"}, Cache(tmp_path))
    assert fragment in one_line(excinfo)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    for label, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), color).save(tmp_path / "images" / label / f"{i}.png")
    bad = tmp_path / "images" / "red" / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(XaibenchError) as excinfo:
        load_dataset("imagefolder", {"root": str(tmp_path / "images"), "size": 8},
                     Cache(tmp_path / "cache"))  # fmt: skip
    assert f"imagefolder: {bad} cannot be read as an image (UnidentifiedImageError" in one_line(
        excinfo
    )


def signals_dataset() -> Dataset:
    x, y = torch.randn(20, 1, 12), torch.arange(20) % 2
    return Dataset("bumps", x[:16], y[:16], x[16:], y[16:], 2)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"output": "tuple"}, "model custom returns a tuple, not a tensor of logits"),
        ({"output": "dict"}, "model custom returns a dict, not a tensor of logits"),
        ({"output": "softmax"}, "model custom returns probabilities (non-negative, summing to 1)"),
    ],
)
def test_a_model_that_does_not_return_logits_is_refused_before_training(params, fragment, tmp_path):
    spec = ModelSpec("custom", {"_target_": "tests.helpers.WrongOutputNet", **params})
    with pytest.raises(XaibenchError) as excinfo:
        get_model(spec, signals_dataset(), {}, Cache(tmp_path), torch.device("cpu"), False)
    assert fragment in one_line(excinfo)
    assert not list(tmp_path.rglob("*.pt"))  # nothing trained


def test_a_model_that_cannot_take_the_data_is_named(tmp_path):
    spec = ModelSpec("cnn2d")  # images, but the data are signals
    with pytest.raises(XaibenchError) as excinfo:
        get_model(spec, signals_dataset(), {}, Cache(tmp_path), torch.device("cpu"), False)
    assert "cnn2d takes images (C, H, W), got input shape (1, 12)" in one_line(excinfo)


def test_more_samples_than_the_test_split_holds_are_refused():
    with pytest.raises(XaibenchError) as excinfo:
        sample_count(5, signals_dataset())
    expected = (
        "samples=5 is more than the 4 test inputs of dataset bumps; choose samples <= 4 (or "
        "samples=all)"
    )
    assert one_line(excinfo) == expected
    assert sample_count(4, signals_dataset()) == 4
    assert sample_count("all", signals_dataset()) == 4
