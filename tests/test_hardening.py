"""Hardening (issue 7): jobs killed mid-write, damaged images, a full disk, config fuzzing and other seeds."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from synclone import ablations, clones, registries
from synclone.acquire import sources
from synclone.clone_params import ProbeParams, ZeroShotParams
from synclone.config import ConfigError, check_names, load_schema, validate_config
from synclone.generation.params import GeneratorParams, SampleParams
from synclone.imageset import ImageSetError, read_imageset, read_imagesets, write_imageset
from synclone.io import DiskFullError, read_json, save_npz, save_torch, write_json
from synclone.models.classifier import load_classifier
from synclone.tasks import build_prompts, generate_shard, train_model
from synclone.worlds import mini
from tests.configs import DEFAULT_CONFIG, REPO, SCHEMA, default_config, tiny_config, write_config
from tests.test_generation import SAMPLE, checkpoint  # noqa: F401 -- checkpoint: a tiny trained generator (fixture)
from tests.test_training import FAST, NARROW, stripes
from tests.test_workflow import planned_outputs, snakemake, snakemake_command

# ---- a job killed with SIGKILL -------------------------------------------------------------------------------

# Run in the child before the task: the first image / checkpoint is (half) written, then the "disk" stalls for
# good, so the SIGKILL lands while an output is being written, the one moment a half-written file could exist.
STALL_AFTER_FIRST_IMAGE = """
import time
from PIL import Image
save = Image.Image.save
def stall(self, *args, **kwargs):
    save(self, *args, **kwargs)
    time.sleep(3600)
Image.Image.save = stall
"""
STALL_HALFWAY_THROUGH_A_CHECKPOINT = """
import io, time, torch
save = torch.save
def stall(obj, file):
    buffer = io.BytesIO()
    save(obj, buffer)
    file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    file.flush()
    time.sleep(3600)
