"""Stable Diffusion generation on a tiny randomly initialised pipeline (CPU, offline), and its config."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from synclone.config import ConfigError, load_schema, validate_config
from synclone.generation import stable_diffusion as sd
from synclone.imageset import read_imageset
from synclone.prompts import build_prompts
from synclone.tasks import generate_shard_sd
from tests.configs import REPO, SCHEMA, default_config, write_config

SAMPLE = {"steps": 2, "guidance": 2.0, "height": 16, "width": 16, "batch_size": 3}


def tiny_pipeline(folder):
    """A StableDiffusionPipeline of small random components (16 px images, 8 x 8 latents), saved to ``folder``."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789,.'-")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({token: len(vocab) + i for i, token in enumerate([*chars, *(c + "</w>" for c in chars)])})
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")  # no merges: a word is its characters
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4, norm_num_groups=4,
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16,
    )  # fmt: skip
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))  # fmt: skip
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny")


def rows(n=7):
    """Prompts of the mini world (two classes' worth), with their seeds."""
    return build_prompts("hypernym_scene", 4, seed=0).iloc[:n].reset_index(drop=True)


def generator(model_dir, **sample):
    return sd.load_stable_diffusion(str(model_dir), {**SAMPLE, **sample})


def image_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted((folder / "images").iterdir())}


def test_a_shard_is_an_image_set_with_its_prompts_and_settings(model_dir, tmp_path):
    out = tmp_path / "shard-0"
    assert sd.generate_shard(generator(model_dir), rows(), out) == 7
    shard = read_imageset(out)
    assert shard.images.shape == (7, 16, 16, 3) and shard.images.dtype == np.uint8
    assert list(shard.metadata.columns) == ["file", "index", "prompt", "label", "class_name", "seed"]
    assert shard.metadata.drop(columns="file").equals(rows())
    assert shard.metadata["file"].iloc[6] == "images/000006.png"
    assert shard.images.std() > 0 and not np.array_equal(shard.images[0], shard.images[1])
    settings = json.loads((out / sd.SETTINGS_FILE).read_text())
    assert settings["model_id"] == str(model_dir) and settings["sample"]["guidance"] == 2.0
    assert (settings["dtype"], settings["device"]) == ("float32", "cpu")
    assert not sd.partial_dir(out).exists()


def test_an_image_depends_on_its_prompt_and_seed_only(model_dir, tmp_path):
    """Not on the batch size, its neighbours or its position; and another seed gives another image."""
    one = generator(model_dir, batch_size=1)
    four = generator(model_dir, batch_size=4)
    table = rows()
    alone = one.sample(table["prompt"].iloc[[5]].tolist(), table["seed"].iloc[[5]].tolist())[0]
    batched = four.sample(table["prompt"].iloc[2:6].tolist(), table["seed"].iloc[2:6].tolist())
    np.testing.assert_array_equal(alone, batched[3])
    reordered = four.sample(table["prompt"].iloc[[5, 0]].tolist(), table["seed"].iloc[[5, 0]].tolist())
    np.testing.assert_array_equal(alone, reordered[0])
    other_seed = one.sample(table["prompt"].iloc[[5]].tolist(), [int(table["seed"].iloc[5]) + 1])[0]
    assert np.abs(other_seed.astype(int) - alone).mean() > 5


