"""Small configurations derived from the real mini-world config, so tests follow it as it changes."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


# tiny settings of the self-supervised and CLIP clones' training (synclone.clone_params)
TINY_CLONE_TRAIN = {
    "self-supervised": {"steps": 2, "batch_size": 16, "images_per_group": 2, "warmup_steps": 1, "log_every": 1},
    "clip": {"steps": 2, "batch_size": 16, "text_layers": 1, "warmup_steps": 1, "log_every": 1},
}


# One model of each kind and data source, so every rule and metric runs: a synthetic supervised, SSL and CLIP clone,
# the real judge of the generator and the hard split's reference. Each further model would cost about 35 s of CPU.
TINY_MODELS = ("resnet_real", "resnet_syn", "ssl_syn", "clip_syn", "reference_resnet")


def tiny_config() -> dict:
    """The mini world shrunk until the whole DAG runs in about two minutes: it checks plumbing, not accuracy."""
    config = copy.deepcopy(default_config())
    config["models"] = {name: spec for name, spec in config["models"].items() if name in TINY_MODELS}
    for spec in config["models"].values():
        if spec.get("pair") not in config["models"]:
            spec.pop("pair", None)
    sizes = {"train": 300, "test": 120, "corpus": 200, "hard_candidates": 120, "hard": 30}
    for name, dataset in config["datasets"].items():
        dataset["n"] = sizes.get(name, 40)
    config["mini_world"]["grid_images"] = 20
    # one thread per job: with jobs this small, two running side by side beat one job on two threads
    for family in config["compute"]["jobs"].values():
        family["threads"] = 1
    generator = config["generator"]
    generator["train"] = {"steps": 6, "batch_size": 16, "log_every": 3, "block_out_channels": [16, 32, 32],
                          "attention_levels": [False, False, False], "attention_head_dim": 8}
    generator["sample"] = {**generator["sample"], "steps": 2, "batch_size": 16}
    generator["images_per_class"] = 3
    generator["grid_images"] = 20
    for model in config["models"].values():
        model["train"] = dict(TINY_CLONE_TRAIN.get(model.get("kind"), {"epochs": 1, "batch_size": 32}))
        if "probe" in model:
            model["probe"] = {"data": model["probe"]["data"], "lrs": [0.1, 1.0], "epochs": 2}
    sweeps = config.get("ablations", {})
    if "prompt_size" in sweeps:
        sweeps["prompt_size"].update(base_images_per_class=1, multiples=[1, 2])
    if "mix" in sweeps:
        sweeps["mix"]["images_per_class"] = 2
    metrics = config["metrics"]
    metrics["adversarial"].update(n_images=24, pgd_steps=2, batch_size=24)
    metrics["corruptions"].update(n_images=24, severities=[1, 5], batch_size=24)
    config["bootstrap"]["n"] = 20
    return config


def write_config(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
