import numpy as np
import pytest

from synclone.labelmaps import NO_CLASS, build_label_map


def logits_with_probabilities(probabilities):
    """Logits whose softmax is exactly ``probabilities`` (rows sum to 1)."""
    return np.log(np.asarray(probabilities, dtype=np.float64))


def one_hot_logits(top1, num_logits=6):
    logits = np.zeros((len(top1), num_logits))
    logits[np.arange(len(top1)), top1] = 5.0
    return logits


def test_none_and_identity_keep_logits_and_take_argmax():
    logits = np.array([[0.0, 2.0, 1.0], [3.0, 1.0, 3.0]])
    for label_map in (build_label_map(None), build_label_map({"kind": "identity"})):
        assert label_map.num_classes(3) == 3
        np.testing.assert_array_equal(label_map.mapped_logits(logits), logits)
        np.testing.assert_array_equal(label_map.decisions(logits), [1, 0])  # a tie goes to the lower class
        np.testing.assert_array_equal(label_map.correct(logits, np.array([1, 2])), [True, False])


def test_subset_masks_other_logits_and_labels_are_positions():
    label_map = build_label_map({"kind": "subset", "indices": [4, 1]})
    logits = np.array([[0.0, 5.0, 0.0, 0.0, 3.0, 9.0],   # 5 (index 5) is the overall top-1 but not a member
                       [0.0, 1.0, 0.0, 0.0, 3.0, 0.0]])
    np.testing.assert_array_equal(label_map.mapped_logits(logits), [[3.0, 5.0], [3.0, 1.0]])
    np.testing.assert_array_equal(label_map.decisions(logits), [1, 0])
    np.testing.assert_array_equal(label_map.correct(logits, np.array([1, 1])), [True, False])
    assert label_map.num_classes(6) == 2
    with pytest.raises(ValueError, match="classes 0..1"):
        label_map.correct(logits, np.array([4, 1]))  # a label in logit space, not a position in 'indices'
    with pytest.raises(ValueError, match="only 4 logits"):
        label_map.decisions(np.zeros((1, 4)))


def test_mean_groups_uses_the_mean_probability_not_the_sum_or_the_top1():
    label_map = build_label_map({"kind": "mean_groups", "groups": [[0], [1, 2, 3, 4, 5]]})
    # group 0 mean 0.3 > group 1 mean 0.14, though group 1's sum is 0.7
    row_mean_wins = [0.3, 0.2, 0.2, 0.1, 0.1, 0.1]
    # top-1 index 5 is in group 1, but group 0's single probability is above group 1's mean (0.152)
    row_top1_loses = [0.24, 0.01, 0.01, 0.01, 0.01, 0.72]
    row_group1 = [0.05, 0.19, 0.19, 0.19, 0.19, 0.19]
    logits = logits_with_probabilities([row_mean_wins, row_top1_loses, row_group1])
    np.testing.assert_array_equal(label_map.decisions(logits), [0, 0, 1])
    assert label_map.num_classes(6) == 2
    with pytest.raises(ValueError, match="decisions only"):
        label_map.mapped_logits(logits)


def test_mean_groups_is_stable_for_huge_logits_and_equal_group_sizes():
    label_map = build_label_map({"kind": "mean_groups", "groups": [[0, 1, 2], [3, 4, 5]]})
    logits = np.array([[1000.0, 999.0, 999.0, 1000.5, 0.0, 0.0],
                       [-1000.0, -1000.0, -1000.0, -999.0, -1001.0, -1001.0]])
    np.testing.assert_array_equal(label_map.decisions(logits), [0, 1])


