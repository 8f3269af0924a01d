"""Label-space mappings as data: how a model's C logits become decisions in an eval set's K label classes.

The same metric code serves the mini world (10 logits = 10 labels) and the real data (1000 ImageNet logits scored
on 200, 16, 10 or 9 classes). A map is built from a plain dict, as it appears in a dataset's config entry:

``{"kind": "identity"}``
    K = C; the labels are the logit indices.
``{"kind": "subset", "indices": [i_0, ..., i_{K-1}]}``
    Only these logits count (ImageNet-R/A: 200 classes); the others are masked out before the softmax.
    Label k means logit ``indices[k]`` (labels are positions in the list, as in the authors' 200-class loaders).
``{"kind": "mean_groups", "groups": [[...], ..., [...]]}``
    Class k's probability is the mean of the C-way softmax over the indices of group k (model-vs-human's
    16-class cue-conflict decision); the decision is the group with the highest mean.
``{"kind": "top1_map", "map": [m_0, ..., m_{C-1}]}``
    The C-way top-1 index i maps to class m_i; -1 means unmapped, which is always wrong (IN-9's in_to_in9).
    The list has exactly one entry per logit; K = max(map) + 1.
``{"kind": "top1_in_sets", "sets": [[...], ..., [...]]}``
    A prediction is class k when the top-1 index is in set k (FOCUS). Sets must be disjoint, so every top-1
    index names at most one class; an index in no set is wrong.

Two operations: ``mapped_logits`` (identity and subset only: the K-way logits whose softmax the probability-based
metrics, calibration and OOD, use) and ``decisions`` (every kind: the per-image class in 0..K-1, or -1 for none),
from which ``correct`` follows. Ties between classes go to the lowest class number (``argmax``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping

import numpy as np

NO_CLASS = -1


def _index_list(value: Any, what: str, minimum: int = 0) -> np.ndarray:
    """A non-empty 1-D list of integers >= minimum, as int64."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        array = np.empty(0)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be a non-empty list of integers, got {value!r:.80}")
    if array.min() < minimum:
        raise ValueError(f"{what} must hold integers >= {minimum}, got {int(array.min())}")
    return array.astype(np.int64)


def _distinct(array: np.ndarray, what: str) -> np.ndarray:
    if np.unique(array).size != array.size:
        raise ValueError(f"{what} lists an index more than once")
    return array


def _index_lists(value: Any, what: str) -> list[np.ndarray]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{what} must be a non-empty list of index lists, got {value!r:.80}")
    return [_distinct(_index_list(item, f"{what}[{k}]"), f"{what}[{k}]") for k, item in enumerate(value)]


