"""How the config's ``source: paper`` datasets map onto the registry, the files on disk and the workflow's rules.

A config dataset entry with ``source: paper`` names a registry entry (``dataset``, default: the entry's own
name) and, when that entry holds several image sets (IN-9's variants, ImageNet-C's (corruption, severity)
folders), which one it is (``image_set``). It may override ``url`` and ``md5`` (a mirror) and, for ImageNet val,
must give ``path`` (the user's extracted folder, or ``ILSVRC2012_img_val.tar`` with the devkit beside it).
``counts`` replaces the registry's expected ``images`` / ``images_per_class`` / ``classes`` (null: unchecked), for
a subset of the real data such as a smoke test's.
Several config entries may share one registry entry (the three IN-9 variants): it is downloaded and prepared
once, into ``data/<registry entry>``.

Files: ``downloads/<registry entry>.<format>`` (the verified archive) -> ``data/<registry entry>/`` (extracted,
one ``metadata.csv`` per image set) -> image set folder ``data/<registry entry>/<imageset_dirs(spec)[set]>``.
Mini-world datasets stay ``data/<name>``. ``paper_problems`` checks all of it when the DAG is built.

``metrics.corruptions.from_datasets`` maps a corruption to the config dataset whose image sets hold it on disk
(ImageNet-C / 3DCC); its views keep the names ``<eval set>@<corruption>-<severity>`` of on-the-fly corruptions, so
the metric does not care where the images came from.
"""

from __future__ import annotations

import difflib
import os
import posixpath
from typing import Any, Mapping

from synclone.acquire.registry import dataset_names, imageset_dirs, label_map_spec, paper_dataset
from synclone.config import ConfigError
from synclone.metrics import PREDICTION_NAMES, corruption_view

PAPER = "paper"
DATA_DIR = "data"
DOWNLOAD_DIR = "downloads"
OVERRIDES = ("url", "md5", "path", "counts")
PAPER_KEYS = ("dataset", "image_set", *OVERRIDES)
# prepare_dataset does not read these, so changing them (a mirror) must not re-extract a prepared dataset
DOWNLOAD_ONLY = ("url",)

Datasets = Mapping[str, Mapping[str, Any]]


def is_paper(entry: Mapping[str, Any]) -> bool:
    return entry.get("source") == PAPER


def registry_entry(name: str, entry: Mapping[str, Any]) -> str:
    """The registry entry a config dataset prepares (its own name unless ``dataset`` says otherwise)."""
    return entry.get("dataset", name)


def paper_specs(datasets: Datasets) -> dict[str, dict[str, Any]]:
    """Registry entry -> its spec with the config's overrides (``path`` becomes ``user_source``).

    Assumes ``paper_problems`` found nothing (entries sharing a registry entry agree on overrides).
    """
    specs: dict[str, dict[str, Any]] = {}
    for name, entry in datasets.items():
        if not is_paper(entry):
            continue
        key = registry_entry(name, entry)
        spec = specs.setdefault(key, paper_dataset(key))
        spec.update({k: entry[k] for k in ("url", "md5") if k in entry}, **entry.get("counts", {}))
        if "path" in entry:
            spec["user_source"] = entry["path"]
    return specs


def archive_path(spec: Mapping[str, Any]) -> str | None:
    """Where the download rule puts the spec's archive; None for a dataset the user provides (ImageNet val)."""
    if spec.get("user_path"):
        return None
    return f"{DOWNLOAD_DIR}/{spec['name']}.{spec['format']}"


def prepare_sources(spec: Mapping[str, Any]) -> dict[str, str]:
    """What the prepare rule reads: ``source`` (the archive, or the user's folder / val tar) and, for the val tar,
    ``devkit`` beside it."""
    if not spec.get("user_path"):
        return {"source": archive_path(spec)}
    source = spec["user_source"]
    if source.endswith(".tar"):
        return {"source": source, "devkit": posixpath.join(posixpath.dirname(source), spec["files"]["devkit"]["name"])}
    return {"source": source}


