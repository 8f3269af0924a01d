"""Layout checks and image-set tables for each dataset's extracted tree.

Convention: an image set is a folder inside the prepared dataset folder that holds ``metadata.csv``; its ``file``
paths are relative to that folder and point down into the extracted tree, never out of it (no ``..``, nothing
absolute), so no image is copied. A single-set dataset's set is the dataset folder itself (``file`` =
``imagenet-r/n01443537/x.jpg``); ImageNet-C / 3DCC have one set per (corruption, severity) at
``<corruption>/<severity>`` and IN-9 one per variant at ``bg_challenge/<variant>/val`` (``imageset_dirs``).
ImageNet val is the exception that proves the rule: its images sit under ``images/``, either extracted there from
``ILSVRC2012_img_val.tar`` and sorted into wnid folders, or a symlink to the user's already sorted folder.

Each layout reader checks the tree against the registry entry (class folders, exact counts, unknown files) and
raises LayoutError naming the folder and what was expected; it returns one metadata table per image set. Files and
folders whose name starts with a dot, and ``__MACOSX``, are archive-tool litter and are ignored.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.io

from synclone.acquire.archives import extract_into, read_member
from synclone.acquire.downloads import verify_file
from synclone.acquire.registry import imageset_dirs, label_classes, label_data
from synclone.imageset import ImageSetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
OOD_LABEL = -1
IMAGENET_VAL_DIR = "images"
DEVKIT_META = "ILSVRC2012_devkit_t12/data/meta.mat"
DEVKIT_GROUND_TRUTH = "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
VAL_IMAGE = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
CUE_CONFLICT_IMAGE = re.compile(r"(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+\.png")
FOCUS_DB = "annotations.db"

Spec = Mapping[str, Any]


class LayoutError(ImageSetError):
    """An extracted dataset whose folders or files are not what the registry says they must be."""


def _few(names: Sequence[str], shown: int = 5) -> str:
    names = sorted(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(repr(name) for name in names[:shown]) + more


def _entries(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise LayoutError(f"{folder} does not exist or is not a folder: the archive does not have the expected layout")
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX")


def _check_count(folder: Path, found: int, expected: int | None, what: str = "images") -> None:
    if expected is not None and found != expected:
        raise LayoutError(f"{folder} holds {found} {what}, expected exactly {expected}: the download is incomplete "
                          f"or not the published dataset")


def _image_files(folder: Path) -> list[Path]:
    """The images directly in ``folder``; anything else in it (subfolders, other files) is an error."""
    entries = _entries(folder)
    strays = [p.name for p in entries if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES]
    if strays:
        raise LayoutError(f"{folder} holds entries that are not image files ({'/'.join(sorted(IMAGE_SUFFIXES))}): "
                          f"{_few(strays)}")
    if not entries:
        raise LayoutError(f"{folder} is empty: expected image files")
    return entries


def class_folder_table(set_dir: Path, classes: Sequence[str], spec: Spec, class_column: str,
                       ignore: Sequence[str] = ()) -> pd.DataFrame:
    """One row per ``set_dir/<class>/<image>``: ``file`` relative to ``set_dir``, ``label`` = position in ``classes``.

    ``spec['classes']`` folders must be there (all of ``classes`` when it equals their number), each non-empty,
    with ``spec['images_per_class']`` images when set, and ``spec['images']`` in total when set.
    """
    entries = _entries(set_dir)
    strays = [p.name for p in entries if not p.is_dir() and p.name not in ignore]
    if strays:
        raise LayoutError(f"{set_dir} holds files beside its class folders: {_few(strays)}; expected only class folders"
                          + (f" and {list(ignore)}" if ignore else ""))
    index = {name: k for k, name in enumerate(classes)}
    folders = [p for p in entries if p.is_dir()]
    unknown = [p.name for p in folders if p.name not in index]
    if unknown:
        raise LayoutError(f"{set_dir} holds folders that are none of the {len(classes)} classes of label map "
                          f"{spec['label_map']!r}: {_few(unknown)}")
    if len(folders) != spec["classes"]:
        missing = set(classes) - {p.name for p in folders} if spec["classes"] == len(classes) else set()
        raise LayoutError(f"{set_dir} holds {len(folders)} class folders, expected {spec['classes']}"
                          + (f"; missing: {_few(list(missing))}" if missing else ""))
    rows = []
    for folder in folders:
        images = _image_files(folder)
        _check_count(folder, len(images), spec.get("images_per_class"))
        rows += [(f"{folder.name}/{image.name}", index[folder.name], folder.name) for image in images]
    _check_count(set_dir, len(rows), spec.get("images"))
    return pd.DataFrame(rows, columns=["file", "label", class_column])


def _prefixed(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return table.assign(file=[f"{prefix}/{name}" for name in table["file"]])


# ---- ImageNet val ----------------------------------------------------------------------------------------------


def devkit_val_wnids(ilsvrc_ids: Sequence[int], wnids: Sequence[str], num_children: Sequence[int],
                     ground_truth: Sequence[int], classes: Sequence[str]) -> list[str]:
    """The wnid of val image i + 1 for each ground-truth line i.

    The ground truth holds ILSVRC2012_IDs (1..1000) from the devkit's ``meta.mat``, whose leaf synsets
    (``num_children`` 0) give each ID its wnid. Those IDs are NOT the sorted-wnid order (ID 1 is n02119789, class
    index 278), so the map must come from ``meta.mat``.
    """
    leaves = np.asarray(num_children) == 0
    id_to_wnid = {int(i): str(w) for i, w, leaf in zip(ilsvrc_ids, wnids, leaves) if leaf}
    if sorted(id_to_wnid) != list(range(1, len(classes) + 1)) or set(id_to_wnid.values()) != set(classes):
        raise ValueError(f"the devkit's leaf synsets must give IDs 1..{len(classes)} the {len(classes)} ImageNet "
                         f"wnids; got {len(id_to_wnid)} leaves")
    unknown = sorted({int(i) for i in ground_truth} - set(id_to_wnid))
    if unknown:
        raise ValueError(f"the ground truth holds IDs that are no leaf synset: {unknown[:5]}")
    return [id_to_wnid[int(i)] for i in ground_truth]


def _read_devkit(devkit: Path, classes: Sequence[str]) -> list[str]:
    synsets = scipy.io.loadmat(io.BytesIO(read_member(devkit, DEVKIT_META, "tar.gz")), squeeze_me=True)["synsets"]
    ground_truth = [int(line) for line in read_member(devkit, DEVKIT_GROUND_TRUTH, "tar.gz").split()]
    try:
        return devkit_val_wnids(synsets["ILSVRC2012_ID"], synsets["WNID"], synsets["num_children"], ground_truth,
                                classes)
    except ValueError as error:
        raise LayoutError(f"{devkit}: {error}") from error


def _sort_val_images(images_dir: Path, val_wnids: Sequence[str], archive: Path) -> None:
    """Move each extracted ``ILSVRC2012_val_<n>.JPEG`` into its wnid folder."""
    for path in _entries(images_dir):
        match = VAL_IMAGE.fullmatch(path.name)
        if not path.is_file() or match is None:
            raise LayoutError(f"{archive} holds {path.name!r}: expected only ILSVRC2012_val_<8 digits>.JPEG files")
        number = int(match[1])
        if not 1 <= number <= len(val_wnids):
            raise LayoutError(f"{archive} holds {path.name}, but the devkit ground truth labels only images "
                              f"1..{len(val_wnids)}")
        wnid_dir = images_dir / val_wnids[number - 1]
        wnid_dir.mkdir(exist_ok=True)
        path.rename(wnid_dir / path.name)


def place_imagenet_val(spec: Spec, source: Path, folder: Path) -> None:
    """Put the val images under ``folder/images/<wnid>/``.

    ``source`` is either the user's folder of 1000 wnid folders (linked, not copied) or ``ILSVRC2012_img_val.tar``
    with ``ILSVRC2012_devkit_t12.tar.gz`` beside it (both checked against the registry's md5, then extracted and
    sorted by the devkit labels).
    """
    target = folder / IMAGENET_VAL_DIR
    if source.is_dir():
        target.symlink_to(source.resolve(), target_is_directory=True)
        return
    files = spec["files"]
    devkit = source.parent / files["devkit"]["name"]
    if not source.is_file() or not devkit.is_file():
        raise LayoutError(f"ImageNet val: {source} must be the folder of 1000 wnid folders, or "
                          f"{files['images']['name']} with {files['devkit']['name']} beside it ({devkit} is missing); "
                          f"both come from image-net.org (login)")
    verify_file(source, md5=files["images"]["md5"])
    verify_file(devkit, md5=files["devkit"]["md5"])
    val_wnids = _read_devkit(devkit, label_classes(spec["label_map"]))
    target.mkdir()
    extract_into(source, target, "tar")
    _sort_val_images(target, val_wnids, source)


def imagenet_val(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    try:
        table = class_folder_table(folder / IMAGENET_VAL_DIR, label_classes(spec["label_map"]), spec, "wnid")
    except LayoutError as error:
        raise LayoutError(f"{error} (ImageNet val: give the folder of 1000 wnid folders, or ILSVRC2012_img_val.tar "
                          f"with the devkit beside it)") from error
    return {spec["name"]: _prefixed(table, IMAGENET_VAL_DIR)}


# ---- class-folder datasets -------------------------------------------------------------------------------------


def wnid_folders(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """ImageNet-R / -A: ``<root>/<wnid>/*.jpg``; label = position of the wnid in the 200-class list."""
    table = class_folder_table(folder / spec["root"], label_classes(spec["label_map"]), spec, "wnid",
                               spec.get("ignore", ()))
    return {spec["name"]: _prefixed(table, spec["root"])}


def _exact_folders(folder: Path, expected: Sequence[str], what: str) -> None:
    found = {p.name for p in _entries(folder)}
    expected = set(expected)
    if found != expected:
        raise LayoutError(f"{folder} must hold exactly the {what} folders {_few(list(expected), 20)}; "
                          f"missing: {_few(list(expected - found)) or 'none'}; "
                          f"unexpected: {_few(list(found - expected)) or 'none'}")


def corruption_folders(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """ImageNet-C / 3DCC: ``<corruption>/<severity>/<wnid>/*``; one set per (corruption, severity), 1k labels."""
    _exact_folders(folder, spec["corruptions"], "corruption")
    for corruption in spec["corruptions"]:
        _exact_folders(folder / corruption, [str(int(s)) for s in spec["severities"]], "severity")
    classes = label_classes(spec["label_map"])
    tables = {}
    for name, rel in imageset_dirs(spec).items():
        corruption, severity = rel.split("/")
        table = class_folder_table(folder / rel, classes, spec, "wnid")
        tables[name] = table.assign(corruption=corruption, severity=int(severity))
    return tables


def in9(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """IN-9: ``bg_challenge/<variant>/val/<NN_class>/*.JPEG``; label = class folder position (0..8)."""
    classes = label_classes(spec["label_map"])
    return {name: class_folder_table(folder / rel, classes, spec, "class_folder").assign(variant=name)
            for name, rel in imageset_dirs(spec).items()}


def cue_conflict_classes(file_name: str) -> tuple[str, str]:
    """(shape, texture) from a cue-conflict file name ``<shape><i>-<texture><j>.png``, e.g. cat3-elephant2.png."""
    match = CUE_CONFLICT_IMAGE.fullmatch(file_name)
    if match is None:
        raise ValueError(f"{file_name!r} is not named <shape><i>-<texture><j>.png")
    return match["shape"], match["texture"]


def cue_conflict(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """model-vs-human cue conflict: ``cue-conflict/<shape>/<shape><i>-<texture><j>.png``.

    ``label`` = the shape class, ``texture_label`` = the texture class (positions in the 16 sorted categories).
    """
    set_dir = folder / spec["root"]
    classes = label_classes(spec["label_map"])
    table = class_folder_table(set_dir, classes, spec, "shape")
    textures = []
    for name, shape in zip(table["file"], table["shape"]):
        try:
            named_shape, texture = cue_conflict_classes(PurePosixPath(name).name)
        except ValueError as error:
            raise LayoutError(f"{set_dir / name}: {error}") from error
        if named_shape != shape or texture not in classes:
            raise LayoutError(f"{set_dir / name} names shape {named_shape!r} and texture {texture!r}: the shape must "
                              f"be its folder's class and the texture one of the {len(classes)} categories")
        textures.append(texture)
    table = table.assign(texture=textures, texture_label=[classes.index(t) for t in textures])
    return {spec["name"]: _prefixed(table, spec["root"])}


def image_folder(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """OOD sets: one folder of images, label -1."""
    set_dir = folder / spec["root"]
    images = _image_files(set_dir)
    _check_count(set_dir, len(images), spec.get("images"))
    return {spec["name"]: pd.DataFrame({"file": [f"{spec['root']}/{p.name}" for p in images], "label": OOD_LABEL})}


# ---- FOCUS -----------------------------------------------------------------------------------------------------


def focus_metadata(rows: pd.DataFrame, info: Mapping[str, Any]) -> pd.DataFrame:
    """FOCUS annotations -> image-set rows, as the authors' ``Focus`` dataset and ``evaluate_model.py`` read them.

    Kept: rows whose category is one of the 10 (their query ``category IN`` the categories; ``humans`` is not
    filtered because they keep its default ``"yes"``), in table order. ``file`` = ``file_name`` without its leading
    ``/``. An attribute is uncommon when time / weather is in the category's uncommon set, or when any of the
    ``", "``-joined locations is; ``uncommon_count`` = 0..3 is how many are.
    """
    categories = list(info["classes"])
    kept = rows[rows["category"].isin(categories)].reset_index(drop=True)
    separator = info["annotations_db"]["locations_separator"]
    locations = [value.split(separator) for value in kept["locations"]]
    values = info["values"]
    for column, found in (("time", kept["time"]), ("weather", kept["weather"]),
                          ("locations", [v for row in locations for v in row])):
        unknown = set(found) - set(values[column])
        if unknown:
            raise ValueError(f"FOCUS {column} values {sorted(unknown)} are none of {values[column]}")
    uncommon = [info["uncommon"][category] for category in kept["category"]]
    uncommon_time = [t in u["time"] for t, u in zip(kept["time"], uncommon)]
    uncommon_weather = [w in u["weather"] for w, u in zip(kept["weather"], uncommon)]
    uncommon_location = [not set(row).isdisjoint(u["locations"]) for row, u in zip(locations, uncommon)]
    table = pd.DataFrame({
        "file": [name.removeprefix("/") for name in kept["file_name"]],
        "label": [categories.index(category) for category in kept["category"]],
        "category": kept["category"],
        "time": kept["time"],
        "weather": kept["weather"],
        "locations": kept["locations"],
        "humans": kept["humans"],
        "uncommon_time": np.array(uncommon_time, dtype=np.int64),
        "uncommon_weather": np.array(uncommon_weather, dtype=np.int64),
        "uncommon_location": np.array(uncommon_location, dtype=np.int64),
    })
    table["uncommon_count"] = table[["uncommon_time", "uncommon_weather", "uncommon_location"]].sum(axis=1)
    return table


def _find_focus_db(folder: Path) -> Path:
    """``annotations.db`` at the top of the extracted zip or in its one top folder."""
    found = [path for path in (folder / FOCUS_DB, *(p / FOCUS_DB for p in _entries(folder) if p.is_dir()))
             if path.is_file()]
    if len(found) != 1:
        raise LayoutError(f"{folder} must hold exactly one {FOCUS_DB} at its top or in one top folder, found "
                          f"{len(found)}: {[str(p) for p in found]}")
    return found[0]


def _read_annotations(db: Path, schema: Mapping[str, Any]) -> pd.DataFrame:
    columns, table = schema["columns"], schema["table"]
    connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        # rowid order = the order of the authors' unsorted query, so per-image results line up with theirs
        return pd.read_sql_query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid", connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as error:
        raise LayoutError(f"{db} is not the FOCUS database: expected a table {table}({', '.join(columns)}) "
                          f"({error})") from error
    finally:
        connection.close()


def focus(spec: Spec, folder: Path) -> dict[str, pd.DataFrame]:
    """FOCUS: images + ``annotations.db``; ``file_name`` is relative to the database's folder."""
    db = _find_focus_db(folder)
    info = label_data(spec["label_map"])
    try:
        table = focus_metadata(_read_annotations(db, info["annotations_db"]), info)
    except ValueError as error:
        raise LayoutError(f"{db}: {error}") from error
    unsafe = [name for name in table["file"] if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts]
    if unsafe:
        raise LayoutError(f"{db} lists files outside its folder: {_few(unsafe)}")
    prefix = db.parent.relative_to(folder).as_posix()
    table = _prefixed(table, prefix) if prefix != "." else table
    missing = [name for name in table["file"] if not (folder / name).is_file()]
    if missing:
        raise LayoutError(f"{db} lists {len(missing)} images that are not in {folder}: {_few(missing)}")
    _check_count(db.parent, len(table), spec.get("images"), "annotated images of the 10 categories")
    return {spec["name"]: table}


LAYOUTS: dict[str, Callable[[Spec, Path], dict[str, pd.DataFrame]]] = {
    "imagenet_val": imagenet_val,
    "wnid_folders": wnid_folders,
    "corruption_folders": corruption_folders,
    "in9": in9,
    "cue_conflict": cue_conflict,
    "focus": focus,
    "image_folder": image_folder,
}
