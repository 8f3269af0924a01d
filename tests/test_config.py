"""The config is checked before any job runs, with messages that name the key and what to do."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from synclone import registries
from synclone.config import ConfigError, check_names, load_schema, validate_config
from tests.configs import REPO, SCHEMA, default_config, tiny_config, write_config


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA)


def check(config, schema):
    validate_config(config, schema)
    check_names(config, **registries.names())
    registries.check_params(config)


def test_shipped_configs_are_valid(schema):
    check(default_config(), schema)
    check(tiny_config(), schema)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.pop("seed"), "<top level>: missing key 'seed'"),
        (lambda c: c.__setitem__("seed", "zero"), "seed: expected integer, got 'zero'"),
        (lambda c: c["models"]["resnet_real"].__setitem__("arhc", "mini_resnet"),
         "models.resnet_real: unknown key 'arhc' (did you mean 'arch'?)"),
        (lambda c: c["models"]["resnet_real"].pop("data"), "models.resnet_real: missing key 'data'"),
        (lambda c: c["models"]["vit_real"].__setitem__("group", "fake"), "models.vit_real.group: 'fake' is not one of"),
        (lambda c: c["metrics"]["calibration"].__setitem__("bins", 1.5), "metrics.calibration.bins: expected integer"),
        (lambda c: c["compute"].__setitem__("device", "tpu"), "compute.device: 'tpu' is not one of: auto, cpu, cuda"),
        (lambda c: c["metrics"].__setitem__("calibraton", {"eval_sets": ["test"]}),
         "metrics: unknown key 'calibraton' (did you mean 'calibration'?)"),
    ],
)
def test_schema_errors_name_the_key(schema, mutate, expected):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config, schema)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["models"]["resnet_real"].__setitem__("arch", "mini_resnt"),
         "models.resnet_real.arch: unknown architecture 'mini_resnt' (did you mean 'mini_resnet'?); valid: "),
        (lambda c: c["models"]["vit_syn"].__setitem__("data", "synthetic/clasname"),
         "models.vit_syn.data: unknown training data 'synthetic/clasname' (did you mean 'synthetic/classname'?)"),
        (lambda c: c["models"]["vit_syn"].__setitem__("pair", "vit_reel"), "models.vit_syn.pair: unknown model 'vit_reel'"),
        (lambda c: c.__setitem__("prompt_sets", ["classname", "hypernyms"]), "prompt_sets: unknown prompt strategy 'hypernyms'"),
        (lambda c: c["metrics"]["adversarial"].__setitem__("eval_set", "tset"),
         "metrics.adversarial.eval_set: unknown dataset 'tset' (did you mean 'test'?)"),
        (lambda c: c["generator"].__setitem__("judge", "resnet_syn"), "generator.judge: 'resnet_syn' is trained on synthetic data"),
        (lambda c: c["datasets"]["test"].__setitem__("kind", "tset"), "datasets.test.kind: unknown render kind 'tset'"),
        (lambda c: c["models"].__setitem__("tables", copy.deepcopy(c["models"]["vit_real"])), "models.tables: 'tables' is reserved"),
    ],
)
def test_unknown_names_fail_with_the_valid_ones(mutate, expected):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        check_names(config, **registries.names())
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["models"]["vit_real"]["train"].__setitem__("epoch", 3), "models.vit_real.train: unknown training params ['epoch']"),
        (lambda c: c["models"]["vit_real"]["train"].__setitem__("epochs", "four"), "models.vit_real.train: epochs must be"),
        (lambda c: c["generator"]["train"].__setitem__("stpes", 3), "generator.train: unknown GeneratorParams key(s) ['stpes']"),
        (lambda c: c["generator"]["sample"].__setitem__("scheduler", "euler"), "generator.sample: scheduler must be one of"),
        (lambda c: c["mini_world"]["params"].__setitem__("class_texture_p", 2.0), "mini_world.params: world parameter class_texture_p"),
    ],
)
def test_bad_hyper_parameters_fail_with_the_config_path(mutate, expected):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        registries.check_params(config)
    assert expected in str(error.value)


def test_snakemake_reports_a_config_error_without_a_traceback(tmp_path):
    config = default_config()
    config["models"]["vit_real"]["arch"] = "mini_vt"
    path = write_config(config, tmp_path / "bad.yaml")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
         "--configfile", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "models.vit_real.arch: unknown architecture 'mini_vt' (did you mean 'mini_vit'?)" in output
    assert "Traceback" not in output