class LabelMap(ABC):
    """Base of the label-map kinds; ``decisions``, ``correct`` and ``mapped_logits`` are what the metrics call."""

    kind = ""

    @abstractmethod
    def num_classes(self, num_logits: int) -> int:
        """K, the number of label classes, for a model with ``num_logits`` outputs."""

    def check_logits(self, logits: np.ndarray) -> np.ndarray:
        """The logits as an N x C array, or ValueError when C does not fit this map."""
        logits = np.asarray(logits)
        if logits.ndim != 2:
            raise ValueError(f"logits must be N x C, got shape {logits.shape}")
        return logits

    def mapped_logits(self, logits: np.ndarray) -> np.ndarray:
        """The N x K logits whose softmax calibration and OOD use; only identity and subset maps define them."""
        raise ValueError(f"a '{self.kind}' label map defines decisions only, no logits; probability-based metrics "
                         "(calibration, OOD) need an 'identity' or 'subset' map")

    @abstractmethod
    def decisions(self, logits: np.ndarray) -> np.ndarray:
        """Per-image class in 0..K-1, or -1 (NO_CLASS) when the top-1 logit belongs to no class."""

    def check_labels(self, labels: np.ndarray, num_logits: int, what: str = "labels") -> np.ndarray:
        """The labels, or ValueError unless they are classes 0..K-1 of this map's label space."""
        labels = np.asarray(labels)
        k = self.num_classes(num_logits)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{what} must be a 1-D integer array, got {labels.dtype} {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"{what} must be classes 0..{k - 1} of the '{self.kind}' label map's space, got values in "
                             f"{int(labels.min())}..{int(labels.max())}")
        return labels

    def correct(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per-image correctness (bool); an unmapped decision is never correct."""
        logits = self.check_logits(logits)
        labels = self.check_labels(labels, logits.shape[1])
        if len(labels) != len(logits):
            raise ValueError(f"{len(logits)} rows of logits but {len(labels)} labels")
        return self.decisions(logits) == labels


class Identity(LabelMap):
    kind = "identity"

    def num_classes(self, num_logits: int) -> int:
        return num_logits

    def mapped_logits(self, logits: np.ndarray) -> np.ndarray:
        return self.check_logits(logits)

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        return self.check_logits(logits).argmax(axis=1)


class _IndexedLabelMap(LabelMap):
    """A map that reads logits by index: the model needs more logits than the largest index."""

    largest_index = 0

    def check_logits(self, logits: np.ndarray) -> np.ndarray:
        logits = super().check_logits(logits)
        if logits.shape[1] <= self.largest_index:
            raise ValueError(f"the '{self.kind}' label map uses logit index {self.largest_index}, but the model has "
                             f"only {logits.shape[1]} logits")
        return logits


class Subset(_IndexedLabelMap):
    kind = "subset"

    def __init__(self, indices: Any):
        self.indices = _distinct(_index_list(indices, "subset 'indices'"), "subset 'indices'")
        self.largest_index = int(self.indices.max())

    def num_classes(self, num_logits: int) -> int:
        return self.indices.size

    def mapped_logits(self, logits: np.ndarray) -> np.ndarray:
        return self.check_logits(logits)[:, self.indices]

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        return self.mapped_logits(logits).argmax(axis=1)


class MeanGroups(_IndexedLabelMap):
    kind = "mean_groups"

    def __init__(self, groups: Any):
        self.groups = _index_lists(groups, "mean_groups 'groups'")
        self.largest_index = max(int(group.max()) for group in self.groups)

    def num_classes(self, num_logits: int) -> int:
        return len(self.groups)

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(self.check_logits(logits), dtype=np.float64)
        # the softmax's normaliser is shared by all groups of a row, so exp(logit - row max) ranks the group means
        # exactly as the probabilities do, without overflow
        unnormalised = np.exp(logits - logits.max(axis=1, keepdims=True))
        group_means = np.stack([unnormalised[:, group].mean(axis=1) for group in self.groups], axis=1)
        return group_means.argmax(axis=1)


class Top1Map(LabelMap):
    kind = "top1_map"

    def __init__(self, mapping: Any):
        self.lookup = _index_list(mapping, "top1_map 'map'", minimum=NO_CLASS)
        if self.lookup.max() < 0:
            raise ValueError("top1_map 'map' maps no index to a class (all entries are -1)")

    def num_classes(self, num_logits: int) -> int:
        return int(self.lookup.max()) + 1

    def check_logits(self, logits: np.ndarray) -> np.ndarray:
        logits = super().check_logits(logits)
        if logits.shape[1] != self.lookup.size:
            raise ValueError(f"the top1_map has {self.lookup.size} entries, one per logit, but the model has "
                             f"{logits.shape[1]} logits")
        return logits

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        return self.lookup[self.check_logits(logits).argmax(axis=1)]


class Top1InSets(_IndexedLabelMap):
    kind = "top1_in_sets"

    def __init__(self, sets: Any):
        self.sets = _index_lists(sets, "top1_in_sets 'sets'")
        members = np.concatenate(self.sets)
        if np.unique(members).size != members.size:
            raise ValueError("top1_in_sets 'sets' must be disjoint: an index in two sets would name two classes")
        self.largest_index = int(members.max())

    def num_classes(self, num_logits: int) -> int:
        return len(self.sets)

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        logits = self.check_logits(logits)
        lookup = np.full(logits.shape[1], NO_CLASS, dtype=np.int64)
        for k, members in enumerate(self.sets):
            lookup[members] = k
        return lookup[logits.argmax(axis=1)]


# kind -> (class, the key holding its data)
KINDS: dict[str, tuple[type[LabelMap], str | None]] = {
    "identity": (Identity, None),
    "subset": (Subset, "indices"),
    "mean_groups": (MeanGroups, "groups"),
    "top1_map": (Top1Map, "map"),
    "top1_in_sets": (Top1InSets, "sets"),
}


def build_label_map(spec: Mapping[str, Any] | None) -> LabelMap:
    """A label map from its dict form (None = identity); ValueError says what a malformed dict should look like."""
    if spec is None:
        return Identity()
    if not isinstance(spec, Mapping) or not isinstance(spec.get("kind"), str) or spec["kind"] not in KINDS:
        expected = "; ".join(f"{{'kind': '{kind}'" + (f", '{key}': ...}}" if key else "}")
                             for kind, (_, key) in KINDS.items())
        raise ValueError(f"a label map must be a dict with a known 'kind', got {spec!r:.80}; "
                         f"expected one of: {expected}")
    cls, key = KINDS[spec["kind"]]
    expected_keys = {"kind"} | ({key} if key else set())
    if set(spec) != expected_keys:
        raise ValueError(f"a '{spec['kind']}' label map takes exactly the keys {sorted(expected_keys)}, "
                         f"got {sorted(spec)}")
    return cls(spec[key]) if key else cls()
