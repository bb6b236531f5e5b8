"""The model zoo: architectures, the user's own module and checkpoint, seeds and the cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import TinyNet, compose_config
from xaibench.cache import Cache
from xaibench.data import Dataset
from xaibench.models import MODELS, ModelSpec, get_model
from xaibench.registry import XaibenchError

CPU = torch.device("cpu")
QUICK = {"epochs": 8, "batch_size": 16, "patience": 8}


def separable_signals(n: int = 96) -> Dataset:
    """Class 1 has a positive bump, class 0 a negative one: easy to learn."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = 0.3 * torch.randn(n, 1, 12, generator=gen)
    x[:, 0, 4:8] += (2 * y - 1).float()[:, None]
    return Dataset("bumps", x[: n - 32], y[: n - 32], x[n - 32 :], y[n - 32 :], 2)


SPEC = {"dataset": "bumps"}


def train(name: str, params: dict, cache: Cache, seed: int = 0, settings=QUICK, **kwargs):
    spec = ModelSpec(name, params, settings, seed, **kwargs)
    return get_model(spec, separable_signals(), SPEC, cache, CPU, progress=False)


def relus(model: nn.Module) -> list[nn.ReLU]:
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28), (3, 64, 64)])
def test_cnn2d_gives_one_logit_per_class_for_any_image_size(shape):
    model = MODELS["cnn2d"].build(shape, 4)
    assert model(torch.randn(2, *shape)).shape == (2, 4)
    # Hook-based methods need every nonlinearity as its own, non-inplace module.
    assert len(relus(model)) == 6
    assert not any(relu.inplace for relu in relus(model))


def test_resnet18_computes_exactly_torchvisions_resnet18():
    from torchvision.models import resnet18

    ours = MODELS["resnet18"].build((3, 64, 64), 5, small_input=False)
    reference = resnet18(num_classes=5).eval()
    ours.load_state_dict(reference.state_dict())  # same parameters and buffers, same names
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ours.eval()(x), reference(x), atol=1e-5)
    assert len(set(map(id, relus(ours)))) == len(relus(ours)) == 17
    assert not any(relu.inplace for relu in relus(ours))


def test_resnet18_for_small_inputs_keeps_spatial_maps():
    model = MODELS["resnet18"].build((1, 28, 28), 10).eval()
    assert model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    features = nn.Sequential(*list(model.children())[:-2])  # up to the last residual stage
    assert features(torch.randn(1, 1, 28, 28)).shape == (1, 512, 4, 4)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_seeds_train_distinct_models_and_the_cache_returns_each(tmp_path):
    cache = Cache(tmp_path)
    one_epoch = {**QUICK, "epochs": 1}
    first, second = (train("mnist1d_cnn", {"width": 4}, cache, s, one_epoch) for s in (0, 1))
    assert first.key != second.key
    assert not torch.equal(first.model.features[0].weight, second.model.features[0].weight)
    again = train("mnist1d_cnn", {"width": 4}, cache, 1, one_epoch)
    assert again.cached and again.key == second.key
    assert torch.equal(again.model.features[0].weight, second.model.features[0].weight)
    assert again.test_accuracy == second.test_accuracy


def test_a_model_trained_with_another_thread_count_is_another_cache_entry(tmp_path):
    # The thread count orders the CPU's floating-point sums, so it decides the weights too:
    # a run with threads=1 must not reuse weights trained with 2 threads, and vice versa.
    cache = Cache(tmp_path)
    one_epoch = {**QUICK, "epochs": 1}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = train("mnist1d_cnn", {"width": 4}, cache, 0, one_epoch)
        torch.set_num_threads(2)
        double = train("mnist1d_cnn", {"width": 4}, cache, 0, one_epoch)
        double_again = train("mnist1d_cnn", {"width": 4}, cache, 0, one_epoch)
    finally:
        torch.set_num_threads(before)
    assert not single.cached and not double.cached and double_again.cached
    assert single.key != double.key == double_again.key


TARGET = {"_target_": "tests.helpers.TinyNet", "hidden": 6}


def test_a_custom_module_trains_and_then_loads_from_its_checkpoint(tmp_path):
    trained = train("custom", TARGET, Cache(tmp_path))
    assert isinstance(trained.model, TinyNet)  # num_classes and input_shape from the dataset
    assert trained.model.conv.out_channels == 6
    assert trained.test_accuracy > 0.9
    path = tmp_path / "weights.pt"
    torch.save(trained.model.state_dict(), path)
    loaded = train("custom", TARGET, Cache(tmp_path / "empty"), checkpoint=str(path))
    assert loaded.checkpoint == str(path)
    assert loaded.epochs_trained == 0  # nothing was trained
    assert not list((tmp_path / "empty").glob("models/*.pt"))
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert loaded.test_accuracy == trained.test_accuracy


