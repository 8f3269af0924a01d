"""The paper world's prompt builders (ImageNet-1k): class names, "c, h_c inside b", CLIP templates, captions."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from synclone import registries
from synclone.acquire.registry import label_classes
from synclone.config import ConfigError
from synclone.prompts import (
    build_prompts,
    fakeit_prompt,
    imagenet_class_names,
    imagenet_classes,
    places365_scenes,
    read_captions,
    shard_rows,
    strategy_names,
)
from synclone.seeding import derive_seed
from synclone.tasks import build_prompts as build_prompts_task
from synclone.worlds import mini

PAPER = ["classname", "hypernym_scene", "templates", "captions"]


def data_file(name):
    return json.loads(resources.files("synclone.data").joinpath(name).read_text())


def test_data_files_name_their_source_and_follow_the_imagenet_order():
    hypernyms, places = data_file("imagenet_hypernyms.json"), data_file("places365_categories.json")
    assert "WordNet 3.0" in hypernyms["source"] and "places365" in places["source"]
    assert [entry["wnid"] for entry in imagenet_classes()] == label_classes("imagenet_1k")
    assert [entry["index"] for entry in imagenet_classes()] == list(range(1000))
    assert len(places["categories"]) == 365 == len(set(places["categories"]))


@pytest.mark.parametrize("index, class_name, hypernym", [
    (0, "tench", "cyprinid"),
    (1, "goldfish", "cyprinid"),
    (2, "great white shark", "mackerel shark"),
    (401, "accordion", "free-reed instrument"),  # has a second parent (keyboard instrument): the first counts
    (415, "bakery", "workplace"),
    (999, "toilet paper", "tissue"),
])
def test_hypernyms_are_the_first_wordnet_parent(index, class_name, hypernym):
    assert imagenet_class_names()[index] == class_name
    assert imagenet_classes()[index]["hypernym_lemma"] == hypernym


def test_places365_scenes_are_plain_text():
    scenes = places365_scenes()
    assert len(scenes) == 365 == len(set(scenes))
    assert scenes[0] == "airfield"
    assert scenes[8] == "apartment building outdoor"  # /a/apartment_building/outdoor
    assert scenes[-1] == "zen garden"
    assert not any("/" in s or "_" in s for s in scenes)


def test_classname_prompts_are_in_class_order_with_per_image_seeds():
    prompts = build_prompts("classname", 3, seed=7, world="paper")
    assert list(prompts.columns) == ["index", "prompt", "label", "class_name", "seed"]
    assert len(prompts) == 3000
    assert prompts["label"].tolist() == list(np.repeat(np.arange(1000), 3))
    assert prompts["prompt"].iloc[:4].tolist() == ["tench", "tench", "tench", "goldfish"]
    assert prompts["prompt"].iloc[-1] == "toilet paper" == prompts["class_name"].iloc[-1]
    assert prompts["index"].tolist() == list(range(3000))
    assert prompts["seed"].iloc[5] == derive_seed(7, "image", 5)
    assert prompts["seed"].nunique() == 3000


def test_hypernym_scene_prompts_draw_a_scene_per_image_from_the_seed():
    prompts = build_prompts("hypernym_scene", 20, seed=0, world="paper")
    scenes = set(places365_scenes())
    goldfish = prompts[prompts["label"] == 1]["prompt"]
    assert all(p.startswith("goldfish, cyprinid inside ") for p in goldfish)
    assert all(p.removeprefix("goldfish, cyprinid inside ") in scenes for p in goldfish)
    drawn = prompts["prompt"].str.split(" inside ").str[1]
    assert drawn.nunique() > 300  # 20,000 draws cover nearly all 365 scenes
    assert prompts.equals(build_prompts("hypernym_scene", 20, seed=0, world="paper"))
    assert not prompts["prompt"].equals(build_prompts("hypernym_scene", 20, seed=1, world="paper")["prompt"])
    assert fakeit_prompt("tench", "cyprinid", "lake natural") == "tench, cyprinid inside lake natural"


def test_template_prompts_fill_one_of_the_80_openai_templates():
    prompts = build_prompts("templates", 40, seed=3, world="paper")
    assert len(OPENAI_IMAGENET_TEMPLATES) == 80
    for label in (0, 999):
        rows = prompts[prompts["label"] == label]
        filled = {t(imagenet_class_names()[label]) for t in OPENAI_IMAGENET_TEMPLATES}
        assert set(rows["prompt"]) <= filled
        assert rows["prompt"].nunique() > 10
    assert "a bad photo of a tench." in {t("tench") for t in OPENAI_IMAGENET_TEMPLATES}


def caption_file(path, per_class=2, column="wnid", skip=(), extra=()):
    wnids = label_classes("imagenet_1k")
    rows = [{column: wnids[k] if column == "wnid" else k, "caption": f"photo {k}-{j}", "source_image": f"x{k}"}
            for k in range(1000) if k not in skip for j in range(per_class)]
    pd.DataFrame([*rows, *extra]).to_csv(path, index=False)
    return path


def test_caption_prompts_prefix_the_class_name_and_cycle_through_the_class_captions(tmp_path):
    captions = read_captions(caption_file(tmp_path / "captions.csv", per_class=2))
    assert list(captions.columns) == ["label", "caption"] and len(captions) == 2000
    prompts = build_prompts("captions", 3, seed=0, world="paper", captions=captions)
    assert prompts["prompt"].iloc[:4].tolist() == ["tench, photo 0-0", "tench, photo 0-1", "tench, photo 0-0",
                                                   "goldfish, photo 1-0"]
    by_label = read_captions(caption_file(tmp_path / "by_label.csv", per_class=2, column="label"))
    assert by_label.equals(captions)


def test_caption_file_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"no caption for 1 class\(es\), e\.g\. 3 \(tiger shark\)"):
        build_prompts("captions", 1, 0, "paper", read_captions(caption_file(tmp_path / "a.csv", skip={3})))
    bad_wnid = [{"wnid": "n99999999", "caption": "a thing", "source_image": ""}]
    with pytest.raises(ValueError, match=r"line 2002: 'n99999999' is not an ImageNet-1k wnid"):
        read_captions(caption_file(tmp_path / "b.csv", extra=bad_wnid))
    with pytest.raises(ValueError, match=r"label '1000' is not a class index 0\.\.999"):
        read_captions(caption_file(tmp_path / "c.csv", column="label", extra=[{"label": 1000, "caption": "x"}]))
    with pytest.raises(ValueError, match="the caption is empty"):
        read_captions(caption_file(tmp_path / "d.csv", extra=[{"wnid": "n01440764", "caption": " "}]))
    (tmp_path / "e.csv").write_text("image,text\na.jpg,a fish\n")
    with pytest.raises(ValueError, match="needs the columns 'caption' and 'wnid'.*it has image, text"):
        read_captions(tmp_path / "e.csv")
    with pytest.raises(ValueError, match="needs a caption file"):
        build_prompts("captions", 1, 0, "paper")


def test_unknown_strategy_or_world_is_rejected_and_the_mini_world_is_unchanged():
    with pytest.raises(ValueError, match="unknown prompt strategy 'hypernyms' for the paper world; valid: classname"):
        build_prompts("hypernyms", 1, 0, "paper")
    with pytest.raises(ValueError, match="unknown world 'imagenet'"):
        build_prompts("classname", 1, 0, "imagenet")
    assert strategy_names("paper") == PAPER
    mini_prompts = build_prompts("classname", 2, 0)
    assert mini_prompts["prompt"].tolist() == [name for name in mini.CLASSES for _ in range(2)]


def test_shards_of_a_paper_prompt_set_are_class_ranges():
    prompts = build_prompts("classname", 2, 0, "paper")
    shards = [shard_rows(prompts, i, 250) for i in range(250)]
    assert [sorted(s["label"].unique()) for s in shards[:2]] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert pd.concat(shards, ignore_index=True).equals(prompts)


def test_the_config_checks_know_the_paper_strategies_and_the_caption_file():
    assert registries.names("paper")["prompt_strategies"] == PAPER
    config = {"world": "paper", "prompt_sets": ["captions"], "models": {},
              "generator": {"kind": "stable_diffusion", "sample": {}}}
    with pytest.raises(ConfigError, match="set generator.captions_file"):
        registries.check_params(config)
    config["generator"]["captions_file"] = "captions.csv"
    registries.check_params(config)


def test_build_prompts_task_reads_the_caption_file(tmp_path):
    out = tmp_path / "prompts" / "captions.csv"
    build_prompts_task(out, "captions", 1, seed=4, world="paper",
                       captions_csv=caption_file(tmp_path / "captions.csv", per_class=1))
    written = pd.read_csv(out, keep_default_na=False)
    assert written["prompt"].iloc[0] == "tench, photo 0-0" and len(written) == 1000
    assert written["seed"].iloc[0] == derive_seed(4, "image", 0)