torch.save = stall
"""


def kill_once_written(code: str, folder: Path, pattern: str, log: Path) -> None:
    """Run ``code`` in a fresh Python and SIGKILL it once a non-empty file matching ``pattern`` is in ``folder``."""
    with log.open("w") as out:
        child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not any(path.stat().st_size for path in folder.glob(pattern)):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"the child never wrote {folder}/{pattern}:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_a_shard_killed_while_written_is_not_an_output_and_the_rerun_makes_it_whole(tmp_path, checkpoint):
    save_torch(tmp_path / "generator.pt", checkpoint)
    build_prompts(tmp_path / "prompts.csv", "classname", images_per_class=2, seed=0)
    shard = tmp_path / "synthetic" / "shard-0"
    args = dict(generator_path=str(tmp_path / "generator.pt"), prompts_csv=str(tmp_path / "prompts.csv"),
                out_dir=str(shard), shard=0, shards=1, sample=SAMPLE, threads=1, device="cpu")
    code = f"{STALL_AFTER_FIRST_IMAGE}\nfrom synclone.tasks import generate_shard\ngenerate_shard(**{args!r})"
    kill_once_written(code, shard.parent, ".shard-0.*/images/*.png", tmp_path / "child.log")
    assert not shard.exists()  # one image of 20 was on disk, but not under the shard's name
    generate_shard(**args)
    rerun = read_imageset(shard)
    generate_shard(**{**args, "out_dir": str(tmp_path / "never-killed")})
    assert len(rerun) == 20 and np.array_equal(rerun.images, read_imageset(tmp_path / "never-killed").images)


def test_a_checkpoint_killed_while_written_is_not_an_output_and_the_rerun_writes_it(tmp_path):
    data = stripes(64, seed=1)
    write_imageset(tmp_path / "data", data.images, data.metadata[["label"]])
    out = tmp_path / "model.pt"
    args = dict(data_dirs=[str(tmp_path / "data")], out_path=str(out), arch="mini_resnet", arch_kwargs=NARROW,
                params={**FAST, "epochs": 1}, seed=0, threads=1, device="cpu")
    code = f"{STALL_HALFWAY_THROUGH_A_CHECKPOINT}\nfrom synclone.tasks import train_model\ntrain_model(**{args!r})"
    kill_once_written(code, tmp_path, ".model.pt.*", tmp_path / "child.log")
    assert not out.exists()  # half a checkpoint was on disk, but not under its name
    train_model(**args)
    assert load_classifier(out).meta["history"]


@pytest.mark.e2e
def test_snakemake_killed_mid_shard_reruns_that_shard_only(tmp_path, checkpoint):
    # The generator and the prompts are made here: the Snakemake run starts at the shards (files without
    # Snakemake's records do not trigger reruns), which keeps the test to the two shard jobs.
    config = tiny_config()
    generator = config["generator"]
    assert generator["shards"] == 2
    save_torch(tmp_path / "checkpoints" / "generator" / f"{generator['name']}.pt", checkpoint)
    build_prompts(tmp_path / "prompts" / "classname.csv", "classname", generator["images_per_class"],
                  seed=config["seed"])
    config_path = write_config(config, tmp_path / "tiny.yaml")
    shards = [f"synthetic/{generator['name']}/classname/shard-{i}" for i in range(2)]
    logs = [tmp_path / "logs" / "generate" / generator["name"] / "classname" / f"shard-{i}.log" for i in range(2)]
    # one core: the shards run one after the other; kill the whole run once one is done and the other has begun
    run = subprocess.Popen(snakemake_command(tmp_path, config_path, "--cores", "1", *shards), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while not any((tmp_path / shards[i]).exists() and logs[1 - i].exists() for i in range(2)):
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # Snakemake and its job: the group of the new session
        run.wait()
    done, killed = shards if (tmp_path / shards[0]).exists() else shards[::-1]
    assert not (tmp_path / killed).exists(), "the SIGKILL came too late: both shards were written"
    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / done).rglob("*")}
    assert planned_outputs(snakemake(tmp_path, config_path, "-n", *shards)) == {killed}
    snakemake(tmp_path, config_path, "--unlock")  # a killed run leaves its lock, as after any crash
    snakemake(tmp_path, config_path, *shards)
    prompts = pd.read_csv(tmp_path / "prompts" / "classname.csv")
    assert len(read_imagesets([tmp_path / s for s in shards])) == len(prompts)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / done).rglob("*")} == finished


# ---- damaged images -------------------------------------------------------------------------------------------

DAMAGES = {
    "truncated": lambda data: data[: len(data) // 2],
    "not an image": lambda data: b"<html>404 not found</html>",
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("shards", [1, 2])
def test_a_damaged_image_in_a_mini_world_set_fails_naming_the_file(tmp_path, damage, shards):
    folders = [tmp_path / f"shard-{i}" for i in range(shards)]
    for seed, folder in enumerate(folders):
        images, metadata, aux = mini.render_split("test", 6, seed)
        write_imageset(folder, images, metadata, aux)
    broken = folders[-1] / "images" / "000004.png"
    broken.write_bytes(DAMAGES[damage](broken.read_bytes()))
    with pytest.raises(ImageSetError, match=rf"{re.escape(str(broken))} is corrupt or truncated"):
        read_imagesets(folders)


# ---- a full disk --------------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs: any output larger than that fills it."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True,
                           text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _random_images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48, 3), dtype=np.uint8)  # noise: PNG cannot shrink it


# each writer's small output fits the disk, its large one does not
WRITERS = {
    "json": ("result.json", lambda path, n: write_json(path, {"values": list(range(n))}), read_json),
    "npz": ("logits.npz", lambda path, n: save_npz(path, logits=np.random.default_rng(0).random(n)),
            lambda path: np.load(path)["logits"].size),
    "checkpoint": ("model.pt", lambda path, n: save_torch(path, {"w": torch.rand(n)}),
                   lambda path: torch.load(path)["w"].numel()),
    "image set": ("images", lambda path, n: write_imageset(path, _random_images(n // 100), pd.DataFrame(
        {"label": np.zeros(n // 100, int)})), lambda path: len(read_imageset(path))),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_fails_naming_the_output_and_keeps_the_previous_one(full_disk, writer):
    name, write, read = WRITERS[writer]
    path = full_disk / name
    write(path, 100)
    before = read(path)
    with pytest.raises(DiskFullError, match=rf"cannot write {re.escape(str(path))}: No space left on device"):
        write(path, 100_000)
    assert read(path) == before
    assert sorted(p.name for p in full_disk.iterdir()) == [name]  # no temporary file or folder is left behind


# ---- config fuzzing -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA)


def check_config(config: dict, schema: dict) -> None:
    """Every check workflow/rules/common.smk runs on the config while the DAG is built, in its order."""
    validate_config(config, schema)
    names = registries.names(config["world"])
    check_names(config, **names)
    registries.check_params(config)
    sources.check_paper_datasets(config)
    ablations.expand_ablations(config, names["prompt_strategies"])


def _plain(params):
    return params.to_dict() if dataclasses.is_dataclass(params) else params


def with_every_hyper_parameter(config: dict) -> dict:
    """The mini-world config with every hyper-parameter mapping spelled out, so the fuzzing reaches each key."""
    config["mini_world"]["params"] = mini.WorldParams.from_dict(config["mini_world"]["params"]).to_dict()
    config["generator"]["train"] = GeneratorParams.from_dict(config["generator"]["train"]).to_dict()
    config["generator"]["sample"] = SampleParams.from_dict(config["generator"]["sample"]).to_dict()
    for spec in config["models"].values():
        spec["train"] = _plain(clones.train_validator(spec)(spec.get("train", {})))
        if "probe" in spec:
            probe = {key: value for key, value in spec["probe"].items() if key != "data"}
            spec["probe"] = {"data": spec["probe"]["data"], **ProbeParams.from_dict(probe).to_dict()}
        if "zero_shot" in spec:
            spec["zero_shot"] = ZeroShotParams.from_dict(spec["zero_shot"]).to_dict()
    return config


BASE_CONFIGS = {
    "mini": lambda: with_every_hyper_parameter(default_config()),
    "paper": lambda: yaml.safe_load((DEFAULT_CONFIG.parent / "paper.yaml").read_text()),
}


def key_paths(node, prefix=()):
    """Every key (and list index) path of a config, parents before children."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from key_paths(value, (*prefix, key))