def missing_user_files(spec: Mapping[str, Any]) -> list[str]:
    """The user-provided files of ``spec`` not there yet. They are left out of the prepare rule's inputs, so the
    DAG (and a dry run) builds before the user has them; the prepare job then fails saying where to get them."""
    if not spec.get("user_path"):
        return []
    return [path for path in prepare_sources(spec).values() if not os.path.exists(path)]


def prepare_params(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What preparing depends on: the spec without its download address."""
    return {key: value for key, value in spec.items() if key not in DOWNLOAD_ONLY}


def download_params(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {key: spec.get(key) for key in ("name", "url", "md5", "sha256")}


def dataset_folder(name: str, datasets: Datasets) -> str:
    """The folder a rule writes for config dataset ``name`` (what a job depends on)."""
    entry = datasets[name]
    return f"{DATA_DIR}/{registry_entry(name, entry) if is_paper(entry) else name}"


def image_set_folder(name: str, datasets: Datasets, image_set: str | None = None) -> str:
    """The folder holding ``metadata.csv`` of config dataset ``name``'s image set (``image_set`` defaults to the
    entry's own; single-set and mini-world datasets: the dataset folder)."""
    entry = datasets[name]
    folder = dataset_folder(name, datasets)
    if not is_paper(entry):
        return folder
    spec = paper_dataset(registry_entry(name, entry))
    dirs = imageset_dirs(spec)
    wanted = image_set or entry.get("image_set") or (next(iter(dirs)) if len(dirs) == 1 else None)
    if wanted not in dirs:
        raise ValueError(f"datasets.{name}: {spec['name']} holds the image sets {', '.join(dirs)}; name one as "
                         f"image_set")
    return posixpath.normpath(posixpath.join(folder, dirs[wanted]))


def dataset_label_map(name: str, datasets: Datasets) -> dict[str, Any] | None:
    """The label map a metric scores ``name`` with: the config's, else the registry's (None: identity / OOD)."""
    entry = datasets.get(name, {})
    if "label_map" in entry:
        return entry["label_map"]
    if is_paper(entry):
        label_map = paper_dataset(registry_entry(name, entry))["label_map"]
        return label_map_spec(label_map) if label_map else None
    return None


def disk_corruption_views(corruptions: Mapping[str, Any] | None, datasets: Datasets) -> dict[str, tuple[str, str]]:
    """View name (``<eval set>@<corruption>-<severity>``) -> (config dataset, image set) for the corruptions read
    from disk (``from_datasets``); the other corruptions are computed on the fly."""
    if not corruptions:
        return {}
    return {corruption_view(corruptions["eval_set"], corruption, severity): (dataset, f"{corruption}-{int(severity)}")
            for corruption, dataset in corruptions.get("from_datasets", {}).items()
            for severity in corruptions["severities"]}


def computed_corruptions(corruptions: Mapping[str, Any] | None) -> list[str]:
    """The configured corruptions not read from disk, in config order."""
    if not corruptions:
        return []
    on_disk = corruptions.get("from_datasets", {})
    return [c for c in (*corruptions["corruptions_2d"], *corruptions.get("corruptions_3d", [])) if c not in on_disk]


# ---- validation ------------------------------------------------------------------------------------------------


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _entry_problems(name: str, entry: Mapping[str, Any]) -> list[str]:
    where = f"datasets.{name}"
    if not is_paper(entry):
        return [f"{where}: key '{key}' applies only to source: paper" for key in PAPER_KEYS if key in entry]
    key = registry_entry(name, entry)
    known = dataset_names()
    if key not in known:
        return [f"{where}: unknown paper dataset '{key}'{_suggest(key, known)}; valid (synclone/data/"
                f"paper_datasets.yaml): {', '.join(known)}"]
    spec = paper_dataset(key)
    problems = []
    sets = list(imageset_dirs(spec))
    if "image_set" in entry and entry["image_set"] not in sets:
        problems.append(f"{where}.image_set: '{entry['image_set']}' is not an image set of {key}{_suggest(entry['image_set'], sets)}; "
                        f"valid: {', '.join(sets)}")
    if spec.get("user_path"):
        files = " with ".join(f["name"] for f in spec["files"].values())
        if "path" not in entry:
            problems.append(f"{where}: {key} has no public download; set path to your folder of {spec['classes']} "
                            f"wnid folders, or to {files} beside it (image-net.org, login)")
        problems += [f"{where}: {k} does not apply to {key} (the user provides it with path)" for k in ("url", "md5")
                     if k in entry]
    elif "path" in entry:
        problems.append(f"{where}: path applies only to datasets without a public download; to use an archive "
                        f"fetched by hand, put it at {archive_path(spec)} (a file whose md5 matches is reused)")
    return problems


def eval_set_names(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Eval set -> the first config key that names it (every set a metric predicts or attacks)."""
    used: dict[str, str] = {}
    for metric, params in metrics.items():
        if metric in PREDICTION_NAMES:
            for name in PREDICTION_NAMES[metric](params):
                if "@" not in name:
                    used.setdefault(name, f"metrics.{metric}")
        elif "eval_set" in params:
            used.setdefault(params["eval_set"], f"metrics.{metric}.eval_set")
    return used


def _corruption_problems(corruptions: Mapping[str, Any], datasets: Datasets) -> list[str]:
    where = "metrics.corruptions.from_datasets"
    configured = [*corruptions["corruptions_2d"], *corruptions.get("corruptions_3d", [])]
    problems = []
    for corruption, name in corruptions.get("from_datasets", {}).items():
        if corruption not in configured:
            problems.append(f"{where}.{corruption}: not one of the configured corruptions {configured}")
            continue
        entry = datasets.get(name)
        if entry is None or not is_paper(entry):
            paper = [n for n, e in datasets.items() if is_paper(e)]
            problems.append(f"{where}.{corruption}: '{name}' is no source: paper dataset{_suggest(name, paper)}; "
                            f"valid: {', '.join(paper) or '(none)'}")
            continue
        spec = paper_dataset(registry_entry(name, entry))
        if spec["layout"] != "corruption_folders" or corruption not in spec["corruptions"]:
            problems.append(f"{where}.{corruption}: {spec['name']} does not hold {corruption}; it holds "
                            f"{', '.join(spec.get('corruptions', [])) or 'no corruptions'}")
            continue
        missing = sorted(set(map(int, corruptions["severities"])) - set(map(int, spec["severities"])))
        if missing:
            problems.append(f"{where}.{corruption}: {spec['name']} has no severities {missing}")
    return problems


def paper_problems(datasets: Datasets, metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Everything wrong with the config's paper datasets, as ``key.path: what is wrong and what to do`` lines."""
    problems = []
    valid = {}
    for name, entry in datasets.items():
        found = _entry_problems(name, entry)
        problems += found
        if is_paper(entry) and not found:
            valid[name] = entry
    sharing: dict[str, list[str]] = {}
    for name, entry in valid.items():
        sharing.setdefault(registry_entry(name, entry), []).append(name)
    for key, names in sharing.items():
        for override in OVERRIDES:
            values = {repr(valid[n].get(override)) for n in names}
            if len(values) > 1:
                problems.append(f"datasets.{', datasets.'.join(names)}: all prepare {key}, so they must give the same "
                                f"{override} (got {', '.join(sorted(values))})")
        if key in datasets and not is_paper(datasets[key]):
            problems.append(f"datasets.{names[0]}: prepares data/{key}, which datasets.{key} "
                            f"({datasets[key]['source']}) writes too; rename datasets.{key}")
    for eval_set, where in eval_set_names(metrics).items():
        entry = valid.get(eval_set)
        if entry is None or "image_set" in entry:
            continue
        sets = list(imageset_dirs(paper_dataset(registry_entry(eval_set, entry))))
        if len(sets) > 1:
            problems.append(f"{where}: datasets.{eval_set} holds {len(sets)} image sets ({', '.join(sets[:5])}"
                            f"{', ...' if len(sets) > 5 else ''}); give it an image_set, or add one entry per set")
    if "corruptions" in metrics:
        problems += _corruption_problems(metrics["corruptions"], datasets)
    return problems


def check_paper_datasets(config: Mapping[str, Any]) -> None:
    """Raise ConfigError listing every problem ``paper_problems`` finds in ``config``."""
    problems = paper_problems(config.get("datasets", {}), config.get("metrics", {}))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the configuration's paper datasets cannot be used:\n{lines}")
