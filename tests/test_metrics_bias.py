import numpy as np
import pytest

from synclone.labelmaps import build_label_map
from synclone.metrics.bias import (background_bias, context_bias, evaluate_background_bias, evaluate_context_bias,
                                   evaluate_shape_bias, shape_bias)


def one_hot(decisions, classes):
    return np.eye(classes)[np.asarray(decisions)] * 4.0


def predictions_file(logits, labels, **extra):
    labels = np.asarray(labels, np.int64)
    return {"logits": np.asarray(logits, np.float32), "labels": labels,
            "ids": np.array([f"img{i}" for i in range(len(labels))]), **extra}


# --- context bias -----------------------------------------------------------------------------------------------

UNCOMMON = np.array([0, 0, 0, 0, 1, 1, 2, 3])
CORRECT = np.array([1, 1, 1, 0, 1, 0, 0, 1])


def logits_with_correctness(correct, labels, classes):
    return one_hot(np.where(correct == 1, labels, (labels + 1) % classes), classes)


def test_context_bias_by_hand():
    labels = np.arange(8) % 3
    values = context_bias(logits_with_correctness(CORRECT, labels, 3), labels, UNCOMMON)
    assert values == pytest.approx({"accuracy": 5 / 8, "accuracy_p0": 0.75, "accuracy_p1": 0.5, "accuracy_p2": 0.0,
                                    "accuracy_p3": 1.0, "cb_1": 2 / 3, "cb_2": 0.0, "cb_3": 4 / 3})


def test_context_bias_is_null_for_an_empty_group_or_zero_p0_accuracy():
    labels = np.zeros(8, np.int64)
    values = context_bias(logits_with_correctness(CORRECT, labels, 2), labels, np.minimum(UNCOMMON, 2))
    assert values["accuracy_p3"] is None and values["cb_3"] is None and values["cb_1"] == pytest.approx(2 / 3)
    wrong_on_p0 = np.where(UNCOMMON == 0, 0, CORRECT)
    values = context_bias(logits_with_correctness(wrong_on_p0, labels, 2), labels, UNCOMMON)
    assert values["accuracy_p0"] == 0.0 and values["cb_1"] is None and values["cb_2"] is None


def test_context_bias_counts_a_top1_inside_the_categorys_set_as_correct():
    label_map = build_label_map({"kind": "top1_in_sets", "sets": [[0, 1, 2], [5]]})
    top1 = [2, 1, 5, 3]  # right, right, right, in no set
    values = context_bias(one_hot(top1, 6), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), label_map)
    assert values["accuracy_p0"] == 1.0 and values["accuracy_p1"] == 0.5


def test_context_bias_evaluator_reports_group_counts_and_checks_the_extra_array():
    labels = np.arange(8) % 3
    predictions = {"focus": predictions_file(logits_with_correctness(CORRECT, labels, 3), labels,
                                             uncommon_count=UNCOMMON)}
    entry = evaluate_context_bias(predictions, {"eval_set": "focus", "bootstrap": {"n": 50}})["focus"]
    assert entry["details"]["counts"] == {"p0": 4, "p1": 2, "p2": 1, "p3": 1}
    assert entry["values"]["cb_1"] == pytest.approx(2 / 3)
    del predictions["focus"]["uncommon_count"]
    with pytest.raises(ValueError, match="uncommon_count"):
        evaluate_context_bias(predictions, {"eval_set": "focus"})
    predictions["focus"]["uncommon_count"] = UNCOMMON + 1
    with pytest.raises(ValueError, match="0..3"):
        evaluate_context_bias(predictions, {"eval_set": "focus"})


# --- shape bias -------------------------------------------------------------------------------------------------

CATEGORIES = ["airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck"]


def upstream_shape_bias(image_names, shape_categories, responses):
    """model-vs-human's rule, re-implemented from its description: the texture comes from the file name
    ('<shape><i>-<texture><j>.png'); rows whose shape equals their texture are dropped; the fractions of shape and
    texture responses are taken over all rows; shape bias = shape / (shape + texture)."""
    def texture_of(name):
        last_word = name.split("_")[-1].split(".")[0].split("-")[-1]
        return "".join(character for character in last_word if not character.isdigit())

    rows = list(zip(image_names, shape_categories, responses))
    conflicting = [(shape, texture_of(name), response) for name, shape, response in rows if shape != texture_of(name)]
    shape_fraction = sum(response == shape for shape, _, response in conflicting) / len(rows)
    texture_fraction = sum(response == texture for _, texture, response in conflicting) / len(rows)
    return {"shape_fraction": shape_fraction, "texture_fraction": texture_fraction,
            "shape_bias": shape_fraction / (shape_fraction + texture_fraction)}