def test_a_rerun_keeps_finished_images_and_regenerates_missing_ones_identically(model_dir, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    sd.generate_shard(generator(model_dir), rows(), reference)
    expected = image_bytes(reference)

    killed = generator(model_dir)
    calls = []
    real_sample = killed.sample

    def sample_then_die(prompts, seeds):
        if calls:
            raise KeyboardInterrupt  # the job is killed while sampling its second batch
        calls.append(len(prompts))
        return real_sample(prompts, seeds)

    monkeypatch.setattr(killed, "sample", sample_then_die)
    out = tmp_path / "shard-1"
    with pytest.raises(KeyboardInterrupt):
        sd.generate_shard(killed, rows(), out)
    partial = sd.partial_dir(out)
    assert not out.exists() and len(list((partial / "images").iterdir())) == 3
    (partial / "images" / "000001.png").unlink()  # a lost image is regenerated, the others kept

    assert sd.generate_shard(generator(model_dir), rows(), out) == 5
    assert image_bytes(out) == expected
    assert sd.generate_shard(generator(model_dir), rows(), out) == 7  # a finished shard is an output: redone whole


def test_a_partial_shard_made_with_other_settings_or_prompts_is_discarded(model_dir, tmp_path):
    out = tmp_path / "shard-0"
    partial = sd.partial_dir(out)
    sd.generate_shard(generator(model_dir), rows(), out)
    shutil.move(out, partial)  # as if killed after the last image
    assert sd.generate_shard(generator(model_dir, guidance=3.0), rows(), out) == 7
    shutil.move(out, partial)
    assert sd.generate_shard(generator(model_dir, guidance=3.0), rows().assign(seed=1), out) == 7
    shutil.move(out, partial)
    assert sd.generate_shard(generator(model_dir, guidance=3.0), rows().assign(seed=1), out) == 0


def test_dpm_solver_jpeg_shard(model_dir, tmp_path):
    gen = generator(model_dir, scheduler="dpmsolver", image_format="jpg", jpeg_quality=90)
    assert type(gen.pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert gen.pipeline.scheduler.config.algorithm_type == "dpmsolver++"
    assert gen.pipeline.safety_checker is None
    sd.generate_shard(gen, rows(4), tmp_path / "shard")
    shard = read_imageset(tmp_path / "shard")
    assert shard.metadata["file"].iloc[0] == "images/000000.jpg" and shard.images.shape == (4, 16, 16, 3)


def test_the_task_generates_one_shard_of_a_prompt_file(model_dir, tmp_path):
    prompts = tmp_path / "prompts.csv"
    build_prompts("classname", 3, seed=1).to_csv(prompts, index=False)  # 30 rows, 10 classes
    out = tmp_path / "synthetic" / "sd" / "classname" / "shard-1"
    generate_shard_sd(prompts, out, shard=1, shards=5, model={"model_id": str(model_dir)},
                      sample={**SAMPLE, "steps": 1}, threads=1, device="cpu")
    shard = read_imageset(out)
    assert shard.metadata["index"].tolist() == list(range(6, 12)) and set(shard.labels) == {2, 3}
    with pytest.raises(ValueError, match="has no prompts.*lower generator.shards"):
        generate_shard_sd(prompts, tmp_path / "empty", shard=0, shards=60, model={"model_id": str(model_dir)},
                          sample=SAMPLE, threads=1, device="cpu")


def test_a_hub_id_resolves_offline_from_the_hugging_face_cache(model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny--sd"
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from_hub = sd.load_stable_diffusion("tiny/sd", SAMPLE)
    from_folder = generator(model_dir)
    table = rows(2)
    np.testing.assert_array_equal(from_hub.sample(table["prompt"].tolist(), table["seed"].tolist()),
                                  from_folder.sample(table["prompt"].tolist(), table["seed"].tolist()))
    with pytest.raises(FileNotFoundError, match="at revision v2"):
        sd.load_pipeline("tiny/sd", revision="v2")


def test_models_that_are_not_there_fail_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"(?s)neither a folder nor in the Hugging Face cache.*P\.download"):
        sd.load_pipeline("nobody/no-such-model-anywhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is not a Stable Diffusion pipeline folder"):
        sd.load_pipeline(str(tmp_path / "empty"))


def test_sampling_params_reject_bad_values():
    with pytest.raises(ValueError, match=r"unknown StableDiffusionParams key\(s\) \['guidence'\]"):
        sd.StableDiffusionParams.from_dict({"guidence": 2})
    with pytest.raises(ValueError, match="multiples of 8"):
        sd.StableDiffusionParams(height=500)
    with pytest.raises(ValueError, match="dtype must be one of"):
        sd.StableDiffusionParams(dtype="half")
    assert sd.resolve_dtype("auto", "cpu") == torch.float32 and sd.resolve_dtype("auto", "cuda") == torch.float16


# ---- the config ----------------------------------------------------------------------------------------------


def sd_config(model_id="stable-diffusion-v1-5/stable-diffusion-v1-5"):
    """A small mini-world config of its own (two clones, one real model) with a Stable Diffusion generator."""
    clone = {"arch": "mini_resnet", "group": "synthetic", "train": {"epochs": 1}}
    return {
        "world": "mini",
        "seed": 0,
        "compute": {"device": "cpu", "jobs": {"generate": {"threads": 1, "mem_mb": 2000, "runtime": 10}}},
        "datasets": {"train": {"source": "render", "kind": "train", "n": 40},
                     "test": {"source": "render", "kind": "test", "n": 40}},
        "generator": {"kind": "stable_diffusion", "name": "sd15", "model_id": model_id,
                      "sample": {**SAMPLE, "steps": 1}, "images_per_class": 1, "shards": 2},
        "prompt_sets": ["classname", "hypernym_scene"],
        "models": {
            "real": {"arch": "mini_resnet", "data": "train", "group": "real", "train": {"epochs": 1}},
            "clone_names": {**clone, "data": "synthetic/classname"},
            "clone_fakeit": {**clone, "data": "synthetic/hypernym_scene"},
        },
        "metrics": {"calibration": {"eval_sets": ["test"]}},
        "bootstrap": {"n": 10, "confidence": 0.95},
    }


def test_the_schema_takes_a_stable_diffusion_generator_and_rejects_unknown_kinds():
    schema = load_schema(SCHEMA)
    validate_config(sd_config(), schema)
    mini = default_config()
    mini["generator"].pop("kind", None)
    validate_config(mini, schema)  # kind defaults to mini
    config = sd_config()
    config["generator"]["kind"] = "sdxl"
    with pytest.raises(ConfigError, match=r"generator\.kind: 'sdxl' is not one of: mini, stable_diffusion") as error:
        validate_config(config, schema)
    assert "missing key" not in str(error.value)  # no noise about the other kinds' keys
    del config["generator"]["kind"]
    with pytest.raises(ConfigError, match="generator: missing key 'corpus'"):
        validate_config(config, schema)
    config = sd_config()
    del config["generator"]["model_id"]
    with pytest.raises(ConfigError, match="generator: missing key 'model_id'"):
        validate_config(config, schema)
    config = sd_config()
    config["generator"]["sample"]["sizes"] = 512
    with pytest.raises(ConfigError, match=r"generator\.sample: unknown key 'sizes'"):
        validate_config(config, schema)


def snakemake(config_path, *args, cwd):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(config_path),
               "--directory", str(cwd), "--cores", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def job_counts(stdout):
    """Snakemake's job-stats table as {rule: count}."""
    pairs = (line.split() for line in stdout.splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}


def test_the_clones_target_needs_the_shards_and_the_synthetic_models_only(tmp_path):
    config = write_config(sd_config(), tmp_path / "config.yaml")
    run = snakemake(config, "clones", "-n", "--quiet", "rules", cwd=tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    # 2 prompt sets x 2 shards, the two clones; no mini generator to train, no real model, no fidelity judge
    assert job_counts(run.stdout) == {"build_prompts": 2, "generate_shard": 4, "train_model": 2, "clones": 1,
                                      "total": 9}


@pytest.mark.e2e
def test_snakemake_generates_a_shard_with_stable_diffusion(model_dir, tmp_path):
    config = write_config(sd_config(str(model_dir)), tmp_path / "config.yaml")
    run = snakemake(config, "synthetic/sd15/classname/shard-1", cwd=tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    shard = read_imageset(tmp_path / "synthetic/sd15/classname/shard-1")
    assert shard.metadata["label"].tolist() == list(range(5, 10)) and shard.images.shape == (5, 16, 16, 3)
    log = (tmp_path / "logs/generate/sd15/classname/shard-1.log").read_text()
    assert "5 of 5 images to generate" in log
    assert (tmp_path / "logs/benchmarks/generate/sd15/classname/shard-1.tsv").is_file()