def test_a_lightning_style_checkpoint_is_accepted(tmp_path):
    model = TinyNet(2, (1, 12), hidden=6)
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "w.ckpt")
    loaded = train("custom", TARGET, Cache(tmp_path), checkpoint=str(tmp_path / "w.ckpt"))
    assert torch.equal(loaded.model.conv.weight, model.conv.weight)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist; set model.checkpoint=<file>"),
        ("whole_module", "cannot be read with weights_only=True"),
        ("other_width", "does not match model custom: Error(s) in loading state_dict"),
    ],
)
def test_checkpoint_problems_are_one_line(case, message, tmp_path):
    path = tmp_path / "w.pt"
    if case == "whole_module":
        torch.save(
            TinyNet(2, (1, 12), hidden=6), path
        )  # pickles code: refused by weights_only=True
    elif case == "other_width":
        torch.save(TinyNet(2, (1, 12), hidden=3).state_dict(), path)
    with pytest.raises(XaibenchError) as error:
        train("custom", TARGET, Cache(tmp_path), checkpoint=str(path))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "model custom needs model._target_=<import path"),
        ({"_target_": "tests.nosuch.Net"}, "model._target_='tests.nosuch.Net' cannot be imported"),
        ({"_target_": "collections.OrderedDict"}, "gave a OrderedDict, not a torch nn.Module"),
        ({"_target_": "tests.helpers.TinyNet", "num_classes": 3},
         "maps an input of shape (1, 12) to outputs of shape (3,), but dataset bumps needs (2,)"),
    ],
)  # fmt: skip
def test_custom_model_problems_are_one_line(params, message, tmp_path):
    with pytest.raises(XaibenchError) as error:
        train("custom", params, Cache(tmp_path))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_run_explains_the_users_own_model_and_checkpoint(tmp_path):
    """The README's example: model=custom with _target_, an argument and a checkpoint."""
    from xaibench.data import load_dataset
    from xaibench.models import accuracy
    from xaibench.run import run

    mine = TinyNet(10, (1, 40), hidden=4)
    torch.save(mine.state_dict(), tmp_path / "mine.pt")
    result = run(compose_config(
        "debug=fast", f"cache_dir={tmp_path}", "method=[saliency]", "metric=[deletion]",
        "model=custom", "model._target_=tests.helpers.TinyNet", "+model.hidden=4",
        f"model.checkpoint={tmp_path / 'mine.pt'}",
    ))  # fmt: skip
    assert result.meta["errors"] == []
    assert result.meta["model"]["checkpoint"] == str(tmp_path / "mine.pt")
    assert result.meta["model"]["epochs_trained"] == 0
    assert not list(tmp_path.glob("models/*.pt"))  # nothing trained
    data, _, _ = load_dataset("mnist1d", {"train_limit": 800, "test_limit": 200}, Cache(tmp_path))
    assert result.meta["model"]["test_accuracy"] == accuracy(mine.eval(), data.x_test, data.y_test)
    assert set(result.scores["model_accuracy"]) == {result.meta["model"]["test_accuracy"]}


def test_a_weak_checkpoint_is_blamed_on_its_inputs_not_on_its_training(tmp_path, caplog):
    """A loaded checkpoint below min_accuracy was trained elsewhere: the warning names the
    preprocessing this run gave it and the settings that change it, not "train longer"; and
    normalise=given with mean and std reaches the model's inputs."""
    from xaibench.data import load_dataset
    from xaibench.report.run_summary import summary_text
    from xaibench.run import run

    torch.manual_seed(0)
    torch.save(TinyNet(10, (1, 40), hidden=4).state_dict(), tmp_path / "mine.pt")
    result = run(compose_config(
        "debug=fast", f"cache_dir={tmp_path}", "method=[saliency]", "metric=[deletion]",
        "model=custom", "model._target_=tests.helpers.TinyNet", "+model.hidden=4",
        f"model.checkpoint={tmp_path / 'mine.pt'}", "min_accuracy=0.99",
        "dataset.normalise=given", "dataset.mean=[0.5]", "dataset.std=[2.0]",
    ))  # fmt: skip
    raw, _, _ = load_dataset("mnist1d", {"test_limit": 200}, Cache(tmp_path))
    prepared = (raw.x_test - 0.5) / 2.0  # each explained input is one of these exactly
    assert all((prepared == x).flatten(1).all(1).any() for x in result.inputs)
    assert result.meta["dataset"]["preparation"]["mean"] == [0.5]
    warning = summary_text(result.meta, result.summary).splitlines()[2]
    assert warning.startswith("**WARNING: MODEL TOO WEAK TO EXPLAIN")
    assert (
        f"with the weights of {tmp_path / 'mine.pt'}; likely cause: its inputs here are "
        "normalised with the given dataset.mean and dataset.std, unlike in its training"
    ) in warning
    assert "dataset.normalise=given" in warning
    assert "train longer" not in warning
    assert any("likely cause" in record.message for record in caplog.records)
