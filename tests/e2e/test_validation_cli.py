"""`python -m xaibench` refuses bad settings, data and models before any work: exit code 2, one
line on stderr naming the setting, the bad value and what is valid, no traceback, and no run
folder. The cases of the reliability campaign (issue 18) and a few more; the Python side's
table is tests/test_validation.py.

Settings are refused by the command line's entry point (`xaibench.__main__.cli`) before Hydra
starts: `SETTINGS` runs them all through that entry point in one process (a case that reached
Hydra would fail), a few of them also as a whole `python -m xaibench` each. Data and models are
refused once the run has them in hand: `AT_RUN_TIME` runs each as a whole command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.helpers import ROOT, xaibench_cli

pytestmark = pytest.mark.e2e

FIRST = ("debug=fast", "threads=1")  # every case's first overrides

# overrides: a fragment of the one line on stderr
SETTINGS = {
    "metric=[monotonicity] metric.monotonicity.draws=0":
        "metric 'monotonicity': draws=0 must be an integer >= 1",
    "dataset.train_split=1.5": "dataset 'mnist1d': train_split=1.5 must be a number in (0, 1)",
    "reuse=no": "reuse='no' must be true or false",
    "samples=3.7": "samples=3.7 must be an integer >= 1",
    "samples=abc": "samples='abc' must be an integer >= 1",
    "batch_size=0": "batch_size=0 must be an integer >= 1",
    "shard=3 shards=3": "shard=3 does not exist with shards=3; choose shard from 0 to 2",
    "shards=0": "shards=0 must be an integer >= 1",
    "-m shard=0,1 shards=17": "shards=17 is more than the 16 explained inputs (samples); "
                              "choose shards <= 16",
    "seed=abc": "seed='abc' must be an integer >= 0",
    "device=tpu": "device='tpu' must be one of auto, cpu, cuda, cuda:N",
    "threads=0": "threads=0 must be an integer >= 1 or null",
    "target=cat": "target='cat' must be one of predicted, label",
    "min_accuracy=2": "min_accuracy=2 must be a number in [0, 1]",
    "progress=yes": "progress='yes' must be true or false",
    "model.width=0": "model 'mnist1d_cnn': width=0 must be an integer >= 1",
    "model.seed=-1": "model.seed=-1 must be an integer >= 0",
    "model.train.epochs=0": "model.train.epochs=0 must be an integer >= 1",
    "model.train.val_fraction=1.5": "model.train.val_fraction=1.5 must be a number in [0, 1)",
    "model.train.lr=fast": "model.train.lr='fast' must be a number > 0",
    "+model.train.lrr=0.1": "unknown training setting 'lrr' in model.train; valid training "
                            "settings: epochs, batch_size, lr, weight_decay, val_fraction, "
                            "patience",
    "setup=shapes dataset.size=0": "dataset 'shapes': size=0 must be an integer >= 8",
    "experiment=imagenet_resnet50": "experiment=imagenet_resnet50 does not run with "
                                    "setup=mnist1d; it runs with setup=imagenet",
    "dataset.iid_noise_scale=nan": "dataset 'mnist1d': iid_noise_scale=nan must be a number >= 0",
    "dataset.normalise=minmax": "dataset 'mnist1d': normalise='minmax' must be one of none, "
                                "standard",
    "method.integrated_gradients.steps=0":
        "method 'integrated_gradients': steps=0 must be an integer >= 1",
    "method=[smoothgrad] method.smoothgrad.noise=-0.1":
        "method 'smoothgrad': noise=-0.1 must be a number >= 0",
    "method=[rise] method.rise.p=1.5": "method 'rise': p=1.5 must be a number in (0, 1]",
    "metric.sensitivity_n.subsets=0": "metric 'sensitivity_n': subsets=0 must be an integer >= 2",
    "metric.deletion.baseline=black":
        "metric 'deletion': baseline='black' must be one of blur, mean, uniform, zero",
    "metric=[road_morf] metric.road_morf.output=margin":
        "metric 'road_morf': output='margin' must be one of probability, logit, correct",
    "+method.ig_blur={uses:integrated_gradients,baseline:black}":
        "method 'ig_blur': baseline='black' must be one of blur, mean, uniform, zero",
    "-m seed=0,1,abc": "seed='abc' must be an integer >= 0",
    # Plug-ins (tests/test_plugins.py has the Python side's cases).
    "+method.mine={_target_:nosuch_module_xyz.fn}":
        "method 'mine': _target_='nosuch_module_xyz.fn' cannot be imported: "
        "ModuleNotFoundError: No module named 'nosuch_module_xyz'",
    "+metric.mine={_target_:json.dumps}":
        "metric 'mine': json.dumps declares no direction; add higher_is_better: true or false",
    "+metric.mine={_target_:os.path.basename,higher_is_better:true}":
        "metric 'os.path.basename': its function takes no parameter 'attributions'",
    "+method.mine={_target_:xaibench_example_plugin.methods.gxi_pos,family:cam}":
        "method 'mine': xaibench_example_plugin.methods.gxi_pos is registered by its module as "
        "method 'gxi_pos'; remove family from the entry",
}  # fmt: skip

# Also run as a whole command: the exit code, and no sweep folder.
WHOLE = ("-m seed=0,1,abc",)

AT_RUN_TIME = {
    "samples=100000": "samples=100000 is more than the 200 test inputs of dataset mnist1d; "
                      "choose samples <= 200",
    "samples=all shards=201": "shards=201 is more than the 200 explained inputs (samples); "
                              "choose shards <= 200",
    "dataset=imagefolder dataset.root={images} dataset.size=8 model=cnn2d":
        "notes.png cannot be read as an image (UnidentifiedImageError",
    "model=custom model._target_=tests.helpers.TinyNet +model.num_classes=1":
        "model custom returns 1 output per input; methods and metrics need one logit per class",
    "model=custom model._target_=tests.helpers.WrongOutputNet +model.output=tuple":
        "model custom returns a tuple, not a tensor of logits shaped (N, classes)",
    "model=custom model._target_=tests.helpers.WrongOutputNet +model.output=dict":
        "model custom returns a dict, not a tensor of logits shaped (N, classes)",
}  # fmt: skip

# Runs every case through the entry point in one process; a case that gets past the checks
# reaches Hydra, which is replaced by a function that says so.
DRIVER = """
import contextlib, io, json, sys, traceback
import xaibench.run
from xaibench.__main__ import cli