def test_shape_bias_matches_the_upstream_rule():
    rng = np.random.default_rng(0)
    shape, texture = rng.integers(0, 16, 400), rng.integers(0, 16, 400)
    texture[:25] = shape[:25]  # some images without a cue conflict
    draw = rng.random(400)
    decisions = np.where(draw < 0.3, shape, np.where(draw < 0.7, texture, rng.integers(0, 16, 400)))
    names = [f"{CATEGORIES[s]}{i}-{CATEGORIES[t]}{i % 7}.png" for i, (s, t) in enumerate(zip(shape, texture))]
    expected = upstream_shape_bias(names, [CATEGORIES[s] for s in shape], [CATEGORIES[d] for d in decisions])
    assert shape_bias(one_hot(decisions, 16), shape, texture) == pytest.approx(expected, abs=1e-12)


def test_shape_bias_by_hand_with_mean_groups_decisions():
    label_map = build_label_map({"kind": "mean_groups", "groups": [[0, 1], [2], [3, 4, 5]]})
    top1 = [0, 2, 4, 1, 4]  # classes 0, 1, 2, 0, 2
    shape, texture = np.array([0, 0, 2, 0, 2]), np.array([1, 1, 1, 0, 2])  # the last two have no conflict
    values = shape_bias(one_hot(top1, 6), shape, texture, label_map)
    assert values == pytest.approx({"shape_bias": 2 / 3, "shape_fraction": 2 / 5, "texture_fraction": 1 / 5})


def test_shape_bias_is_null_without_shape_or_texture_decisions():
    values = shape_bias(one_hot([2, 2], 3), np.array([0, 1]), np.array([1, 0]))
    assert values == {"shape_bias": None, "shape_fraction": 0.0, "texture_fraction": 0.0}


def test_shape_bias_evaluator_gives_counts_and_per_class_bias():
    shape, texture = np.array([0, 0, 1, 1, 2]), np.array([1, 2, 0, 1, 0])
    decisions = np.array([0, 2, 2, 1, 0])  # shape, texture, neither, (no conflict), texture
    predictions = {"cue": predictions_file(one_hot(decisions, 3), shape, texture_label=texture)}
    entry = evaluate_shape_bias(predictions, {"eval_set": "cue", "bootstrap": {"n": 20}})["cue"]
    assert entry["values"]["shape_bias"] == pytest.approx(1 / 3)
    assert entry["details"]["counts"] == {"images": 5, "cue_conflict": 4, "shape_decisions": 1, "texture_decisions": 2}
    assert entry["details"]["shape_bias_by_shape_class"] == {"0": 0.5, "1": None, "2": 0.0}
    predictions["cue"]["texture_label"] = np.array([1, 2, 0, 1, 3])
    with pytest.raises(ValueError, match="texture labels must be classes 0..2"):
        evaluate_shape_bias(predictions, {"eval_set": "cue"})


# --- background bias --------------------------------------------------------------------------------------------

def test_background_bias_by_hand():
    values = background_bias({"original": np.array([1, 1, 1, 1]), "mixed_same": np.array([1, 1, 0, 1]),
                              "mixed_rand": np.array([1, 0, 0, 0])})
    assert values == {"original_accuracy": 1.0, "mixed_same_accuracy": 0.75, "mixed_rand_accuracy": 0.25,
                      "bg_gap": 0.5}


def background_predictions(seed=0, n=300):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # IN-9-like: 4 logits mapped to 2 classes, logit 3 unmapped (always wrong)
    label_map = {"kind": "top1_map", "map": [0, 0, 1, -1]}
    top1 = {variant: rng.integers(0, 4, n) for variant in ("o", "ms", "mr")}
    top1["mr"] = top1["ms"].copy()  # identical decisions on mixed_same and mixed_rand
    predictions = {f"in9_{variant}": predictions_file(one_hot(decisions, 4), labels)
                   for variant, decisions in top1.items()}
    params = {"original": "in9_o", "mixed_same": "in9_ms", "mixed_rand": "in9_mr",
              "label_maps": {f"in9_{variant}": label_map for variant in top1}, "bootstrap": {"n": 200}}
    return predictions, params, top1, labels


def test_background_evaluator_maps_decisions_and_pairs_when_asked():
    predictions, params, top1, labels = background_predictions()
    in9 = np.array([0, 0, 1, -1])
    unpaired = evaluate_background_bias(predictions, params)["summary"]
    assert unpaired["values"]["original_accuracy"] == np.mean(in9[top1["o"]] == labels)
    assert unpaired["values"]["bg_gap"] == 0.0
    lower, upper = unpaired["ci95"]["bg_gap"]
    assert lower < -0.02 and upper > 0.02
    paired = evaluate_background_bias(predictions, {**params, "paired": True})["summary"]
    assert paired["ci95"]["bg_gap"] == [0.0, 0.0] and paired["details"]["paired"] is True


def test_paired_background_variants_must_list_the_same_images():
    predictions, params, _, _ = background_predictions()
    predictions["in9_mr"]["ids"] = predictions["in9_mr"]["ids"][::-1].copy()
    evaluate_background_bias(predictions, params)  # unpaired: the order of each set is its own business
    with pytest.raises(ValueError, match="differ in ids"):
        evaluate_background_bias(predictions, {**params, "paired": True})