def _parent(config, path):
    for key in path[:-1]:
        config = config[key]
    return config


def other_type(value):
    """A value of another YAML type than ``value``'s, which no key of the same place takes."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "many"
    if isinstance(value, str):
        return ["a", "list"]
    if isinstance(value, list):
        return {"a": "mapping"}
    return 7


def mutate(config: dict, path: tuple, how: str) -> None:
    parent = _parent(config, path)
    if how == "delete":
        del parent[path[-1]]
    elif how == "retype":
        parent[path[-1]] = other_type(parent[path[-1]])
    else:
        parent[path[-1]]["unknown_key"] = 1


def problems(error: ConfigError) -> list[tuple[str, str]]:
    """The (config path, what is wrong) of each problem: a list of ``  - path: ...`` lines, or one ``path: ...``."""
    text = str(error)
    lines = [line[4:] for line in text.splitlines() if line.startswith("  - ")] or [text]
    assert all(": " in line for line in lines), text
    return [tuple(line.split(": ", 1)) for line in lines]


def resolves(path: str, *configs: dict) -> bool:
    """Whether a dotted path from an error message names a place in one of the configs."""
    if path == "<top level>":
        return True
    for config in configs:
        node = config
        for key in path.split("."):
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                break
        else:
            return True
    return False


def names_the_key(found: list[tuple[str, str]], words: list[str]) -> bool:
    """Whether one problem names every key of ``words`` in order: ``a.b.c: ...`` or ``a.b: c must be ...``."""
    pattern = r"\b.*\b".join(map(re.escape, words))
    return any(re.search(pattern, f"{where}: {what}") for where, what in found)


@pytest.mark.parametrize("base", BASE_CONFIGS)
def test_every_single_deletion_retyping_and_unknown_key_fails_as_a_config_error_naming_the_key(schema, base):
    original = BASE_CONFIGS[base]()
    check_config(original, schema)
    cases = [(path, how) for path in key_paths(original) for how in ("delete", "retype", "unknown")
             if how != "unknown" or isinstance(_parent(original, path)[path[-1]], dict)]
    passed, unnamed = [], []
    for path, how in cases:
        config = copy.deepcopy(original)
        mutate(config, path, how)
        where = ".".join(map(str, path))
        try:
            check_config(config, schema)
        except ConfigError as error:  # anything else (a TypeError from deep inside) fails the test here
            found = problems(error)
            assert all(resolves(p, config, original) for p, _ in found), f"{how} {where}: {error}"
            words = [key for key in path if isinstance(key, str)] + (["unknown_key"] if how == "unknown" else [])
            if how != "delete" and not names_the_key(found, words):
                unnamed.append(f"{how} {where}: {error}")
        else:
            passed.append(f"{how} {where}")
    # a deleted optional key takes its default; a retyped value or an unknown key must never pass
    assert [case for case in passed if not case.startswith("delete ")] == []
    assert unnamed == []
    assert len(cases) > 500  # the walk reached every hyper-parameter, not only the top of the config


def test_random_combinations_of_mutations_fail_only_as_config_errors(schema):
    original = BASE_CONFIGS["mini"]()
    rng = random.Random(7)
    failed = 0
    for _ in range(300):
        config = copy.deepcopy(original)
        for _ in range(rng.randint(2, 5)):
            paths = list(key_paths(config))
            path = rng.choice(paths)
            how = rng.choice(["delete", "retype", "unknown"] if isinstance(_parent(config, path)[path[-1]], dict)
                             else ["delete", "retype"])
            mutate(config, path, how)
        try:
            check_config(config, schema)
        except ConfigError as error:  # anything else fails the test here
            assert all(resolves(p, config, original) for p, _ in problems(error)), str(error)
            failed += 1
    assert failed > 250  # most combinations are invalid: the fuzzing is not vacuous


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("generator", "train", "steps"), "many", "generator.train: steps must be int, got 'many' (str)"),
        (("models", "ssl_syn", "train", "temperature"), None, "models.ssl_syn.train: temperature must be float"),
        (("mini_world", "params", "scale_range"), [0.4],
         "mini_world.params: scale_range must be a list [float, float]"),
        (("generator", "train", "beta_schedule"), "cosine",
         "generator.train: generator parameter beta_schedule must be one of"),
    ],
)
def test_hyper_parameters_of_a_wrong_type_or_value_name_the_key(schema, where, value, expected):
    # before: a TypeError naming no key ('>' not supported between 'NoneType' and 'int'), or, for beta_schedule,
    # a config that passed and failed inside the generator's training job
    config = default_config()
    _parent(config, where)[where[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_config(config, schema)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("generator", "train", "steps"), "many", "generator.train: steps must be int, got 'many' (str)"),
        (("compute", "jobs", "train", "gpus"), 1, "compute.jobs.train: unknown key 'gpus' (did you mean 'gpu'?)"),
    ],
)
def test_snakemake_shows_a_fuzzed_config_error_without_a_traceback(tmp_path, where, value, expected):
    config = default_config()
    _parent(config, where)[where[-1]] = value
    run = subprocess.run(snakemake_command(tmp_path, write_config(config, tmp_path / "bad.yaml"), "-n"),
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and expected in output and "Traceback" not in output, output


# ---- seeds ------------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_another_seed_renders_other_data(tmp_path):
    # the counterpart of test_workflow's same-seed determinism: the config's seed must reach the jobs
    config = tiny_config()
    outputs = {}
    for seed in (0, 1):
        config["seed"] = seed
        snakemake(tmp_path, write_config(config, tmp_path / "tiny.yaml"), "data/test")
        outputs[seed] = [(tmp_path / "data/test" / name).read_bytes() for name in ("metadata.csv", "aux.npz")]
    assert outputs[0][0] != outputs[1][0] and outputs[0][1] != outputs[1][1]
