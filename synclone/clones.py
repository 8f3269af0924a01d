"""The kinds of model the workflow trains, and the checks of their config entries; importable without torch.

``supervised`` models are trained by rule ``train_model`` (``train:`` = ``synclone.train_params``).
``self-supervised`` models (SynCLR analogue) are pretrained contrastively on their ``data`` (rule
``pretrain_ssl``, ``train:`` = ``SSLParams``) and linearly probed on the labelled real set ``probe.data``
(rule ``linear_probe``, ``probe:`` = ``ProbeParams``). ``clip`` models are trained on (image, text) pairs (rule
``train_clip``, ``train:`` = ``ClipParams``) and read out zero-shot (rule ``zero_shot_head``,
``zero_shot:`` = ``ZeroShotParams``). Every kind ends as ``checkpoints/{model}.pt`` in the classifier format.

Training-set options (any kind trained here): ``images_per_class`` keeps the first k images of each class (nested
subsets, for size sweeps); ``mix: {data, fraction}`` replaces that share of each class's ``images_per_class`` by
images from a second source (real:synthetic mixing).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

KINDS = ("supervised", "self-supervised", "clip")
# the registry head each trained kind needs (``ArchSpec.head``)
KIND_HEADS = {"supervised": ("classifier",), "self-supervised": ("classifier", "linear_probe"), "clip": ("zero_shot",)}
# config keys that only some kinds read
KIND_KEYS = {"probe": "self-supervised", "zero_shot": "clip"}


def kind_of(spec: Mapping[str, Any]) -> str:
    return spec.get("kind", "supervised")


def trained_here(spec: Mapping[str, Any]) -> bool:
    """Trained by the workflow (``data:``), not imported from published weights (``weights:``)."""
    return "data" in spec


def train_validator(spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any]:
    """The function that resolves (and so checks) a model's ``train:`` mapping."""
    from synclone.clone_params import ClipParams, SSLParams
    from synclone.train_params import resolve_train_params

    if not trained_here(spec):
        return resolve_train_params
    return {"self-supervised": SSLParams.from_dict, "clip": ClipParams.from_dict}.get(kind_of(spec),
                                                                                      resolve_train_params)


def mix_counts(spec: Mapping[str, Any]) -> dict[str, int]:
    """Images per class from each source: {data: k, mix data: k'} (a source with 0 is left out)."""
    k = spec.get("images_per_class")
    mix = spec.get("mix")
    if mix is None:
        return {spec["data"]: k} if k is not None else {}
    mixed = math.floor(k * mix["fraction"] + 0.5)  # half up: round() would send 2.5 to 2 and 3.5 to 4
    counts = {spec["data"]: k - mixed, mix["data"]: mixed}
    return {source: count for source, count in counts.items() if count > 0}


def _head_params(spec: Mapping[str, Any]) -> list[tuple[str, Callable[[Mapping[str, Any]], Any], Mapping[str, Any]]]:
    from synclone.clone_params import ProbeParams, ZeroShotParams

    if not trained_here(spec):
        return []
    if kind_of(spec) == "self-supervised":
        return [("probe", ProbeParams.from_dict, {k: v for k, v in spec.get("probe", {}).items() if k != "data"})]
    if kind_of(spec) == "clip":
        return [("zero_shot", ZeroShotParams.from_dict, spec.get("zero_shot", {}))]
    return []


def clone_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems of the config's trained models: kind-specific keys, their sources and head params."""
    datasets = config.get("datasets", {})
    sources = [*datasets, *(f"synthetic/{p}" for p in config.get("prompt_sets", []))]
    generator = config.get("generator") or {}
    return check_trained_models(config.get("models", {}), sources, datasets, generator.get("images_per_class"))


def subset_counts(models: Mapping[str, Mapping[str, Any]]) -> dict[str, list[int]]:
    """Every (source, images per class) subset that some model trains on: source -> sorted counts."""
    counts: dict[str, set[int]] = {}
    for spec in models.values():
        for source, count in mix_counts(spec).items():
            counts.setdefault(source, set()).add(count)
    return {source: sorted(values) for source, values in counts.items()}


def check_trained_models(models: Mapping[str, Mapping[str, Any]], sources: list[str], datasets: Mapping[str, Any],
                         synthetic_images_per_class: int | None) -> list[str]:
    """Problems of the trained models' kind-specific keys and head params (``train:``: ``train_validator``).

    ``sources`` are the valid values of ``data`` (datasets and ``synthetic/<prompt set>``); a synthetic source
    holds ``synthetic_images_per_class`` images of each class.
    """
    from synclone.models.registry import ARCHITECTURES

    problems = []
    for name, spec in models.items():
        where, kind = f"models.{name}", kind_of(spec)
        for key, validate, values in _head_params(spec):
            try:
                validate(values)
            except (TypeError, ValueError) as error:
                problems.append(f"{where}.{key}: {error}")
        for key, owner in KIND_KEYS.items():
            if key in spec and kind != owner and trained_here(spec):
                problems.append(f"{where}.{key}: only models of kind {owner} have it (this one is {kind})")
        if not trained_here(spec):
            continue
        arch = ARCHITECTURES.get(spec["arch"])
        if arch is not None and arch.head not in KIND_HEADS[kind]:
            valid = sorted(n for n, a in ARCHITECTURES.items() if a.head in KIND_HEADS[kind] and a.source == "local")
            problems.append(f"{where}.arch: '{spec['arch']}' has a {arch.head} head, which a {kind} model trained "
                            f"here cannot have; valid: {', '.join(valid)}")
        if kind == "self-supervised":
            data = spec.get("probe", {}).get("data")
            if data is None:
                problems.append(f"{where}.probe.data: missing: the labelled real dataset the linear probe learns on")
            elif data not in datasets:
                problems.append(f"{where}.probe.data: unknown dataset '{data}'; valid: {', '.join(datasets)}")
        mix = spec.get("mix")
        if mix is not None:
            if mix["data"] not in sources:
                problems.append(f"{where}.mix.data: unknown training data '{mix['data']}'; valid: {', '.join(sources)}")
            if "images_per_class" not in spec:
                problems.append(f"{where}.mix: needs images_per_class (the total per class that the fraction splits)")
                continue
        for source, count in mix_counts(spec).items():
            if source.startswith("synthetic/") and synthetic_images_per_class is not None \
                    and count > synthetic_images_per_class:
                problems.append(f"{where}: takes {count} images per class from {source}, which has "
                                f"{synthetic_images_per_class} (generator.images_per_class); lower images_per_class")
    return problems


def first_per_class(labels, count: int):
    """Sorted indices of the first ``count`` images of each class, in the set's order: the subsets of growing
    ``count`` are nested, and generated images (one class after another, i.i.d. within a class) stay i.i.d."""
    import numpy as np

    labels = np.asarray(labels)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < count:
            raise ValueError(f"class {label} has {len(members)} images, fewer than the {count} per class asked; "
                             f"lower images_per_class or make more images")
        picked.append(members[:count])
    return np.sort(np.concatenate(picked))
