"""The paper-mode dataset registry (``data/paper_datasets.yaml``) and the label-map files (``data/labelmaps``).

A label-map file holds ``source`` (where its facts come from), ``classes`` (label k is ``classes[k]``: a wnid, a
folder name or a category) and ``label_map`` (the dict ``synclone.labelmaps.build_label_map`` takes); FOCUS's
also holds its attribute values, the uncommon values per category and the ``annotations.db`` schema.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any, Mapping

import yaml

REGISTRY = "paper_datasets.yaml"
LABELMAP_DIR = "labelmaps"


@functools.cache
def _registry() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(resources.files("synclone.data").joinpath(REGISTRY).read_text())


def dataset_names() -> list[str]:
    return list(_registry())


def imageset_dirs(spec: Mapping[str, Any]) -> dict[str, str]:
    """Image-set name -> its folder relative to the prepared dataset folder (``.`` for a single-set dataset)."""
    if spec["layout"] == "corruption_folders":
        return {f"{c}-{int(s)}": f"{c}/{int(s)}" for c in spec["corruptions"] for s in spec["severities"]}
    if spec["layout"] == "in9":
        return {variant: f"{spec['root']}/{variant}/val" for variant in spec["variants"]}
    return {spec["name"]: "."}


def paper_dataset(name: str) -> dict[str, Any]:
    """The registry entry of ``name`` plus its ``name``: a fresh dict, so a caller may override fields."""
    registry = _registry()
    if name not in registry:
        raise ValueError(f"no paper dataset {name!r} in synclone/data/{REGISTRY}; known: {', '.join(registry)}")
    return {"name": name, **copy.deepcopy(registry[name])}


@functools.cache
def _label_file(name: str) -> dict[str, Any]:
    path = resources.files("synclone.data").joinpath(LABELMAP_DIR, f"{name}.json")
    if not path.is_file():
        raise ValueError(f"no label-map file {name}.json in synclone/data/{LABELMAP_DIR}")
    return json.loads(path.read_text())


def label_data(name: str) -> dict[str, Any]:
    """The whole label-map file ``name`` (a fresh copy)."""
    return copy.deepcopy(_label_file(name))


def label_map_spec(name: str) -> dict[str, Any]:
    """The dict form ``synclone.labelmaps.build_label_map`` takes, e.g. for a metric's ``label_maps`` entry."""
    return label_data(name)["label_map"]


def label_classes(name: str) -> list[str]:
    return list(_label_file(name)["classes"])
