"""Paper-mode dataset acquisition: download, safe extraction, layout check, image-set metadata.

Two stages, one function each, so a Snakemake rule per stage can call them:

``fetch_archive(spec, dest)``
    Download the dataset's archive to ``dest`` (verified md5; retried; resumed where the server allows). A file
    already at ``dest`` whose md5 matches is reused, so an archive fetched by hand on a machine with internet can
    be dropped in place.
``prepare_dataset(spec, source, out_dir)``
    Extract ``source`` into ``out_dir``, check its layout, and write each image set's ``metadata.csv``
    (``synclone.acquire.layouts`` explains where sets live and which columns they get). ``out_dir`` appears only
    when all of that succeeded. For ImageNet val, ``source`` is the user's path (see ``place_imagenet_val``).

``spec`` is a registry entry, ``paper_dataset(name)`` (``data/paper_datasets.yaml``), possibly with fields
overridden by the config. ``imageset_dirs(spec)`` names the image sets a prepared dataset will hold, before it
exists (for the DAG). Label maps for the metrics: ``label_map_spec(spec['label_map'])``. How the config's
``source: paper`` datasets become specs, files and rule inputs: ``synclone.acquire.sources``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from synclone.acquire.archives import extract_into
from synclone.acquire.downloads import checksum_mismatch, download
from synclone.acquire.registry import dataset_names, imageset_dirs, label_map_spec, paper_dataset
from synclone.io import atomic_dir

logger = logging.getLogger(__name__)

__all__ = ["dataset_names", "fetch_archive", "imageset_dirs", "label_map_spec", "paper_dataset", "prepare_dataset"]


def fetch_archive(spec: Mapping[str, Any], dest: str | os.PathLike) -> Path:
    """The verified archive of ``spec`` at ``dest``: reused when its md5 matches, else downloaded."""
    if spec.get("user_path"):
        names = " and ".join(f["name"] for f in spec["files"].values())
        raise ValueError(f"{spec['name']} has no public download: get {names} from its source and pass their path "
                         f"to prepare_dataset")
    dest = Path(dest)
    if dest.is_file() and spec.get("md5") and checksum_mismatch(dest, md5=spec["md5"]) is None:
        logger.info("reusing %s: its md5 matches", dest)
        return dest
    return download(spec["url"], dest, md5=spec.get("md5"), sha256=spec.get("sha256"))


def prepare_dataset(spec: Mapping[str, Any], source: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Extract, check and index ``source`` into ``out_dir``; returns image-set name -> folder.

    ``source`` is the archive ``fetch_archive`` verified (not hashed again here), or for ImageNet val the user's
    folder / ``ILSVRC2012_img_val.tar``.
    """
    # pandas and scipy come in only here: the workflow imports this package on every DAG build
    from synclone.acquire.layouts import LAYOUTS, place_imagenet_val
    from synclone.imageset import METADATA

    source, out_dir = Path(source), Path(out_dir)
    layout = spec["layout"]
    if layout not in LAYOUTS:
        raise ValueError(f"{spec['name']}: unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    set_dirs = imageset_dirs(spec)
    with atomic_dir(out_dir) as tmp:
        if layout == "imagenet_val":
            place_imagenet_val(spec, source, tmp)
        else:
            extract_into(source, tmp, spec["format"])
        for name, table in LAYOUTS[layout](spec, tmp).items():
            table.to_csv(tmp / set_dirs[name] / METADATA, index=False)
            logger.info("%s: image set %s with %d images", spec["name"], name, len(table))
    return {name: out_dir / rel for name, rel in set_dirs.items()}
