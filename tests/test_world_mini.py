import numpy as np
import pandas as pd
import pytest

from synclone.worlds import mini

PARAMS = mini.WorldParams()
CLEAN = {"noise": "none", "weather": "clear", "time": "day"}


@pytest.fixture(scope="module")
def train_split():
    return mini.render_split("train", 60, seed=7)


def _row(**overrides):
    return mini.sample_attributes(1, 5, PARAMS, overrides).iloc[0].to_dict()


def test_world_vocabularies_are_consistent():
    assert len(mini.CLASSES) == len(set(mini.CLASSES)) == 10
    assert not set(mini.OOD_SHAPES) & set(mini.CLASSES) and 3 <= len(mini.OOD_SHAPES) <= 5
    assert set(mini.HYPERNYMS) == set(mini.SHAPES)
    assert len(mini.TEXTURES) >= 10 and len(mini.SCENES) >= 10
    assert len(set(mini.CLASS_TEXTURE.values())) == 10 and set(mini.CLASS_TEXTURE.values()) <= set(mini.TEXTURES)
    assert len(set(mini.CLASS_SCENE.values())) == 10 and set(mini.CLASS_SCENE.values()) <= set(mini.SCENES)
    vocabularies = {"time": mini.TIMES, "weather": mini.WEATHERS, "location": mini.SCENES}
    for name in mini.CLASSES:
        for attribute, vocabulary in vocabularies.items():
            split = mini.CONTEXT[name][attribute]
            assert split["common"] and split["uncommon"]
            assert sorted(split["common"] + split["uncommon"]) == sorted(vocabulary)


def test_render_split_is_deterministic(train_split):
    images, metadata, aux = train_split
    again = mini.render_split("train", 60, seed=7)
    assert images.tobytes() == again[0].tobytes()
    pd.testing.assert_frame_equal(metadata, again[1])
    for key in ("depth", "mask"):
        assert aux[key].tobytes() == again[2][key].tobytes()


def test_other_seeds_and_kinds_give_other_images(train_split):
    images, metadata, _ = train_split
    for other in (mini.render_split("train", 60, seed=8), mini.render_split("test", 60, seed=7)):
        assert not np.array_equal(images, other[0])
        assert not set(metadata["seed"]) & set(other[1]["seed"])


def test_outputs_have_the_documented_types_and_ranges(train_split):
    images, metadata, aux = train_split
    assert images.dtype == np.uint8 and images.shape == (60, 32, 32, 3)
    assert aux["depth"].dtype == np.float16 and aux["depth"].shape == (60, 32, 32)
    assert aux["mask"].dtype == bool and aux["mask"].shape == (60, 32, 32)
    assert np.isfinite(aux["depth"]).all() and (aux["depth"] > 0).all()
    assert list(metadata.columns) == list(mini.COLUMNS)
    assert images.std() > 20  # not blank


def test_a_row_renders_the_same_alone_and_in_a_batch(train_split):
    images, metadata, aux = train_split
    for index in (0, 17, 59):
        alone, alone_aux = mini.render(metadata.iloc[[index]].reset_index(drop=True))
        assert np.array_equal(alone[0], images[index])
        assert np.array_equal(alone_aux["depth"][0], aux["depth"][index])


def test_classes_are_balanced_and_shuffled():
    labels = mini.sample_attributes(1000, 0)["label"].to_numpy()
    assert np.bincount(labels, minlength=10).tolist() == [100] * 10
    assert not np.array_equal(labels[:10], np.arange(10))
    counts = np.bincount(mini.sample_attributes(25, 0)["label"], minlength=10)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("p", [PARAMS, mini.WorldParams(class_texture_p=0.3, class_scene_p=0.9, context_common_p=0.5)])
