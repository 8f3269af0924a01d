"""Prompt sets: one row per image to generate (prompt, label, class name, seed).

Strategies mirror the paper's synthetic-data recipes on the mini world's vocabulary:
``classname`` ("star": the Scaling paper's class-name prompts), ``hypernym_scene`` ("star, a symbol inside a
forest": Fake-it's "c, h_c inside b" with a random scene b), ``templates`` (a random CLIP-style template).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from synclone.seeding import derive_seed
from synclone.worlds import mini


def _classname(class_name: str, rng: np.random.Generator) -> str:
    return class_name


def _hypernym_scene(class_name: str, rng: np.random.Generator) -> str:
    scenes = list(mini.SCENES)
    return mini.fakeit_text(class_name, scenes[rng.integers(len(scenes))])


def _templates(class_name: str, rng: np.random.Generator) -> str:
    return mini.CLIP_TEMPLATES[rng.integers(len(mini.CLIP_TEMPLATES))].format(class_name)


STRATEGIES: dict[str, Callable[[str, np.random.Generator], str]] = {
    "classname": _classname,
    "hypernym_scene": _hypernym_scene,
    "templates": _templates,
}


def build_prompts(strategy: str, images_per_class: int, seed: int) -> pd.DataFrame:
    """Rows ordered class by class, so a shard that takes a contiguous block covers a class range."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown prompt strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if images_per_class < 1:
        raise ValueError(f"images_per_class must be >= 1, got {images_per_class}")
    make_prompt = STRATEGIES[strategy]
    rng = np.random.default_rng(seed)
    rows = []
    for label, class_name in enumerate(mini.CLASSES):
        for _ in range(images_per_class):
            index = len(rows)
            rows.append({
                "index": index,
                "prompt": make_prompt(class_name, rng),
                "label": label,
                "class_name": class_name,
                "seed": derive_seed(seed, "image", index),
            })
    return pd.DataFrame(rows)


def shard_rows(prompts: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """The contiguous block of rows that shard ``shard`` of ``shards`` generates."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    bounds = np.linspace(0, len(prompts), shards + 1).round().astype(int)
    return prompts.iloc[bounds[shard] : bounds[shard + 1]].reset_index(drop=True)
