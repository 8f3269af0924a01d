"""Prompt sets: one row per image to generate (index, prompt, label, class name, seed).

The same strategy names serve both worlds; the config's ``world`` picks the vocabulary.

Mini world (``STRATEGIES``): ``classname`` ("star": the Scaling paper's class-name prompts), ``hypernym_scene``
("star, a symbol inside a forest": Fake-it's "c, h_c inside b" with a random scene b), ``templates`` (a random
CLIP-style template), ``captions`` ("a red striped star in a forest, at night": the attributes of a freshly sampled
photo of the class, each dropped with the world's ``caption_drop_p``, the analogue of BLIP-2 captions of real images).

Paper world (``PAPER_STRATEGIES``, the 1000 ImageNet classes in wnid order, named as in open_clip):
``classname`` ("tench"), ``hypernym_scene`` ("tench, cyprinid inside lake natural": the class's first WordNet
hypernym and a Places365 scene drawn per image), ``templates`` (one of the 80 OpenAI CLIP templates drawn per
image), ``captions`` ("tench, <caption>": the Scaling paper's class name plus a BLIP-2 caption, from a caption
file the user provides; see ``read_captions``).
"""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from typing import Callable

import numpy as np
import pandas as pd

from synclone.seeding import derive_seed
from synclone.worlds import mini

logger = logging.getLogger("synclone")
WORLDS = ("mini", "paper")


def _classname(class_name: str, rng: np.random.Generator) -> str:
    return class_name


def _hypernym_scene(class_name: str, rng: np.random.Generator) -> str:
    scenes = list(mini.SCENES)
    return mini.fakeit_text(class_name, scenes[rng.integers(len(scenes))])


def _templates(class_name: str, rng: np.random.Generator) -> str:
    return mini.CLIP_TEMPLATES[rng.integers(len(mini.CLIP_TEMPLATES))].format(class_name)


def attribute_caption(row, rng: np.random.Generator, drop_p: float = mini.WorldParams.caption_drop_p) -> str:
    """An image's attributes in words (``mini.attribute_text``), each attribute dropped with probability ``drop_p``."""
    return mini.attribute_text(row, {key: rng.random() >= drop_p for key in mini._CAPTION_ATTRIBUTES})


def _captions(class_name: str, rng: np.random.Generator) -> str:
    # a caption of a photo that could be in the real train split (default world parameters)
    attributes = mini.sample_attributes(1, int(rng.integers(2**31)), overrides={"label": mini.CLASSES.index(class_name)})
    return attribute_caption(attributes.iloc[0].to_dict(), rng)


STRATEGIES: dict[str, Callable[[str, np.random.Generator], str]] = {
    "classname": _classname,
    "hypernym_scene": _hypernym_scene,
    "templates": _templates,
    "captions": _captions,
}

# the paper world's strategies are built class-vectorised in ``_paper_prompts``
PAPER_STRATEGIES = ("classname", "hypernym_scene", "templates", "captions")