def test_texture_scene_and_context_correlate_with_the_class_as_asked(p):
    attributes = mini.sample_attributes(20000, 1, p)
    classes = attributes["class_name"]
    typical_texture = attributes["texture"] == classes.map(mini.CLASS_TEXTURE)
    assert typical_texture.mean() == pytest.approx(p.class_texture_p, abs=0.015)
    assert (attributes["scene"] == classes.map(mini.CLASS_SCENE)).mean() == pytest.approx(p.class_scene_p, abs=0.015)
    for attribute in ("time", "weather"):
        common = [value in mini.CONTEXT[c][attribute]["common"] for c, value in zip(classes, attributes[attribute])]
        assert np.mean(common) == pytest.approx(p.context_common_p, abs=0.015)
    assert (attributes["noise"] != "none").mean() == pytest.approx(p.acquisition_noise_p, abs=0.015)
    # a texture other than the class's own carries no information beyond "not the typical one"
    others = attributes[~typical_texture]
    assert others["texture"].nunique() == len(mini.TEXTURES)


def _changed_by_the_object(attributes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels where the rendered image differs from the row's bare background; masks; object coverage."""
    images, aux = mini.render(attributes)
    layers = mini.render_layers(attributes)
    return np.abs(images / 255.0 - layers.background).max(axis=-1) > 0.02, aux["mask"], layers.alpha


def test_masks_cover_exactly_the_object(train_split):
    assert train_split[2]["mask"].any(axis=(1, 2)).all()
    # nothing but the object changes the background, and the mask is where it covers at least half a pixel
    changed, masks, alpha = _changed_by_the_object(mini.sample_attributes(30, 3, PARAMS, {"noise": "none"}))
    assert not (changed & (alpha == 0)).any()
    assert np.array_equal(masks, alpha >= 0.5)
    # a red object on snow changes every pixel of its mask
    contrasting = {**CLEAN, "colour": "red", "texture": "solid", "scene": "snowfield"}
    changed, masks, alpha = _changed_by_the_object(mini.sample_attributes(30, 3, PARAMS, contrasting))
    assert changed[masks].all() and not (changed & (alpha == 0)).any()


def test_every_class_is_drawn_at_the_same_area():
    centred = {"x": 0.5, "y": 0.5, "rotation": 0.0, "scale": 0.45, "noise": "none"}
    for label, name in enumerate(mini.CLASSES + mini.OOD_SHAPES):
        attributes = mini.sample_attributes(1, 0, PARAMS, {**centred, "label": label % 10, "shape": name})
        area = mini.render_layers(attributes).alpha[0].sum()  # antialiased coverage: the area in pixels
        assert area == pytest.approx((0.45 * 32) ** 2, rel=0.03), name


def test_the_object_is_nearer_than_every_background_pixel(train_split):
    _, metadata, aux = train_split
    depth, mask = aux["depth"].astype(np.float32), aux["mask"]
    for index in range(len(metadata)):
        assert depth[index][mask[index]].max() < depth[index][~mask[index]].min()
    larger = metadata["scale"].idxmax(), metadata["scale"].idxmin()
    assert depth[larger[0]][mask[larger[0]]].mean() < depth[larger[1]][mask[larger[1]]].mean()
    # ground plane: the bottom row is nearer than the top row
    assert (mini.background_depth(32)[-1] < mini.background_depth(32)[0]).all()


def test_overrides_force_attributes_and_leave_the_rest_paired():
    base = mini.sample_attributes(50, 11)
    forced = mini.sample_attributes(50, 11, overrides={"texture": "checker", "scene": "desert"})
    assert (forced["texture"] == "checker").all() and (forced["scene"] == "desert").all()
    untouched = [c for c in mini.COLUMNS if c not in ("texture", "scene")]
    pd.testing.assert_frame_equal(base[untouched], forced[untouched])
    conflict = [mini.CLASS_TEXTURE[mini.CLASSES[(label + 1) % 10]] for label in base["label"]]
    cue_conflict = mini.sample_attributes(50, 11, overrides={"texture": conflict})
    assert cue_conflict["texture"].tolist() == conflict
    # label drives the class-dependent columns
    relabelled = mini.sample_attributes(50, 11, overrides={"label": 3})
    assert (relabelled["class_name"] == "square").all() and (relabelled["shape"] == "square").all()


def test_ood_shapes_and_drawing_styles_render():
    for override in [{"shape": shape} for shape in mini.OOD_SHAPES] + [{"style": s} for s in mini.STYLES]:
        attributes = mini.sample_attributes(4, 2, PARAMS, {**override, "noise": "none"})
        images, aux = mini.render(attributes)
        assert aux["mask"].any(axis=(1, 2)).all(), override
    photo = mini.render(mini.sample_attributes(4, 2, PARAMS, {"noise": "none"}))[0]
    outline = mini.render(mini.sample_attributes(4, 2, PARAMS, {"noise": "none", "style": "outline"}))[0]
    assert not np.array_equal(photo, outline)


@pytest.mark.parametrize("column, vocabulary", [("texture", mini.TEXTURES), ("scene", mini.SCENES),
                                                ("time", mini.TIMES), ("weather", mini.WEATHERS)])  # fmt: skip
def test_every_attribute_value_is_visible(column, vocabulary):
    attributes = pd.DataFrame([_row(**{**CLEAN, column: value}) for value in vocabulary])
    images = mini.render(attributes)[0].astype(np.int16)
    for i in range(len(images)):
        for j in range(i):
            assert np.abs(images[i] - images[j]).mean() > 2, (list(vocabulary)[i], list(vocabulary)[j])


def test_night_is_darker_than_day():
    day, night = (mini.render(pd.DataFrame([_row(**{**CLEAN, "time": t})]))[0] for t in ("day", "night"))
    assert night.mean() < 0.6 * day.mean()


def test_background_columns_carry_the_whole_background():
    attributes = mini.sample_attributes(6, 4)
    donor = attributes.iloc[::-1].reset_index(drop=True)
    mixed = attributes.copy()
    mixed[list(mini.BACKGROUND_COLUMNS)] = donor[list(mini.BACKGROUND_COLUMNS)]
    layers, mixed_layers, donor_layers = (mini.render_layers(a) for a in (attributes, mixed, donor))
    assert np.array_equal(mixed_layers.background, donor_layers.background)
    assert np.array_equal(mixed_layers.alpha, layers.alpha)
    pasted = mini.composite(layers.foreground, layers.alpha, donor_layers.background)
    assert pasted.shape == (6, 32, 32, 3)
    assert np.allclose(pasted[layers.alpha == 1], layers.foreground[layers.alpha == 1])
    assert np.allclose(pasted[layers.alpha == 0], donor_layers.background[layers.alpha == 0])


def test_corpus_captions_name_the_class_in_every_form():
    corpus = mini.sample_corpus(400, 9)
    assert all(name in text for name, text in zip(corpus["class_name"], corpus["caption"]))
    captions = corpus["caption"]
    assert (captions == corpus["class_name"]).any()
    assert captions.str.contains(" inside ").any() and captions.str.startswith("a photo of").any()
    assert captions.nunique() > 200  # attribute words vary and get dropped
    assert mini.fakeit_text("star", "forest") == "star, a symbol inside a forest"
    row = _row(label=7, colour="red", texture="stripes", scene="forest", time="night", weather="fog")
    assert mini.attribute_text(row) == "a red striped star in a forest, at night, foggy"
    assert mini.attribute_text(row, {"colour": False, "time": False}) == "a striped star in a forest, foggy"
    images, metadata, _ = mini.render_split("corpus", 10, seed=7)
    assert "caption" in metadata and len(images) == 10


def test_invalid_parameters_and_attributes_raise_clear_errors():
    with pytest.raises(ValueError, match="'bogus'"):
        mini.WorldParams.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="class_texture_p"):
        mini.WorldParams.from_dict({"class_texture_p": 1.5})
    with pytest.raises(ValueError, match="scale_range"):
        mini.WorldParams.from_dict({"scale_range": [0.1, 0.5]})
    assert mini.WorldParams.from_dict({"scale_range": [0.4, 0.5]}).scale_range == (0.4, 0.5)
    assert mini.WorldParams.from_dict(PARAMS.to_dict()) == PARAMS
    with pytest.raises(ValueError, match="'colour_name'"):
        mini.sample_attributes(5, 0, overrides={"colour_name": "red"})
    with pytest.raises(ValueError, match="texture"):
        mini.sample_attributes(5, 0, overrides={"texture": "plaid"})
    with pytest.raises(ValueError, match="3 values for 5 rows"):
        mini.sample_attributes(5, 0, overrides={"scene": ["sky"] * 3})
    with pytest.raises(ValueError, match="'hard'"):
        mini.render_split("hard", 5, 0)
