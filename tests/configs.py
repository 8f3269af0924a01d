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


def tiny_config() -> dict:
    """The mini world shrunk until the whole DAG runs in about a minute: it checks plumbing, not accuracy."""
    config = copy.deepcopy(default_config())
    sizes = {"train": 300, "test": 120, "corpus": 200, "hard_candidates": 120, "hard": 30}
    for name, dataset in config["datasets"].items():
        dataset["n"] = sizes.get(name, 40)
    config["mini_world"]["grid_images"] = 20
    generator = config["generator"]
    generator["train"] = {"steps": 6, "batch_size": 16, "log_every": 3, "block_out_channels": [16, 32, 32],
                          "attention_levels": [False, False, False], "attention_head_dim": 8}
    generator["sample"] = {**generator["sample"], "steps": 2, "batch_size": 16}
    generator["images_per_class"] = 3
    generator["grid_images"] = 20
    for model in config["models"].values():
        model["train"] = {"epochs": 1, "batch_size": 32}
    metrics = config["metrics"]
    metrics["adversarial"].update(n_images=24, pgd_steps=2, batch_size=24)
    metrics["corruptions"].update(n_images=24, severities=[1, 5], batch_size=24)
    config["bootstrap"]["n"] = 20
    return config


def write_config(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
