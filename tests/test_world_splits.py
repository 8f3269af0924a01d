"""The mini world's evaluation splits: each mirrors how its real dataset was built (see synclone.worlds.mini)."""

import hashlib
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from synclone.worlds import mini

N = 200
EVALUATION_KINDS = ("renditions", "hard_candidates", "ood_shapes", "ood_scenes", "ood_textures", "context",
                    "cue_conflict", "bg_original", "bg_mixed_same", "bg_mixed_rand")  # fmt: skip
SPLIT_COLUMNS = {
    "context": ["uncommon_count", "uncommon_time", "uncommon_weather", "uncommon_location"],
    "cue_conflict": ["texture_label", "backdrop_colour"],
    "bg_original": ["background_class"], "bg_mixed_same": ["background_class"], "bg_mixed_rand": ["background_class"],
}  # fmt: skip
BACKGROUND_KINDS = ("bg_original", "bg_mixed_same", "bg_mixed_rand")
CLASS_SCENE_BY_LABEL = {label: mini.CLASS_SCENE[name] for label, name in enumerate(mini.CLASSES)}


@lru_cache(maxsize=None)
def split(kind: str):
    return mini.render_split(kind, N, 0)


def _digest(images, metadata, aux) -> str:
    digest = hashlib.sha256(images.tobytes())
    for part in (metadata.to_csv(index=False).encode(), aux["depth"].tobytes(), aux["mask"].tobytes()):
        digest.update(part)
    return digest.hexdigest()


# Computed from the renderer before the evaluation splits were added: adding them must not move the existing kinds.
@pytest.mark.parametrize("kind, expected", [
    ("train", "b107b4d81498b8c696fa3c939ae3e87702ceb561af83657444a3d27902548dea"),
    ("test", "7db3cdb6ae5fb8601ef621b2a95d17b1e9af06bd355e35d6fbe48b2b62f3d87e"),
    ("corpus", "efe5bb8b24c56095fac26659a3c50a54b0d772b0b7de47680f4fa485339d83c5"),
])  # fmt: skip
def test_existing_kinds_render_byte_identically(kind, expected):
    assert _digest(*mini.render_split(kind, 24, seed=3)) == expected


@pytest.mark.parametrize("kind", EVALUATION_KINDS)
def test_every_kind_renders_deterministically_with_its_columns(kind):
    images, metadata, aux = split(kind)
    assert images.dtype == np.uint8 and images.shape == (N, 32, 32, 3)
    assert list(metadata.columns) == [*mini.COLUMNS, *SPLIT_COLUMNS.get(kind, [])]
    assert not metadata.isna().any().any()
    assert _digest(images, metadata, aux) == _digest(*mini.render_split(kind, N, 0))
    assert _digest(images, metadata, aux) != _digest(*mini.render_split(kind, N, 1))


def test_kinds_share_no_image_except_the_paired_background_sets():
    seeds = {kind: set(split(kind)[1]["seed"]) for kind in ("test", *EVALUATION_KINDS)}
    for kind, other in ((a, b) for a in seeds for b in seeds if a < b):
        paired = kind in BACKGROUND_KINDS and other in BACKGROUND_KINDS
        assert (seeds[kind] == seeds[other]) if paired else not seeds[kind] & seeds[other], (kind, other)


def test_renditions_are_drawings_of_the_classes_on_paper():
    images, metadata, aux = split("renditions")
    assert metadata["style"].value_counts().to_dict() == {"icon": 67, "outline": 67, "sketch": 66}
    assert set(metadata["label"]) == set(range(len(mini.CLASSES)))
    # paper: nearly every pixel off the drawing is light grey in every channel (photos' scenes are not)
    for image, mask in zip(images, aux["mask"]):
        assert (image[~mask].min(axis=1) > 180).mean() > 0.85


def test_hard_candidates_are_photos_from_the_unusual_side_of_the_distribution():
    hard, test = (mini.SPLITS[kind](2000, 0, mini.WorldParams()) for kind in ("hard_candidates", "test"))
    assert (hard["style"] == "photo").all() and set(hard["label"]) == set(range(len(mini.CLASSES)))

    def typical_share(attributes: pd.DataFrame, column: str, typical: dict) -> float:
        return float((attributes[column] == attributes["class_name"].map(typical)).mean())

    for column, typical in (("texture", mini.CLASS_TEXTURE), ("scene", mini.CLASS_SCENE)):
        assert typical_share(hard, column, typical) < 0.7 * typical_share(test, column, typical)
    assert (hard["noise"] != "none").mean() > 1.5 * (test["noise"] != "none").mean()
    assert hard["scale"].mean() < test["scale"].mean()
    assert hard["rotation"].abs().mean() > test["rotation"].abs().mean()