def test_top1_map_maps_the_top1_and_unmapped_is_always_wrong():
    label_map = build_label_map({"kind": "top1_map", "map": [0, 0, -1, 1, 1, -1]})
    logits = one_hot_logits([0, 1, 2, 3, 5])
    np.testing.assert_array_equal(label_map.decisions(logits), [0, 0, NO_CLASS, 1, NO_CLASS])
    np.testing.assert_array_equal(label_map.correct(logits, np.array([0, 1, 0, 1, 1])),
                                  [True, False, False, True, False])
    assert label_map.num_classes(6) == 2
    with pytest.raises(ValueError, match="6 entries, one per logit"):
        label_map.decisions(np.zeros((1, 7)))
    with pytest.raises(ValueError, match="decisions only"):
        label_map.mapped_logits(logits)


def test_top1_in_sets_counts_membership_and_indices_outside_every_set_are_wrong():
    label_map = build_label_map({"kind": "top1_in_sets", "sets": [[0, 1], [4]]})
    logits = one_hot_logits([1, 4, 3, 5])  # index 5 lies beyond the largest listed index
    np.testing.assert_array_equal(label_map.decisions(logits), [0, 1, NO_CLASS, NO_CLASS])
    np.testing.assert_array_equal(label_map.correct(logits, np.array([0, 0, 1, 1])), [True, False, False, False])
    assert label_map.num_classes(1000) == 2
    with pytest.raises(ValueError, match="only 3 logits"):
        label_map.decisions(np.zeros((1, 3)))


@pytest.mark.parametrize("spec, message", [
    ({"kind": "softmax"}, "known 'kind'"),
    ([1, 2], "known 'kind'"),
    ({"indices": [1]}, "known 'kind'"),
    ({"kind": ["subset"], "indices": [1]}, "known 'kind'"),
    ({"kind": "subset"}, "exactly the keys"),
    ({"kind": "subset", "indices": [1], "names": ["a"]}, "exactly the keys"),
    ({"kind": "identity", "indices": [1]}, "exactly the keys"),
    ({"kind": "subset", "indices": []}, "non-empty list of integers"),
    ({"kind": "subset", "indices": [1.0, 2.0]}, "non-empty list of integers"),
    ({"kind": "subset", "indices": [True, False]}, "non-empty list of integers"),
    ({"kind": "subset", "indices": ["1"]}, "non-empty list of integers"),
    ({"kind": "subset", "indices": [[1, 2], [3, 4]]}, "non-empty list of integers"),
    ({"kind": "subset", "indices": [-1, 2]}, ">= 0"),
    ({"kind": "subset", "indices": [2, 2]}, "more than once"),
    ({"kind": "mean_groups", "groups": []}, "non-empty list of index lists"),
    ({"kind": "mean_groups", "groups": [0, 1]}, r"groups'\[0\] must be a non-empty list"),
    ({"kind": "mean_groups", "groups": [[0], [1, [2]]]}, r"groups'\[1\]"),
    ({"kind": "mean_groups", "groups": [[0], []]}, r"groups'\[1\]"),
    ({"kind": "top1_map", "map": [-1, -1]}, "all entries are -1"),
    ({"kind": "top1_map", "map": [0, -2]}, ">= -1"),
    ({"kind": "top1_in_sets", "sets": [[0, 1], [1, 2]]}, "disjoint"),
])
def test_malformed_label_maps_raise_a_value_error_saying_what_is_expected(spec, message):
    with pytest.raises(ValueError, match=message):
        build_label_map(spec)


def test_unknown_kind_message_lists_every_kind():
    with pytest.raises(ValueError) as error:
        build_label_map({"kind": "subsets", "indices": [1]})
    for kind in ("identity", "subset", "mean_groups", "top1_map", "top1_in_sets"):
        assert f"'{kind}'" in str(error.value)


def test_labels_outside_the_label_space_are_rejected():
    label_map = build_label_map({"kind": "top1_in_sets", "sets": [[0, 1], [4]]})
    with pytest.raises(ValueError, match="classes 0..1"):
        label_map.correct(one_hot_logits([0]), np.array([2]))
    with pytest.raises(ValueError, match="integer"):
        label_map.correct(one_hot_logits([0]), np.array([0.0]))