def build_prompts(
    strategy: str, images_per_class: int, seed: int, world: str = "mini", captions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Rows ordered class by class, so a shard that takes a contiguous block covers a class range.

    ``captions`` (``read_captions``'s table) is what the paper world's ``captions`` strategy reads.
    """
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; valid: {', '.join(WORLDS)}")
    valid = strategy_names(world)
    if strategy not in valid:
        raise ValueError(f"unknown prompt strategy {strategy!r} for the {world} world; valid: {', '.join(valid)}")
    if images_per_class < 1:
        raise ValueError(f"images_per_class must be >= 1, got {images_per_class}")
    if world == "paper":
        return _paper_prompts(strategy, images_per_class, seed, captions)
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


def strategy_names(world: str) -> list[str]:
    """The prompt strategies a world offers (the names its config's ``prompt_sets`` may use)."""
    return list(PAPER_STRATEGIES if world == "paper" else STRATEGIES)


# ---- the paper world: ImageNet-1k ------------------------------------------------------------------------


def _data_file(name: str) -> dict:
    return json.loads(resources.files("synclone.data").joinpath(name).read_text())


def imagenet_classes() -> list[dict]:
    """The 1000 classes in index order: wnid, lemma, hypernym_wnid, hypernym_lemma, hypernym_lemmas (WordNet)."""
    return _data_file("imagenet_hypernyms.json")["classes"]


def imagenet_class_names() -> list[str]:
    """open_clip's cleaned ImageNet class names, index i = class i ("tench", "goldfish", ...)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


def places365_scenes() -> list[str]:
    """The 365 Places365 categories as plain text: "/a/apartment_building/outdoor" -> "apartment building outdoor"."""
    categories = _data_file("places365_categories.json")["categories"]
    return [" ".join(raw.split("/")[2:]).replace("_", " ") for raw in categories]


def fakeit_prompt(class_name: str, hypernym: str, scene: str) -> str:
    """Fake-it's "c, h_c inside b"."""
    return f"{class_name}, {hypernym} inside {scene}"


def read_captions(path: str | os.PathLike) -> pd.DataFrame:
    """A caption file as a table (label, caption), one row per caption, in file order.

    The file is a CSV with a header and the columns ``caption`` and ``wnid`` (an ImageNet-1k wnid such as
    n01440764) or ``label`` (the class index 0..999); other columns are ignored. The Scaling paper's recipe has
    one BLIP-2 caption per real training image, so about 1,300 per class.
    """
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    where = f"caption file {path}"
    if "caption" not in table.columns or not {"wnid", "label"} & set(table.columns):
        raise ValueError(f"{where} needs the columns 'caption' and 'wnid' (or 'label', the class index 0..999); "
                         f"it has {', '.join(table.columns) or 'none'}")

    def row(i: int) -> str:
        return f"{where}, line {i + 2}"  # the header is line 1

    if "wnid" in table.columns:
        from synclone.acquire.registry import label_classes

        index = {wnid: k for k, wnid in enumerate(label_classes("imagenet_1k"))}
        unknown = [(i, w) for i, w in enumerate(table["wnid"].str.strip()) if w not in index]
        if unknown:
            i, wnid = unknown[0]
            raise ValueError(f"{row(i)}: {wnid!r} is not an ImageNet-1k wnid ({len(unknown)} such row(s)); "
                             f"wnids look like n01440764 (synclone/data/labelmaps/imagenet_1k.json lists the 1000)")
        labels = table["wnid"].str.strip().map(index)
    else:
        labels = pd.to_numeric(table["label"].str.strip(), errors="coerce")
        bad = np.flatnonzero(~labels.between(0, 999) | (labels % 1 != 0))
        if len(bad):
            raise ValueError(f"{row(bad[0])}: label {table['label'].iloc[bad[0]]!r} is not a class index 0..999 "
                             f"({len(bad)} such row(s))")
    captions = table["caption"].str.strip()
    empty = np.flatnonzero(captions == "")
    if len(empty):
        raise ValueError(f"{row(empty[0])}: the caption is empty ({len(empty)} such row(s))")
    return pd.DataFrame({"label": labels.astype(np.int64), "caption": captions})


def _caption_pool(captions: pd.DataFrame | None, names: list[str]) -> list[list[str]]:
    """Each class's captions in file order; every class needs at least one."""
    if captions is None:
        raise ValueError("the paper world's 'captions' prompt set needs a caption file (config: "
                         "generator.captions_file)")
    pool: list[list[str]] = [[] for _ in names]
    for label, caption in zip(captions["label"], captions["caption"]):
        pool[label].append(caption)
    missing = [k for k, texts in enumerate(pool) if not texts]
    if missing:
        examples = ", ".join(f"{k} ({names[k]})" for k in missing[:5])
        raise ValueError(f"the caption file has no caption for {len(missing)} class(es), e.g. {examples}; "
                         f"every ImageNet class needs at least one")
    return pool


def _paper_prompts(strategy: str, images_per_class: int, seed: int, captions: pd.DataFrame | None) -> pd.DataFrame:
    names = imagenet_class_names()
    n = len(names) * images_per_class
    labels = np.repeat(np.arange(len(names)), images_per_class)
    rng = np.random.default_rng(seed)
    if strategy == "classname":
        prompts = [names[k] for k in labels]
    elif strategy == "hypernym_scene":
        hypernyms = [entry["hypernym_lemma"] for entry in imagenet_classes()]
        scenes = places365_scenes()
        drawn = rng.integers(len(scenes), size=n)
        prompts = [fakeit_prompt(names[k], hypernyms[k], scenes[b]) for k, b in zip(labels, drawn)]
    elif strategy == "templates":
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES as templates

        drawn = rng.integers(len(templates), size=n)
        prompts = [templates[t](names[k]) for k, t in zip(labels, drawn)]
    else:  # captions: image j of a class takes its j-th caption, cycling when the class has fewer
        pool = _caption_pool(captions, names)
        repeated = sum(len(texts) < images_per_class for texts in pool)
        if repeated:
            logger.warning("%d classes have fewer than %d captions: their captions repeat", repeated, images_per_class)
        within = np.tile(np.arange(images_per_class), len(names))
        prompts = [f"{names[k]}, {pool[k][j % len(pool[k])]}" for k, j in zip(labels, within)]
    return pd.DataFrame({
        "index": np.arange(n),
        "prompt": prompts,
        "label": labels,
        "class_name": [names[k] for k in labels],
        "seed": [derive_seed(seed, "image", i) for i in range(n)],
    })


def shard_rows(prompts: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """The contiguous block of rows that shard ``shard`` of ``shards`` generates."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    bounds = np.linspace(0, len(prompts), shards + 1).round().astype(int)
    return prompts.iloc[bounds[shard] : bounds[shard + 1]].reset_index(drop=True)