@pytest.mark.parametrize("kind", ["ood_shapes", "ood_scenes", "ood_textures"])
def test_ood_sets_belong_to_no_class(kind):
    _, metadata, _ = split(kind)
    assert (metadata["label"] == mini.OOD_LABEL).all() and (metadata["class_name"] == mini.OOD_NAME).all()


def test_ood_shapes_are_photos_of_unseen_shapes_only():
    _, metadata, aux = split("ood_shapes")
    assert metadata["shape"].value_counts().to_dict() == dict.fromkeys(mini.OOD_SHAPES, N // len(mini.OOD_SHAPES))
    assert (metadata["style"] == "photo").all() and aux["mask"].any(axis=(1, 2)).all()


def test_ood_scenes_are_object_free():
    images, metadata, aux = split("ood_scenes")
    assert not aux["mask"].any()
    assert set(metadata["scene"]) == set(mini.SCENES) and images.std(axis=(1, 2, 3)).min() > 1


def test_ood_textures_fill_the_frame_without_a_silhouette():
    images, metadata, aux = split("ood_textures")
    assert aux["mask"].all() and (metadata["style"] == "closeup").all()
    assert set(metadata["texture"]) == set(mini.TEXTURES)
    patterned = metadata["texture"] != "solid"
    assert (images[patterned.to_numpy()].std(axis=(1, 2)).max(axis=1) > 5).all()


def test_context_balances_the_number_of_uncommon_attributes():
    _, metadata, _ = split("context")
    assert np.bincount(metadata["uncommon_count"], minlength=4).tolist() == [N // 4] * 4
    flags = metadata[["uncommon_time", "uncommon_weather", "uncommon_location"]]
    assert (flags.sum(axis=1) == metadata["uncommon_count"]).all()
    for attribute, column in (("time", "time"), ("weather", "weather"), ("location", "scene")):
        uncommon = [value in mini.CONTEXT[name][attribute]["uncommon"]
                    for name, value in zip(metadata["class_name"], metadata[column])]  # fmt: skip
        assert uncommon == metadata[f"uncommon_{attribute}"].tolist()
        assert 0.2 < np.mean(uncommon) < 0.8
    three = metadata[metadata["uncommon_count"] == 3]
    assert (three["scene"] != three["class_name"].map(mini.CLASS_SCENE)).all()


def test_cue_conflict_puts_one_class_texture_on_another_class_shape():
    metadata = mini.SPLITS["cue_conflict"](2000, 0, mini.WorldParams())
    texture_class = np.array(mini.CLASSES)[metadata["texture_label"]]
    assert (metadata["texture"] == [mini.CLASS_TEXTURE[name] for name in texture_class]).all()
    assert (metadata["shape"] == metadata["class_name"]).all()
    counts = np.bincount(metadata["texture_label"], minlength=len(mini.CLASSES))
    assert counts.min() > 150  # uniform over all classes
    assert 0.07 < (metadata["label"] == metadata["texture_label"]).mean() < 0.13  # left out by the metric
    assert (metadata["noise"] == "none").all() and (metadata["backdrop_colour"] != metadata["colour"]).all()
    # the texture fills the frame: off the object, the image is the same texture's close-up in the backdrop colour
    images, metadata, _ = split("cue_conflict")
    backdrop = mini.render(metadata.assign(style="closeup", colour=metadata["backdrop_colour"]))[0]
    off_object = mini.render_layers(metadata).alpha == 0
    assert np.array_equal(images[off_object], backdrop[off_object])
    assert off_object.mean() > 0.5


def test_background_sets_share_foregrounds_and_swap_backgrounds():
    original, same, rand = (split(kind) for kind in BACKGROUND_KINDS)
    mask = original[2]["mask"]
    assert mask.any(axis=(1, 2)).all()
    object_columns = [c for c in mini.COLUMNS if c not in mini.BACKGROUND_COLUMNS]
    for images, metadata, aux in (same, rand):
        pd.testing.assert_frame_equal(metadata[object_columns], original[1][object_columns])
        assert np.array_equal(aux["mask"], mask)
        assert np.array_equal(images[mask], original[0][mask])  # the same object pixels, exactly
        changed = (images != original[0]).any(axis=-1)
        assert all(changed[i][~mask[i]].mean() > 0.5 for i in range(N))  # another background everywhere else
        assert not (metadata["background_seed"] == original[1]["background_seed"]).any()
    labels = original[1]["label"]
    assert (original[1]["background_class"] == labels).all() and (same[1]["background_class"] == labels).all()
    assert set((rand[1]["background_class"] - labels) % len(mini.CLASSES)) == set(range(1, len(mini.CLASSES)))
    # backgrounds come from their class's scene distribution: the class's own scene about half the time
    for metadata in (original[1], same[1], rand[1]):
        assert 0.4 < (metadata["scene"] == metadata["background_class"].map(CLASS_SCENE_BY_LABEL)).mean() < 0.7
    assert (rand[1]["scene"] == labels.map(CLASS_SCENE_BY_LABEL)).mean() < 0.2