def reached_hydra():
    raise RuntimeError("reached Hydra: the settings were not refused before the run")

xaibench.run.main = reached_hydra
results = {}
for case, args in json.loads(sys.argv[1]).items():
    sys.argv, err, code = ["xaibench", *args], io.StringIO(), None
    with contextlib.redirect_stderr(err):
        try:
            cli()
        except SystemExit as exit:
            code = exit.code
        except Exception:
            traceback.print_exc()
    results[case] = {"code": code, "stderr": err.getvalue()}
print(json.dumps(results))
"""


def assert_refused(code: int | None, stderr: str, fragment: str) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("xaibench: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def refused_settings(tmp_path_factory):
    cache = tmp_path_factory.mktemp("settings")
    cases = {case: [*FIRST, *case.split(), f"cache_dir={cache}"] for case in SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cases)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(("case", "fragment"), SETTINGS.items(), ids=list(SETTINGS))
def test_a_bad_setting_stops_the_command_in_one_line(case, fragment, refused_settings):
    result = refused_settings[case]
    assert_refused(result["code"], result["stderr"], fragment)


def write_images(folder):
    """Two classes of tiny images, and a file named like an image that is not one."""
    for label, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (folder / label).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (8, 8), color).save(folder / label / f"{i}.png")
    (folder / "red" / "notes.png").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def refused_commands(tmp_path_factory):
    """Every whole-command case run once, two at a time: (the process, its run folder)."""
    base = tmp_path_factory.mktemp("commands")
    images = write_images(base / "images")
    cases = {**AT_RUN_TIME, **{case: SETTINGS[case] for case in WHOLE}}

    def run(numbered):
        number, case = numbered
        folder = base / "runs" / str(number)
        args = case.format(images=images).split()
        done = xaibench_cli(*FIRST, *args, f"hydra.run.dir={folder}",
                            f"hydra.sweep.dir={folder}", cache=base / "cache")  # fmt: skip
        return done, folder

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(cases, pool.map(run, enumerate(cases)), strict=True))


@pytest.mark.parametrize(
    ("case", "fragment"),
    [*AT_RUN_TIME.items(), *[(case, SETTINGS[case]) for case in WHOLE]],
    ids=[*AT_RUN_TIME, *WHOLE],
)
def test_a_bad_run_stops_with_exit_code_2_and_leaves_no_folder(case, fragment, refused_commands):
    done, folder = refused_commands[case]
    assert_refused(done.returncode, done.stderr, fragment)
    assert "Traceback" not in done.stdout
    assert not folder.exists()  # no run folder: no scores, no tables, no Hydra files
